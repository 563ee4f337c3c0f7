"""The factory activator: runs `runreset` on a terminal and answers its
activation messages on the activator port with certificates from its own CAs
(`cardcore-activator --help`)."""

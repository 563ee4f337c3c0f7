"""Simulators of the terminal-management (configuration) server and the
key-loading server, and the TEST ONLY PKI they share with the activator."""

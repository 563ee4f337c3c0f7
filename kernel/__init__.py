"""Pure-Python EMV Level 2 terminal kernel.

Imports nothing from cardcore, hal, acquirers or any I/O library. The contact
kernel is `kernel.contact.ContactKernel`; see kernel/README.md for the API.
"""

"""The shared foundation of kernel, hal, acquirers and cardcore: the root
error type, TLV coding and payment cryptography. It imports nothing of the
project."""

"""Payment cryptography primitives shared by the kernel, the card emulator, the
PIN pad and the acquirer link (DES/TDES, ISO 9797-1 MACs, KCVs, ISO 9564 PIN blocks)."""

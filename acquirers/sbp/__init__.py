"""SBP (Faster Payments System) link: NSPK QR payloads."""

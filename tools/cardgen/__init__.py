"""Test PKI and virtual card profile generator (run: python -m tools.cardgen)."""

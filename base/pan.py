# Strategy: the primary account number's two checks and two masks, once.
# - The check digit is ISO/IEC 7812-1 Annex B (Luhn): from the right, every
#   second digit doubled, digits of the products summed, the total a multiple
#   of ten.
# - Each masking rule has its own function, named for what it leaves visible:
#   the manual's receipts and the logs keep the last four digits; ISO 8583
#   traces keep the first six and the last four (the most PCI DSS 3.4 allows
#   to be displayed), enough to tell the issuer's range in a host's trace.
from __future__ import annotations

__all__ = ["luhn_check_digit", "luhn_ok", "mask_keep_first6_last4", "mask_keep_last4"]


def _luhn_sum(digits: str, double_first: bool) -> int:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if (i % 2 == 0) == double_first:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total


def luhn_ok(pan: str) -> bool:
    """True when the last digit of ``pan`` (digits only) is its Luhn check digit."""
    return _luhn_sum(pan, double_first=False) % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The check digit that completes ``body`` (the PAN without its last digit)."""
    return str(-_luhn_sum(body, double_first=True) % 10)


def mask_keep_last4(pan: str) -> str:
    """Asterisks and the last four digits: receipts (the manual's form) and logs."""
    return "*" * max(len(pan) - 4, 0) + pan[-4:]


def mask_keep_first6_last4(pan: str) -> str:
    """The first six and last four digits, the rest asterisks; a string too
    short to be a PAN is masked whole."""
    if len(pan) < 13:
        return "*" * len(pan)
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]

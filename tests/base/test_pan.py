"""The PAN checks and masks in base.pan against published examples."""

from __future__ import annotations

import pytest

from base.pan import luhn_check_digit, luhn_ok, mask_keep_first6_last4, mask_keep_last4


# ISO/IEC 7812-1 Annex B's worked number and test PANs the schemes publish.
@pytest.mark.parametrize(
    "pan", ["79927398713", "4111111111111111", "5555555555554444", "2200000000000004"]
)
def test_published_numbers_pass_and_their_neighbours_fail(pan: str) -> None:
    assert luhn_ok(pan)
    assert luhn_check_digit(pan[:-1]) == pan[-1]
    for wrong in "0123456789":
        if wrong != pan[-1]:
            assert not luhn_ok(pan[:-1] + wrong)


def test_a_swap_of_neighbouring_digits_is_caught() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("1411111111111111")


def test_each_mask_keeps_what_its_name_says() -> None:
    assert mask_keep_last4("4000000010000001") == "************0001"
    assert mask_keep_first6_last4("4000000010000001") == "400000******0001"
    assert mask_keep_first6_last4("220000000000000000") == "220000********0000"
    assert mask_keep_first6_last4("123456789012") == "************"
    assert mask_keep_last4("123") == "123"

"""Pure-Python card-number helpers: Luhn, the 8-19 digit PAN rule, masking and text redaction."""

from __future__ import annotations

import pytest

from lakehouse.pii.card import (
    is_luhn_valid,
    is_valid_pan,
    luhn_check_digit,
    luhn_checksum,
    mask_pan,
    redact_pans,
)

# Published test card numbers (Visa, Amex, Mastercard, Discover, Diners)
KNOWN_VALID = ["4111111111111111", "378282246310005", "5555555555554444", "6011111111111117",
               "30569309025904", "4012888888881881"]


def pan_of_length(length: int) -> str:
    """A Luhn-valid digit string of exactly ``length`` digits."""
    partial = ("4" + "1234567890" * 2)[:length - 1]
    return partial + luhn_check_digit(partial)


def test_checksum_of_the_textbook_example():
    assert luhn_checksum("79927398713") == 0
    assert luhn_checksum("79927398710") == 7


def test_check_digit_completes_a_valid_number():
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_check_digit("411111111111111") == "1"
    assert all(is_luhn_valid(p + luhn_check_digit(p)) for p in ("0", "12345", "37828224631000"))


@pytest.mark.parametrize("pan", KNOWN_VALID)
def test_known_test_pans_are_valid(pan):
    assert is_luhn_valid(pan)
    assert is_valid_pan(pan)


@pytest.mark.parametrize("number", [
    "4111111111111112",      # last digit off by one
    "378282246310006",
    "1234567812345678",
    "4111 1111 1111 1111",   # separators are not digits
    "4111-1111-1111-1111",
    "411111111111111a",
    "",
])
def test_invalid_numbers_are_rejected(number):
    assert not is_luhn_valid(number)
    assert not is_valid_pan(number)


@pytest.mark.parametrize(("length", "valid"), [(7, False), (8, True), (19, True), (20, False)])
def test_pan_length_bounds(length, valid):
    number = pan_of_length(length)
    assert len(number) == length and is_luhn_valid(number)
    assert is_valid_pan(number) is valid


def test_non_ascii_digits_are_not_a_pan():
    full_width = "".join(chr(0xFF10 + int(d)) for d in "10000008")  # Luhn-"valid" as ord-48
    assert not is_luhn_valid(full_width)
    assert not is_valid_pan(full_width)


@pytest.mark.parametrize(("number", "masked"), [
    ("4111111111111111", "************1111"),
    ("378282246310005", "***********0005"),
    ("4111 1111-1111 1111", "************1111"),  # separators dropped, digits counted
    ("12345", "*2345"),
    ("1234", "****"),                              # four digits or fewer: nothing shown
    ("12", "**"),
    ("", ""),
])
def test_mask_pan_shows_at_most_the_last_four_digits(number, masked):
    assert mask_pan(number) == masked


def test_redact_pans_masks_luhn_valid_runs_in_text():
    text = "charge 4111111111111111 and 378282246310005; ref 12345678 ok"
    assert redact_pans(text) == "charge ************1111 and ***********0005; ref 12345678 ok"


def test_redact_pans_masks_the_whole_part_of_a_decimal():
    assert redact_pans("cc_num 4111111111111111.0") == "cc_num ************1111.0"


def test_redact_pans_masks_a_run_glued_to_letters():
    assert redact_pans("id=x4111111111111111y") == "id=x************1111y"


@pytest.mark.parametrize("text", [
    "card 4111111111111112 failed",           # not Luhn-valid
    "order 41111111111111110000 shipped",     # 20 digits: a 16-digit prefix is Luhn-valid
    "1234567",                                # too short for a PAN
    "no version at or before 2020-01-01T00:00:00+00:00",  # 20200101 is Luhn-valid
    "--from 2024-03-01 12:00 to 2024-03-02",  # a date and hour: 2024030112 is Luhn-valid
    '{"unexpected_percent": 4.878048780487805}',  # a fraction: 878048780487805 is Luhn-valid
    "",
])
def test_redact_pans_leaves_other_digit_runs_alone(text):
    assert redact_pans(text) == text


def test_redact_pans_masks_each_pan_at_both_length_bounds():
    eight, nineteen = pan_of_length(8), pan_of_length(19)
    assert redact_pans(f"{eight} {nineteen}") == f"****{eight[-4:]} {'*' * 15}{nineteen[-4:]}"

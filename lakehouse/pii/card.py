"""Pure-Python card-number helpers shared by the generator, tests and driver-side checks.

Spark-side equivalents (Column -> Column) live in ``lakehouse.pii.columns``; both are tested
against each other so the two can never disagree.
"""

from __future__ import annotations

import re

PAN_MIN_LENGTH = 8
PAN_MAX_LENGTH = 19


def luhn_checksum(digits: str) -> int:
    """Luhn sum modulo 10 of a digit string (0 means the number is Luhn-valid)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` Luhn-valid."""
    return str((10 - luhn_checksum(partial + "0")) % 10)


def is_luhn_valid(number: str) -> bool:
    """True when ``number`` is all digits and passes the Luhn check."""
    return number.isdigit() and luhn_checksum(number) == 0


def is_valid_pan(number: str) -> bool:
    """Business rule for a card number: 8-19 digits and Luhn-valid."""
    return PAN_MIN_LENGTH <= len(number) <= PAN_MAX_LENGTH and is_luhn_valid(number)


def mask_pan(number: str) -> str:
    """Masked form that shows at most the last four digits, e.g. ``************1234``."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]{8,19}(?![0-9])")


def redact_pans(text: str) -> str:
    """Text with every Luhn-valid 8-19 digit run masked (for messages that may echo data)."""
    return _DIGIT_RUN.sub(lambda m: mask_pan(m.group()) if is_luhn_valid(m.group())
                          else m.group(), text)

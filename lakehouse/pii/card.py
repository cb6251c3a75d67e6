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
    return number.isascii() and number.isdigit() and luhn_checksum(number) == 0


def is_valid_pan(number: str) -> bool:
    """Business rule for a card number: 8-19 digits and Luhn-valid."""
    return PAN_MIN_LENGTH <= len(number) <= PAN_MAX_LENGTH and is_luhn_valid(number)


def mask_pan(number: str) -> str:
    """Masked form that shows at most the last four digits, e.g. ``************1234``."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


# 8-19 digits, unbroken or grouped by single spaces or dashes (``NNNN NNNN NNNN NNNN``), not the
# fraction of a decimal number (4.878048780487805: its fraction is Luhn-valid)
_CARD_LIKE = re.compile(r"(?<![0-9])(?<![0-9]\.)[0-9](?:[ -]?[0-9]){7,18}(?![0-9])")


def _mask_groups(groups: list[str]) -> list[str]:
    """Digit groups with all but the last four digits masked."""
    total = sum(len(g) for g in groups)
    masked, seen = [], 0
    for group in groups:
        chars = []
        for ch in group:
            seen += 1
            chars.append(ch if seen > total - 4 else "*")
        masked.append("".join(chars))
    return masked


def redact_pans(text: str) -> str:
    """Text with every Luhn-valid card number (8-19 digits, unbroken or grouped by spaces or
    dashes) masked to its last four digits; other numbers are left alone."""

    def mask(match: re.Match[str]) -> str:
        parts = re.split(r"([ -])", match.group())  # digit groups and separators alternate
        groups = parts[0::2]
        # the longest run of whole groups that is a card number (a date may sit beside it),
        # grouped as card numbers are written: every group but the last of 4 digits or more
        # (4-4-4-4, 4-6-5); a date or time (2020-01-01, 2024-03-01 10) is no card number
        for length in range(len(groups), 0, -1):
            for first in range(len(groups) - length + 1):
                window = groups[first:first + length]
                if all(len(g) >= 4 for g in window[:-1]) and is_valid_pan("".join(window)):
                    groups[first:first + length] = _mask_groups(groups[first:first + length])
                    parts[0::2] = groups
                    return "".join(parts)
        return match.group()

    return _CARD_LIKE.sub(mask, text)

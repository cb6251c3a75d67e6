"""Calendar helpers for the generation horizon [start, start + months)."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, timedelta


def add_months(day: date, months: int) -> date:
    """Same day of the month `months` later, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def month_end(year: int, month: int) -> date:
    """Last calendar day of a month."""
    return date(year, month, calendar.monthrange(year, month)[1])


def days_between(start: date, end: date) -> Iterator[date]:
    """Every day from start (inclusive) to end (exclusive)."""
    for offset in range((end - start).days):
        yield start + timedelta(days=offset)


def month_ends(start: date, end: date) -> list[date]:
    """Month-end days inside [start, end): one loan snapshot each."""
    ends: list[date] = []
    year, month = start.year, start.month
    while (last := month_end(year, month)) < end:
        if last >= start:
            ends.append(last)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return ends


def month_starts_after(start: date, end: date) -> list[date]:
    """First days of months strictly after start and before end: one customer update file each."""
    firsts: list[date] = []
    first = date(start.year, start.month, 1)
    while (first := add_months(first, 1)) < end:
        firsts.append(first)
    return firsts


def epoch_seconds(day: date) -> int:
    """Seconds since the Unix epoch at midnight UTC of a day."""
    return calendar.timegm(datetime(day.year, day.month, day.day).timetuple())

"""Weekly hours such as "Mon-Fri 09:00-17:00", for the `hours` condition.

The spec is `[days] [times]`: days are names or ranges separated by commas
("Mon-Fri", "Sat,Sun", "Fri-Mon" wraps over the weekend), times are ranges
separated by commas ("09:00-12:00,13:00-17:00"). Either part may be left out:
no days means every day, no times means the whole day. A range that ends at
or before its start runs past midnight and belongs to the day it starts on, as
in opening-hours notations: "Fri 22:00-06:00" covers Saturday 03:00.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

MINUTES_PER_DAY = 24 * 60
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


class HoursSpecError(ValueError):
    """The text is not a valid hours spec; the message says which part."""


@dataclass(frozen=True, slots=True)
class Window:
    """One time range on a set of weekdays (0 is Monday), in minutes since midnight."""

    days: frozenset[int]
    start: int
    end: int

    def contains(self, weekday: int, minute: int) -> bool:
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        started_today = weekday in self.days and minute >= self.start
        started_yesterday = (weekday - 1) % 7 in self.days and minute < self.end
        return started_today or started_yesterday


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """The windows of one spec, read in one time zone."""

    spec: str
    windows: tuple[Window, ...]
    zone: tzinfo

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (naive means UTC) falls in any window, on the zone's wall clock."""
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        local = aware.astimezone(self.zone)
        return any(w.contains(local.weekday(), local.hour * 60 + local.minute) for w in self.windows)


def parse_hours(spec: str, zone: tzinfo = UTC) -> WeeklyHours:
    """Parse a spec; raises `HoursSpecError` naming the part that is wrong."""
    compact = re.sub(r"\s*([,-])\s*", r"\1", spec.strip())
    parts = compact.split()
    if not parts or len(parts) > 2:
        raise HoursSpecError(f"expected '[days] [times]' such as 'Mon-Fri 09:00-17:00', got {spec!r}")
    days_part = None if parts[0][0].isdigit() else parts[0]
    times_part = parts[-1] if parts[-1][0].isdigit() else None
    if len(parts) == 2 and (days_part is None or times_part is None):
        raise HoursSpecError(f"expected days then times such as 'Mon-Fri 09:00-17:00', got {spec!r}")
    days = _parse_days(days_part) if days_part else frozenset(range(7))
    ranges = _parse_times(times_part) if times_part else ((0, MINUTES_PER_DAY),)
    windows = tuple(Window(days, start, end) for start, end in ranges)
    return WeeklyHours(spec=spec, windows=windows, zone=zone)


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.split(","):
        first, dash, last = item.partition("-")
        start = _day_index(first)
        stop = _day_index(last) if dash else start
        days.update((start + offset) % 7 for offset in range((stop - start) % 7 + 1))
    return frozenset(days)


def _day_index(name: str) -> int:
    """Accepts "Mo", "Mon" or "Monday" in any case."""
    folded = name.casefold()
    for index, full in enumerate(DAY_NAMES):
        if folded in (full[:2], full[:3], full):
            return index
    raise HoursSpecError(f"unknown day {name!r}; use Mon, Tue, Wed, Thu, Fri, Sat, Sun")


def _parse_times(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for item in text.split(","):
        found = _TIME_RANGE.fullmatch(item)
        if found is None:
            raise HoursSpecError(f"expected a time range such as '09:00-17:00', got {item!r}")
        start = _minutes(found.group(1), found.group(2), item)
        end = _minutes(found.group(3), found.group(4), item)
        if start == MINUTES_PER_DAY:
            raise HoursSpecError(f"a range cannot start at 24:00: {item!r}")
        if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
            raise HoursSpecError(f"empty time range {item!r}")
        ranges.append((start, end))
    return tuple(ranges)


def _minutes(hours: str, minutes: str, item: str) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > MINUTES_PER_DAY:
        raise HoursSpecError(f"invalid time in {item!r}; use 00:00 to 24:00")
    return value

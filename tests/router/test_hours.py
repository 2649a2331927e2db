"""Weekly hours: day lists and ranges, overnight windows, time zones, and bad specs."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from router.hours import HoursSpecError, parse_hours


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-03-02 is a Monday; `day` 0..6 counts from it."""
    return datetime(2026, 3, 2 + day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "moment", "inside"),
    [
        ("Mon-Fri 09:00-17:00", at(0, 9), True),
        ("Mon-Fri 09:00-17:00", at(4, 16, 59), True),
        ("Mon-Fri 09:00-17:00", at(4, 17), False),
        ("Mon-Fri 09:00-17:00", at(5, 12), False),
        ("Sat,Sun", at(6, 23, 59), True),
        ("Sat,Sun", at(0, 0), False),
        ("Fri-Mon", at(0, 12), True),
        ("Fri-Mon", at(2, 12), False),
        ("09:00-12:00,13:00-17:00", at(3, 12, 30), False),
        ("09:00-12:00, 13:00-17:00", at(3, 13), True),
        ("mo-fr 18:00-24:00", at(1, 23, 59), True),
        ("Fri 22:00-06:00", at(5, 3), True),
        ("Fri 22:00-06:00", at(4, 3), False),
        ("Fri 22:00-06:00", at(4, 23), True),
        ("Monday - Wednesday 8:00 - 9:00", at(2, 8, 30), True),
    ],
)
def test_contains(spec: str, moment: datetime, inside: bool) -> None:
    assert parse_hours(spec).contains(moment) is inside


def test_wall_clock_of_the_zone_across_daylight_saving() -> None:
    hours = parse_hours("Mon-Fri 09:00-17:00", ZoneInfo("Europe/Budapest"))
    assert hours.contains(datetime(2026, 3, 27, 8, 0, tzinfo=UTC))  # 09:00 CET
    assert not hours.contains(datetime(2026, 3, 30, 6, 30, tzinfo=UTC))  # 08:30 CEST
    assert hours.contains(datetime(2026, 3, 30, 7, 0, tzinfo=UTC))  # 09:00 CEST


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Mon-Fri 9-17",
        "Funday 09:00-17:00",
        "Mon 25:00-26:00",
        "Mon 09:60-10:00",
        "Mon 10:00-10:00",
        "Mon 24:00-02:00",
        "09:00-17:00 Mon",
        "Mon Tue 09:00-10:00",
        "M 09:00-10:00",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(HoursSpecError):
        parse_hours(spec)

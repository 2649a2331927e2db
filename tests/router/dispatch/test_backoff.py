"""Back-off: capped exponential with full jitter; Retry-After wins, within bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from router.backoff import backoff_ceiling, retry_delay
from router.destinations.base import RetryPolicy
from router.destinations.http import parse_retry_after

POLICY = RetryPolicy(max_attempts=10, backoff_base_s=1.0, backoff_cap_s=30.0, max_retry_after_s=600.0)


def test_ceiling_doubles_from_about_one_second_up_to_the_cap():
    assert [backoff_ceiling(n, POLICY) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff_ceiling(10_000, POLICY) == 30  # no overflow on absurd attempt counts


def test_full_jitter_spreads_delays_over_the_whole_range():
    rng = random.Random(7)
    draws = [retry_delay(5, POLICY, rng) for _ in range(2000)]
    assert 0 <= min(draws) < 1.0 and 15.0 < max(draws) <= 16.0
    assert 7.0 < sum(draws) / len(draws) < 9.0  # uniform over [0, 16): mean 8


def test_retry_after_wins_and_is_bounded():
    rng = random.Random(1)
    assert retry_delay(1, POLICY, rng, retry_after=120) == 120
    assert retry_delay(1, POLICY, rng, retry_after=86_400) == 600
    assert retry_delay(1, POLICY, rng, retry_after=-5) == 0


def test_retry_after_header_forms():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Sun, 22 Nov 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("yesterday") is None and parse_retry_after(None) is None

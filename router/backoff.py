"""When to try a failed delivery again: capped exponential back-off with full jitter.

Full jitter (a uniform draw between zero and the capped exponential) spreads
the retries of many deliveries that failed together, so a helpdesk coming
back from an outage is not hit by a synchronized wave. A server's
Retry-After wins over the computed delay, bounded so a hostile or broken
value cannot park a delivery for days.
"""

from __future__ import annotations

import random

from router.destinations.base import RetryPolicy

MAX_EXPONENT = 60  # 2**60 s is already far past any cap


def backoff_ceiling(attempt: int, policy: RetryPolicy) -> float:
    """The largest delay after failed attempt number `attempt` (1 for the first)."""
    exponent = min(max(attempt - 1, 0), MAX_EXPONENT)
    return float(min(policy.backoff_cap_s, policy.backoff_base_s * 2**exponent))


def retry_delay(attempt: int, policy: RetryPolicy, rng: random.Random, retry_after: float | None = None) -> float:
    """Seconds to wait before the next attempt."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), policy.max_retry_after_s)
    return rng.uniform(0.0, backoff_ceiling(attempt, policy))

"""Reconnect delays: exponential, capped, with jitter.

Jitter keeps several gateways (or mailboxes) that lost the same server from
reconnecting in lockstep when it comes back.
"""

from __future__ import annotations

import random


def backoff_delay(failures: int, *, base: float = 1.0, cap: float = 60.0,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures (1, 2, ...): in [d/2, d], d = min(cap, base*2^(n-1))."""
    if failures <= 0:
        return 0.0
    delay = min(cap, base * 2 ** min(failures - 1, 30))
    return (rng or random).uniform(delay / 2, delay)

"""Per-client-address lockout after repeated failed SMTP AUTH attempts.

aiosmtpd's per-session AUTH limit only makes a password guesser reconnect;
this counts failures per client address across sessions. After
`max_failures` failed attempts within `window_s`, the address is locked out
for `lockout_s`: its AUTH and its new connections get `421 4.7.0` and are
closed. A successful login clears nothing, not even its own address's count:
otherwise one valid account would let a guesser reset the counter between
guesses at another. Failures simply age out of the window.

An IPv6 client is counted by its /64 network, since one host commonly holds a
whole /64 and could otherwise change its address between guesses.

Memory is bounded: at most `max_tracked` addresses are remembered (the least
recently seen is forgotten first), and each keeps at most `max_failures`
timestamps.
"""

from __future__ import annotations

import collections
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_TRACKED = 10_000


def client_key(client: str) -> str:
    """What failures are counted against: the IPv4 address, or the IPv6 address's /64 network."""
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return client  # not an address (a Unix socket, say): itself
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(slots=True)
class _Client:
    failures: collections.deque[float] = field(default_factory=collections.deque)
    locked_until: float = 0.0


class AuthLockout:
    """Failed AUTH attempts per client address, and the addresses locked out for them."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        lockout_s: float,
        *,
        max_tracked: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lockout_s <= 0 or max_tracked < 1:
            raise ValueError("lockout limits must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._max_tracked = max_tracked
        self._clock = clock
        self._clients: collections.OrderedDict[str, _Client] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def locked(self, client: str) -> bool:
        """True while `client` is locked out; an expired lockout is forgotten here."""
        client = client_key(client)
        entry = self._clients.get(client)
        if entry is None or not entry.locked_until:
            return False
        if self._clock() < entry.locked_until:
            return True
        del self._clients[client]  # served its time: starts afresh
        return False

    def retry_after(self, client: str) -> float:
        """Seconds left of `client`'s lockout (0 when it is not locked out)."""
        entry = self._clients.get(client_key(client))
        if entry is None:
            return 0.0
        return max(0.0, entry.locked_until - self._clock())

    def failure(self, client: str) -> bool:
        """Record one failed attempt; True when it locks `client` out."""
        if self.locked(client):
            return True
        client = client_key(client)
        now = self._clock()
        entry = self._clients.get(client)
        if entry is None:
            entry = self._clients[client] = _Client()
            while len(self._clients) > self._max_tracked:
                self._clients.popitem(last=False)  # the least recently seen address
        else:
            self._clients.move_to_end(client)
        failures = entry.failures
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        failures.append(now)
        if len(failures) < self.max_failures:
            return False
        failures.clear()
        entry.locked_until = now + self.lockout_s
        return True

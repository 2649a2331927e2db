"""Which RCPT TO addresses the gateway takes mail for: never an open relay.

The intake addresses are configured as full addresses or `@domain`. Anything
else is refused at RCPT time, before any data is sent, so the gateway never
accepts mail it would have to bounce later (backscatter). A refusal for a
domain we serve says "user unknown" (5.1.1), for any other domain "relay
access denied" (5.7.1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Verdict(enum.Enum):
    ACCEPT = "accept"
    UNKNOWN_USER = "unknown_user"
    RELAY_DENIED = "relay_denied"


class RecipientPolicy:
    """Matches envelope recipients against the configured intake addresses."""

    def __init__(self, recipients: Iterable[str]) -> None:
        self._addresses: set[str] = set()
        self._domains: set[str] = set()
        self._served: set[str] = set()  # domains we hold at least one address in
        for entry in recipients:
            entry = entry.strip().casefold()
            if entry.startswith("@"):
                self._domains.add(entry[1:])
            else:
                self._addresses.add(entry)
                self._served.add(entry.rpartition("@")[2])

    def check(self, address: str) -> Verdict:
        normal = address.strip().casefold()
        local, at, domain = normal.rpartition("@")
        if not at or not local or not domain:
            return Verdict.RELAY_DENIED
        if normal in self._addresses or domain in self._domains:
            return Verdict.ACCEPT
        if domain in self._served:
            return Verdict.UNKNOWN_USER
        return Verdict.RELAY_DENIED

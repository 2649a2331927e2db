"""Where a mailbox's import stands: (UIDVALIDITY, last UID) of the folder.

A message is identified forever by (folder, UIDVALIDITY, UID) (RFC 9051
§2.3.1.1). Everything at or below `last_uid` was stored and acknowledged;
everything above it is looked at on the next pass, whatever its flags, so a
restart after any downtime rescans exactly what it has not taken yet. When
the server's UIDVALIDITY (or the mailbox's address) differs from the saved
one, the saved UIDs mean nothing: the whole folder is offered again and the
intake's unique key drops what it already has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

LoadCheckpoint = Callable[[str], Awaitable[dict[str, Any] | None]]
SaveCheckpoint = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    where: str  # user@host/folder: a different one starts afresh
    uidvalidity: int
    last_uid: int

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, "uidvalidity": self.uidvalidity, "last_uid": self.last_uid}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Checkpoint | None:
        if not data:
            return None
        try:
            return cls(str(data["where"]), int(data["uidvalidity"]), int(data["last_uid"]))
        except (KeyError, TypeError, ValueError):
            return None

    def resume(self, where: str, uidvalidity: int) -> int:
        """The UID to continue after on this server state; 0 means the whole folder."""
        if self.where != where or self.uidvalidity != uidvalidity:
            return 0
        return self.last_uid


def checkpoint_name(mailbox: str) -> str:
    return f"imap:{mailbox}"

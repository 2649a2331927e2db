"""One mailbox connection, in imapclient's blocking terms.

Every method here blocks on the network, so the poller calls them in the
mailbox's own worker thread, never on the event loop. Mail is fetched with
`BODY.PEEK[]`, which leaves \\Seen alone: only `acknowledge`, called after
the intake commit, marks a message as taken (MOVE, or COPY + \\Deleted +
EXPUNGE where MOVE is not offered, or \\Seen when no processed folder is set).
A message over the size limit is never fetched whole: `fetch_headers` takes
its header block alone (`BODY.PEEK[HEADER]`, itself bounded) and its size.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from imapclient import IMAPClient

from gateway.config import ImapMailbox

log = logging.getLogger("gateway.channels.imap")

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
IDLE_SLICE_S = 0.5  # how often a waiting IDLE looks at the stop flag
HEADER_MAX_BYTES = 256 * 1024  # of an oversized message's header block fetched at most


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    exists: int


@dataclass(frozen=True, slots=True)
class FetchedMail:
    uid: int
    content: bytes  # the whole message; for `fetch_headers`, its header block only
    internal_date: datetime | None
    size: int | None = None  # RFC822.SIZE, where it was asked for


class MailboxSession:
    """A logged-in connection with the intake folder selected read-write."""

    def __init__(self, box: ImapMailbox, password: str, ssl_context: ssl.SSLContext) -> None:
        self._box = box
        self._password = password
        self._ssl_context = ssl_context
        self._client: IMAPClient | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def can_idle(self) -> bool:
        return self._client is not None and self._client.has_capability("IDLE")

    def connect(self) -> FolderState:
        box = self._box
        client = IMAPClient(box.host, port=box.port, ssl=box.tls, ssl_context=self._ssl_context,
                            timeout=box.timeout_s)
        try:
            if not box.tls:
                if client.has_capability("STARTTLS"):
                    client.starttls(self._ssl_context)
                else:
                    log.warning("imap %s: %s offers no STARTTLS; logging in without TLS", box.name, box.host)
            client.normalise_times = False  # keep INTERNALDATE's zone
            client.login(box.user, self._password)
            if box.processed_folder and not client.folder_exists(box.processed_folder):
                client.create_folder(box.processed_folder)
            selected = client.select_folder(box.folder)
        except BaseException:
            _drop(client)
            raise
        self._client = client
        return FolderState(int(selected[b"UIDVALIDITY"]), int(selected.get(b"EXISTS", 0)))

    def _require(self) -> IMAPClient:
        if self._client is None:
            raise ConnectionError("not connected")
        return self._client

    def uids_after(self, last_uid: int) -> list[int]:
        """Every message in the folder above the checkpoint, whatever its flags, in UID order."""
        found = self._require().search(["UID", f"{last_uid + 1}:*"])
        # `n:*` always matches the highest UID, even when it is below n.
        return sorted(int(u) for u in found if int(u) > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE per UID; a UID missing from the answer was expunged meanwhile."""
        if not uids:
            return {}
        answer = self._require().fetch(list(uids), ["RFC822.SIZE"])
        return {int(uid): int(data.get(b"RFC822.SIZE", 0)) for uid, data in answer.items()}

    def fetch(self, uids: Sequence[int]) -> list[FetchedMail]:
        if not uids:
            return []
        answer = self._require().fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        mails: list[FetchedMail] = []
        for uid, data in sorted(answer.items()):
            content = data.get(b"BODY[]")
            if content is None:
                continue
            mails.append(FetchedMail(int(uid), bytes(content), _utc(data.get(b"INTERNALDATE"))))
        return mails

    def fetch_headers(self, uids: Sequence[int]) -> list[FetchedMail]:
        """The header block (at most HEADER_MAX_BYTES), size and date of each message; never its body."""
        if not uids:
            return []
        section = f"BODY.PEEK[HEADER]<0.{HEADER_MAX_BYTES}>"
        answer = self._require().fetch(list(uids), [section, "RFC822.SIZE", "INTERNALDATE"])
        mails: list[FetchedMail] = []
        for uid, data in sorted(answer.items()):
            # The answer names the section BODY[HEADER]<0> (partial) or BODY[HEADER].
            header = next((v for k, v in data.items() if isinstance(k, bytes) and k.startswith(b"BODY[HEADER]")),
                          None)
            if header is None:
                continue
            size = data.get(b"RFC822.SIZE")
            mails.append(FetchedMail(int(uid), bytes(header), _utc(data.get(b"INTERNALDATE")),
                                     int(size) if size is not None else None))
        return mails

    def acknowledge(self, uids: Sequence[int]) -> None:
        """Mark stored mail as taken: move it to the processed folder, or flag it \\Seen."""
        if not uids:
            return
        client = self._require()
        target = self._box.processed_folder
        if not target:
            client.add_flags(list(uids), [SEEN], silent=True)
            return
        if client.has_capability("MOVE"):
            client.move(list(uids), target)
            return
        client.copy(list(uids), target)
        client.add_flags(list(uids), [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(list(uids))
        else:
            client.expunge()

    def wait_idle(self, refresh_s: float, stop: threading.Event) -> list[object]:
        """Wait in IDLE until the server reports something, `refresh_s` passes or `stop` is set.

        An early empty answer means the socket turned readable without a
        line (the server closed it); IDLE is then ended, and `idle_done`
        raises on a dead connection, which sends the poller to reconnect.
        """
        client = self._require()
        client.idle()
        responses: list[object] = []
        try:
            deadline = time.monotonic() + refresh_s
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                responses = list(client.idle_check(timeout=IDLE_SLICE_S))
                if responses or time.monotonic() - started < IDLE_SLICE_S / 2:
                    break
        finally:
            client.idle_done()
        return responses

    def noop(self) -> None:
        self._require().noop()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            _drop(client)


def _drop(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        pass


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

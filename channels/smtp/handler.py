"""The aiosmtpd hooks: recipient checks, and DATA handed to the durable intake.

The handler parses nothing of the message beyond what the transport needs:
the external id (Message-ID, or a hash of the bytes) and the bare-LF check.
Malformed mail is never refused for being malformed; it is stored and the
normalizer records its defects. The 250 is answered only after the intake has
committed the record; anything that goes wrong before that is a 451, so the
sending server keeps the mail and retries (aiosmtpd's own default for an
exception is a 500, which would bounce the user's mail).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from channels.smtp import replies
from channels.smtp.recipients import RecipientPolicy, Verdict
from normalize.raw import (
    Intake,
    IntakeError,
    OverloadedError,
    RawInbound,
    ShuttingDownError,
    StorageUnavailableError,
)

log = logging.getLogger("gateway.channels.smtp")

OFF_LOOP_BYTES = 1024 * 1024  # compute the external id of larger mail in a thread

EventCounter = Callable[[str, str], None]
"""(channel, event) -> None: counts transport-level refusals and errors."""


def has_bare_lf(content: bytes) -> bool:
    """True when some LF is not preceded by CR (Postfix's smtpd_forbid_bare_newline).

    With aiosmtpd >= 1.4.5 only CRLF.CRLF ends DATA, so a bare LF cannot end a
    message early; refusing it outright means no receiver downstream can ever
    read a smuggled second message out of the stored bytes either.
    """
    return content.count(b"\n") != content.count(b"\r\n")


def _now() -> datetime:
    return datetime.now(UTC)


class IntakeHandler:
    """aiosmtpd handler object; its `handle_*` methods are the protocol's hooks."""

    def __init__(
        self,
        intake: Intake,
        recipients: RecipientPolicy,
        external_id: Callable[[bytes], str],
        *,
        max_recipients: int = 100,
        events: EventCounter | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._intake = intake
        self._recipients = recipients
        self._external_id = external_id
        self._max_recipients = max_recipients
        self._events = events or (lambda _channel, _event: None)
        self._clock = clock
        self.in_flight = 0
        self.accepted = 0
        self.closing = False

    def _count(self, event: str) -> None:
        self._events("email", f"smtp_{event}")

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        verdict = self._recipients.check(address)
        if verdict is Verdict.UNKNOWN_USER:
            self._count("unknown_recipient")
            return replies.UNKNOWN_USER
        if verdict is Verdict.RELAY_DENIED:
            self._count("relay_denied")
            return replies.RELAY_DENIED
        if len(envelope.rcpt_tos) >= self._max_recipients:
            self._count("too_many_recipients")
            return replies.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.RCPT_OK

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or b""
        if has_bare_lf(content):
            self._count("bare_lf")
            log.info("smtp: refused mail with a bare LF from %s", _client(session))
            return replies.BARE_LF
        if self.closing:
            return replies.SHUTTING_DOWN
        self.in_flight += 1
        try:
            return await self._store(session, envelope, content)
        except IntakeError as exc:
            return self._refusal(exc)
        except Exception:  # whatever it was, the sender must keep the mail
            log.exception("smtp: storing mail from %s failed", _client(session))
            self._count("error")
            return replies.TEMPORARY_FAILURE
        finally:
            self.in_flight -= 1

    async def _store(self, session: Any, envelope: Any, content: bytes) -> str:
        if len(content) > OFF_LOOP_BYTES:
            external_id = await asyncio.to_thread(self._external_id, content)
        else:
            external_id = self._external_id(content)
        raw = RawInbound(
            channel="email",
            transport="smtp",
            external_id=external_id,
            received_at=self._clock(),
            payload=content,
            principal=_login(session),
            meta={
                "mail_from": _reverse_path(envelope.mail_from),
                "rcpt_tos": _unique(envelope.rcpt_tos),
                "peer": _client(session),
                "helo": session.host_name,
                "tls": session.ssl is not None,
                "smtputf8": bool(envelope.smtp_utf8),
            },
        )
        result = await self._intake(raw)
        self.accepted += 1
        return replies.stored(result.inbound_id, result.duplicate)

    def _refusal(self, exc: IntakeError) -> str:
        if isinstance(exc, OverloadedError):
            self._count("overloaded")
            return replies.OVERLOADED
        if isinstance(exc, ShuttingDownError):
            self._count("shutting_down")
            return replies.SHUTTING_DOWN
        if isinstance(exc, StorageUnavailableError):
            log.warning("smtp: storage unavailable, answered 451: %s", exc)
            self._count("storage_error")
            return replies.TEMPORARY_FAILURE
        log.warning("smtp: intake refused the mail, answered 451: %s", exc)
        self._count("intake_error")
        return replies.TEMPORARY_FAILURE

    async def handle_exception(self, error: Exception) -> str:
        """Any exception in a command: a temporary failure, never aiosmtpd's 500."""
        log.error("smtp: session error: %s: %s", type(error).__name__, error)
        self._count("error")
        return replies.TEMPORARY_FAILURE


def _reverse_path(mail_from: str | None) -> str:
    """The envelope sender; "" for the null reverse path `<>` (bounces)."""
    if not mail_from or mail_from == "<>":
        return ""
    return mail_from


def _unique(addresses: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.casefold(), address)
    return list(seen.values())


def _client(session: Any) -> str | None:
    peer = getattr(session, "peer", None)
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None if peer is None else str(peer)


def _login(session: Any) -> str | None:
    """The AUTH user name, when the session authenticated."""
    if not getattr(session, "authenticated", False):
        return None
    login = getattr(getattr(session, "auth_data", None), "login", None)
    if isinstance(login, bytes):
        return login.decode("utf-8", "replace")
    return login if isinstance(login, str) else None

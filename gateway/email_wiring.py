"""Wiring of the email channel into the gateway (normalizer, SMTP server, IMAP pollers).

The adapters never touch storage: the IMAP pollers get their checkpoints as
two async callables built here on the store, and both transports get the
intake and the external-id function. Loop protection travels as data: the
normalizer puts the `[email]` flood limit on each draft (`flood_limit`),
and the processor applies it when the draft would open a new ticket.

A record an IMAP poller marks `oversized` (it holds only the headers of a
message over the mailbox's size limit) is refused by the normalizer with the
reason, so the intake keeps it as a failed record like any other input that
yields nothing usable: listed by `GET /v1/inbound?status=failed`, counted,
and failing again on `gateway replay` (its body was never fetched).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import ssl
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channels.imap import ImapPoller, LoadCheckpoint, SaveCheckpoint
from channels.smtp import AuthConfigError, SmtpChannel, parse_users
from gateway.config import Config, ConfigError, EmailConfig, SmtpConfig
from gateway.processing import Normalizer
from normalize.email import EmailSettings, email_external_id, normalize_email
from normalize.errors import NormalizeError
from normalize.raw import RawInbound
from normalize.schema import MessageDraft, Transport
from storage.repository import Store

if TYPE_CHECKING:
    from gateway.app import Channel, Gateway

log = logging.getLogger("gateway.email")


def email_settings(config: EmailConfig) -> EmailSettings:
    before, _, after = config.ticket_ref_format.partition("{ref}")
    pattern = re.escape(before) + r"(T-\d+)" + re.escape(after)
    return EmailSettings(own_domain=config.own_domain, ticket_ref_pattern=pattern)


class EmailNormalizer:
    """`normalize_email` over a stored record: envelope facts come from the record's meta."""

    def __init__(self, config: EmailConfig) -> None:
        self._settings = email_settings(config)
        self._flood = (
            {"messages": config.flood_messages, "minutes": config.flood_minutes}
            if config.flood_messages > 0 and config.flood_minutes > 0 else None
        )

    def __call__(self, raw: RawInbound) -> MessageDraft:
        meta = raw.meta or {}
        if meta.get("oversized"):
            raise NormalizeError(oversized_reason(meta))
        mail_from = meta.get("mail_from")
        draft, _attachments = normalize_email(
            raw.payload,
            transport=Transport(raw.transport),
            received_at=raw.received_at,
            mail_from=mail_from if isinstance(mail_from, str) else None,
            rcpt_tos=tuple(str(a) for a in meta.get("rcpt_tos") or ()),
            settings=self._settings,
            external_id=raw.external_id,  # the adapter's, so the record and its message always agree
        )
        if self._flood is not None:
            draft = replace(draft, extras={**draft.extras, "flood_limit": self._flood})
        return draft


def oversized_reason(meta: dict[str, Any]) -> str:
    """Why an oversized record has no ticket, and where its message is."""
    facts = meta.get("oversized")
    size = facts.get("size") if isinstance(facts, dict) else None
    limit = facts.get("limit") if isinstance(facts, dict) else None
    reason = f"message of {size} bytes exceeds the limit of {limit} bytes"
    if meta.get("mailbox") is not None:
        reason += (f"; only its headers were fetched, the message is left in mailbox {meta.get('mailbox')!s},"
                   f" folder {meta.get('folder')!s}, UID {meta.get('uid')!s}")
    return reason


def normalizers(config: Config) -> dict[str, Normalizer]:
    return {"email": EmailNormalizer(config.email)}


def channels(gateway: Gateway) -> list[Channel]:
    config = gateway.config
    found: list[Channel] = []
    if config.smtp.enabled:
        found.append(SmtpChannel(  # a 250 promises the mail is kept, not that its ticket exists: answer when stored
            config.smtp, functools.partial(gateway.intake, until="stored"), email_external_id,
            tls_context=_smtp_tls(config.smtp, config.base_dir),
            users=_smtp_users(config.smtp),
            events=gateway.metrics.refused,
        ))
    load, save = checkpoint_callables(gateway.store)
    for i, box in enumerate(config.imap.mailboxes):
        password = os.environ.get(box.password_env, "")
        if not password:
            raise ConfigError(f"imap.mailboxes[{i}].password_env",
                              f"the environment variable {box.password_env} is not set")
        if box.ca_file:
            box = replace(box, ca_file=str(_resolve(box.ca_file, config.base_dir)))
        found.append(ImapPoller(box, password, gateway.intake, email_external_id, load, save,
                                events=gateway.metrics.refused))
    return found


def checkpoint_callables(store: Store) -> tuple[LoadCheckpoint, SaveCheckpoint]:
    """Load and save a named checkpoint, each in its own short transaction."""

    async def load(name: str) -> dict[str, Any] | None:
        async with store.transaction() as tx:
            return await tx.get_checkpoint(name)

    async def save(name: str, value: dict[str, Any]) -> None:
        async with store.transaction() as tx:
            await tx.set_checkpoint(name, value, datetime.now(UTC))

    return load, save


def _smtp_tls(config: SmtpConfig, base_dir: Path) -> ssl.SSLContext | None:
    if not config.tls_cert and not config.tls_key:
        return None
    if not (config.tls_cert and config.tls_key):
        raise ConfigError("smtp.tls_key" if config.tls_cert else "smtp.tls_cert",
                          "STARTTLS needs both tls_cert and tls_key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(_resolve(config.tls_cert, base_dir), _resolve(config.tls_key, base_dir))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("smtp.tls_cert", f"cannot load the certificate and key: {exc}") from exc
    return context


def _smtp_users(config: SmtpConfig) -> dict[str, str] | None:
    if not config.auth_users_env:
        return None
    text = os.environ.get(config.auth_users_env, "")
    if not text:
        raise ConfigError("smtp.auth_users_env", f"the environment variable {config.auth_users_env} is not set")
    try:
        users = parse_users(text)
    except AuthConfigError as exc:
        raise ConfigError("smtp.auth_users_env", f"{config.auth_users_env}: {exc}") from exc
    if not (config.tls_cert and config.tls_key):
        log.warning("smtp AUTH users are set but STARTTLS is not: AUTH is only offered over TLS")
    return users


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base_dir / candidate

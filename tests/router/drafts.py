"""Builders for drafts and configurations, so each test states only what it is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from normalize.schema import Attachment, Channel, Kind, MessageDraft, Requester, Transport
from router.config import RouterConfig, parse_router_config

MONDAY_10_UTC = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def make_draft(**changes: Any) -> MessageDraft:
    draft = MessageDraft(
        channel=Channel.EMAIL,
        transport=Transport.SMTP,
        external_id="m1@example.org",
        kind=Kind.NEW,
        requester=Requester(name="Anna", email="anna@example.org"),
        subject="Hello",
        text="Something is wrong.",
        received_at=MONDAY_10_UTC,
    )
    return replace(draft, **changes)


def attachment(content_type: str, name: str = "file") -> Attachment:
    return Attachment(name=name, content_type=content_type, size=10, sha256="0" * 64)


def one_rule(when: dict[str, Any], **rule: Any) -> RouterConfig:
    """A configuration whose only rule `r` sends matches to queue `hit`."""
    return parse_router_config(
        {"default_queue": "general", "rules": [{"name": "r", "when": when, "set": {"queue": "hit"}, **rule}]}
    )


def rules(*items: dict[str, Any], **router: Any) -> RouterConfig:
    return parse_router_config({"default_queue": "general", "rules": list(items), **router})

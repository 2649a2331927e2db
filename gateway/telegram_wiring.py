"""Wiring of the telegram channel into the gateway (normalizers, adapters, routes).

The adapter never sees the store: it gets the intake function and a `Desk`
of small callables built here on the gateway's store, each turning a storage
fault into `StorageUnavailableError` so the adapter retries and confirms nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from channels.telegram import ChatTicket, Desk, TelegramAdapter
from gateway.config import Config
from gateway.logs import RedactingFilter
from gateway.processing import Normalizer
from normalize.raw import StorageUnavailableError
from normalize.refs import format_ticket_id, parse_ticket_id
from normalize.telegram import normalize_telegram
from storage.repository import StorageError, Store

if TYPE_CHECKING:
    from gateway.app import Channel, Gateway

P = ParamSpec("P")
T = TypeVar("T")
ACK = "ack"


def normalizers(config: Config) -> dict[str, Normalizer]:
    return {"telegram": normalize_telegram}


def channels(gateway: Gateway) -> list[Channel]:
    config = gateway.config.telegram
    if not config.enabled:
        return []
    directory = Path(config.attachments_dir)
    if not directory.is_absolute():
        directory = gateway.config.base_dir / directory
    adapter = TelegramAdapter(
        config,
        gateway.secrets.telegram_token,
        gateway.secrets.telegram_webhook_secret,
        gateway.intake,
        build_desk(gateway.store),
        directory,
        count=lambda event: gateway.metrics.refused("telegram", event),
        redactor=RedactingFilter([*gateway.secrets.values(), *_token_forms(gateway.secrets.telegram_token)]),
    )
    gateway.add_routes(adapter.routes())
    return [adapter]


def _token_forms(token: str) -> list[str]:
    """Besides the token itself: its secret half, which is all a percent-encoded URL still shows
    (file downloads go to `/file/bot<id>%3A<secret>/...`)."""
    secret = token.partition(":")[2]
    return [secret] if len(secret) >= 8 else []


def _storage(call: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await call(*args, **kwargs)
        except StorageError as exc:
            raise StorageUnavailableError(str(exc)) from exc

    return guarded


def _now() -> datetime:
    return datetime.now(UTC)


def _ticket(ref: str) -> int:
    number = parse_ticket_id(ref)
    if number is None:
        raise ValueError(f"not a ticket reference: {ref!r}")
    return number


def build_desk(store: Store) -> Desk:
    async def load_checkpoint(name: str) -> dict[str, Any] | None:
        async with store.transaction() as tx:
            return await tx.get_checkpoint(name)

    async def save_checkpoint(name: str, value: dict[str, Any]) -> None:
        async with store.transaction() as tx:
            await tx.set_checkpoint(name, value, _now())

    async def link_identity(key: str, linked_key: str) -> None:
        await store.link_identity(key, linked_key, _now())

    async def chat_ticket(conversation: str) -> ChatTicket | None:
        row = await store.conversation_ticket(conversation)
        if row is None:
            return None
        return ChatTicket(format_ticket_id(row.id), row.status, row.subject, row.updated_at)

    async def needs_ack(ticket_ref: str, message_ref: str, recipient: str) -> bool:
        ticket = _ticket(ticket_ref)
        message = int(message_ref.removeprefix("M-"))
        return await store.opened_ticket(ticket, message) and not await store.outbound_sent(ticket, recipient, ACK)

    async def record_ack(ticket_ref: str, sent_external_id: str, recipient: str) -> None:
        await store.record_outbound(sent_external_id, _ticket(ticket_ref), "telegram", ACK, recipient, _now())

    return Desk(
        load_checkpoint=_storage(load_checkpoint),
        save_checkpoint=_storage(save_checkpoint),
        link_identity=_storage(link_identity),
        chat_ticket=_storage(chat_ticket),
        needs_ack=_storage(needs_ack),
        record_ack=_storage(record_ack),
    )

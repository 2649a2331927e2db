"""One path for every update, polled or pushed: decide, fetch files, store, then link.

`prepare` decides what an update is (a message to store, a command to
answer, a group message to ignore) and fetches its files; `commit` hands the
records to intake and returns only when they are all durably stored, so the
caller may then confirm them to Telegram (next offset, or HTTP 200).
Commands carry no request for the desk and are answered, not stored.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.telegram.desk import Desk
from channels.telegram.files import Fetched, FileFetcher
from normalize.raw import Intake, IntakeError, IntakeResult, RawInbound, StorageUnavailableError
from normalize.telegram import (
    command_of,
    file_refs,
    message_idempotency_key,
    message_of,
    update_external_id,
)
from normalize.telegram.normalizer import own_contact_phone

log = logging.getLogger("gateway.channels.telegram")

ANSWERED = frozenset({"start", "help", "status"})
PRIVATE = "private"


class Action(enum.StrEnum):
    STORE = "store"
    COMMAND = "command"  # answered, not stored
    IGNORE = "ignore"  # a group chat while group chats are off


@dataclass(frozen=True, slots=True)
class Arrival:
    update: dict[str, Any]
    payload: bytes
    transport: str  # polling | webhook
    received_at: datetime

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


@dataclass
class Prepared:
    arrival: Arrival
    action: Action
    raw: RawInbound | None = None
    command: str | None = None
    chat_id: int | None = None
    files: list[Fetched] = field(default_factory=list)
    contact_phone: str | None = None  # the sender's own number, verified by Telegram
    contact_refused: bool = False  # someone else's contact: not linked
    took_new_flag: bool = False
    result: IntakeResult | None = None


def classify(update: dict[str, Any], group_chats: bool) -> tuple[Action, str | None]:
    found = message_of(update)
    if found is None:
        return Action.STORE, None
    kind, message = found
    if message["chat"].get("type") != PRIVATE and not group_chats:
        return Action.IGNORE, None
    command = command_of(message.get("text"), message.get("entities"))
    if command is None or kind != "message":
        return Action.STORE, None
    if command.name in ANSWERED or (command.name == "new" and not command.rest):
        return Action.COMMAND, command.name
    return Action.STORE, command.name


class NewTicketFlags:
    """Chats that sent a bare /new: their next stored message opens a new ticket.

    Kept as checkpoints so a restart between the /new and the next message
    does not forget it; taken when the next message is prepared and cleared
    once that message is committed.
    """

    def __init__(self, desk: Desk, bot_id: int) -> None:
        self._desk = desk
        self._bot_id = bot_id
        self._known: dict[int, bool] = {}

    def _name(self, chat_id: int) -> str:
        return f"telegram:{self._bot_id}:new:{chat_id}"

    async def request(self, chat_id: int) -> None:
        await self._desk.save_checkpoint(self._name(chat_id), {"pending": True})
        self._known[chat_id] = True

    async def take(self, chat_id: int) -> bool:
        if chat_id not in self._known:
            saved = await self._desk.load_checkpoint(self._name(chat_id))
            self._known[chat_id] = bool(saved and saved.get("pending"))
        pending = self._known[chat_id]
        self._known[chat_id] = False
        return pending

    async def settle(self, chat_id: int) -> None:
        if not self._known.get(chat_id):
            await self._desk.save_checkpoint(self._name(chat_id), {"pending": False})


class UpdatePipeline:
    def __init__(self, intake: Intake, desk: Desk, fetcher: FileFetcher, bot_id: int, *, group_chats: bool,
                 count: Callable[[str], None]) -> None:
        self._intake = intake
        self._desk = desk
        self._fetcher = fetcher
        self._bot_id = bot_id
        self._group_chats = group_chats
        self._count = count
        self._flags = NewTicketFlags(desk, bot_id)

    async def prepare(self, arrival: Arrival) -> Prepared:
        """What to do with the update; files fetched. Raises IntakeError when storage cannot answer."""
        try:
            action, command = classify(arrival.update, self._group_chats)
            found = message_of(arrival.update)
        except (KeyError, TypeError, ValueError):  # malformed: keep it raw, the normalizer says why
            action, command, found = Action.STORE, None, None
        chat_id = _int(found[1]["chat"].get("id")) if found else None
        prepared = Prepared(arrival, action, command=command, chat_id=chat_id)
        if action == Action.IGNORE:
            self._count("group_ignored")
            return prepared
        if action == Action.COMMAND:
            self._count(f"command_{command}")
            if command == "new" and chat_id is not None:
                await self._flags.request(chat_id)
            return prepared
        meta: dict[str, Any] = {"bot_id": self._bot_id, "update_id": arrival.update_id}
        key: str | None = None
        if found is not None and chat_id is not None:
            field_name, message = found
            prepared.files = [await self._fetcher.fetch(ref) for ref in file_refs(message)]
            meta["files"] = [f.meta() for f in prepared.files]
            if field_name == "message" and command != "new" and await self._flags.take(chat_id):
                meta["force_new"] = True
                prepared.took_new_flag = True
            prepared.contact_phone = own_contact_phone(message)
            prepared.contact_refused = isinstance(message.get("contact"), dict) and prepared.contact_phone is None
            message_id = _int(message.get("message_id"))
            if message_id is not None:
                edit = message.get("edit_date") if field_name == "edited_message" else None
                key = message_idempotency_key(self._bot_id, chat_id, message_id, _int(edit))
        prepared.raw = RawInbound(
            channel="telegram",
            transport=arrival.transport,
            external_id=update_external_id(self._bot_id, arrival.update_id),
            received_at=arrival.received_at,
            payload=arrival.payload,
            principal=f"telegram:bot:{self._bot_id}",
            meta=meta,
            idempotency_key=key,
        )
        return prepared

    async def commit(self, batch: list[Prepared]) -> None:
        """Store every record of the batch; raise IntakeError if any was refused.

        Records go to intake together (in order, so they share commits); on a
        retry only the ones refused before are offered again, so a batch larger
        than intake's in-flight limit still gets through.
        """
        stored = [p for p in batch if p.raw is not None]
        waiting = [p for p in stored if p.result is None]
        outcomes = await asyncio.gather(*(self._intake(p.raw) for p in waiting if p.raw), return_exceptions=True)
        refused: BaseException | None = None
        for prepared, outcome in zip(waiting, outcomes, strict=True):
            if isinstance(outcome, IntakeResult):
                prepared.result = outcome
            else:
                refused = refused or outcome
        if refused is not None:
            if isinstance(refused, IntakeError):
                raise refused
            raise StorageUnavailableError(f"intake failed: {type(refused).__name__}") from refused
        for prepared in stored:
            if prepared.contact_phone and prepared.result is not None:
                user = prepared.arrival.update.get("message", {}).get("from", {}).get("id")
                await self._desk.link_identity(f"telegram:{user}", f"phone:{prepared.contact_phone}")
            if prepared.took_new_flag and prepared.chat_id is not None:
                await self._flags.settle(prepared.chat_id)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

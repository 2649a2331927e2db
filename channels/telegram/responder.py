"""What the bot answers, after the update is committed: PTB handlers on the Application.

Handlers run through `Application.process_update`, awaited by the caller
before it confirms the update to Telegram. A crash before an answer went out
therefore brings the update back (stored once, as a repeat) and the answer is
sent then: the acknowledgement is decided from the store ("this message
opened its ticket and no acknowledgement was recorded"), never from memory.
A failure to answer is logged and never undoes or repeats the stored message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Message, ReplyParameters, Update
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from channels.telegram import texts
from channels.telegram.backoff import Backoff, GaveUpError, describe, with_retries
from channels.telegram.desk import Desk
from channels.telegram.pipeline import Action, Prepared
from normalize.raw import IntakeError, IntakeStatus
from normalize.telegram import conversation_key, message_external_id

log = logging.getLogger("gateway.channels.telegram")

SEND_ATTEMPTS = 5
Context = ContextTypes.DEFAULT_TYPE


class Responder:
    def __init__(self, app: Application[Any, Any, Any, Any, Any, Any], desk: Desk, bot_id: int, backoff: Backoff,
                 stopping: asyncio.Event, max_file_bytes: int) -> None:
        self._app = app
        self._desk = desk
        self._bot_id = bot_id
        self._backoff = backoff
        self._stopping = stopping
        self._max_file_bytes = max_file_bytes
        self._outcomes: dict[int, tuple[Prepared, float]] = {}

    def install(self) -> None:
        only_new = filters.UpdateType.MESSAGE
        self._app.add_handler(CommandHandler(("start", "help"), self._help, filters=only_new))
        self._app.add_handler(CommandHandler("status", self._status, filters=only_new))
        self._app.add_handler(CommandHandler("new", self._new, filters=only_new))
        self._app.add_handler(MessageHandler(filters.UpdateType.MESSAGES, self._stored))
        self._app.add_error_handler(self._error)

    async def respond(self, prepared: Prepared, budget_s: float) -> None:
        """Run the handlers for a committed (or answered-only) update; never raises."""
        if prepared.action == Action.IGNORE:
            return
        try:
            update = Update.de_json(prepared.arrival.update, self._app.bot)
        except Exception as exc:  # stored raw already; only the answer is lost
            log.warning("telegram: update %s cannot be parsed for an answer: %s", prepared.arrival.update_id,
                        type(exc).__name__)
            return
        self._outcomes[id(update)] = (prepared, budget_s)
        try:
            await self._app.process_update(update)
        finally:
            self._outcomes.pop(id(update), None)

    # -- handlers ----------------------------------------------------------
    async def _help(self, update: Update, _context: Context) -> None:
        message = update.effective_message
        if message is not None:
            await self._send(update, texts.text(_language(message), "help"))

    async def _status(self, update: Update, _context: Context) -> None:
        message = update.effective_message
        if message is None:
            return
        lang = _language(message)
        try:
            ticket = await self._desk.chat_ticket(conversation_key(self._bot_id, message.chat_id))
        except IntakeError as exc:
            log.warning("telegram: /status lookup failed: %s", exc)
            return
        if ticket is None:
            answer = texts.text(lang, "status_none")
        else:
            answer = texts.text(lang, "status", ref=ticket.ref, subject=ticket.subject,
                                state=texts.state_word(lang, ticket.status))
        await self._send(update, answer)

    async def _new(self, update: Update, context: Context) -> None:
        prepared = self._prepared(update)
        message = update.effective_message
        if prepared is not None and prepared.action == Action.COMMAND and message is not None:
            await self._send(update, texts.text(_language(message), "new_prompt"))
        else:
            await self._stored(update, context)

    async def _stored(self, update: Update, _context: Context) -> None:
        prepared = self._prepared(update)
        message = update.effective_message
        if prepared is None or prepared.result is None or message is None:
            return
        lang = _language(message)
        parts: list[str] = []
        ack_for: str | None = None
        result = prepared.result
        if result.status == IntakeStatus.PROCESSED and result.ticket_id and result.message_id:
            try:
                if await self._desk.needs_ack(result.ticket_id, result.message_id, self._recipient(message.chat_id)):
                    parts.append(texts.text(lang, "ack", ref=result.ticket_id))
                    ack_for = result.ticket_id
            except IntakeError as exc:
                log.warning("telegram: cannot tell whether %s was acknowledged: %s", result.ticket_id, exc)
        if not result.duplicate:
            parts += self._notices(lang, prepared)
        if not parts:
            return
        sent = await self._send(update, "\n\n".join(parts))
        if sent is not None and ack_for is not None:
            try:
                await self._desk.record_ack(ack_for, message_external_id(self._bot_id, sent.chat_id, sent.message_id),
                                            self._recipient(sent.chat_id))
            except IntakeError as exc:
                log.warning("telegram: acknowledgement of %s sent but not recorded: %s", ack_for, exc)

    def _notices(self, lang: str, prepared: Prepared) -> list[str]:
        notes: list[str] = []
        for fetched in prepared.files:
            if fetched.over_limit:
                notes.append(texts.text(lang, "file_too_large", name=fetched.ref.name,
                                        size=texts.size_text(fetched.size),
                                        limit=texts.size_text(self._max_file_bytes)))
            elif fetched.note:
                notes.append(texts.text(lang, "file_failed", name=fetched.ref.name))
        if prepared.contact_phone:
            notes.append(texts.text(lang, "contact_linked", phone=prepared.contact_phone))
        elif prepared.contact_refused:
            notes.append(texts.text(lang, "contact_not_own"))
        return notes

    async def _error(self, _update: object, context: Context) -> None:
        error = context.error
        log.warning("telegram: answering an update failed: %s", describe(error) if error else "unknown error")

    # -- sending -------------------------------------------------------------
    def _recipient(self, chat_id: int) -> str:
        return conversation_key(self._bot_id, chat_id)

    def _prepared(self, update: Update) -> Prepared | None:
        entry = self._outcomes.get(id(update))
        return entry[0] if entry else None

    async def _send(self, update: Update, answer: str) -> Message | None:
        message = update.effective_message
        if message is None:
            return None
        entry = self._outcomes.get(id(update))
        budget = entry[1] if entry else self._backoff.max_s
        bot = self._app.bot

        async def call() -> Message:
            return await bot.send_message(
                message.chat_id, answer,
                reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
            )

        try:
            return await with_retries(call, self._backoff, self._stopping, attempts=SEND_ATTEMPTS, max_wait_s=budget)
        except GaveUpError as exc:
            log.warning("telegram: could not answer in chat %s: %s", message.chat_id, exc)
            return None


def _language(message: Message) -> str:
    user = message.from_user
    return texts.language_of(user.language_code if user else None)

"""The Telegram channel: lifecycle of the PTB Application on the gateway's own event loop.

`start` returns at once: reaching the Bot API (getMe) happens in the
background with back-off, so a Telegram outage never stops the gateway or
its other channels; /readyz says what is wrong meanwhile. Polling or webhook
then runs until `stop`, which stops taking updates, lets a batch in hand
finish (briefly), and shuts the Application down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from telegram.error import InvalidToken, TelegramError

from channels.telegram.backoff import Backoff, describe, sleep_unless
from channels.telegram.bot import build_application
from channels.telegram.desk import Desk
from channels.telegram.files import AttachmentStore, FileFetcher
from channels.telegram.health import Health
from channels.telegram.logguard import LogGuard
from channels.telegram.pipeline import UpdatePipeline
from channels.telegram.poller import Poller
from channels.telegram.responder import Responder
from channels.telegram.webhook import WebhookEndpoint, WebhookRegistration, webhook_url
from gateway.config import TelegramConfig
from normalize.raw import Intake

log = logging.getLogger("gateway.channels.telegram")

STOP_GRACE_S = 10.0


def bot_id_of(token: str) -> int | None:
    """A bot token is `<bot id>:<secret>`; the id scopes every key the channel stores."""
    head, sep, rest = token.partition(":")
    return int(head) if sep and head.isdigit() and rest else None


class TelegramAdapter:
    name = "telegram"

    def __init__(self, config: TelegramConfig, token: str, webhook_secret: str, intake: Intake, desk: Desk,
                 attachments_dir: Path, *, count: Callable[[str], None], redactor: logging.Filter) -> None:
        self._config = config
        self._token = token
        self._secret = webhook_secret
        self._intake = intake
        self._desk = desk
        self._attachments = AttachmentStore(attachments_dir)
        self._count = count
        self._guard = LogGuard(redactor)
        self._backoff = Backoff(config.retry_base_s, config.retry_max_s)
        self._stopping = asyncio.Event()
        self._bot_id = bot_id_of(token)
        stale = config.poll_timeout_s + config.request_timeout_s + 60.0
        self._health = Health(mode=config.mode, stale_after_s=stale,
                              expected_url=webhook_url(config.public_url) if config.public_url else None)
        if not token:
            self._health.problem = "GATEWAY_TELEGRAM_TOKEN is not set"
        elif self._bot_id is None:
            self._health.problem = "GATEWAY_TELEGRAM_TOKEN is not a bot token (<bot id>:<secret>)"
        elif config.mode == "webhook" and not webhook_secret:
            self._health.problem = "GATEWAY_TELEGRAM_WEBHOOK_SECRET is not set: the webhook refuses every request"
        self._endpoint = WebhookEndpoint(webhook_secret, self._health, count)
        self._task: asyncio.Task[None] | None = None
        self._app: Any = None
        self._updates: Any = None
        self._poller: Poller | None = None

    def routes(self) -> list[web.RouteDef]:
        return self._endpoint.routes() if self._config.mode == "webhook" else []

    async def start(self) -> None:
        self._guard.install()
        if self._health.problem and (not self._token or self._bot_id is None):
            log.error("telegram: %s; the channel stays down", self._health.problem)
            return
        if self._health.problem:
            log.error("telegram: %s", self._health.problem)
        self._task = asyncio.create_task(self._run(), name="telegram")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            if self._poller is None or not self._poller.busy:
                self._task.cancel()
            try:
                await asyncio.wait_for(self._task, STOP_GRACE_S)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("telegram: the channel ended with an error")
        if self._app is not None:
            try:
                if self._app.running:
                    await self._app.stop()
                if self._health.bot is not None:  # initialize() succeeded
                    await self._app.shutdown()
                else:  # getMe never answered: close the HTTP clients the requests opened
                    await self._app.bot.request.shutdown()
                    await self._updates.shutdown()
            except Exception as exc:
                log.warning("telegram: shutting the bot down failed: %s", describe(exc))
        self._guard.remove()

    def health(self) -> dict[str, object]:
        return self._health.report()

    # -- the background part ---------------------------------------------------
    async def _run(self) -> None:
        try:
            await self._serve()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported in /readyz rather than lost with the task
            log.exception("telegram: the channel stopped")
            self._health.blocking = f"the channel stopped: {describe(exc)}"

    async def _serve(self) -> None:
        assert self._bot_id is not None
        app, updates = build_application(self._token, self._config.api_url, self._config.request_timeout_s)
        self._app, self._updates = app, updates
        if not await self._initialize(app):
            return
        fetcher = FileFetcher(app.bot, self._attachments, self._config.max_file_bytes, self._backoff, self._stopping)
        pipeline = UpdatePipeline(self._intake, self._desk, fetcher, self._bot_id,
                                  group_chats=self._config.group_chats, count=self._count)
        responder = Responder(app, self._desk, self._bot_id, self._backoff, self._stopping,
                              self._config.max_file_bytes)
        responder.install()
        await app.start()
        if self._config.mode == "webhook":
            registration = WebhookRegistration(app.bot, self._health, self._backoff, self._stopping,
                                               public_url=self._config.public_url, secret=self._secret,
                                               check_every_s=self._config.webhook_check_s)
            self._endpoint.attach(pipeline, responder)
            self._health.ready = True
            await registration.monitor()
            return
        await self._leave_webhook(app)
        self._health.ready = True
        self._poller = Poller(app.bot, updates, pipeline, responder, self._desk, self._health, self._backoff,
                              self._stopping, bot_id=self._bot_id, poll_timeout_s=self._config.poll_timeout_s)
        await self._poller.run()

    async def _initialize(self, app: Any) -> bool:
        """getMe until it answers (back-off); False when stopping first."""
        failures = 0
        while not self._stopping.is_set():
            try:
                await app.initialize()
            except TelegramError as exc:
                failures += 1
                self._health.failed(describe(exc), lasting=isinstance(exc, InvalidToken))
                wait = self._backoff.wait_for(exc, failures)
                log.warning("telegram: the Bot API did not answer getMe: %s; retrying in %.1f s", describe(exc), wait)
                if await sleep_unless(self._stopping, wait):
                    return False
                continue
            self._health.bot = f"@{app.bot.username}"
            self._health.failures = 0
            self._health.blocking = None
            log.info("telegram: connected as @%s (%s mode)", app.bot.username, self._config.mode)
            return True
        return False

    async def _leave_webhook(self, app: Any) -> None:
        """Polling cannot work while a webhook is set (409): remove one left from webhook mode."""
        try:
            info = await app.bot.get_webhook_info()
            if info.url:
                log.warning("telegram: a webhook is set (%s) but mode is polling: deleting it", info.url)
                await app.bot.delete_webhook(drop_pending_updates=False)
        except TelegramError as exc:
            log.warning("telegram: could not check for a webhook: %s", describe(exc))

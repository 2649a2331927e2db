"""Webhook mode: `POST /v1/telegram/webhook` on the gateway's own server, and its registration.

The secret header is checked (constant time) before the body is even read,
so a request without Telegram's secret stores nothing and costs nothing.
Telegram gets 200 only after the update is committed and answered; under
overload it gets 503 with Retry-After and sends the update again later.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from telegram import Bot

from channels.httpkit import HttpError, intake_error, parse_json_object, read_body
from channels.telegram.backoff import Backoff, GaveUpError, describe, sleep_unless, with_retries
from channels.telegram.bot import ALLOWED_UPDATES
from channels.telegram.health import Health
from channels.telegram.pipeline import Arrival, UpdatePipeline
from channels.telegram.responder import Responder
from normalize.raw import IntakeError

log = logging.getLogger("gateway.channels.telegram")

PATH = "/v1/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1024 * 1024
REPLY_BUDGET_S = 10.0  # Telegram waits for our answer; do not hold it long
SECRET_FORM = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def webhook_url(public_url: str) -> str:
    """The URL Telegram should call: `public_url` itself when it names the endpoint, else under it."""
    url = public_url.rstrip("/")
    return url if url.endswith(PATH) else url + PATH


class WebhookEndpoint:
    def __init__(self, secret: str, health: Health, count: Callable[[str], None]) -> None:
        self._secret = secret.encode()
        self._health = health
        self._count = count
        self._pipeline: UpdatePipeline | None = None
        self._responder: Responder | None = None

    def attach(self, pipeline: UpdatePipeline, responder: Responder) -> None:
        """Called once the Bot API answered; until then requests get 503 and Telegram retries."""
        self._pipeline = pipeline
        self._responder = responder

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if not self._secret:
            self._count("webhook_no_secret_configured")
            raise HttpError(401, "unauthorized", "the gateway has no Telegram webhook secret configured")
        if given is None:
            self._count("webhook_secret_missing")
            raise HttpError(401, "unauthorized", f"missing {SECRET_HEADER}")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self._secret):
            self._count("webhook_secret_wrong")
            raise HttpError(403, "forbidden", f"wrong {SECRET_HEADER}")
        pipeline, responder = self._pipeline, self._responder
        if pipeline is None or responder is None:
            raise HttpError(503, "starting", "the Telegram channel is starting; retry later",
                            headers={"Retry-After": "5"})
        body = await read_body(request, MAX_UPDATE_BYTES)
        update = parse_json_object(body)
        if not isinstance(update.get("update_id"), int) or isinstance(update.get("update_id"), bool):
            raise HttpError(422, "invalid", "an update needs an integer update_id", field="update_id")
        arrival = Arrival(update, body, "webhook", datetime.now(UTC))
        try:
            prepared = await pipeline.prepare(arrival)
            await pipeline.commit([prepared])
        except IntakeError as exc:
            self._count("webhook_refused")
            raise intake_error(exc) from exc
        except OSError as exc:  # attachment storage
            log.warning("telegram: storing a file failed: %s", exc)
            raise HttpError(503, "storage_unavailable", "the update could not be stored; retry later",
                            headers={"Retry-After": "5"}) from exc
        self._health.last_received = datetime.now(UTC).timestamp()
        await responder.respond(prepared, REPLY_BUDGET_S)
        return web.Response(status=200)


class WebhookRegistration:
    """setWebhook at start (when a public URL is configured), then getWebhookInfo every so often."""

    def __init__(self, bot: Bot, health: Health, backoff: Backoff, stopping: asyncio.Event, *,
                 public_url: str, secret: str, check_every_s: float) -> None:
        self._bot = bot
        self._health = health
        self._backoff = backoff
        self._stopping = stopping
        self._url = webhook_url(public_url) if public_url else ""
        self._secret = secret
        self._every = check_every_s
        self._registered = False

    async def register(self) -> None:
        if not self._url or self._registered:
            if not self._url:
                log.info("telegram: webhook mode without public_url: expecting the webhook to be set already")
            return
        if not SECRET_FORM.match(self._secret):
            self._health.problem = ("GATEWAY_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, "
                                    "_ and - (Telegram's rule); the webhook was not registered")
            log.error("telegram: %s", self._health.problem)
            return
        try:
            await with_retries(
                lambda: self._bot.set_webhook(url=self._url, secret_token=self._secret,
                                              allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False),
                self._backoff, self._stopping, attempts=5, max_wait_s=self._backoff.max_s)
        except GaveUpError as exc:
            self._health.blocking = f"setWebhook failed: {exc}"
            log.error("telegram: setWebhook for %s failed: %s", self._url, exc)
            return
        self._registered = True
        self._health.blocking = None
        log.info("telegram: webhook registered at %s", self._url)

    async def monitor(self) -> None:
        """Check (and retry a failed registration) until the adapter stops."""
        while True:
            await self.register()
            await self.check()
            if await sleep_unless(self._stopping, self._every):
                return

    async def check(self) -> None:
        try:
            info = await self._bot.get_webhook_info()
        except Exception as exc:  # reported, never fatal
            self._health.webhook_error = describe(exc)
            log.warning("telegram: getWebhookInfo failed: %s", describe(exc))
            return
        data: dict[str, Any] = info.to_dict()
        self._health.webhook_info(data)
        if data.get("last_error_message"):
            log.warning("telegram: Telegram reports a webhook delivery error: %s (pending updates: %s)",
                        data.get("last_error_message"), data.get("pending_update_count"))

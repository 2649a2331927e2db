"""Wiring and lifecycle: build every part from the configuration, start, stop.

This is the only module that knows all the parts. Adapters get the intake
function; storage gets an engine; the HTTP application gets the route tables
the modules contribute. Shutdown stops ingress first, lets in-flight commits
finish, then closes the channels and storage.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web

from channels.httpkit import http_errors
from channels.phone import PhoneAdapter
from channels.portal import PortalAdapter
from gateway import openapi
from gateway.api import ReadApi
from gateway.config import Config, Secrets
from gateway.explain import ExplainApi
from gateway.intake import IntakeService
from gateway.metrics import Metrics
from gateway.ops import Ops
from gateway.processing import Normalizer, Processor
from gateway.routing import Router, build_router
from gateway.wiring import delivery_planner, extra_channels, extra_normalizers
from normalize.phone import make_phone_normalizer
from normalize.portal import normalize_portal
from storage import migrate
from storage.engine import create_engine, resolve_url
from storage.repository import Store

log = logging.getLogger("gateway")

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # aiohttp's own cap; each endpoint enforces its smaller limit


class Channel(Protocol):
    """A transport that runs beside the HTTP server (SMTP, IMAP, Telegram polling)."""

    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def health(self) -> dict[str, object]: ...


def build_store(config: Config) -> Store:
    url = resolve_url(config.storage.url, config.base_dir)
    engine = create_engine(url, sqlite_synchronous=config.storage.sqlite_synchronous,
                           pool_size=config.storage.pool_size)
    return Store(engine, sqlite_synchronous=config.storage.sqlite_synchronous)


def build_processor(config: Config, router: Router) -> Processor:
    normalizers: dict[str, Normalizer] = {
        "portal": normalize_portal,
        "phone": make_phone_normalizer(config.phone.default_region),
    }
    normalizers.update(extra_normalizers(config))
    return Processor(
        normalizers,
        router.classify,
        conversation_idle=timedelta(minutes=config.telegram.idle_minutes),
        plan_deliveries=delivery_planner(config),
    )


async def prepare_storage(config: Config, store: Store) -> None:
    """Migrate automatically where that is the default (embedded SQLite), else insist it was done."""
    auto = config.storage.auto_migrate
    if auto is None:
        auto = store.dialect == "sqlite"
    if auto:
        await migrate.upgrade(store.engine)
        return
    missing = await migrate.pending_revisions(store.engine)
    if missing:
        raise RuntimeError(
            f"the database schema is not current ({len(missing)} migrations pending): run `gateway db upgrade`"
        )


class Gateway:
    def __init__(self, config: Config, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self.metrics = Metrics()
        self.store = build_store(config)
        self.router = build_router(config)
        self.processor = build_processor(config, self.router)
        self.intake = IntakeService(
            self.store, self.processor, self.metrics,
            max_in_flight=config.intake.max_in_flight,
            batch_max=config.intake.batch_max,
            retry_after_s=config.intake.retry_after_s,
        )
        self.channels: list[Channel] = []
        self.state = "starting"
        self._runner: web.AppRunner | None = None
        self._sites: list[web.TCPSite] = []
        self.http_port: int | None = None
        self._background: list[asyncio.Task[Any]] = []
        self._extra_routes: list[web.RouteDef] = []

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        self._extra_routes += routes

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[http_errors], client_max_size=MAX_REQUEST_BYTES)
        app.add_routes(openapi.routes())
        ops = Ops(self.store, self.metrics, lambda: self.state, lambda: self.intake.in_flight,
                  {c.name: c.health for c in self.channels})
        app.add_routes(ops.routes())
        app.add_routes(ReadApi(self.store, self.secrets.api_token).routes())
        app.add_routes(ExplainApi(self.router, self.secrets.api_token).routes())
        if self.config.portal.enabled:
            app.add_routes(PortalAdapter(self.intake, self.config.portal, self.secrets.portal_token).routes())
        if self.config.phone.enabled:
            app.add_routes(PhoneAdapter(self.intake, self.config.phone, self.secrets.phone_secret).routes())
        app.add_routes(self._extra_routes)
        return app

    async def start(self) -> None:
        await prepare_storage(self.config, self.store)
        self.intake.start()
        self._build_channels()
        self._warn_missing_secrets()
        app = self.build_app()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.config.http.shutdown_timeout_s,
                                     handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.http.host, self.config.http.port, reuse_address=True)
        await site.start()
        self._sites.append(site)
        self.http_port = self._runner.addresses[0][1]
        self.state = "recovering"
        recovered = await self.intake.recover()
        if recovered:
            log.info("processed %d records left pending by an earlier run", recovered)
        for channel in self.channels:
            await channel.start()
        self.state = "running"
        log.info("gateway running: http on %s:%s", self.config.http.host, self.http_port)

    def _build_channels(self) -> None:
        self.channels += extra_channels(self)

    def _warn_missing_secrets(self) -> None:
        needs = [("GATEWAY_API_TOKEN", self.secrets.api_token, True),
                 ("GATEWAY_PORTAL_TOKEN", self.secrets.portal_token, self.config.portal.enabled),
                 ("GATEWAY_PHONE_SECRET", self.secrets.phone_secret, self.config.phone.enabled)]
        for name, value, used in needs:
            if used and not value:
                log.warning("%s is not set: its endpoints refuse every request (401)", name)

    async def stop(self) -> None:
        """Stop ingress, drain in-flight commits, then close channels and storage."""
        self.state = "stopping"
        for site in self._sites:
            await site.stop()
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:
                log.exception("stopping channel %s failed", channel.name)
        await self.intake.close()
        if self._runner is not None:
            await self._runner.cleanup()
        for task in self._background:
            task.cancel()
        await self.store.close()
        self.state = "stopped"

"""Wiring of the outbox: which deliveries a ticket write plans, and the dispatcher service.

Destination secrets are read from the environment here, when the gateway
starts; a missing one stops the start with the key and variable named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from gateway.config import Config
from gateway.metrics import Metrics
from gateway.processing import DeliveryPlanner
from gateway.views import ticket_json
from router.ack_mailer import ACK_DESTINATION, AckMailer, AckSettings
from router.delivery_config import DeliveryConfig, defaults_from, parse_acks_address, parse_delivery_config
from router.destinations.base import Destination
from router.destinations.build import MissingSecretError, build_destinations
from router.destinations.mail import SmtpSettings
from router.dispatch import Dispatcher, DispatchSettings
from router.outbox_plan import OutboxPlanner
from storage.engine import create_engine
from storage.outbox import Outbox
from storage.repository import Store

if TYPE_CHECKING:
    from gateway.app import Channel, Gateway

STATUSES = ("pending", "sending", "delivered", "dead", "skipped")


def delivery_config(config: Config) -> DeliveryConfig:
    return parse_delivery_config(config.destinations, config.router, defaults_from(config.dispatch))


def planner(config: Config) -> DeliveryPlanner | None:
    routes = delivery_config(config).routes
    if not routes.routes and not config.acks.enabled:
        return None
    return OutboxPlanner(routes, acks=config.acks.enabled)


def dispatch_settings(config: Config) -> DispatchSettings:
    d = config.dispatch
    return DispatchSettings(concurrency=d.concurrency, batch_size=d.batch_size, poll_interval_s=d.poll_interval_s,
                            lease_s=d.lease_s, shutdown_grace_s=d.shutdown_grace_s)


def destinations(config: Config, outbox: Outbox, env: Mapping[str, str]) -> dict[str, Destination]:
    """Every configured destination, and `ack:email` when acknowledgements are on."""
    found = build_destinations(delivery_config(config).destinations, env, own_domain=config.email.own_domain,
                               ref_format=config.email.ticket_ref_format, limit=config.dispatch.concurrency)
    acks = config.acks
    if acks.enabled:
        password = env.get(acks.smtp_password_env, "") if acks.smtp_password_env else ""
        if acks.smtp_password_env and not password:
            raise MissingSecretError(f"acks.smtp_password_env: the environment variable {acks.smtp_password_env} "
                                     "is not set")
        settings = AckSettings(
            smtp=SmtpSettings(acks.smtp_host, acks.smtp_port, acks.smtp_tls, acks.smtp_user, password, acks.timeout_s),
            sender=parse_acks_address(acks.from_address, "acks.from_address"),
            own_domain=config.email.own_domain,
            ref_format=config.email.ticket_ref_format,
            window=timedelta(minutes=acks.window_minutes),
            default_language=acks.default_language,
            retry=defaults_from(config.dispatch).retry,
        )
        found[ACK_DESTINATION] = AckMailer(outbox, settings)
    return found


class _DeliveryMetrics:
    """The dispatcher's outcomes as the gateway's Prometheus metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def delivery_outcome(self, destination: str, outcome: str) -> None:
        self._metrics.delivery_attempts.labels(destination, outcome).inc()

    def delivery_counts(self, counts: Mapping[str, int]) -> None:
        for status in STATUSES:
            self._metrics.deliveries.labels(status).set(counts.get(status, 0))


def dispatcher_outbox(gateway: Gateway) -> Outbox:
    """The dispatcher's repository: its transactions need not wait for the disk (see `Outbox`).

    On SQLite that takes connections of its own with `synchronous=NORMAL`;
    on PostgreSQL the gateway's pool, with `synchronous_commit` off per
    transaction.
    """
    if gateway.store.dialect == "sqlite" and gateway.config.storage.sqlite_synchronous != "normal":
        url = gateway.store.engine.url.render_as_string(hide_password=False)
        engine = create_engine(url, sqlite_synchronous="normal", pool_size=4, sqlite_busy_timeout_ms=0)
        return Outbox(Store(engine), relaxed=True, owns_store=True)
    return Outbox(gateway.store, relaxed=True)


def services(gateway: Gateway) -> list[Channel]:
    config = gateway.config
    if not config.dispatch.enabled or not (delivery_config(config).destinations or config.acks.enabled):
        return []
    outbox = dispatcher_outbox(gateway)
    found = destinations(config, outbox, os.environ)
    dispatcher = Dispatcher(outbox, found, ticket_json, dispatch_settings(config),
                            metrics=_DeliveryMetrics(gateway.metrics))
    gateway.store.add_outbox_listener(dispatcher.poke)
    if isinstance(gateway.processor.plan_deliveries, OutboxPlanner):
        gateway.processor.plan_deliveries.attach(dispatcher)
    return [dispatcher]

"""Prometheus metrics, on a registry of the gateway's own (no module globals)."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._intakes = Counter(
            "gateway_intakes", "Records offered to intake, by channel and outcome",
            ["channel", "outcome"], registry=self.registry,
        )
        self._latency = Histogram(
            "gateway_intake_seconds", "Time from intake call to durable commit (and processing)",
            ["channel"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._failed_new = Counter(
            "gateway_failed_records", "Records whose processing failed (kept for replay)",
            ["channel"], registry=self.registry,
        )
        self._commit_records = Histogram(
            "gateway_intake_commit_records", "Records one group commit took (repeats of stored ones included)",
            buckets=BATCH_BUCKETS, registry=self.registry,
        )
        self._commit_seconds = Histogram(
            "gateway_intake_commit_seconds", "Duration of one group commit's transaction (store, process, commit)",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.inbound = Gauge(
            "gateway_inbound_records", "Stored inbound records by status", ["status"], registry=self.registry,
        )
        self.backlog_age = Gauge(
            "gateway_backlog_oldest_seconds", "Age of the oldest unprocessed record", registry=self.registry,
        )
        self.in_flight = Gauge("gateway_intake_in_flight", "Intakes waiting for their commit", registry=self.registry)
        self.deliveries = Gauge(
            "gateway_deliveries", "Outbox deliveries by status", ["status"], registry=self.registry,
        )
        self.delivery_attempts = Counter(
            "gateway_delivery_attempts", "Delivery attempts by destination and outcome",
            ["destination", "outcome"], registry=self.registry,
        )
        self.channel_events = Counter(
            "gateway_channel_events", "Transport-level events per channel (refusals, errors)",
            ["channel", "event"], registry=self.registry,
        )

    def intake(self, channel: str, outcome: str, seconds: float | None = None) -> None:
        self._intakes_of(channel, outcome).inc()
        if seconds is not None:
            self._latency_of(channel).observe(seconds)

    @functools.cache  # noqa: B019 - one child per label set, for the life of the metrics
    def _intakes_of(self, channel: str, outcome: str) -> Any:
        return self._intakes.labels(channel, outcome)

    @functools.cache  # noqa: B019 - one child per channel, for the life of the metrics
    def _latency_of(self, channel: str) -> Any:
        return self._latency.labels(channel)

    def group_commit(self, records: int, seconds: float) -> None:
        """One batch's transaction: with many senders, records per commit far above 1 is group commit
        at work, and its duration is what each of them waited on the database."""
        self._commit_records.observe(records)
        self._commit_seconds.observe(seconds)

    def failed_record(self, channel: str) -> None:
        self._failed_new.labels(channel).inc()

    def refused(self, channel: str, event: str) -> None:
        self.channel_events.labels(channel, event).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

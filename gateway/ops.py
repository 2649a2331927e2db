"""Liveness, readiness and metrics endpoints for operators and orchestrators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from gateway.metrics import Metrics
from storage.repository import StorageError, Store


class Ops:
    def __init__(self, store: Store, metrics: Metrics, state: Callable[[], str],
                 in_flight: Callable[[], int], checks: dict[str, Callable[[], dict[str, object]]]) -> None:
        self._store = store
        self._metrics = metrics
        self._state = state
        self._in_flight = in_flight
        self._checks = checks

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz), web.get("/metrics", self.metrics)]

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        """200 only when the database answers and start-up recovery is done."""
        body: dict[str, object] = {"state": self._state()}
        ready = body["state"] == "running"
        try:
            count, oldest = await self._store.backlog()
            body["database"] = "ok"
            body["backlog"] = {
                "pending": count,
                "oldest_age_s": round((datetime.now(UTC) - oldest).total_seconds(), 3) if oldest else 0.0,
            }
        except StorageError as exc:
            ready = False
            body["database"] = f"unreachable: {exc}"[:300]
        channels: dict[str, object] = {}
        for name, check in self._checks.items():
            report = check()
            channels[name] = report
            if report.get("ok") is False:
                ready = False
        if channels:
            body["channels"] = channels
        body["status"] = "ready" if ready else "not_ready"
        return web.json_response(body, status=200 if ready else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        try:
            counts = await self._store.count_by_status()
            for status in ("pending", "processed", "failed"):
                self._metrics.inbound.labels(status).set(counts.get(status, 0))
            _, oldest = await self._store.backlog()
            self._metrics.backlog_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
        except StorageError:
            pass  # the scrape still shows the counters; readyz reports the database
        self._metrics.in_flight.set(self._in_flight())
        return web.Response(body=self._metrics.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

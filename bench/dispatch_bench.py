"""Dispatcher throughput and commit-to-delivery latency against a local webhook receiver.

Run by hand (not in CI):
    .venv/bin/python bench/dispatch_bench.py [--pg URL] [--deliveries 10000] [--rate 500] [--seconds 10]

The receiver is a separate process (an aiohttp server on 127.0.0.1 that
notes when each `webhook-id` first arrives and answers 200), so it does not
share the dispatcher's event loop; the dispatcher is the gateway's own
(`router.dispatch.Dispatcher` with the real webhook destination: ticket
JSON, Standard Webhooks signature, claims and group-committed outcomes in
the database, SQLite with synchronous=FULL by default).

1. Throughput: N deliveries are committed up front; the time from the
   dispatcher's start to the receiver holding all N gives deliveries/s
   (target >= 2,000/s), and the time until all are recorded `delivered`.
   Meanwhile the sends in flight are sampled: well under the concurrency,
   the claims (not the sends) set the pace.
2. Latency: a writer commits tickets with their deliveries at `--rate`
   per second (a batch every 10 ms, as intake's group commit does) while
   the dispatcher runs; commit-to-arrival is measured per delivery
   (target p99 < 100 ms at 500/s).
3. Floor: a bare aiohttp client posts N bodies of the size the dispatcher's
   were to the same receiver at the same concurrency (no database, no
   signing), so a slow machine shows as a slow floor beside its figures.
Every phase is bounded in time; everything binds to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.cli import tune_garbage_collector  # noqa: E402
from gateway.views import ticket_json  # noqa: E402
from normalize.schema import Channel, Kind, MessageDraft, Requester, Transport  # noqa: E402
from router.destinations.base import RetryPolicy  # noqa: E402
from router.destinations.config import WebhookConfig  # noqa: E402
from router.destinations.signing import decode_secret  # noqa: E402
from router.destinations.webhook import WebhookDestination  # noqa: E402
from router.dispatch import Dispatcher, DispatchSettings  # noqa: E402
from router.outbox_plan import OutboxPlanner, new_key  # noqa: E402
from router.routes import Route, Routes  # noqa: E402
from storage import migrate  # noqa: E402
from storage.engine import create_engine  # noqa: E402
from storage.outbox import Outbox  # noqa: E402
from storage.repository import Store  # noqa: E402

SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZA=="
TEXT = "The printer shows error E-502 and the queue is stuck. " * 8


# -- the receiver (its own process) -----------------------------------------
def receiver_main(port_out: Any, ready: Any) -> None:
    from aiohttp import web

    arrivals: dict[str, float] = {}
    largest = [0]  # the largest body seen, which the floor then posts

    async def hook(request: web.Request) -> web.Response:
        largest[0] = max(largest[0], len(await request.read()))
        arrivals.setdefault(request.headers["webhook-id"], time.time())
        return web.Response(text="{}", content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        if request.query.get("full"):
            return web.json_response({"count": len(arrivals), "arrivals": arrivals})
        return web.json_response({"count": len(arrivals), "body_bytes": largest[0]})

    async def reset(_request: web.Request) -> web.Response:
        arrivals.clear()
        return web.json_response({})

    async def main() -> None:
        app = web.Application()
        app.add_routes([web.post("/hook", hook), web.get("/stats", stats), web.post("/reset", reset)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.value = runner.addresses[0][1]
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


# -- seeding ----------------------------------------------------------------
DRAFT = MessageDraft(channel=Channel.PORTAL, transport=Transport.HTTP, external_id="b", kind=Kind.NEW,
                     requester=Requester(email="bench@example.org"), subject="Printer", text=TEXT,
                     received_at=datetime.now(UTC))


async def commit_batch(
    store: Store, start: int, count: int, now: datetime, planner: OutboxPlanner | None = None
) -> list[str]:
    """Tickets, messages and deliveries for `count` portal requests, in one transaction.

    With a planner the deliveries are its rows (as intake writes them: handed to an
    attached dispatcher already claimed); without, plain pending rows.
    """
    keys = [new_key() for _ in range(count)]
    async with store.transaction() as tx:
        inbound = await tx.insert_inbound([{
            "channel": "portal", "transport": "http", "external_id": f"b{start + i}", "idempotency_key": None,
            "body_sha256": None, "received_at": now, "principal": None, "meta": {}, "payload": b"{}",
            "status": "processed", "error": None, "attempts": 1, "processed_at": now} for i in range(count)])
        ids = [inbound[("portal", f"b{start + i}")] for i in range(count)]
        tickets = await tx.insert_tickets([{
            "status": "open", "opened_via": "portal", "subject": f"Printer {start + i}",
            "requester": {"email": "bench@example.org", "name": "Bench User"}, "requester_key": None,
            "conversation_key": None, "classification": {"queue": "general", "decided_by": "default"},
            "external_ref": None, "opened_by": ids[i], "created_at": now, "updated_at": now} for i in range(count)])
        messages = await tx.insert_messages([{
            "ticket_id": tickets[ids[i]], "inbound_id": ids[i], "channel": "portal", "transport": "http",
            "external_id": f"b{start + i}", "kind": "new", "received_at": now, "sent_at": None,
            "subject": f"Printer {start + i}", "text": TEXT, "body": {"schema": 1, "attachments": []},
            "thread": None} for i in range(count)])
        if planner is not None:
            rows = [row for i in range(count) for row in planner(
                tickets[ids[i]], messages[ids[i]], DRAFT, "ticket.created", {"queue": "general"}, now)]
            keys = [row["key"] for row in rows]
        else:
            rows = [{
                "key": keys[i], "ticket_id": tickets[ids[i]], "message_id": messages[ids[i]], "destination": "main",
                "event": "ticket.created", "status": "pending", "attempts": 0, "due_at": now, "claimed_by": None,
                "claimed_until": None, "last_error": None, "remote_id": None, "created_at": now,
                "delivered_at": None} for i in range(count)]
        await tx.insert_deliveries(rows)
    return keys


async def receiver_count(session: Any, base: str, full: bool = False) -> dict[str, Any]:
    async with session.get(f"{base}/stats", params={"full": "1"} if full else {}) as resp:
        return await resp.json()  # type: ignore[no-any-return]


def make_dispatcher(url: str, hook: str, concurrency: int) -> Dispatcher:
    """Wired as gateway.delivery_wiring does: the outbox on its own relaxed-durability connections."""
    if url.startswith("sqlite"):
        engine = create_engine(url, sqlite_synchronous="normal", sqlite_busy_timeout_ms=0)
        outbox = Outbox(Store(engine), relaxed=True, owns_store=True)
    else:
        outbox = Outbox(Store(create_engine(url)), relaxed=True, owns_store=True)
    config = WebhookConfig("main", hook, "BENCH_SECRET", 10.0, RetryPolicy())
    destination = WebhookDestination(config, decode_secret(SECRET), secret_text=SECRET, limit=concurrency)
    settings = DispatchSettings(concurrency=concurrency, batch_size=100, poll_interval_s=1.0, lease_s=60.0)
    return Dispatcher(outbox, {"main": destination}, ticket_json, settings)


async def throughput(url: str, base: str, total: int, concurrency: int, limit_s: float) -> dict[str, float]:
    import aiohttp

    store = Store(create_engine(url))
    await migrate.upgrade(store.engine)
    now = datetime.now(UTC)
    for start in range(0, total, 1000):
        await commit_batch(store, start, min(1000, total - start), now)
    dispatcher = make_dispatcher(url, base + "/hook", concurrency)
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await dispatcher.start()
        in_flight: list[int] = []
        sampler = asyncio.create_task(sample_in_flight(dispatcher, in_flight))
        deadline = started + limit_s
        while (await receiver_count(session, base))["count"] < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        received = time.perf_counter() - started
        sampler.cancel()
        counted = await receiver_count(session, base)
        got = counted["count"]
        outbox = Outbox(store)
        while (await outbox.count_by_status()).get("delivered", 0) < got and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        recorded = time.perf_counter() - started
        await dispatcher.stop()
        async with session.post(f"{base}/reset"):
            pass
    await store.close()
    busy = [n for n in in_flight if n] or [0]
    return {"delivered": got, "seconds": received, "per_s": got / received, "recorded_s": recorded,
            "body_bytes": counted["body_bytes"], "in_flight_median": statistics.median(busy),
            "under_half_share": sum(1 for n in busy if n < concurrency / 2) / len(busy)}


async def sample_in_flight(dispatcher: Dispatcher, into: list[int]) -> None:
    """Sends in flight every 5 ms: far under the concurrency means claiming, not sending, sets the pace."""
    while True:
        await asyncio.sleep(0.005)
        into.append(int(dispatcher.health()["in_flight"]))  # type: ignore[call-overload]


async def latency(url: str, base: str, rate: int, seconds: float, concurrency: int) -> dict[str, float]:
    import aiohttp

    store = Store(create_engine(url))
    await migrate.upgrade(store.engine)
    dispatcher = make_dispatcher(url, base + "/hook", concurrency)
    store.add_outbox_listener(dispatcher.poke)
    planner = OutboxPlanner(Routes((Route("*", ("main",)),)), acks=False)
    planner.attach(dispatcher)  # as gateway.delivery_wiring does
    await dispatcher.start()
    committed: dict[str, float] = {}
    tick = 0.01
    started = time.perf_counter()
    n = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(rate * elapsed) - n  # like intake's group commit: everything that arrived meanwhile
        if due > 0:
            keys = await commit_batch(store, 10_000_000 + n, due, datetime.now(UTC), planner)
            committed.update(dict.fromkeys(keys, time.time()))
            n += due
        await asyncio.sleep(tick)
    wall = time.perf_counter() - started
    async with aiohttp.ClientSession() as session:
        deadline = time.perf_counter() + 30
        while (await receiver_count(session, base))["count"] < len(committed) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        arrivals = (await receiver_count(session, base, full=True))["arrivals"]
    await dispatcher.stop()
    await store.close()
    waits = sorted((arrivals[k] - t) * 1000 for k, t in committed.items() if k in arrivals)
    return {
        "committed": len(committed),
        "delivered": len(waits),
        "rate_per_s": len(committed) / wall,
        "p50_ms": statistics.median(waits),
        "p95_ms": waits[int(0.95 * (len(waits) - 1))],
        "p99_ms": waits[int(0.99 * (len(waits) - 1))],
        "max_ms": waits[-1],
    }


async def floor(base: str, total: int, concurrency: int, body_bytes: int) -> dict[str, float]:
    """The same receiver and concurrency with a bare aiohttp client: no database, no claims, no signing,
    one body of the webhook's size posted under a fresh `webhook-id` each time."""
    import aiohttp

    body = b"x" * body_bytes
    ids = iter(range(total))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for n in ids:
                async with session.post(f"{base}/hook", data=body, headers={
                        "webhook-id": f"floor-{n}", "content-type": "application/json"}) as resp:
                    await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        got = (await receiver_count(session, base))["count"]
        async with session.post(f"{base}/reset"):
            pass
    return {"delivered": got, "seconds": seconds, "per_s": got / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg", help="a PostgreSQL database URL (postgresql+asyncpg://...) instead of SQLite")
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    port, ready = context.Value("i", 0), context.Event()
    server = context.Process(target=receiver_main, args=(port, ready), daemon=True)
    server.start()
    tune_garbage_collector()  # as `gateway run` does, where the dispatcher runs
    try:
        if not ready.wait(30):
            raise SystemExit("the receiver did not start")
        base = f"http://127.0.0.1:{port.value}"
        with tempfile.TemporaryDirectory() as tmp:
            first = args.pg or f"sqlite+aiosqlite:///{tmp}/throughput.db"
            second = args.pg or f"sqlite+aiosqlite:///{tmp}/latency.db"
            result = {
                "database": "postgresql" if args.pg else "sqlite (synchronous=FULL)",
                "throughput": asyncio.run(throughput(first, base, args.deliveries, args.concurrency, 120.0)),
                "latency": asyncio.run(latency(second, base, args.rate, args.seconds, args.concurrency)),
            }
            result["floor"] = asyncio.run(floor(base, args.deliveries, args.concurrency,
                                                result["throughput"]["body_bytes"]))
    finally:
        server.terminate()
        server.join(10)
    t, lat, bare = result["throughput"], result["latency"], result["floor"]
    print(json.dumps(result, indent=2))
    print(f"throughput: {t['per_s']:.0f} deliveries/s ({t['delivered']:.0f} in {t['seconds']:.2f} s; "
          f"all recorded after {t['recorded_s']:.2f} s)  target >= 2000/s")
    print(f"  sends in flight meanwhile: median {t['in_flight_median']:.0f} of {args.concurrency}, "
          f"under half of it {t['under_half_share']:.0%} of the time")
    print(f"floor: a bare aiohttp client posting to the same receiver, same concurrency: {bare['per_s']:.0f}/s; "
          f"the dispatcher reaches {t['per_s'] / bare['per_s']:.0%} of it")
    print(f"latency at {lat['rate_per_s']:.0f}/s: p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms, "
          f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms  target p99 < 100 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

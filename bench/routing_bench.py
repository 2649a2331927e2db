"""What routing adds to durable intake: rules and a loaded model, against the default queue alone.

Run by hand (not in CI):
    .venv/bin/python bench/routing_bench.py [--rounds 5] [--tasks 64] [--per-task 50] [--outbox] [--parts]

Each variant is a gateway in this process on its own database; the intake
function is called directly (no HTTP) by 64 concurrent tasks with the same
1 KB portal payload, so the figure is the durable path alone: stored,
normalized, classified, ticket written, group-committed. Variants run in
the same process, alternating round by round, and the median round counts,
so a noisy neighbour on a shared machine hits every variant alike.

- `plain`: `[router]` with only a default queue (no rule, no model);
- `routed`: ten rules, none of which matches the payload (so every one is
  tried, the worst case), then a model trained on the test corpus, which
  decides;
- `rules`, `model`, `outbox` (with `--parts`): each alone, to see which costs
  what (`outbox`: the default queue routed to the webhook, no rule, no model);
- `routed+outbox` (with `--outbox`): the same plus a route to a webhook
  destination, so each ticket also writes its delivery row (the dispatcher
  is off: only the write is measured).

The overhead is the extra cost per record: plain rate / variant rate - 1,
and the same for the process's CPU time per record (loop and SQLite
threads), which a noisy neighbour disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.app import Gateway  # noqa: E402
from gateway.cli import tune_garbage_collector  # noqa: E402
from gateway.config import Secrets, parse_config  # noqa: E402
from normalize.raw import RawInbound  # noqa: E402

RULES: list[dict[str, Any]] = [
    {"name": "vip", "when": {"sender_domain": "board.example.org"}, "set": {"queue": "vip", "priority": "urgent"}},
    {"name": "vpn", "when": {"text": "(?i)\\bvpn\\b|remote access"}, "set": {"queue": "network", "tags": ["vpn"]}},
    {"name": "security", "when": {"keywords": ["phishing", "malware", "ransomware", "virus"]},
     "set": {"queue": "security", "priority": "urgent"}},
    {"name": "invoices", "when": {"field.form": "invoice", "attachment_type": "application/pdf"},
     "set": {"queue": "billing", "category": "invoice"}},
    {"name": "weekend-phone", "when": {"hours": "Sat,Sun", "channel": "phone"}, "timezone": "Europe/Budapest",
     "set": {"queue": "oncall"}},
    {"name": "telegram", "when": {"channel": "telegram"}, "set": {"queue": "chat"}},
    {"name": "sales-box", "when": {"recipient": "@sales.example.org"}, "set": {"queue": "sales"}},
    {"name": "passwords", "when": {"subject": "(?i)password|jelszó|kata sandi|passwort"},
     "set": {"queue": "accounts", "category": "password"}},
    {"name": "billing-pick", "when": {"portal_category": ["Billing", "Invoices"]}, "set": {"queue": "billing"}},
    {"name": "hungary", "when": {"phone_prefix": "+36"}, "set": {"queue": "hu-desk"}},
]


WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""BENCH_SECRET, the secret of the routed variants' webhook destination (nothing is sent to it)."""
SECRETS = Secrets(api_token="bench-api", portal_token="bench-portal", phone_secret="whsec_" + "QmVuY2hTZWNyZXQ=")


def payload(serial: int) -> bytes:
    """About 1 KB; each record carries words of its own (a reference, a number), as real requests do,
    so the model's per-word cache cannot make every message free."""
    ref = uuid.uuid4().hex[:12]
    doc = {"requester": {"email": "bench@example.org", "name": "Bench User", "portal_user_id": "u-1"},
           "subject": f"Printer on floor 3 does not print (asset PRN-{serial % 9973:04d})", "category": "hardware",
           "fields": {"floor": 3, "building": "B", "asset": "PRN-0042"},
           "body": "The printer shows error E-502 and the queue is stuck. " * 13 + f"Ticket ref {ref}, job {serial}.",
           "attachments": []}
    return json.dumps(doc).encode()


def train_model(directory: Path) -> Path:
    from router.training import train
    from tests.router.corpus import generate

    path = directory / "models" / "helpdesk.joblib"
    train(generate(), name="helpdesk").save(path)
    return path


def variant_config(name: str, work: Path) -> Any:
    router: dict[str, Any] = {"default_queue": "general"}
    extra: dict[str, Any] = {}
    if name in ("routed", "routed+outbox", "rules"):
        router["rules"] = RULES
    if name in ("routed", "routed+outbox", "model"):
        router["model"] = {"path": "models/helpdesk.joblib", "threshold": 0.6}
    if name in ("routed+outbox", "outbox"):
        router["routes"] = [{"queue": "*", "to": "main"}]
        extra = {"destinations": {"main": {"kind": "webhook", "url": "http://127.0.0.1:9/hook",
                                           "secret_env": "BENCH_SECRET"}},
                 "dispatch": {"enabled": False}}
    database = f"sqlite+aiosqlite:///{work / (name.replace('+', '-') + '.db')}"
    data = {"http": {"port": 0}, "storage": {"url": database, "auto_migrate": True}, "smtp": {"enabled": False},
            "logging": {"level": "WARNING"}, "router": router, **extra}
    return parse_config(data, base_dir=work)


async def one_round(gateway: Gateway, tasks: int, per_task: int, serial: int = 0) -> tuple[float, float]:
    """(records per second, CPU seconds per record of the whole process: loop and SQLite threads)
    for `tasks` concurrent callers of the intake function; the records' serial numbers start at `serial`."""
    bodies = [payload(serial + i) for i in range(tasks * per_task)]  # made before the clock starts

    async def caller(first: int) -> None:
        for body in bodies[first : first + per_task]:
            result = await gateway.intake(RawInbound("portal", "http", f"portal:{uuid.uuid4()}", datetime.now(UTC),
                                                     body))
            assert result.ticket_id is not None

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller(i * per_task) for i in range(tasks)))
    records = tasks * per_task
    return records / (time.perf_counter() - started), (time.process_time() - cpu) / records


async def check_decision(gateway: Gateway, expected: str) -> None:
    page = await gateway.store.list_tickets(channel=None, since=None, limit=1, cursor=None)
    decided_by = page.tickets[0].classification["decided_by"]
    if decided_by != expected:
        raise SystemExit(f"the bench payload was decided by {decided_by}, not {expected}: fix the bench")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--per-task", type=int, default=50)
    parser.add_argument("--outbox", action="store_true", help="also measure rules + model + an outbox write")
    parser.add_argument("--parts", action="store_true", help="also each of rules, model, outbox write alone")
    args = parser.parse_args()

    names = ["plain", "routed"]
    names += ["routed+outbox"] if args.outbox else []
    names += ["rules", "model", "outbox"] if args.parts else []
    work = Path(tempfile.mkdtemp(prefix="gw-routing-bench-"))
    train_model(work)
    os.environ.setdefault("BENCH_SECRET", WEBHOOK_SECRET)
    gateways = {name: Gateway(variant_config(name, work), SECRETS) for name in names}
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    try:
        for gateway in gateways.values():
            await gateway.start()
        tune_garbage_collector()  # as `gateway run` does once started
        for gateway in gateways.values():  # warm-up: caches, the model's first call, SQLite pages
            await one_round(gateway, args.tasks, max(1, args.per_task // 5))
        await check_decision(gateways["plain"], "default")
        await check_decision(gateways["routed"], "model:helpdesk")
        for number in range(args.rounds):
            order = names if number % 2 == 0 else list(reversed(names))
            for name in order:
                rate, cpu = await one_round(gateways[name], args.tasks, args.per_task)
                rates[name].append(rate)
                cpus[name].append(cpu)
    finally:
        for gateway in gateways.values():
            await gateway.stop()

    medians = {name: statistics.median(values) for name, values in rates.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpus.items()}
    backend = "SQLite (WAL, synchronous=FULL)"
    print(f"in-process durable portal intake, {args.tasks} concurrent callers x {args.per_task} records, "
          f"{args.rounds} alternating rounds, median, {backend}")
    for name in names:
        rounds = ", ".join(f"{r:.0f}" for r in rates[name])
        print(f"  {name:14s} {medians[name]:8.0f} records/s  {cpu_medians[name] * 1e6:6.0f} us CPU/record"
              f"   (rounds: {rounds})")
    for name in names[1:]:
        overhead = medians["plain"] / medians[name] - 1
        cpu_overhead = cpu_medians[name] / cpu_medians["plain"] - 1
        print(f"  {name} adds {overhead:+.1%} to the wall time per record "
              f"({1000 / medians[name] - 1000 / medians['plain']:+.3f} ms), {cpu_overhead:+.1%} to its CPU time "
              f"({(cpu_medians[name] - cpu_medians['plain']) * 1e6:+.0f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

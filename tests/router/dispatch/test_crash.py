"""A gateway killed (SIGKILL) in the middle of a send: the retry after restart repeats the same key.

The receiver takes the first delivery and, before it answers, the gateway
process is killed: exactly the crash between a helpdesk's commit and the
gateway's record. After a restart the claim's lease runs out, the delivery
is sent again with the same `webhook-id`, and the receiver, dropping the
repeat, still has one ticket per key.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from storage.engine import create_engine
from storage.outbox import Outbox
from storage.repository import Store
from tests.conftest import PORTAL_TOKEN, wait_for
from tests.router.dispatch.conftest import HOOK_ENV, HOOK_SECRET
from tests.support.fake_helpdesks import Fault

ROOT = Path(__file__).resolve().parents[3]


def write_config(path: Path, db: Path, hook_url: str) -> None:
    path.write_text(f"""
[http]
host = "127.0.0.1"
port = 0
[storage]
url = "sqlite+aiosqlite:///{db}"
[smtp]
enabled = false
[router]
default_queue = "general"
[[router.routes]]
queue = "*"
to = "main"
[destinations.main]
kind = "webhook"
url = "{hook_url}"
secret_env = "{HOOK_ENV}"
backoff_base_s = 0.05
backoff_cap_s = 0.2
[dispatch]
poll_interval_s = 0.2
lease_s = 2.0
""", encoding="utf-8")


async def start(config: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = {**os.environ, "GATEWAY_PORTAL_TOKEN": PORTAL_TOKEN, HOOK_ENV: HOOK_SECRET, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
    started = json.loads(line)
    assert started["event"] == "started", line
    return proc, int(started["http_port"])


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        proc.wait(timeout=20)


async def test_sigkill_between_send_and_record_leaves_one_downstream_ticket_per_key(tmp_path, receiver, http):
    config, db = tmp_path / "gateway.toml", tmp_path / "gateway.db"
    write_config(config, db, receiver.hook_url)
    hold = asyncio.Event()
    receiver.fail(Fault(hold=hold))  # the first delivery is taken downstream, then the answer waits
    proc, port = await start(config)
    store = Store(create_engine(f"sqlite+aiosqlite:///{db}"))
    try:
        for subject in ("one", "two", "three"):
            async with http.post(f"http://127.0.0.1:{port}/v1/portal/submissions", json={
                "requester": {"email": "ann@example.org"}, "subject": subject, "body": "x",
            }, headers={"Authorization": f"Bearer {PORTAL_TOKEN}"}) as resp:
                assert resp.status == 202
        await wait_for(lambda: _true(len(receiver.tickets) == 3))
        held_key = receiver.requests[0].headers["webhook-id"]
        stop(proc, signal.SIGKILL)  # mid-send: the receiver has the ticket, the gateway no answer
        hold.set()

        proc, port = await start(config)  # same database, same configuration

        async def all_delivered() -> bool:
            rows = await Outbox(store).list()
            return len(rows) == 3 and all(r.status == "delivered" for r in rows)

        await wait_for(all_delivered, timeout=20)
        rows = await Outbox(store).list()
        assert {r.key for r in rows} == set(receiver.tickets)  # one downstream ticket per key, no more
        sent = [s.headers["webhook-id"] for s in receiver.requests]
        assert sent.count(held_key) >= 2  # it was sent again, under the same id
        held_row = next(r for r in rows if r.key == held_key)
        assert held_row.attempts >= 2
        listed = subprocess.run(  # what an operator sees, through the real command line
            [sys.executable, "-m", "gateway", "--config", str(config), "deliveries", "list", "--status", "delivered"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert sorted(json.loads(line)["key"] for line in listed.stdout.splitlines()) == sorted(receiver.tickets)
    finally:
        stop(proc)
        await store.close()


async def _true(value: bool) -> bool:
    return value

"""The gateway as its own process: SIGKILL, SIGTERM, logs and the command line."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import API_TOKEN, PHONE_SECRET, PORTAL_TOKEN
from tests.support.postgres import free_port
from tests.support.process import ROOT, GatewayProcess, write_config

BURST = 300


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for proc in started:
        proc.close()


def launch(processes: list[GatewayProcess], config: Path) -> GatewayProcess:
    proc = GatewayProcess(config).start()
    processes.append(proc)
    return proc


async def post(session: aiohttp.ClientSession, url: str, i: int) -> tuple[int, str, dict | None]:
    key = f"burst-{i}"
    body = {"requester": {"email": f"user{i}@example.org"}, "subject": f"burst {i}", "body": f"request {i}"}
    try:
        async with session.post(url, json=body, headers={"Authorization": f"Bearer {PORTAL_TOKEN}",
                                                         "Idempotency-Key": key}) as resp:
            return resp.status, key, (await resp.json() if resp.status == 202 else None)
    except (TimeoutError, aiohttp.ClientError):
        return 0, key, None


async def fetch_all(base: str) -> list[dict]:
    found, cursor = [], None
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"limit": "200", **({"cursor": cursor} if cursor else {})}
            async with session.get(f"{base}/v1/tickets", params=params,
                                   headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
                page = await resp.json()
            found += page["tickets"]
            cursor = page["next_cursor"]
            if not cursor:
                return found


async def test_sigkill_after_a_burst_loses_and_duplicates_nothing_acknowledged(db_url, tmp_path, processes):
    config = write_config(tmp_path / "gw.toml", db_url, free_port())
    gw = launch(processes, config)
    url = f"{gw.base}/v1/portal/submissions"
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(post(session, url, i)) for i in range(BURST)]
        acknowledged: dict[str, dict] = {}
        for done in asyncio.as_completed(tasks):
            status, key, ids = await done
            if status == 202:
                acknowledged[key] = ids  # type: ignore[assignment]
            if len(acknowledged) == BURST // 2:
                gw.kill()  # right after answering, with the rest of the burst in flight
        await asyncio.gather(*tasks)
    assert len(acknowledged) >= BURST // 2

    gw2 = launch(processes, config)
    tickets = await fetch_all(gw2.base)
    subjects = [t["subject"] for t in tickets]
    assert len(subjects) == len(set(subjects)), "a submission was stored twice"
    by_id = {t["id"]: t for t in tickets}
    for key, ids in acknowledged.items():
        assert ids["ticket_id"] in by_id, f"acknowledged {key} was lost"
        assert by_id[ids["ticket_id"]]["subject"] == f"burst {key.split('-')[1]}"
    # Clients retry what was not acknowledged; the keys make that safe.
    async with aiohttp.ClientSession() as session:
        retried = await asyncio.gather(*(post(session, f"{gw2.base}/v1/portal/submissions", i) for i in range(BURST)))
    assert {status for status, _, _ in retried} == {202}
    for _status, key, ids in retried:
        if key in acknowledged:
            assert ids == acknowledged[key]
    assert len(await fetch_all(gw2.base)) == BURST


async def test_sigterm_stops_intake_finishes_in_flight_work_and_exits_cleanly(db_url, tmp_path, processes):
    config = write_config(tmp_path / "gw.toml", db_url, free_port())
    gw = launch(processes, config)
    url = f"{gw.base}/v1/portal/submissions"
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(post(session, url, i)) for i in range(100)]
        await asyncio.sleep(0.05)
        exit_code = await asyncio.to_thread(gw.terminate)
        results = await asyncio.gather(*tasks)
    assert exit_code == 0
    answered = [(key, ids) for status, key, ids in results if status == 202]
    assert {status for status, _, _ in results} <= {0, 202, 503}
    gw2 = launch(processes, config)
    stored = {t["id"] for t in await fetch_all(gw2.base)}
    for key, ids in answered:
        assert ids["ticket_id"] in stored, key


async def test_secrets_never_reach_the_logs(db_url, tmp_path, processes):
    config = write_config(tmp_path / "gw.toml", db_url, free_port())
    gw = launch(processes, config)
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {PORTAL_TOKEN}"}
        # the portal token used on the wrong endpoint, a failed request and a good one
        await session.get(f"{gw.base}/v1/tickets", headers=headers)
        await session.post(f"{gw.base}/v1/portal/submissions", data=b"{", headers={
            **headers, "Content-Type": "application/json"})
        await session.post(f"{gw.base}/v1/portal/submissions", json={"requester": {"email": "a@b.org"},
                                                                     "body": PORTAL_TOKEN}, headers=headers)
    gw.terminate()
    logs = gw.logs()
    assert "gateway running" in logs  # the log is really captured, at DEBUG
    for secret in (API_TOKEN, PORTAL_TOKEN, PHONE_SECRET):
        assert secret not in logs


async def raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    return answer


async def test_a_malformed_request_is_refused_in_one_log_line_without_a_traceback(db_url, tmp_path, processes):
    config = write_config(tmp_path / "gw.toml", db_url, free_port())
    gw = launch(processes, config)
    assert gw.port is not None
    malformed = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Probe: a\x00b\r\n\r\n",  # NUL in a header value
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    ]
    for request in malformed:
        answer = await raw_exchange(gw.port, request)
        assert answer.split(b" ", 2)[1] == b"400", answer[:100]
    async with aiohttp.ClientSession() as session, session.get(f"{gw.base}/healthz") as resp:
        assert resp.status == 200
    gw.terminate()
    logs = gw.logs()
    assert logs.count("malformed request from 127.0.0.1 refused with 400") == len(malformed), logs[-3000:]
    assert "Traceback" not in logs and " ERROR " not in logs, logs[-3000:]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=60)


def test_check_config_accepts_the_shipped_file_and_names_the_key_at_fault(tmp_path):
    assert run_cli("--config", str(ROOT / "gateway.toml"), "check-config").returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[http]\nport = 8080\nhots = "x"\n')
    result = run_cli("--config", str(bad), "check-config")
    assert result.returncode == 2
    assert "http.hots: unknown key" in result.stderr
    bad.write_text('[[router.rules]]\nname = "r"\nwhen.text = "(unclosed"\nset.queue = "q"\n[router]\n')
    result = run_cli("check-config", "--config", str(bad))
    assert result.returncode == 2 and "router" in result.stderr


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_needs_db_upgrade_before_run(backend, postgres_base_url, tmp_path, processes):
    if postgres_base_url is None:
        pytest.skip("PostgreSQL is not available here")
    from tests.conftest import create_pg_database

    url = await create_pg_database(postgres_base_url)
    config = tmp_path / "gw.toml"
    config.write_text(f'[http]\nport = {free_port()}\n[storage]\nurl = "{url}"\n[smtp]\nenabled = false\n')
    refused = GatewayProcess(config)
    with pytest.raises(RuntimeError, match="gateway db upgrade"):
        refused.start()
    upgrade = run_cli("--config", str(config), "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    gw = launch(processes, config)
    async with aiohttp.ClientSession() as session, session.get(f"{gw.base}/readyz") as resp:
        assert resp.status == 200


async def test_replay_command_reprocesses_failed_records(db_url, tmp_path):
    from datetime import UTC, datetime

    from gateway.app import build_store, prepare_storage
    from gateway.config import load_config

    config_path = write_config(tmp_path / "gw.toml", db_url, free_port())
    config = load_config(config_path)
    store = build_store(config)
    await prepare_storage(config, store)
    async with store.transaction() as tx:
        [inbound_id] = (await tx.insert_inbound([{
            "channel": "portal", "transport": "http", "external_id": "portal:was-failing", "idempotency_key": None,
            "body_sha256": None, "received_at": datetime.now(UTC), "principal": None, "meta": {},
            "payload": b'{"requester":{"email":"a@b.org"},"body":"now fine","attachments":[]}',
            "status": "failed", "error": "normalize: earlier bug", "attempts": 1,
            "processed_at": None,
        }])).values()
    result = await asyncio.to_thread(run_cli, "--config", str(config_path), "replay")
    assert result.returncode == 0, result.stderr
    assert '"processed": 1' in result.stdout
    row = await store.get_inbound(inbound_id)
    await store.close()
    assert row is not None and row.status == "processed" and row.ticket_id

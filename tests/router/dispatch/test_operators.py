"""What operators see and do: `gateway deliveries list|retry`, metrics, readiness, and what never leaks."""

from __future__ import annotations

import argparse
import json
import logging

import pytest

from gateway.delivery_commands import register
from tests.conftest import base, wait_for
from tests.router.dispatch.conftest import (
    FAST,
    ZAMMAD_ENV,
    ZAMMAD_TOKEN,
    rows,
    settled,
    submit,
    webhook_setup,
)
from tests.support.fake_helpdesks import Fault


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


async def run_cli(gw, capsys, *argv: str) -> tuple[int, list[dict]]:
    runner = register(argparse.ArgumentParser().add_subparsers())["deliveries"]
    code = await runner(cli(*argv), gw.config, gw.secrets)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_list_dead_then_retry_all_dead_delivers_them(start_gateway, receiver, http, capsys):
    receiver.fail(Fault(status=422, body="no such queue"), Fault(status=422, body="no such queue"))
    gw = await start_gateway(**webhook_setup(receiver.hook_url))
    ids = [(await submit(gw, http, subject=s))["ticket_id"] for s in ("a", "b")]
    await wait_for(lambda: settled(gw))

    code, dead = await run_cli(gw, capsys, "deliveries", "list", "--status", "dead")
    assert code == 0
    assert [d["ticket_id"] for d in dead] == ids
    assert all(d["status"] == "dead" and "HTTP 422: no such queue" in d["last_error"] for d in dead)
    _, delivered = await run_cli(gw, capsys, "deliveries", "list", "--status", "delivered")
    assert delivered == []

    code, answer = await run_cli(gw, capsys, "deliveries", "retry", "--all-dead")
    assert code == 0 and answer == [{"retried": 2}]
    await wait_for(lambda: settled(gw))
    assert [r.status for r in await rows(gw)] == ["delivered", "delivered"]
    assert len(receiver.tickets) == 2


async def test_retry_by_id_only_touches_that_delivery(start_gateway, receiver, http, capsys):
    receiver.fail(Fault(status=400), Fault(status=400))
    gw = await start_gateway(**webhook_setup(receiver.hook_url))
    await submit(gw, http, subject="a")
    await submit(gw, http, subject="b")
    await wait_for(lambda: settled(gw))
    _first, second = await rows(gw)
    _, answer = await run_cli(gw, capsys, "deliveries", "retry", str(second.id))
    assert answer == [{"retried": 1}]
    await wait_for(lambda: settled(gw))
    assert [r.status for r in await rows(gw)] == ["dead", "delivered"]


async def test_the_cli_entry_point_knows_the_command():
    args = cli("deliveries", "retry", "--all-dead")
    assert args.deliveries_action == "retry" and args.all_dead
    with pytest.raises(SystemExit):
        cli("deliveries", "list", "--status", "bogus")


async def test_metrics_count_attempts_and_readyz_reports_the_dispatcher(start_gateway, receiver, http):
    receiver.fail(Fault(status=500))
    gw = await start_gateway(**webhook_setup(receiver.hook_url))
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    async with http.get(f"{base(gw)}/metrics") as resp:
        text = await resp.text()
    assert 'gateway_delivery_attempts_total{destination="main",outcome="retry"} 1.0' in text
    assert 'gateway_delivery_attempts_total{destination="main",outcome="delivered"} 1.0' in text
    async with http.get(f"{base(gw)}/readyz") as resp:
        body = await resp.json()
    assert resp.status == 200 and body["channels"]["dispatcher"]["ok"] is True


async def test_destination_secrets_never_reach_logs_errors_or_the_cli(start_gateway, zammad, http, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    zammad.fail(*[Fault(status=500, body="boom", echo_auth=True)] * 2)
    gw = await start_gateway(
        destinations={"zd": {"kind": "zammad", "url": zammad.url, "token_env": ZAMMAD_ENV, "max_attempts": 2,
                             **FAST}},
        router={"default_queue": "general", "routes": [{"queue": "*", "to": "zd"}]},
        dispatch={"poll_interval_s": 0.2},
    )
    await submit(gw, http)
    await wait_for(lambda: settled(gw))
    [row] = await rows(gw)
    assert row.status == "dead" and "boom" in row.last_error and "[redacted]" in row.last_error
    _, listed = await run_cli(gw, capsys, "deliveries", "list")
    assert ZAMMAD_TOKEN in zammad.requests[0].headers["Authorization"]  # it was sent, and echoed back...
    assert ZAMMAD_TOKEN not in row.last_error  # ...but is kept nowhere
    assert ZAMMAD_TOKEN not in json.dumps(listed)
    assert ZAMMAD_TOKEN not in caplog.text
    assert ZAMMAD_TOKEN not in repr(gw.config)


async def test_a_missing_secret_stops_the_start_naming_the_variable(receiver, tmp_path):
    from gateway.delivery_wiring import destinations
    from router.destinations.build import MissingSecretError
    from tests.conftest import make_config

    config = make_config(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path, **webhook_setup(receiver.hook_url))
    with pytest.raises(MissingSecretError, match=r"destinations\.main\.secret_env: .*GW_TEST_HOOK_SECRET is not set"):
        destinations(config, None, {})  # type: ignore[arg-type]

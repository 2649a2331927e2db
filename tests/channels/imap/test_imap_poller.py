"""Mail taken in from a real Dovecot: IDLE, checkpoints, UIDVALIDITY, acknowledgement after commit."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any

import pytest

from gateway.app import Gateway
from storage.repository import StorageError
from tests.channels.imap.conftest import Account, add_users, poller
from tests.channels.smtp.conftest import only_sqlite
from tests.conftest import wait_for
from tests.support.dovecot import DovecotServer
from tests.support.http import all_tickets, get_ticket
from tests.support.mail import in_thread, message

SEEN = b"\\Seen"


def intakes(gw: Gateway, outcome: str) -> int:
    value = gw.metrics.registry.get_sample_value("gateway_intakes_total", {"channel": "email", "outcome": outcome})
    return int(value or 0)


async def stored_ids(http: Any, gw: Gateway) -> list[str]:
    ids: list[str] = []
    for summary in await all_tickets(http, gw, channel="email"):
        ids += [m["external_id"] for m in (await get_ticket(http, gw, summary["id"]))["messages"]]
    return sorted(ids)


async def connected(gw: Gateway) -> None:
    async def check() -> bool:
        return bool(poller(gw).health()["connected"])

    await wait_for(check, timeout=15)


@only_sqlite
async def test_new_mail_arrives_by_idle_within_seconds_and_is_moved_after_it_is_stored(
        start_polling, account: Account, http):
    gw = await start_polling(account, poll_interval_s=300.0, processed_folder="Processed")
    await connected(gw)
    raw, mid = message(subject="VPN drops every hour")

    started = time.monotonic()
    await in_thread(account.append, raw)

    async def arrived() -> bool:
        return await gw.store.count_by_status() == {"processed": 1}

    await wait_for(arrived, timeout=10)
    assert time.monotonic() - started < 5  # IDLE, not the 300 s poll
    [summary] = await all_tickets(http, gw, channel="email")
    ticket = await get_ticket(http, gw, summary["id"])
    [msg] = ticket["messages"]
    assert (msg["transport"], msg["external_id"], ticket["subject"]) == ("imap", mid, "VPN drops every hour")
    [row] = await gw.store.list_inbound("processed", 10)
    assert row.meta["mailbox"] == "support" and row.meta["folder"] == "INBOX"
    assert isinstance(row.meta["uid"], int) and isinstance(row.meta["uidvalidity"], int)

    async def moved() -> bool:
        return not await in_thread(account.flags, "INBOX") and len(await in_thread(account.flags, "Processed")) == 1

    await wait_for(moved, timeout=10)
    health = poller(gw).health()
    assert health["ok"] and health["connected"] and health["last_poll"] and health["imported"] == 1


@only_sqlite
async def test_without_idle_the_folder_is_polled_and_mail_is_flagged_seen(start_polling, account: Account):
    gw = await start_polling(account, idle=False, poll_interval_s=0.3)
    await connected(gw)
    raw, _ = message()
    await in_thread(account.append, raw)

    async def seen() -> bool:
        return [SEEN in flags for flags in (await in_thread(account.flags)).values()] == [True]

    await wait_for(seen, timeout=10)
    assert await gw.store.count_by_status() == {"processed": 1}


async def test_restart_takes_everything_above_the_checkpoint_and_nothing_twice(
        start_polling, account: Account, http):
    first = [message(subject=f"before {n}") for n in range(3)]
    for raw, _ in first:
        await in_thread(account.append, raw)
    gw = await start_polling(account)

    async def three() -> bool:
        return (await gw.store.count_by_status()).get("processed") == 3

    await wait_for(three, timeout=15)
    await gw.stop()

    # While the gateway is down: new mail, one of it already read by a person.
    later = [message(subject=f"during downtime {n}") for n in range(2)]
    await in_thread(account.append, later[0][0])
    await in_thread(account.append, later[1][0], "INBOX", (SEEN,))

    gw = await start_polling(account)

    async def five() -> bool:
        return len(await stored_ids(http, gw)) == 5

    await wait_for(five, timeout=15)
    assert await stored_ids(http, gw) == sorted(mid for _, mid in first + later)
    assert intakes(gw, "processed") == 2
    assert intakes(gw, "duplicate") == 0  # the three before were not fetched again
    assert all(SEEN in flags for flags in (await in_thread(account.flags)).values())


async def test_a_uidvalidity_change_rescans_the_folder_without_duplicates(start_polling, account: Account, http):
    before = [message(subject=f"first {n}") for n in range(2)]
    for raw, _ in before:
        await in_thread(account.append, raw, "Intake")
    gw = await start_polling(account, folder="Intake")

    async def two() -> bool:
        return (await gw.store.count_by_status()).get("processed") == 2

    await wait_for(two, timeout=15)
    await gw.stop()

    old, new = await in_thread(account.recreate, "Intake")
    assert old != new
    extra, extra_id = message(subject="after the restore")
    await in_thread(account.append, extra, "Intake")

    gw = await start_polling(account, folder="Intake")

    async def all_seen() -> bool:
        flags = await in_thread(account.flags, "Intake")
        return len(flags) == 3 and all(SEEN in f for f in flags.values())

    await wait_for(all_seen, timeout=15)
    assert await stored_ids(http, gw) == sorted([mid for _, mid in before] + [extra_id])
    assert intakes(gw, "duplicate") == 2  # recognised by Message-ID, acknowledged the same way
    assert intakes(gw, "processed") == 1


@only_sqlite
async def test_nothing_is_flagged_or_moved_before_the_commit(start_polling, account: Account, monkeypatch):
    gw = await start_polling(account, processed_folder="Processed")
    await connected(gw)

    @asynccontextmanager
    async def unavailable() -> Any:
        raise StorageError("database is down")
        yield  # pragma: no cover

    raw, mid = message()
    with monkeypatch.context() as patch:
        patch.setattr(gw.store, "transaction", unavailable)
        await in_thread(account.append, raw)

        async def refused() -> bool:
            return intakes(gw, "storage_error") >= 2  # tried, and tried again after a back-off

        await wait_for(refused, timeout=15)
        [flags] = (await in_thread(account.flags)).values()
        assert SEEN not in flags  # still unread, still in the intake folder
        assert not await in_thread(account.flags, "Processed")
        assert poller(gw).health()["last_error"]

    async def moved() -> bool:
        return not await in_thread(account.flags) and len(await in_thread(account.flags, "Processed")) == 1

    await wait_for(moved, timeout=15)
    [row] = await gw.store.list_inbound("processed", 10)
    assert row.external_id == mid


@only_sqlite
async def test_one_bad_message_never_stops_the_mailbox(start_polling, account: Account):
    huge, _ = message(subject="too big", body=("x" * 70 + "\n") * 200)
    empty = b"\r\n\r\n"  # nothing usable: kept as a failed record, still acknowledged
    good, good_id = message(subject="fine")
    for raw in (huge, empty, good):
        await in_thread(account.append, raw)
    gw = await start_polling(account, max_message_bytes=len(good) + 500)

    async def done() -> bool:  # the huge one is a failed record too (see test_imap_oversized.py)
        return (await gw.store.count_by_status()) == {"processed": 1, "failed": 2}

    await wait_for(done, timeout=15)
    [row] = await gw.store.list_inbound("processed", 10)
    assert row.external_id == good_id
    flags = list((await in_thread(account.flags)).values())
    assert [SEEN in f for f in flags] == [False, True, True]  # the huge one is left for a person
    assert poller(gw).health()["oversized"] == 1


@only_sqlite
async def test_implicit_tls_checks_the_certificate(start_polling, accounts, tmp_path):
    account = accounts.take()
    raw, mid = message()
    await in_thread(account.append, raw)

    untrusted = await start_polling(account, port=account.server.tls_port, tls=True, ca_file="")

    async def failed() -> bool:
        return "CERTIFICATE_VERIFY_FAILED" in (poller(untrusted).health()["last_error"] or "")

    await wait_for(failed, timeout=15)
    assert await untrusted.store.count_by_status() == {}
    await untrusted.stop()

    trusted = await start_polling(account, port=account.server.tls_port, tls=True)

    async def stored() -> bool:
        return (await trusted.store.count_by_status()) == {"processed": 1}

    await wait_for(stored, timeout=15)
    [row] = await trusted.store.list_inbound("processed", 10)
    assert row.external_id == mid


@pytest.fixture
async def own_dovecot(request):
    """A Dovecot of this test's own; parametrize it (indirect) with extra settings."""
    reason = DovecotServer.available()
    if reason:
        pytest.skip(reason)
    server = DovecotServer(extra_config=getattr(request, "param", ""))
    add_users(server)
    server.start()
    yield server
    await in_thread(server.cleanup)


@only_sqlite
async def test_the_poller_reconnects_after_the_server_goes_away(start_polling, accounts, own_dovecot):
    account = accounts.take(own_dovecot)
    gw = await start_polling(account)
    await connected(gw)

    await in_thread(own_dovecot.stop)

    async def dropped() -> bool:
        health = poller(gw).health()
        return not health["connected"] and bool(health["last_error"])

    await wait_for(dropped, timeout=15)
    assert poller(gw).health()["ok"]  # still trying

    await in_thread(own_dovecot.start)
    raw, mid = message(subject="after the outage")
    await in_thread(account.append, raw)

    async def stored() -> bool:
        return (await gw.store.count_by_status()) == {"processed": 1}

    await wait_for(stored, timeout=20)
    assert poller(gw).health()["connected"]
    [row] = await gw.store.list_inbound("processed", 10)
    assert row.external_id == mid


@only_sqlite
async def test_mail_arriving_while_a_pass_is_under_way_is_not_left_waiting(start_polling, account: Account,
                                                                          monkeypatch):
    gw = await start_polling(account, poll_interval_s=300.0)

    async def first_pass_done() -> bool:
        return poller(gw).health()["last_poll"] is not None

    await wait_for(first_pass_done, timeout=15)
    original = gw.store.transaction
    entered, release = asyncio.Event(), asyncio.Event()

    @asynccontextmanager
    async def held() -> Any:
        if not entered.is_set():
            entered.set()
            await release.wait()
        async with original() as tx:
            yield tx

    monkeypatch.setattr(gw.store, "transaction", held)
    first, first_id = message(subject="first")
    await in_thread(account.append, first)
    await asyncio.wait_for(entered.wait(), timeout=10)  # the pass is storing the first mail
    second, second_id = message(subject="second")
    await in_thread(account.append, second)  # its EXISTS goes out with the pass's next command
    release.set()

    async def both() -> bool:
        return (await gw.store.count_by_status()) == {"processed": 2}

    await wait_for(both, timeout=10)  # not after the 300 s poll or a 10 min IDLE refresh
    assert sorted(r.external_id for r in await gw.store.list_inbound("processed", 10)) == sorted([first_id, second_id])


@only_sqlite
@pytest.mark.parametrize("own_dovecot", ["imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE UIDPLUS\n"],
                         indirect=True)
async def test_without_move_and_idle_mail_is_polled_copied_and_expunged(start_polling, accounts, own_dovecot):
    account = accounts.take(own_dovecot)
    assert not {b"MOVE", b"IDLE"} & await in_thread(account.capabilities)
    gw = await start_polling(account, processed_folder="Processed", poll_interval_s=0.3)
    await connected(gw)
    raws = [message(subject=f"old server {n}") for n in range(2)]
    for raw, _ in raws:
        await in_thread(account.append, raw)

    async def moved() -> bool:
        return not await in_thread(account.flags) and len(await in_thread(account.flags, "Processed")) == 2

    await wait_for(moved, timeout=10)
    assert sorted(r.external_id for r in await gw.store.list_inbound("processed", 10)) == sorted(m for _, m in raws)

"""A message over the size limit: a visible failed record from its headers, never its body downloaded."""

from __future__ import annotations

import re
from typing import Any

from gateway.app import Gateway
from tests.channels.imap.conftest import Account, poller
from tests.channels.imap.test_imap_poller import connected, intakes, stored_ids
from tests.channels.smtp.conftest import only_sqlite
from tests.conftest import API_TOKEN, base, wait_for
from tests.support.http import auth
from tests.support.mail import in_thread, message

SEEN = b"\\Seen"
LOGOUT = re.compile(r"Logged out in=(\d+) out=(\d+).*?body_count=(\d+) body_bytes=(\d+)")


def sample(gw: Gateway, name: str, labels: dict[str, str]) -> int:
    return int(gw.metrics.registry.get_sample_value(name, labels) or 0)


async def failed_records(http: Any, gw: Gateway) -> list[dict[str, Any]]:
    async with http.get(f"{base(gw)}/v1/inbound", params={"status": "failed"}, headers=auth(API_TOKEN)) as resp:
        assert resp.status == 200
        return list((await resp.json())["inbound"])


def logouts(account: Account) -> list[tuple[int, int, int, int]]:
    """(in, out, body_count, body_bytes) of every IMAP session of this test's user, from Dovecot's log."""
    text = (account.server.dir / "dovecot.log").read_text(errors="replace")
    return [tuple(int(g) for g in m.groups())  # type: ignore[misc]
            for line in text.splitlines() if f"imap({account.user})" in line and (m := LOGOUT.search(line))]


@only_sqlite
async def test_an_oversized_message_is_a_failed_record_left_in_the_folder_and_never_downloaded(
        start_polling, account: Account, http):
    first, first_id = message(subject="before the big one")
    big, big_id = message(subject="a scan of everything", body=("x" * 76 + "\n") * 4000)  # ~300 KB
    last, last_id = message(subject="after the big one")
    for raw in (first, big, last):
        await in_thread(account.append, raw)
    limit = max(len(first), len(last)) + 1000
    assert len(big) > 100 * limit
    gw = await start_polling(account, max_message_bytes=limit, processed_folder="Processed")

    async def done() -> bool:
        return await gw.store.count_by_status() == {"processed": 2, "failed": 1}

    await wait_for(done, timeout=15)
    assert await stored_ids(http, gw) == sorted([first_id, last_id])  # both neighbours became tickets

    [failed] = await failed_records(http, gw)
    assert failed["transport"] == "imap" and failed["external_id"] == f"oversized:{big_id}"
    assert f"message of {len(big)} bytes exceeds the limit of {limit} bytes" in failed["error"]
    assert "left in mailbox support, folder INBOX" in failed["error"]
    row = await gw.store.get_inbound(failed["id"])
    assert row.meta["oversized"] == {"size": len(big), "limit": limit}
    assert row.meta["rcpt_tos"] == ["support@example.org"]
    assert b"Subject: a scan of everything" in row.payload and b"xxxx" not in row.payload  # the headers alone

    # Counted, and left alone in the folder: not moved, not marked read, not deleted.
    assert sample(gw, "gateway_failed_records_total", {"channel": "email"}) == 1
    assert intakes(gw, "failed") == 1
    assert sample(gw, "gateway_channel_events_total", {"channel": "email", "event": "imap_oversized"}) == 1
    assert poller(gw).health()["oversized"] == 1

    async def neighbours_moved() -> bool:
        return len(await in_thread(account.flags, "Processed")) == 2

    await wait_for(neighbours_moved, timeout=10)
    [flags] = (await in_thread(account.flags)).values()
    assert SEEN not in flags and b"\\Deleted" not in flags

    # `gateway replay` cannot make a ticket of it: its body was never fetched.
    assert await gw.intake.replay_failed([failed["id"]]) == (0, 1)

    await gw.stop()
    # Dovecot's own accounting of every session of this user: the poller's sessions sent the two
    # small messages' bodies and the big one's headers, never the big one's body.
    async def logged_out() -> bool:
        return len(logouts(account)) >= 1

    await wait_for(logged_out, timeout=10)
    sessions = logouts(account)
    assert sum(body_count for _, _, body_count, _ in sessions) == 2
    assert all(out < len(big) // 10 for _, out, _, _ in sessions)

    # A restart neither fetches it again nor imports it twice; new mail still flows past it.
    gw = await start_polling(account, max_message_bytes=limit, processed_folder="Processed")
    await connected(gw)
    after, after_id = message(subject="after the restart")
    await in_thread(account.append, after)

    async def three() -> bool:
        return (await gw.store.count_by_status()).get("processed") == 3

    await wait_for(three, timeout=15)
    assert await gw.store.count_by_status() == {"processed": 3, "failed": 1}
    assert len(await failed_records(http, gw)) == 1
    assert intakes(gw, "duplicate") == 0 and intakes(gw, "failed") == 0
    assert poller(gw).health()["oversized"] == 0
    [flags] = (await in_thread(account.flags)).values()
    assert SEEN not in flags
    assert after_id in await stored_ids(http, gw)


@only_sqlite
async def test_an_oversized_message_seen_again_after_a_uidvalidity_change_is_not_listed_twice(
        start_polling, account: Account, http):
    big, _ = message(subject="big", body=("y" * 76 + "\n") * 200)
    small, _ = message(subject="small")
    for raw in (big, small):
        await in_thread(account.append, raw, "Intake")
    limit = len(small) + 500
    gw = await start_polling(account, folder="Intake", max_message_bytes=limit)

    async def both() -> bool:
        return await gw.store.count_by_status() == {"processed": 1, "failed": 1}

    await wait_for(both, timeout=15)
    await gw.stop()
    old, new = await in_thread(account.recreate, "Intake")
    assert old != new
    gw = await start_polling(account, folder="Intake", max_message_bytes=limit)

    async def rescanned() -> bool:
        return intakes(gw, "duplicate") == 2  # the small one again, and the big one's headers again

    await wait_for(rescanned, timeout=15)
    assert await gw.store.count_by_status() == {"processed": 1, "failed": 1}
    assert len(await failed_records(http, gw)) == 1

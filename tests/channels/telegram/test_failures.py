"""Bot API failures (429, 5xx, timeouts, 409) and overload: back-off, nothing lost, nothing twice."""

from __future__ import annotations

import itertools

import pytest

from tests.channels.telegram.conftest import channel_health, confirmed, tickets
from tests.conftest import base, wait_for
from tests.support.fake_telegram import FakeBotApi, Fault

# PTB 22 itself warns when it builds a RetryAfter from Telegram's integer retry_after.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def gaps(fake: FakeBotApi, method: str) -> list[float]:
    times = [c.at for c in fake.calls_of(method)]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_429_waits_the_retry_after_telegram_gives(start_telegram, fake: FakeBotApi, http):
    fake.fail("getUpdates", Fault(429, "Too Many Requests: retry after 1", retry_after=1))
    gw = await start_telegram(ready=False)
    update = fake.message("still here")
    fake.push(update)
    await confirmed(fake, update)

    assert gaps(fake, "getUpdates")[0] >= 1.0  # retry_base_s is 0.05: only retry_after explains the wait
    assert "rate limited" in channel_health(gw)["last_error"]
    [ticket] = await tickets(http, gw)
    assert len(ticket["messages"]) == 1


async def test_server_errors_back_off_exponentially_and_are_reported(start_telegram, fake: FakeBotApi, http):
    fake.fail("getUpdates", *[Fault(500)] * 4)
    gw = await start_telegram(ready=False, retry_base_s=0.2, retry_max_s=5.0)
    await wait_for(lambda: _failures(gw, 3))
    report = channel_health(gw)
    assert report["ok"] is False and "polling failed 3 times" in report["problems"][0]
    async with http.get(f"{base(gw)}/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["channels"]["telegram"]["ok"] is False

    update = fake.message("after the outage")
    fake.push(update)
    await confirmed(fake, update)
    waits = gaps(fake, "getUpdates")[:4]
    assert waits[0] >= 0.2 and waits[1] >= 0.4 and waits[2] >= 0.8 and waits[3] >= 1.6, waits
    assert channel_health(gw)["ok"] is True
    assert len(await tickets(http, gw)) == 1


async def _failures(gw, n: int) -> bool:
    return bool(channel_health(gw)["consecutive_failures"] >= n)


async def test_a_poll_that_times_out_is_retried(start_telegram, fake: FakeBotApi, http):
    fake.fail("getUpdates", Fault(200, "never sent", delay=2.5))  # past request_timeout_s + poll_timeout_s
    gw = await start_telegram(ready=False, request_timeout_s=0.5)
    update = fake.message("behind a slow network")
    fake.push(update)
    await confirmed(fake, update)
    assert "TimedOut" in channel_health(gw)["last_error"]
    assert len(await tickets(http, gw)) == 1


async def test_conflict_with_another_poller_is_reported_until_it_clears(start_telegram, fake: FakeBotApi, http):
    conflict = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    fake.fail("getUpdates", *[Fault(409, conflict)] * 2)
    gw = await start_telegram(ready=False)
    await wait_for(lambda: _failures(gw, 1))
    report = channel_health(gw)
    assert report["ok"] is False and "terminated by other getUpdates" in " ".join(report["problems"])
    update = fake.message("once the other poller is gone")
    fake.push(update)
    await confirmed(fake, update)
    assert channel_health(gw)["ok"] is True
    assert len(await tickets(http, gw)) == 1


async def test_bot_api_down_at_start_does_not_stop_the_gateway(start_telegram, fake: FakeBotApi, http):
    fake.fail("getMe", Fault(502, "Bad Gateway"), Fault(502, "Bad Gateway"))
    gw = await start_telegram(ready=False)
    async with http.get(f"{base(gw)}/healthz") as resp:
        assert resp.status == 200
    update = fake.message("hello after the outage")
    fake.push(update)
    await confirmed(fake, update)
    assert len(fake.calls_of("getMe")) == 3
    assert len(await tickets(http, gw)) == 1


async def test_a_failing_reply_never_loses_or_repeats_the_message(start_telegram, fake: FakeBotApi, http):
    fake.fail("sendMessage", Fault(500), Fault(429, "Too Many Requests: retry after 1", retry_after=1))
    gw = await start_telegram()
    update = fake.message("please answer")
    fake.push(update)
    await confirmed(fake, update)
    [ticket] = await tickets(http, gw)
    assert len(ticket["messages"]) == 1
    assert len(fake.calls_of("sendMessage")) == 3  # 500, 429, then sent
    assert [ticket["id"] in t for t in fake.texts_to(4242)] == [True]

    fake.fail("sendMessage", Fault(403, "Forbidden: bot was blocked by the user"))
    blocked = fake.message("/new I blocked you")
    fake.push(blocked)
    await confirmed(fake, blocked)
    assert len(fake.calls_of("sendMessage")) == 4  # a 403 is not retried
    assert len(await tickets(http, gw)) == 2


async def test_file_fetch_failures_are_retried_then_recorded(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram()
    flaky = fake.add_file(b"report", path="documents/flaky.txt")
    gone = fake.add_file(b"lost", path="documents/gone.txt")
    fake.fail("getFile", Fault(500))  # the first getFile fails once, then works
    update = fake.message(document=fake.file_field(flaky, file_name="flaky.txt"))
    fake.push(update)
    await confirmed(fake, update)
    fake.fail("getFile", *[Fault(502, "Bad Gateway")] * 4)  # every attempt fails
    second = fake.message(document=fake.file_field(gone, file_name="gone.txt"))
    fake.push(second)
    await confirmed(fake, second)

    [ticket] = await tickets(http, gw)
    fetched, missing = (m["attachments"][0] for m in ticket["messages"])
    assert fetched["sha256"] and "note" not in fetched
    assert missing["sha256"] == "" and "Bad Gateway" in missing["note"]
    assert any("gone.txt" in t for t in fake.texts_to(4242))


async def test_a_batch_past_intakes_in_flight_limit_is_stored_whole(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram(sections={"intake": {"max_in_flight": 1}})  # overloaded from the second record on
    updates = [fake.message(f"message {i}") for i in range(3)]
    fake.push(*updates)
    await confirmed(fake, updates[-1], timeout=15)
    [ticket] = await tickets(http, gw)
    assert sorted(m["text"] for m in ticket["messages"]) == ["message 0", "message 1", "message 2"]


async def test_attachment_storage_failing_holds_the_confirmation_until_it_works(start_telegram, fake: FakeBotApi,
                                                                                http, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the attachment directory should be")
    gw = await start_telegram(attachments_dir=str(blocker / "attachments"))
    document = fake.add_file(b"quarterly numbers", path="documents/q.xlsx")
    update = fake.message(document=fake.file_field(document, file_name="q.xlsx"))
    fake.push(update)
    await wait_for(lambda: _error_mentions(gw, "storing updates failed"))
    assert all(int(c.params.get("offset") or 0) <= update["update_id"] for c in fake.calls_of("getUpdates"))
    assert await tickets(http, gw) == []

    blocker.unlink()  # the disk is back
    await confirmed(fake, update)
    [ticket] = await tickets(http, gw)
    [attachment] = ticket["messages"][0]["attachments"]
    assert (blocker / "attachments" / attachment["sha256"]).read_bytes() == b"quarterly numbers"


async def _error_mentions(gw, text: str) -> bool:
    return text in (channel_health(gw)["last_error"] or "")

"""Durable intake: group commit, back-pressure, failed records and their replay, recovery."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import event

from normalize.errors import NormalizeError
from normalize.raw import RawInbound
from storage.repository import StorageError
from tests.conftest import API_TOKEN, base
from tests.support.http import all_tickets, auth, get_ticket, portal_body, submit


async def test_concurrent_intakes_share_commits(gateway, http):
    commits = []
    event.listen(gateway.store.engine.sync_engine, "commit", lambda conn: commits.append(1))
    results = await asyncio.gather(*(submit(http, gateway, portal_body(subject=f"s{i}")) for i in range(200)))
    assert {status for status, _, _ in results} == {202}
    assert len({ids["ticket_id"] for _, ids, _ in results}) == 200
    # One commit per request would be 200; group commit needs far fewer.
    assert len(commits) < 100, len(commits)
    # /metrics shows the same: every record in some commit, far fewer commits than records.
    async with http.get(f"{base(gateway)}/metrics") as resp:
        scraped = metric_values(await resp.text())
    assert scraped["gateway_intake_commit_records_sum"] == 200
    batches = scraped["gateway_intake_commit_records_count"]
    assert 1 <= batches <= len(commits), (batches, len(commits))
    assert scraped["gateway_intake_commit_seconds_count"] == batches
    assert scraped["gateway_intake_commit_seconds_sum"] > 0


def metric_values(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text page, by name."""
    return {name: float(value) for name, _, value in (line.partition(" ") for line in text.splitlines())
            if name and not name.startswith("#") and "{" not in name}


async def test_past_the_in_flight_bound_answers_503_with_retry_after(start_gateway, http, monkeypatch):
    gw = await start_gateway(intake={"max_in_flight": 4, "retry_after_s": 2})
    real = gw.intake._store_and_process
    release = asyncio.Event()

    async def held(items):
        await release.wait()
        return await real(items)

    monkeypatch.setattr(gw.intake, "_store_and_process", held)
    tasks = [asyncio.create_task(submit(http, gw, portal_body(subject=f"s{i}"))) for i in range(4)]
    await asyncio.sleep(0.3)
    assert gw.intake.in_flight == 4
    status, answer, headers = await submit(http, gw, portal_body(subject="one too many"))
    assert status == 503
    assert answer["error"]["code"] == "overloaded"
    assert headers["Retry-After"] == "2"
    release.set()
    assert [s for s, _, _ in await asyncio.gather(*tasks)] == [202] * 4
    assert gw.intake.in_flight == 0


async def test_storage_failure_is_503_and_nothing_half_written(gateway, http, monkeypatch):
    def broken():
        raise StorageError("disk full")

    monkeypatch.setattr(gateway.store, "transaction", broken)
    status, answer, headers = await submit(http, gateway, portal_body())
    assert status == 503 and answer["error"]["code"] == "storage_unavailable" and "Retry-After" in headers
    monkeypatch.undo()
    assert await all_tickets(http, gateway) == []
    status, _, _ = await submit(http, gateway, portal_body())
    assert status == 202


async def test_a_record_that_fails_processing_is_kept_listed_and_replayed(gateway, http, monkeypatch):
    processor = gateway.processor
    real = processor._normalizers["portal"]

    def fragile(raw: RawInbound):
        if b"poison" in raw.payload:
            raise NormalizeError("cannot read this submission")
        return real(raw)

    monkeypatch.setitem(processor._normalizers, "portal", fragile)
    results = await asyncio.gather(
        submit(http, gateway, portal_body(subject="fine 1")),
        submit(http, gateway, portal_body(subject="poison")),
        submit(http, gateway, portal_body(subject="fine 2")),
    )
    assert [r[0] for r in results] == [202, 202, 202]
    failed_answer = results[1][1]
    assert failed_answer["ticket_id"] is None and failed_answer["status"] == "failed"
    assert results[0][1]["ticket_id"] and results[2][1]["ticket_id"]

    async with http.get(f"{base(gateway)}/v1/inbound?status=failed", headers=auth(API_TOKEN)) as resp:
        failed = (await resp.json())["inbound"]
    assert [f["id"] for f in failed] == [failed_answer["inbound_id"]]
    assert "cannot read this submission" in failed[0]["error"]

    monkeypatch.setitem(processor._normalizers, "portal", real)  # the cause is fixed
    assert await gateway.intake.replay_failed() == (1, 0)
    async with http.get(f"{base(gateway)}/v1/inbound?status=failed", headers=auth(API_TOKEN)) as resp:
        assert (await resp.json())["inbound"] == []
    subjects = sorted(t["subject"] for t in await all_tickets(http, gateway))
    assert subjects == ["fine 1", "fine 2", "poison"]


async def test_a_bug_while_writing_one_record_does_not_fail_its_batch(gateway, http, monkeypatch):
    processor = gateway.processor
    real = processor._classify

    def classify(drafts, now):
        if any(draft.subject == "explodes" for draft in drafts):
            raise RuntimeError("classifier bug")
        return real(drafts, now)

    monkeypatch.setattr(processor, "_classify", classify)
    results = await asyncio.gather(*(submit(http, gateway, portal_body(subject=s))
                                     for s in ("a", "explodes", "b", "c")))
    by_subject = dict(zip(("a", "explodes", "b", "c"), results, strict=True))
    assert all(by_subject[s][1]["ticket_id"] for s in ("a", "b", "c"))
    assert by_subject["explodes"][1]["status"] == "failed"
    async with http.get(f"{base(gateway)}/v1/inbound?status=failed", headers=auth(API_TOKEN)) as resp:
        [failed] = (await resp.json())["inbound"]
    assert "classifier bug" in failed["error"]


async def test_records_left_pending_by_a_crash_are_processed_at_start(start_gateway, http):
    gw = await start_gateway()
    raw_doc = b'{"requester":{"email":"x@example.org"},"body":"left behind","subject":"pending","attachments":[]}'
    async with gw.store.transaction() as tx:
        [inbound_id] = (await tx.insert_inbound([{
            "channel": "portal", "transport": "http", "external_id": "portal:crashed-1", "idempotency_key": None,
            "body_sha256": None, "received_at": datetime.now(UTC), "principal": None, "meta": {},
            "payload": raw_doc, "status": "pending", "error": None, "attempts": 0,
            "processed_at": None,
        }])).values()
    await gw.stop()
    gw2 = await start_gateway()
    async with http.get(f"{base(gw2)}/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["backlog"]["pending"] == 0
    [ticket] = await all_tickets(http, gw2)
    assert ticket["subject"] == "pending"
    full = await get_ticket(http, gw2, ticket["id"])
    assert full["messages"][0]["external_id"] == "portal:crashed-1"
    assert inbound_id


async def test_the_same_record_twice_in_one_batch_is_stored_once(gateway):
    raw = RawInbound(channel="portal", transport="http", external_id="portal:twice", received_at=datetime.now(UTC),
                     payload=b'{"requester":{"email":"a@b.org"},"body":"x","attachments":[]}')
    first, second = await asyncio.gather(gateway.intake(raw), gateway.intake(raw))
    assert first.ticket_id == second.ticket_id
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert await gateway.store.count_by_status() == {"processed": 1}


async def test_stop_gives_up_on_a_commit_that_never_returns_and_asks_its_sender_to_retry(gateway, http,
                                                                                        monkeypatch):
    never = asyncio.Event()

    async def stuck(items):
        await never.wait()  # a database that stopped answering

    monkeypatch.setattr(gateway.intake, "_store_and_process", stuck)
    task = asyncio.create_task(submit(http, gateway, portal_body()))
    for _ in range(100):
        if gateway.intake.in_flight:
            break
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await asyncio.wait_for(gateway.intake.close(in_flight_s=0.5), 10)
    assert time.monotonic() - started < 5
    status, answer, headers = await asyncio.wait_for(task, 5)
    assert status == 503
    assert answer["error"]["code"] == "shutting_down"
    assert headers["Retry-After"]
    assert gateway.intake.in_flight == 0
    assert await gateway.store.count_by_status() == {}  # nothing half-written, nothing acknowledged


async def test_stop_refuses_new_work_after_finishing_in_flight_work(gateway, http):
    task = asyncio.create_task(submit(http, gateway, portal_body()))
    await asyncio.sleep(0.05)
    await gateway.intake.close()
    assert (await task)[0] == 202
    from normalize.raw import ShuttingDownError

    raw = RawInbound(channel="portal", transport="http", external_id="late", received_at=datetime.now(UTC),
                     payload=b"{}")
    try:
        await gateway.intake(raw)
    except ShuttingDownError:
        pass
    else:
        raise AssertionError("intake accepted work after close()")


async def test_a_record_the_database_refuses_fails_alone_and_its_batch_is_stored(gateway, http, monkeypatch):
    from storage.repository import Transaction

    real = Transaction.insert_messages

    async def refusing(self, rows):
        if any("refused by the database" in r["text"] for r in rows):
            raise StorageError("DataError: value not allowed")  # as a constraint or encoding refusal would
        return await real(self, rows)

    monkeypatch.setattr(Transaction, "insert_messages", refusing)
    subjects = ["ok 1", "bad", "ok 2", "ok 3"]
    bodies = [portal_body(subject=s) for s in subjects]
    bodies[1]["body"] = "refused by the database"
    results = await asyncio.gather(*(submit(http, gateway, b) for b in bodies))
    assert [status for status, _, _ in results] == [202] * 4
    answers = dict(zip(subjects, (ids for _, ids, _ in results), strict=True))
    assert all(answers[s]["ticket_id"] for s in ("ok 1", "ok 2", "ok 3"))
    assert answers["bad"]["status"] == "failed" and answers["bad"]["ticket_id"] is None
    async with http.get(f"{base(gateway)}/v1/inbound?status=failed", headers=auth(API_TOKEN)) as resp:
        [failed] = (await resp.json())["inbound"]
    assert failed["error"].startswith("storage: ")
    monkeypatch.undo()
    assert await gateway.intake.replay_failed() == (1, 0)  # once the cause is fixed


async def test_with_the_database_down_the_whole_batch_is_refused_quickly(gateway, http, monkeypatch):
    from storage.repository import Transaction

    async def down(self, rows):
        raise StorageError("connection refused")

    async def no_ping():
        raise StorageError("connection refused")

    monkeypatch.setattr(Transaction, "insert_inbound", down)
    monkeypatch.setattr(gateway.store, "ping", no_ping)
    results = await asyncio.gather(*(submit(http, gateway, portal_body(subject=f"s{i}")) for i in range(5)))
    assert {status for status, _, _ in results} == {503}


async def test_a_message_body_is_written_once(gateway, http):
    text = "The printer on floor 3 prints blank pages. " * 20
    status, ids, _ = await submit(http, gateway, portal_body(subject="blank pages", body=text))
    assert status == 202
    _, [row] = await gateway.store.get_ticket(int(ids["ticket_id"].split("-")[1]))
    assert row.text.strip() == text.strip() and "text" not in row.body and "subject" not in row.body
    [message] = (await get_ticket(http, gateway, ids["ticket_id"]))["messages"]
    assert (message["text"].strip(), message["subject"], message["channel"]) == (text.strip(), "blank pages", "portal")

"""The planner: one row per routed destination, an ack for new mail, new tickets handed over claimed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from normalize.schema import Channel, Kind, MessageDraft, Requester, Transport
from router.outbox_plan import OutboxPlanner
from router.routes import Route, Routes

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ROUTES = Routes((Route("network", ("zd", "hook")), Route("*", ("hook",))))


def draft(
    channel: Channel = Channel.EMAIL, kind: Kind = Kind.NEW, email: str | None = "ann@example.org"
) -> MessageDraft:
    return MessageDraft(channel=channel, transport=Transport.SMTP, external_id="m1", kind=kind,
                        requester=Requester(email=email), subject="s", text="t", received_at=NOW)


@dataclass
class Claimer:
    room: int
    worker: str = "me"
    lease_s: float = 30.0
    destinations: frozenset[str] = field(default_factory=lambda: frozenset({"zd", "hook", "ack:email"}))

    def can_take(self, count: int) -> bool:
        return count <= self.room


def test_one_row_per_routed_destination_and_an_ack_for_new_mail():
    planner = OutboxPlanner(ROUTES, acks=True)
    rows = planner(7, 9, draft(), "ticket.created", {"queue": "network"}, NOW)
    assert [(r["destination"], r["event"], r["status"]) for r in rows] == [
        ("zd", "ticket.created", "pending"), ("hook", "ticket.created", "pending"), ("ack:email", "ack", "pending")]
    assert len({r["key"] for r in rows}) == 3 and all(r["key"].startswith("dlv_") for r in rows)
    assert all((r["ticket_id"], r["message_id"], r["due_at"]) == (7, 9, NOW) for r in rows)


def test_no_ack_for_follow_ups_other_channels_or_mail_without_an_address():
    planner = OutboxPlanner(ROUTES, acks=True)
    assert [r["destination"] for r in planner(7, 9, draft(), "message.added", {"queue": "x"}, NOW)] == ["hook"]
    assert [r["destination"] for r in planner(7, 9, draft(Channel.PORTAL), "ticket.created", {}, NOW)] == ["hook"]
    assert [r["destination"] for r in planner(7, 9, draft(email=None), "ticket.created", {}, NOW)] == ["hook"]
    assert OutboxPlanner(Routes(), acks=False)(7, 9, draft(), "ticket.created", {}, NOW) == []


def test_new_tickets_are_handed_to_a_dispatcher_with_room_and_follow_ups_never():
    planner = OutboxPlanner(ROUTES, acks=True)
    planner.attach(Claimer(room=3))
    rows = planner(7, 9, draft(), "ticket.created", {"queue": "network"}, NOW)
    lease = NOW + timedelta(seconds=30)
    assert all((r["status"], r["claimed_by"], r["due_at"], r["attempts"]) == ("sending", "me", lease, 1) for r in rows)
    [follow_up] = planner(7, 10, draft(kind=Kind.REPLY), "message.added", {"queue": "general"}, NOW)
    assert (follow_up["status"], follow_up.get("claimed_by")) == ("pending", None)  # it may have to wait its turn


def test_rows_stay_pending_when_the_dispatcher_is_full_or_lacks_the_destination():
    full = OutboxPlanner(ROUTES, acks=True)
    full.attach(Claimer(room=2))
    assert {r["status"] for r in full(7, 9, draft(), "ticket.created", {"queue": "network"}, NOW)} == {"pending"}
    partial = OutboxPlanner(ROUTES, acks=False)
    partial.attach(Claimer(room=10, destinations=frozenset({"hook"})))
    assert {r["status"] for r in partial(7, 9, draft(), "ticket.created", {"queue": "network"}, NOW)} == {"pending"}


def test_delivery_keys_are_unique_in_a_process_and_across_forks():
    import multiprocessing

    from router.outbox_plan import new_key

    keys = {new_key() for _ in range(10_000)}
    assert len(keys) == 10_000 and all(k.startswith("dlv_") and len(k) >= 36 for k in keys)
    reader, writer = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=lambda: writer.send(new_key()))
    child.start()
    theirs = reader.recv()
    child.join(10)
    assert theirs[:28] != new_key()[:28]  # a forked child draws its own random part

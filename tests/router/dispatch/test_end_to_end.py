"""From bytes in to delivery out: mail over SMTP becomes a forwarded ticket and an acknowledgement
whose reply threads back; an intake-only process leaves its deliveries to a dispatching one."""

from __future__ import annotations

from typing import Any

from tests.conftest import API_TOKEN, base, wait_for
from tests.router.dispatch.conftest import HOOK_ENV, rows, settled, submit
from tests.support.mail import in_thread, message, send_one


def smtp_port(gateway: Any) -> int:
    return int(next(c for c in gateway.channels if c.name == "smtp").port)


async def test_mail_in_ack_out_and_the_reply_joins_the_ticket(start_gateway, receiver, sink, http):
    gw = await start_gateway(
        smtp={"enabled": True, "port": 0, "recipients": ["support@example.org"]},
        email={"own_domain": "gw.example.org"},
        acks={"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": sink.port,
              "from_address": "Support <support@example.org>"},
        destinations={"main": {"kind": "webhook", "url": receiver.hook_url, "secret_env": HOOK_ENV}},
        router={"default_queue": "general", "routes": [{"queue": "*", "to": "main"}]},
    )
    raw, mid = message(subject="Printer on fire")
    assert (await in_thread(send_one, smtp_port(gw), raw))[-1][0] == 250
    await wait_for(lambda: settled(gw))

    [ack] = sink.received
    [forwarded] = receiver.tickets.values()
    ticket_id = forwarded["ticket"]["id"]
    assert forwarded["ticket"]["messages"][0]["channel"] == "email"
    assert forwarded["ticket"]["messages"][0]["transport"] == "smtp"
    assert ack.message["In-Reply-To"] == f"<{mid}>" and f"[#{ticket_id}]" in ack.message["Subject"]

    reply, _ = message(subject=f"Re: {ack.message['Subject']}", body="It is out now.",
                       headers={"In-Reply-To": ack.message["Message-ID"]})
    assert (await in_thread(send_one, smtp_port(gw), reply))[-1][0] == 250
    await wait_for(lambda: _count_is(receiver.tickets, 2))
    await wait_for(lambda: settled(gw))
    async with http.get(f"{base(gw)}/v1/tickets/{ticket_id}",
                        headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
        messages = (await resp.json())["messages"]
    assert [m["kind"] for m in messages] == ["new", "reply"]
    assert messages[1]["thread"]["by"] == "message_id"  # through the acknowledgement's Message-ID
    assert [p["event"] for p in receiver.tickets.values()] == ["ticket.created", "message.added"]
    assert len(sink.received) == 1  # a reply is not acknowledged again


async def test_an_intake_only_process_leaves_its_deliveries_to_a_dispatching_one(start_gateway, receiver, http):
    setup = {
        "destinations": {"main": {"kind": "webhook", "url": receiver.hook_url, "secret_env": HOOK_ENV}},
        "router": {"default_queue": "general", "routes": [{"queue": "*", "to": "main"}]},
    }
    intake_only = await start_gateway(dispatch={"enabled": False}, **setup)
    await submit(intake_only, http)
    [row] = await rows(intake_only)
    assert (row.status, row.claimed_by) == ("pending", None)  # not claimed by a dispatcher that is not there
    dispatching = await start_gateway(dispatch={"poll_interval_s": 0.1}, **setup)
    await wait_for(lambda: settled(dispatching))
    assert len(receiver.tickets) == 1


async def _count_is(items: dict, n: int) -> bool:
    return len(items) == n

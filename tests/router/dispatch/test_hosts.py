"""Outbound requests go only to the configured host: no other URL, no redirect followed."""

from __future__ import annotations

import pytest

from router.destinations.http import ForbiddenHostError, OutboundHttp
from tests.conftest import wait_for
from tests.router.dispatch.conftest import rows, settled, submit, webhook_setup
from tests.support.fake_helpdesks import Fault, WebhookReceiver


async def test_a_request_to_another_host_or_port_is_refused_before_it_is_sent(receiver):
    http = OutboundHttp(receiver.url + "/api/", 2.0)
    try:
        for elsewhere in (f"http://127.0.0.2:{receiver.port}/x", "http://127.0.0.1:1/x",
                          f"https://127.0.0.1:{receiver.port}/x", "http://example.org/x"):
            with pytest.raises(ForbiddenHostError) as caught:
                await http.request("GET", elsewhere)
            assert caught.value.permanent
        assert receiver.requests == []
        assert http.url("v1/tickets") == receiver.url + "/api/v1/tickets"
        assert http.url("//evil.example.org/x").startswith(receiver.url + "/api/")  # paths stay under the root
    finally:
        await http.close()


async def test_a_redirect_to_another_host_is_not_followed(start_gateway, receiver, http):
    trap = await WebhookReceiver("whsec_dHJhcA==").start()
    try:
        receiver.fail(Fault(status=307, headers={"Location": trap.hook_url}))
        gw = await start_gateway(**webhook_setup(receiver.hook_url, max_attempts=1))
        await submit(gw, http)
        await wait_for(lambda: settled(gw))
        [row] = await rows(gw)
        assert row.status == "dead" and "redirect" in row.last_error and "not followed" in row.last_error
        assert trap.requests == []
    finally:
        await trap.stop()

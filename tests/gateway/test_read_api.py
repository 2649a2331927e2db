"""The read API, OpenAPI description and operations endpoints."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.conftest import API_TOKEN, base
from tests.support.http import all_tickets, auth, call_body, portal_body, signed_headers, submit


async def test_read_api_needs_the_api_token(gateway, http):
    _, ids, _ = await submit(http, gateway, portal_body())
    for path in (f"/v1/tickets/{ids['ticket_id']}", "/v1/tickets", "/v1/inbound?status=failed"):
        for headers in ({}, auth("nope"), auth("test-portal-token-0123456789")):
            async with http.get(f"{base(gateway)}{path}", headers=headers) as resp:
                assert resp.status == 401, path


async def test_unknown_ticket_is_404(gateway, http):
    for ticket_id in ("T-424242", "garbage", "T-"):
        async with http.get(f"{base(gateway)}/v1/tickets/{ticket_id}", headers=auth(API_TOKEN)) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"


async def test_list_is_newest_first_filters_by_channel_and_pages_with_a_cursor(gateway, http):
    for i in range(7):
        await submit(http, gateway, portal_body(subject=f"portal {i}"))
    body = call_body()
    async with http.post(f"{base(gateway)}/v1/phone/calls", data=body, headers=signed_headers(body)) as resp:
        assert resp.status == 202
    everything = await all_tickets(http, gateway)
    assert len(everything) == 8
    assert everything[0]["opened_via"] == "phone"  # the newest
    assert [t["subject"] for t in everything[1:]] == [f"portal {i}" for i in reversed(range(7))]
    for item in everything:
        assert {"id", "opened_via", "status", "subject", "requester", "classification", "created_at"} <= set(item)

    pages, cursor, seen = 0, None, []
    while True:
        params = {"channel": "portal", "limit": "3", **({"cursor": cursor} if cursor else {})}
        async with http.get(f"{base(gateway)}/v1/tickets", params=params, headers=auth(API_TOKEN)) as resp:
            page = await resp.json()
        pages += 1
        seen += [t["subject"] for t in page["tickets"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"portal {i}" for i in reversed(range(7))]


async def test_limit_defaults_to_50_and_is_capped_at_200(gateway, http):
    await asyncio.gather(*(submit(http, gateway, portal_body(subject=f"s{i}")) for i in range(205)))
    async with http.get(f"{base(gateway)}/v1/tickets", headers=auth(API_TOKEN)) as resp:
        page = await resp.json()
    assert len(page["tickets"]) == 50 and page["next_cursor"]
    async with http.get(f"{base(gateway)}/v1/tickets?limit=1000", headers=auth(API_TOKEN)) as resp:
        page = await resp.json()
    assert len(page["tickets"]) == 200 and page["next_cursor"]


async def test_since_filters_on_creation_time(gateway, http):
    await submit(http, gateway, portal_body())
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert await all_tickets(http, gateway, since=future) == []
    assert len(await all_tickets(http, gateway, since=past)) == 1


async def test_bad_query_values_are_400_naming_the_parameter(gateway, http):
    for query, field in (("limit=ten", "limit"), ("limit=0", "limit"), ("since=yesterday", "since"),
                         ("cursor=%%%", "cursor"), ("cursor=bm9wZQ", "cursor")):
        async with http.get(f"{base(gateway)}/v1/tickets?{query}", headers=auth(API_TOKEN)) as resp:
            assert resp.status == 400, query
            assert (await resp.json())["error"]["field"] == field
    async with http.get(f"{base(gateway)}/v1/inbound?status=lost", headers=auth(API_TOKEN)) as resp:
        assert resp.status == 400


async def test_openapi_describes_every_route_the_gateway_serves(gateway, http):
    async with http.get(f"{base(gateway)}/v1/openapi.json") as resp:
        spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    served = set()
    for route in gateway._runner.app.router.routes():  # type: ignore[union-attr]
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        served.add((path, route.method.lower()))
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served <= described, served - described


async def test_health_ready_and_metrics(gateway, http):
    await submit(http, gateway, portal_body())
    async with http.get(f"{base(gateway)}/healthz") as resp:
        assert resp.status == 200
    async with http.get(f"{base(gateway)}/readyz") as resp:
        ready = await resp.json()
        assert resp.status == 200
    assert ready["database"] == "ok" and ready["backlog"] == {"pending": 0, "oldest_age_s": 0.0}
    async with http.get(f"{base(gateway)}/metrics") as resp:
        text = await resp.text()
        assert resp.status == 200 and resp.content_type == "text/plain"
    assert 'gateway_intakes_total{channel="portal",outcome="processed"} 1.0' in text
    assert 'gateway_intake_seconds_bucket{channel="portal",le="0.1"}' in text
    assert 'gateway_inbound_records{status="failed"} 0.0' in text


async def test_readyz_reports_an_unreachable_database(gateway, http, monkeypatch):
    from storage.repository import StorageError

    async def broken():
        raise StorageError("connection refused")

    monkeypatch.setattr(gateway.store, "backlog", broken)
    async with http.get(f"{base(gateway)}/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["status"] == "not_ready" and "unreachable" in body["database"]


async def test_unknown_paths_and_methods_get_json_errors(gateway, http):
    async with http.get(f"{base(gateway)}/v1/nothing-here") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    async with http.get(f"{base(gateway)}/v1/portal/submissions") as resp:
        assert resp.status == 405 and (await resp.json())["error"]["code"] == "method_not_allowed"

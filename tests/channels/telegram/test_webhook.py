"""Webhook mode: the secret header, 200 only after the commit, 503 under overload, registration and health."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import deque

import pytest

from tests.channels.telegram.conftest import TG_SECRETS, WEBHOOK_SECRET, channel_health, tickets
from tests.conftest import API_TOKEN, base, wait_for
from tests.support.fake_telegram import FakeBotApi

PUBLIC = "https://desk.example.org"
HOOK = f"{PUBLIC}/v1/telegram/webhook"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def post(http, gw, update, secret: str | None = WEBHOOK_SECRET, body: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[HEADER] = secret
    data = body if body is not None else json.dumps(update).encode()
    async with http.post(f"{base(gw)}/v1/telegram/webhook", data=data, headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


async def stored_records(http, gw) -> int:
    total = 0
    for status in ("processed", "failed", "pending"):
        async with http.get(f"{base(gw)}/v1/inbound", params={"status": status},
                            headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
            total += len((await resp.json())["inbound"])
    return total


async def test_requests_without_the_right_secret_are_refused_and_store_nothing(start_telegram, fake, http):
    gw = await start_telegram(mode="webhook", public_url=PUBLIC)
    update = fake.message("let me in")
    assert (await post(http, gw, update, secret=None))[0] == 401
    assert (await post(http, gw, update, secret="wrong-secret"))[0] == 403
    assert (await post(http, gw, update, secret=WEBHOOK_SECRET + "x"))[0] == 403
    # refused before the body is read: a body that is not JSON gets the same answer
    assert (await post(http, gw, update, secret="wrong-secret", body=b"{not json"))[0] == 403
    assert await stored_records(http, gw) == 0
    assert await tickets(http, gw) == []
    assert fake.sent == []


async def test_without_a_configured_secret_every_request_is_refused(start_telegram, fake, http):
    no_secret = dataclasses.replace(TG_SECRETS, telegram_webhook_secret="")
    gw = await start_telegram(no_secret, ready=False, mode="webhook")
    status, _, _ = await post(http, gw, fake.message("hello"), secret="")
    assert status == 401
    assert "GATEWAY_TELEGRAM_WEBHOOK_SECRET" in channel_health(gw)["problems"][0]
    assert await stored_records(http, gw) == 0


async def test_200_comes_after_the_commit_and_a_repeat_is_one_message(start_telegram, fake, http):
    gw = await start_telegram(mode="webhook", public_url=PUBLIC)
    update = fake.message("Printer on fire", sender=None)
    status, _, _ = await post(http, gw, update)
    assert status == 200
    [ticket] = await tickets(http, gw)  # readable at once: the 200 came after the commit
    assert ticket["messages"][0]["transport"] == "webhook"
    assert ticket["id"] in fake.texts_to(4242)[0]

    assert (await post(http, gw, update))[0] == 200  # Telegram retries
    [ticket] = await tickets(http, gw)
    assert len(ticket["messages"]) == 1
    assert len(fake.texts_to(4242)) == 1
    edited = fake.edit(update, "Printer was on fire")
    assert (await post(http, gw, edited))[0] == 200
    [ticket] = await tickets(http, gw)
    assert [m["kind"] for m in ticket["messages"]] == ["new", "edit"]


async def test_overload_answers_503_with_retry_after_and_retries_store_once(start_telegram, fake, http):
    gw = await start_telegram(mode="webhook", public_url=PUBLIC, sections={"intake": {"max_in_flight": 1}})
    updates = [fake.message(f"request {i}", chat_id=7000 + i) for i in range(20)]
    answers = await asyncio.gather(*(post(http, gw, u) for u in updates))
    refused = [u for u, (status, _, _) in zip(updates, answers, strict=True) if status == 503]
    assert refused, "max_in_flight = 1 should refuse some of 20 concurrent updates"
    assert all(h["Retry-After"] for status, h, _ in answers if status == 503)
    for update in refused:  # what Telegram does with a 503
        while (await post(http, gw, update))[0] == 503:
            await asyncio.sleep(0.05)
    found = await tickets(http, gw)
    assert sorted(t["messages"][0]["text"] for t in found) == sorted(f"request {i}" for i in range(20))
    assert all(len(t["messages"]) == 1 for t in found)


async def test_public_url_registers_the_webhook_with_its_secret(start_telegram, fake: FakeBotApi, http):
    gw = await start_telegram(mode="webhook", public_url=PUBLIC)
    [call] = fake.calls_of("setWebhook")
    assert call.params["url"] == HOOK
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert call.params["allowed_updates"] == ["message", "edited_message"]
    assert fake.calls_of("getWebhookInfo")
    report = channel_health(gw)
    assert report["ok"] is True and report["webhook"]["url"] == HOOK


async def test_health_reports_a_wrong_url_a_delivery_error_and_a_growing_backlog(start_telegram, fake, http):
    gw = await start_telegram(mode="webhook", public_url=PUBLIC)
    fake.webhook["url"] = "https://old-host.example.org/telegram"
    await wait_for(lambda: _problem(gw, "not to " + HOOK))
    async with http.get(f"{base(gw)}/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["channels"]["telegram"]["webhook"]["url"] == "https://old-host.example.org/telegram"

    fake.webhook["url"] = HOOK
    fake.webhook_error = (int(time.time()), "Wrong response from the webhook: 503 Service Unavailable")
    await wait_for(lambda: _problem(gw, "Wrong response from the webhook"))
    fake.webhook_error = None
    fake.webhook_pending = deque([2, 5, 9, 14])
    await wait_for(lambda: _problem(gw, "pile up"))
    fake.webhook_pending = deque([14, 14, 14])
    await wait_for(lambda: _healthy(gw))


@pytest.mark.parametrize("url", ["", "https://elsewhere.example.org/hook"])
async def test_without_public_url_the_registered_webhook_is_only_checked(start_telegram, fake, http, url):
    fake.webhook["url"] = url
    gw = await start_telegram(ready=False, mode="webhook")
    await wait_for(lambda: _checked(gw))
    assert fake.calls_of("setWebhook") == []
    report = channel_health(gw)
    if url:
        assert report["ok"] is True and report["webhook"]["url"] == url
    else:
        assert report["ok"] is False and "no webhook is registered" in report["problems"][0]


async def _problem(gw, text: str) -> bool:
    return any(text in p for p in channel_health(gw)["problems"])


async def _healthy(gw) -> bool:
    return bool(channel_health(gw)["ok"])


async def _checked(gw) -> bool:
    return channel_health(gw)["webhook"]["checked_age_s"] is not None

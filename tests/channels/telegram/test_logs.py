"""The bot token never reaches a log line, whoever configured logging (here: pytest, at DEBUG)."""

from __future__ import annotations

import json
import logging

import pytest

from gateway.logs import BOT_TOKEN
from tests.channels.telegram.conftest import WEBHOOK_SECRET, confirmed, tickets
from tests.conftest import base
from tests.support.fake_telegram import TOKEN, FakeBotApi, Fault

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_the_token_is_in_no_log_line_across_polling_errors_files_and_webhooks(start_telegram, fake: FakeBotApi,
                                                                                    http, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram"):  # even if an earlier test quietened them
        caplog.set_level(logging.DEBUG, logger=name)
    fake.fail("getMe", Fault(502, "Bad Gateway"))
    fake.fail("getUpdates", Fault(500), Fault(429, "Too Many Requests: retry after 1", retry_after=1))
    fake.fail("getFile", Fault(500))
    photo = fake.add_file(b"\xff\xd8 photo", path="photos/p.jpg")
    update = fake.message(caption="see photo", photo=[fake.file_field(photo, width=10, height=10)])
    fake.push(update)
    gw = await start_telegram(ready=False)
    await confirmed(fake, update)
    await gw.stop()

    fake.fail("setWebhook", Fault(500))
    gw = await start_telegram(mode="webhook", public_url="https://desk.example.org")
    hooked = fake.message("via webhook")
    async with http.post(f"{base(gw)}/v1/telegram/webhook", data=json.dumps(hooked),
                         headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}) as resp:
        assert resp.status == 200
    async with http.post(f"{base(gw)}/v1/telegram/webhook", data=b"{}",
                         headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as resp:
        assert resp.status == 403
    [ticket] = await tickets(http, gw)
    assert len(ticket["messages"]) == 2

    lines = [caplog.text, *(r.getMessage() for r in caplog.records), *(r.exc_text or "" for r in caplog.records)]
    text = "\n".join(lines)
    assert "/bot[redacted]/getUpdates" in text  # httpx did log the URLs, without the token
    assert "[redacted]/photos/p.jpg" in text  # the download URL, percent-encoded, redacted too
    assert "setWebhook" in text and "500" in text
    secret_part = TOKEN.split(":", 1)[1]
    assert TOKEN not in text and secret_part not in text
    assert not BOT_TOKEN.search(text)
    assert WEBHOOK_SECRET not in text

"""The gateway as its own process, killed with SIGKILL between receiving an update and confirming it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.channels.telegram.conftest import confirmed
from tests.conftest import API_TOKEN
from tests.support.fake_telegram import TOKEN, FakeBotApi
from tests.support.postgres import free_port
from tests.support.process import GatewayProcess, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for proc in started:
        proc.close()


def telegram_config(tmp_path: Path, db_url: str, fake: FakeBotApi) -> Path:
    extra = (f'[telegram]\nenabled = true\napi_url = "{fake.url}"\npoll_timeout_s = 1\nrequest_timeout_s = 2.0\n'
             f'retry_base_s = 0.05\nretry_max_s = 1.0\nattachments_dir = "{tmp_path / "attachments"}"\n')
    return write_config(tmp_path / "gw.toml", db_url, free_port(), extra)


async def launch(processes: list[GatewayProcess], config: Path) -> GatewayProcess:
    proc = GatewayProcess(config, env={"GATEWAY_TELEGRAM_TOKEN": TOKEN})
    processes.append(proc)
    return await asyncio.to_thread(proc.start)


async def telegram_messages(base: str) -> list[dict[str, Any]]:
    """Every message of every Telegram ticket, each with its ticket's id added."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/v1/tickets", params={"channel": "telegram"}, headers=headers) as resp:
            listed = (await resp.json())["tickets"]
        found = []
        for ticket in listed:
            async with http.get(f"{base}/v1/tickets/{ticket['id']}", headers=headers) as resp:
                found += [{**m, "ticket_id": ticket["id"]} for m in (await resp.json())["messages"]]
        return found


def highest_offset(fake: FakeBotApi) -> int:
    return max(int(c.params.get("offset") or 0) for c in fake.calls_of("getUpdates"))


async def test_killed_before_the_commit_the_update_comes_again_and_is_stored_once(db_url, tmp_path, fake,
                                                                                  processes):
    config = telegram_config(tmp_path, db_url, fake)
    held = fake.hold("getFile")  # the update is received; its file is being fetched; nothing is stored yet
    document = fake.add_file(b"crash report", path="documents/crash.txt")
    update = fake.message(caption="the app crashes", document=fake.file_field(document, file_name="crash.txt"))
    fake.push(update)

    first = await launch(processes, config)
    await asyncio.wait_for(held.reached.wait(), 20)
    await asyncio.to_thread(first.kill)
    assert highest_offset(fake) <= update["update_id"]  # never confirmed to Telegram
    served = len(fake.calls_of("getUpdates"))

    second = await launch(processes, config)
    await confirmed(fake, update, timeout=20)
    again = fake.calls_of("getUpdates")[served]
    assert int(again.params.get("offset") or 0) <= update["update_id"]  # fetched again after the restart
    [message] = await telegram_messages(second.base)
    assert message["text"] == "the app crashes"
    assert message["attachments"][0]["name"] == "crash.txt" and message["attachments"][0]["sha256"]
    assert TOKEN not in first.logs() and TOKEN.split(":")[1] not in second.logs()


async def test_killed_after_the_commit_the_repeat_is_recognised_and_answered_once(db_url, tmp_path, fake,
                                                                                  processes):
    config = telegram_config(tmp_path, db_url, fake)
    held = fake.hold("sendMessage")  # committed, answering, offset not yet moved on
    update = fake.message("my screen is black")
    fake.push(update)

    first = await launch(processes, config)
    await asyncio.wait_for(held.reached.wait(), 20)
    await asyncio.to_thread(first.kill)
    assert highest_offset(fake) <= update["update_id"]

    second = await launch(processes, config)
    await confirmed(fake, update, timeout=20)
    [message] = await telegram_messages(second.base)
    assert message["text"] == "my screen is black"
    answers = fake.texts_to(4242)  # the first run's answer was never completed
    assert len(answers) == 1 and message["ticket_id"] in answers[0]

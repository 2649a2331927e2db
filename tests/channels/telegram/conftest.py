"""Fixtures of the Telegram tests: the fake Bot API and a gateway whose Telegram channel uses it.

Most tests run on SQLite only (they exercise the channel, not the database);
the ones that exercise the store methods the channel added ask for both
backends with `@pytest.mark.parametrize("db_url", BOTH, indirect=True)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from tests.conftest import API_TOKEN, TEST_SECRETS, base, create_pg_database, wait_for
from tests.support.fake_telegram import TOKEN, FakeBotApi

BOTH = ["sqlite", "postgresql"]
WEBHOOK_SECRET = "webhook-secret_0123456789abcdefABCDEF"
TG_SECRETS = dataclasses.replace(TEST_SECRETS, telegram_token=TOKEN, telegram_webhook_secret=WEBHOOK_SECRET)


@pytest.fixture(params=["sqlite"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    postgres_base_url = request.getfixturevalue("postgres_base_url")  # started only when asked for
    if postgres_base_url is None:
        pytest.skip("PostgreSQL is not available here")
    return await create_pg_database(postgres_base_url)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.close()


def telegram_section(fake: FakeBotApi, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "api_url": fake.url,
        "poll_timeout_s": 1,
        "request_timeout_s": 2.0,
        "retry_base_s": 0.05,
        "retry_max_s": 1.0,
        "webhook_check_s": 0.2,
        "attachments_dir": str(tmp_path / "attachments"),
        **overrides,
    }


StartTelegram = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def start_telegram(fake: FakeBotApi, start_gateway: Any, tmp_path: Path) -> StartTelegram:
    async def start(secrets: Any = TG_SECRETS, *, ready: bool = True, sections: dict[str, Any] | None = None,
                    **telegram: Any) -> Gateway:
        gw: Gateway = await start_gateway(secrets=secrets, telegram=telegram_section(fake, tmp_path, **telegram),
                                          **(sections or {}))
        if ready:
            await wait_for(lambda: _ok(gw), timeout=10)
        return gw

    return start


def channel_health(gw: Gateway) -> dict[str, Any]:
    channel = next(c for c in gw.channels if c.name == "telegram")
    return dict(channel.health())


async def _ok(gw: Gateway) -> bool:
    return bool(channel_health(gw)["ok"])


async def confirmed(fake: FakeBotApi, update: dict[str, Any], timeout: float = 10.0) -> None:
    """Wait until the gateway confirmed the update to Telegram (a getUpdates with a higher offset)."""

    async def seen() -> bool:
        return any(int(c.params.get("offset") or 0) > update["update_id"] for c in fake.calls_of("getUpdates"))

    await wait_for(seen, timeout)


async def tickets(http: aiohttp.ClientSession, gw: Gateway) -> list[dict[str, Any]]:
    """Every Telegram ticket with its messages, oldest first, read through the API."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with http.get(f"{base(gw)}/v1/tickets", params={"channel": "telegram", "limit": "200"},
                        headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        listed = (await resp.json())["tickets"]
    full = []
    for item in reversed(listed):
        async with http.get(f"{base(gw)}/v1/tickets/{item['id']}", headers=headers) as resp:
            full.append(await resp.json())
    return full


async def failed_inbound(http: aiohttp.ClientSession, gw: Gateway) -> list[dict[str, Any]]:
    async with http.get(f"{base(gw)}/v1/inbound", params={"status": "failed"},
                        headers={"Authorization": f"Bearer {API_TOKEN}"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    return [i for i in body["inbound"] if i["channel"] == "telegram"]

"""Shared fixtures: a database per test on SQLite and PostgreSQL, and a real gateway on loopback."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gateway.app import Gateway
from gateway.config import Secrets, parse_config
from tests.support.postgres import PostgresServer

API_TOKEN = "test-api-token-0123456789"
PORTAL_TOKEN = "test-portal-token-0123456789"
PHONE_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TEST_SECRETS = Secrets(api_token=API_TOKEN, portal_token=PORTAL_TOKEN, phone_secret=PHONE_SECRET)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_base_url() -> Iterator[str | None]:
    """A server URL (database `postgres`), or None where PostgreSQL cannot run (never in CI)."""
    given = os.environ.get("GATEWAY_TEST_PG_URL")
    if given:
        yield given
        return
    reason = PostgresServer.available()
    if reason:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        yield None
        return
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


async def create_pg_database(base_url: str) -> str:
    url = make_url(base_url)
    name = "gw_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_base_url: str | None) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    if postgres_base_url is None:
        pytest.skip("PostgreSQL is not available here (the README's test command starts one)")
    return await create_pg_database(postgres_base_url)


def make_config(db_url: str, base_dir: Path, **sections: dict[str, Any]) -> Any:
    data: dict[str, Any] = {
        "http": {"host": "127.0.0.1", "port": 0},
        "storage": {"url": db_url, "auto_migrate": True},
        "smtp": {"enabled": False},
        "router": {"default_queue": "general"},
        "logging": {"level": "INFO"},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_config(data, base_dir=base_dir)


StartGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(db_url: str, tmp_path: Path) -> AsyncIterator[StartGateway]:
    """Start a gateway in this process, on a real loopback port; stopped after the test."""
    started: list[Gateway] = []

    async def start(secrets: Secrets = TEST_SECRETS, **sections: dict[str, Any]) -> Gateway:
        gateway = Gateway(make_config(db_url, tmp_path, **sections), secrets)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.state != "stopped":
            await gateway.stop()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> Gateway:
    return await start_gateway()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


def base(gateway: Gateway) -> str:
    return f"http://127.0.0.1:{gateway.http_port}"


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)

"""A gateway with its SMTP server on a free loopback port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.app import Gateway

RECIPIENTS = ["support@example.org", "sales@example.org", "@help.example.org"]

StartSmtp = Callable[..., Awaitable[Gateway]]


def smtp_port(gateway: Gateway) -> int:
    channel: Any = next(c for c in gateway.channels if c.name == "smtp")
    return int(channel.port)


@pytest.fixture
def start_smtp(start_gateway: Any) -> StartSmtp:
    async def start(email: dict[str, Any] | None = None, **smtp: Any) -> Gateway:
        sections: dict[str, Any] = {"smtp": {"enabled": True, "port": 0, "recipients": RECIPIENTS, **smtp}}
        if email:
            sections["email"] = email
        return await start_gateway(**sections)  # type: ignore[no-any-return]

    return start


only_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
"""For protocol-level tests whose outcome cannot depend on the database."""

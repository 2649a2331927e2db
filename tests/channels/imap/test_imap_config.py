"""Mailbox settings that cannot work are refused at start-up; reconnect delays stay bounded."""

from __future__ import annotations

import random

import pytest

from channels.imap.backoff import backoff_delay
from gateway.app import Gateway
from gateway.config import ConfigError
from tests.channels.smtp.conftest import only_sqlite
from tests.conftest import TEST_SECRETS, make_config


@only_sqlite
async def test_a_mailbox_whose_password_variable_is_unset_stops_the_start(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("GATEWAY_TEST_IMAP_UNSET", raising=False)
    box = {"name": "support", "host": "127.0.0.1", "user": "u", "password_env": "GATEWAY_TEST_IMAP_UNSET"}
    gateway = Gateway(make_config(db_url, tmp_path, imap={"mailboxes": [box]}), TEST_SECRETS)
    try:
        with pytest.raises(ConfigError) as refused:
            await gateway.start()
    finally:
        await gateway.stop()
    assert refused.value.key == "imap.mailboxes[0].password_env"
    assert "GATEWAY_TEST_IMAP_UNSET" in refused.value.message


def test_reconnect_delays_grow_exponentially_with_jitter_up_to_the_cap():
    rng = random.Random(7)
    delays = [backoff_delay(n, base=1.0, cap=30.0, rng=rng) for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(30.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered: no two alike
    assert backoff_delay(0) == 0.0
    assert backoff_delay(10_000, cap=60.0) <= 60.0

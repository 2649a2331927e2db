"""Every endpoint against requests generated from the served OpenAPI document (schemathesis).

Bodies, headers and query strings the hand-written tests would never think of
(control characters in multipart headers, odd Unicode, huge numbers, missing
and extra keys) go to a real gateway process on loopback. Whatever they are,
the answer is never a 5xx, and the gateway's log holds no traceback: bad input
gets a clear 4xx, never a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.openapi import build_openapi
from tests.conftest import API_TOKEN, PORTAL_TOKEN
from tests.support.postgres import free_port
from tests.support.process import GatewayProcess, write_config

schema = schemathesis.openapi.from_dict(build_openapi())
TOKENS = {"/v1/portal/submissions": PORTAL_TOKEN}


@pytest.fixture(scope="module")
def gateway_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    work: Path = tmp_path_factory.mktemp("fuzz")
    config = write_config(work / "gw.toml", f"sqlite+aiosqlite:///{work / 'gw.db'}", free_port())
    proc = GatewayProcess(config).start()
    yield proc
    proc.terminate()
    logs = proc.logs()
    assert "Traceback" not in logs and " ERROR " not in logs, logs[-5000:]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case, gateway_process: GatewayProcess) -> None:
    token = TOKENS.get(case.path, API_TOKEN)
    response = case.call(base_url=gateway_process.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code < 500, (case.as_curl_command(), response.status_code, response.text[:500])

"""A gateway in its own process, for tests that kill it or read its logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import API_TOKEN, PHONE_SECRET, PORTAL_TOKEN

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, db_url: str, port: int, extra: str = "") -> Path:
    path.write_text(
        f'[http]\nport = {port}\n[storage]\nurl = "{db_url}"\nauto_migrate = true\n'
        f'[smtp]\nenabled = false\n[logging]\nlevel = "DEBUG"\n{extra}',
        encoding="utf-8",
    )
    return path


class GatewayProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {
            **os.environ,
            "GATEWAY_API_TOKEN": API_TOKEN,
            "GATEWAY_PORTAL_TOKEN": PORTAL_TOKEN,
            "GATEWAY_PHONE_SECRET": PHONE_SECRET,
            **(env or {}),
        }
        self.log = config.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "--config", str(self.config), "run"],
                cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"gateway exited with {self.proc.wait()}: {self.log.read_text()[-3000:]}")
            try:
                started: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            if started.get("event") == "started":
                self.port = int(started["http_port"])
                return self
        raise RuntimeError("gateway did not start in time")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

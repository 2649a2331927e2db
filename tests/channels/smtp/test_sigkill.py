"""Every mail that got a 250 survives a SIGKILL of the gateway mid-burst, stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import API_TOKEN
from tests.support.mail import message
from tests.support.postgres import ROOT, free_port

SENDERS = 8
KILL_AFTER_ACKS = 40


class GatewayProcess:
    def __init__(self, config: Path) -> None:
        env = {**os.environ, "GATEWAY_API_TOKEN": API_TOKEN}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config), "run"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the gateway exited with {self.process.wait()} before it started")
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "started":
                self.http_port = int(event["http_port"])
                return
        raise AssertionError("the gateway did not start in time")

    def get(self, path: str) -> tuple[int, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                         headers={"Authorization": f"Bearer {API_TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def burst(port: int, acked: list[str], stop: threading.Event, worker: int) -> None:
    """Send mail over one connection until the server dies; note every Message-ID that got 250."""
    n = 0
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            n += 1
            raw, mid = message(sender=f"user{worker}-{n}@example.org", subject=f"burst {worker}-{n}")
            client.sendmail(f"user{worker}-{n}@example.org", ["support@example.org"], raw)
            acked.append(mid)  # sendmail returned: the server said 250 to DATA
    except (smtplib.SMTPException, OSError):
        pass  # the server was killed under us


def test_mail_acknowledged_before_sigkill_is_stored_exactly_once_after_restart(tmp_path: Path):
    smtp_port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[http]\nport = 0\n[storage]\nurl = "sqlite+aiosqlite:///{tmp_path / "gateway.db"}"\n'
        f'[smtp]\nport = {smtp_port}\nrecipients = ["support@example.org"]\n'
        '[portal]\nenabled = false\n[phone]\nenabled = false\n[logging]\nlevel = "WARNING"\n'
    )
    first = GatewayProcess(config)
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=burst, args=(smtp_port, acked, stop, w)) for w in range(SENDERS)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.005)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        first.stop()
    assert len(acked) >= KILL_AFTER_ACKS

    second = GatewayProcess(config)
    try:
        deadline = time.monotonic() + 30
        while second.get("/readyz")[0] != 200:
            assert time.monotonic() < deadline, "not ready after restart"
            time.sleep(0.1)
        stored: Counter[str] = Counter()
        cursor = ""
        while True:
            status, page = second.get(f"/v1/tickets?channel=email&limit=200{cursor}")
            assert status == 200, page
            for summary in page["tickets"]:
                status, ticket = second.get(f"/v1/tickets/{summary['id']}")
                assert status == 200
                stored.update(m["external_id"] for m in ticket["messages"])
            if not page["next_cursor"]:
                break
            cursor = f"&cursor={page['next_cursor']}"
    finally:
        second.stop()
    missing = [mid for mid in acked if stored[mid] == 0]
    assert not missing, f"{len(missing)} acknowledged mails were lost"
    assert not [mid for mid, count in stored.items() if count > 1], "a mail was stored twice"

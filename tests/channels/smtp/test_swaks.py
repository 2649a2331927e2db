"""Mail in from swaks (Debian's SMTP test client, a real outside sender) over loopback."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from email.header import Header
from pathlib import Path

import pytest

from tests.channels.smtp.conftest import only_sqlite, smtp_port
from tests.support.http import all_tickets, get_ticket, processed

pytestmark = pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")


async def swaks(port: int, *args: str) -> tuple[int, str]:
    """Run swaks; (exit status, transcript)."""
    process = await asyncio.create_subprocess_exec(
        "swaks", "--server", "127.0.0.1", "--port", str(port), "--helo", "swaks.example.org", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8", "replace")


def final_reply(transcript: str) -> str:
    """The server's answer to the end of DATA."""
    replies = re.findall(r"^<[~-]* +(\d{3} .*)$", transcript, re.MULTILINE)
    return replies[-2] if replies and replies[-1].startswith("221") else replies[-1]


async def test_attachments_encoded_subject_and_two_recipients(start_smtp, http, tmp_path: Path):
    gw = await start_smtp()
    report = bytes(range(256)) * 20
    (tmp_path / "report.bin").write_bytes(report)
    note = "Notiz: Störung seit Montag.\n".encode()
    (tmp_path / "notiz.txt").write_bytes(note)
    subject = Header("Drucker kaputt – Störung №42 🖨", "utf-8").encode()

    status, transcript = await swaks(
        smtp_port(gw), "--from", "kunde@example.org", "--to", "support@example.org,sales@example.org",
        "--header", f"Subject: {subject}", "--body", "Hallo,\nanbei der Bericht.",
        "--attach-type", "application/pdf", "--attach-name", "bericht.pdf", "--attach", str(tmp_path / "report.bin"),
        "--attach-type", "text/plain; charset=utf-8", "--attach", str(tmp_path / "notiz.txt"),
    )

    assert status == 0, transcript
    assert final_reply(transcript).startswith("250 2.0.0"), transcript
    [summary] = await all_tickets(http, gw, channel="email")
    ticket = await get_ticket(http, gw, summary["id"])
    assert ticket["subject"] == "Drucker kaputt – Störung №42 🖨"
    [msg] = ticket["messages"]
    assert msg["transport"] == "smtp"
    assert "anbei der Bericht" in msg["text"]
    by_name = {a["name"]: a for a in msg["attachments"]}
    assert by_name["bericht.pdf"]["sha256"] == hashlib.sha256(report).hexdigest()
    assert by_name["bericht.pdf"]["size"] == len(report)
    assert by_name["notiz.txt"]["size"] == len(note)
    await processed(gw)  # the 250 came when the mail was stored
    [row] = await gw.store.list_inbound("processed", 10)
    assert row.meta["rcpt_tos"] == ["support@example.org", "sales@example.org"]


@only_sqlite
async def test_raw_8bit_subject_without_smtputf8(start_smtp, http):
    gw = await start_smtp()
    status, transcript = await swaks(
        smtp_port(gw), "--from", "kunde@example.org", "--to", "support@example.org",
        "--h-Subject", "Roh: Störung №42", "--body", "x",
    )
    assert status == 0, transcript
    [summary] = await all_tickets(http, gw, channel="email")
    assert summary["subject"] == "Roh: Störung №42"


@only_sqlite
async def test_a_foreign_recipient_gets_550_and_nothing_is_stored(start_smtp):
    gw = await start_smtp()
    status, transcript = await swaks(
        smtp_port(gw), "--from", "spammer@evil.example", "--to", "victim@elsewhere.example", "--body", "relay me",
    )
    assert status != 0
    assert re.search(r"^<\** +550 5\.7\.1 ", transcript, re.MULTILINE), transcript
    assert await gw.store.count_by_status() == {}

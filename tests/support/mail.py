"""Building test mail and talking SMTP to the gateway with the standard library's client.

smtplib blocks, and the gateway under test runs on the test's own event loop,
so every conversation runs in a thread (`await in_thread(...)`).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid
from typing import Any, TypeVar

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


def message(
    *,
    subject: str = "Printer on floor 3 is broken",
    sender: str = "Ann Example <ann@example.org>",
    to: str = "support@example.org",
    body: str = "Hello,\nthe printer on floor 3 prints blank pages.\nAnn\n",
    message_id: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    headers: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    """(raw bytes with CRLF line ends, Message-ID without brackets)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    mid = message_id or make_msgid(idstring=uuid.uuid4().hex[:8], domain="example.org")
    msg["Message-ID"] = mid
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP_POLICY), mid.strip("<>")


def stored_id(reply: str) -> int:
    """The inbound record id out of the gateway's 250 reply."""
    match = re.search(r"stored as (\d+)", reply)
    assert match, reply
    return int(match.group(1))


class Conversation:
    """One SMTP session; every call returns (code, text) as the server answered."""

    def __init__(self, port: int, host: str = "127.0.0.1", helo: str = "client.example.org") -> None:
        self.client = smtplib.SMTP(host, port, local_hostname=helo, timeout=30)
        self.client.ehlo()

    @property
    def features(self) -> dict[str, str]:
        return dict(self.client.esmtp_features)

    def mail(self, sender: str, options: tuple[str, ...] = ()) -> tuple[int, str]:
        code, text = self.client.mail(sender, list(options))
        return code, text.decode()

    def rcpt(self, to: str) -> tuple[int, str]:
        code, text = self.client.rcpt(to)
        return code, text.decode()

    def data(self, raw: bytes) -> tuple[int, str]:
        """DATA with the bytes sent exactly as given (smtplib's data() would fix line ends)."""
        self.client.putcmd("data")
        code, text = self.client.getreply()
        if code != 354:
            return code, text.decode()
        stuffed = re.sub(rb"(?m)^\.", b"..", raw)
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        self.client.send(stuffed + b".\r\n")
        code, text = self.client.getreply()
        return code, text.decode()

    def command(self, line: str) -> tuple[int, str]:
        self.client.putcmd(line)
        code, text = self.client.getreply()
        return code, text.decode()

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> list[tuple[int, str]]:
        """MAIL, each RCPT, then DATA if any recipient was taken; every reply in order."""
        replies = [self.mail(sender)]
        replies += [self.rcpt(to) for to in recipients]
        if any(code == 250 for code, _ in replies[1:]):
            replies.append(self.data(raw))
        else:
            self.command("RSET")
        return replies

    def close(self) -> None:
        try:
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            self.client.close()


def send_one(port: int, raw: bytes, sender: str = "ann@example.org",
             recipients: list[str] | None = None) -> list[tuple[int, str]]:
    conversation = Conversation(port)
    try:
        return conversation.send(raw, sender, recipients or ["support@example.org"])
    finally:
        conversation.close()

"""Mail the gateway sends: header hygiene, rendering, and one SMTP submission.

The runtime's `email` package (CPython 3.11.7) predates the fixes for header
injection on serialization (CVE-2024-6923, CVE-2026-1299), so nothing taken
from a message ever reaches a header with a CR, LF or other control
character in it: `clean_header` folds every such run to one space, and
`render` parses its own output back and refuses a message whose header
names are not exactly the ones it set.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser

from router.destinations.base import DeliveryError

CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
PLAIN_ADDRESS = re.compile(r"^[^@\s<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}$")
HEADER_CHARS = 900


class HeaderInjectionError(ValueError):
    """A rendered message has headers it was not given: something slipped past cleaning."""


def clean_header(value: object, limit: int = HEADER_CHARS) -> str:
    """One line of text, safe as a header value."""
    return CONTROL.sub(" ", str(value)).strip()[:limit]


def plain_address(value: object) -> str | None:
    """`user@example.org` when `value` is exactly one such address, else None."""
    text = str(value or "").strip()
    return text if PLAIN_ADDRESS.match(text) and not CONTROL.search(text) else None


def message_id(local: str, domain: str) -> str:
    """A Message-ID (without angle brackets) under the gateway's own domain."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '-', local)}@{domain}"


def render(message: EmailMessage) -> bytes:
    data = message.as_bytes(policy=policy.SMTP)
    expected = sorted(name.lower() for name in message)
    head = BytesHeaderParser(policy=policy.compat32).parsebytes(data)
    if sorted(name.lower() for name in head) != expected:
        raise HeaderInjectionError("the rendered message has headers that were not set")
    return data


def prepend_headers(raw: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    """The original message, byte for byte, under some headers of ours (as a relay adds Received:)."""
    if b"\r\n" not in raw[:4096]:
        raw = raw.replace(b"\n", b"\r\n")
    lines = b"".join(f"{name}: {clean_header(value)}\r\n".encode() for name, value in headers)
    return lines + raw


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    tls: str = "none"  # none | starttls | tls
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 10.0


async def submit(settings: SmtpSettings, sender: str, recipients: Sequence[str], data: bytes) -> None:
    """Hand one message to the relay; DeliveryError (permanent for a 5xx) when it is not taken."""
    await asyncio.to_thread(_submit, settings, sender, list(recipients), data)


def _submit(settings: SmtpSettings, sender: str, recipients: list[str], data: bytes) -> None:
    where = f"smtp://{settings.host}:{settings.port}"
    try:
        client: smtplib.SMTP
        if settings.tls == "tls":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with client:
            if settings.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.username:
                client.login(settings.username, settings.password)
            refused = client.sendmail(sender, recipients, data)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryError(f"{where} refused every recipient: {codes}",
                            permanent=all(code >= 500 for code in codes)) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryError(f"{where} answered {exc.smtp_code} {clean_header(text, 200)}",
                            permanent=exc.smtp_code >= 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {clean_header(exc, 200)}") from None
    if refused:
        raise DeliveryError(f"{where} refused {sorted(refused)}")

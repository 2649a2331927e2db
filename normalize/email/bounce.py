"""Delivery failure reports: recognise them and find what bounced, and to whom.

A bounce answers mail the gateway sent (an acknowledgement, a forward), so
it belongs to that mail's ticket, never to a new one. Recognised:
* RFC 3464 DSNs: `multipart/report; report-type=delivery-status`, or any
  `message/delivery-status` part (Postfix, Exim, Sendmail, Exchange,
  Gmail all send these);
* Exchange NDRs flagged with `X-MS-Exchange-Message-Is-Ndr`;
* plain-text bounces (qmail, older Exim and Exchange): a mailer-daemon or
  postmaster sender, or a null return path, with a bounce subject.

The bounced message's Message-ID comes from the attached `message/rfc822`
or `text/rfc822-headers` part, or from a "Message-ID:" line in the copy of
the original that plain-text bounces quote. flufl.bounce (Mailman's
detectors) was considered; it walks parts recursively and expects the legacy
`Message` API, so the few formats seen here are read directly instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from normalize.email.charset import decode_text
from normalize.email.parse import HeaderView, decode_unstructured, parse_header_block
from normalize.email.parts import Leaf, payload_bytes
from normalize.email.threading_keys import message_id_value
from normalize.sanitize import clean_header_value

MAX_RECIPIENTS = 100
MAX_SCANNED_CHARS = 200_000

_DAEMON_SENDER = re.compile(
    r"(?:^|[\s<\"'(])(?:mailer-daemon|mailerdaemon|mail-daemon|postmaster|microsoftexchange[0-9a-f]*)"
    r"(?:@|\s|>|$)",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|delivery status notification|delivery failure"
    r"|delivery has failed|mail delivery failed|failure notice|not delivered|delivery problem"
    r"|unzustellbar|nicht zustellbar|kézbesíthetetlen|nem kézbesíthető|tidak terkirim"
    r"|tidak dapat dikirim|не доставлено|недоставленное|non remis|no se puede entregar",
    re.IGNORECASE,
)
_ORIGINAL_COPY = re.compile(
    r"below this line is a copy of the message|this is a copy of the message"
    r"|original message (?:follows|headers)|message headers follow|undelivered message headers"
    r"|included is a copy of the message header",
    re.IGNORECASE,
)
_ANGLE_RECIPIENT = re.compile(r"^<([^<>\s]+@[^<>\s]+)>:", re.MULTILINE)
_DSN_RECIPIENT = re.compile(r"^\s*(?:final|original)-recipient:\s*[^;\n]*;\s*<?([^<>\s]+@[^<>\s]+?)>?\s*$",
                            re.IGNORECASE | re.MULTILINE)  # fmt: skip
_EXIM_FAILED = re.compile(r"following address(?:\(es\)|es)? failed:", re.IGNORECASE)
_EXCHANGE_TO = re.compile(r"your message to (\S+@[^\s,;]+) couldn'?t be delivered", re.IGNORECASE)
_EXCHANGE_LIST = re.compile(r"delivery has failed to these recipients or groups:\s*\n\s*([^\n]+)", re.IGNORECASE)
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+\.[A-Za-z0-9-]+")
_MESSAGE_ID_LINE = re.compile(r"^[ \t]*message-id:[ \t]*(\S[^\n]*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class BounceReport:
    reason: str
    recipients: tuple[str, ...]
    message_ids: tuple[str, ...]


def detect_bounce(
    root: Message,
    headers: HeaderView,
    subject: str,
    mail_from: str | None,
    leaves: tuple[Leaf, ...],
    body_text: str,
    own_message_id: str | None,
    report_type: str | None,
) -> BounceReport | None:
    """`report_type` is `report_type_of(root)`."""
    reason = _bounce_reason(report_type, headers, subject, mail_from, leaves)
    if reason is None:
        return None
    report_text, original_text = _split_at_original(body_text[:MAX_SCANNED_CHARS])
    recipients = _dsn_recipients(leaves)
    if recipients is None:  # no machine-readable report: read the text
        recipients = _text_recipients(report_text)
    ids = _attached_message_ids(leaves) + _quoted_message_ids(original_text)
    ids = [i for i in dict.fromkeys(ids) if i != own_message_id]
    return BounceReport(reason, tuple(dict.fromkeys(recipients))[:MAX_RECIPIENTS], tuple(ids))


def _bounce_reason(
    report_type: str | None, headers: HeaderView, subject: str, mail_from: str | None, leaves: tuple[Leaf, ...]
) -> str | None:
    if report_type == "delivery-status":
        return "multipart/report; report-type=delivery-status"
    if any(leaf.content_type == "message/delivery-status" for leaf in leaves):
        return "message/delivery-status part"
    if headers.has("X-MS-Exchange-Message-Is-Ndr"):
        return "X-MS-Exchange-Message-Is-Ndr"
    sender = decode_unstructured(headers.raw("From") or "")
    daemon = bool(_DAEMON_SENDER.search(sender)) or (mail_from is not None and not mail_from.strip("<> "))
    if daemon and _BOUNCE_SUBJECT.search(subject):
        who = "null reverse path" if not _DAEMON_SENDER.search(sender) else "mailer-daemon sender"
        return f"{who} with bounce subject: {subject[:80]}"
    return None


def _split_at_original(text: str) -> tuple[str, str]:
    """The report part of a plain-text bounce, and the quoted original below it."""
    match = _ORIGINAL_COPY.search(text)
    if not match:
        return text, text
    line_start = text.rfind("\n", 0, match.start()) + 1
    line_end = text.find("\n", match.end())
    return text[:line_start], text[line_end:] if line_end >= 0 else ""


def _dsn_recipients(leaves: tuple[Leaf, ...]) -> list[str] | None:
    """Failed recipients of the message/delivery-status parts (all, if no Action is given).

    None when there is no such part; a delay notice yields an empty list.
    """
    status_parts = [leaf.part for leaf in leaves if leaf.content_type == "message/delivery-status"]
    if not status_parts:
        return None
    failed: list[str] = []
    listed: list[str] = []
    saw_action = False
    for part in status_parts:
        for block in _status_blocks(part):
            view = HeaderView(block)
            recipient = _dsn_address(view.text("Final-Recipient") or view.text("Original-Recipient"))
            if recipient is None:
                continue
            listed.append(recipient)
            action = (view.text("Action") or "").lower()
            saw_action = saw_action or bool(action)
            if action.startswith("failed"):
                failed.append(recipient)
    return failed if saw_action else listed  # a delay notice names no failed recipient


def _status_blocks(part: Message) -> list[Message]:
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = decode_text(payload_bytes(part), "utf-8").text
    return [_parse_header_text(chunk.encode("utf-8", "replace")) for chunk in re.split(r"\n\s*\n", text)]


def _dsn_address(value: str | None) -> str | None:
    """`rfc822; user@example.org` to `user@example.org`, domain in lower case."""
    if not value:
        return None
    address = value.rpartition(";")[2].strip().strip("<>").strip()
    if "@" not in address or any(ch.isspace() for ch in address):
        return None
    local, _, domain = address.rpartition("@")
    return clean_header_value(f"{local}@{domain.lower()}")


def _text_recipients(text: str) -> list[str]:
    found: list[str] = []
    found.extend(_ANGLE_RECIPIENT.findall(text))
    found.extend(_DSN_RECIPIENT.findall(text))
    for match in _EXIM_FAILED.finditer(text):
        found.extend(_indented_addresses(text[match.end() : match.end() + 4000]))
    found.extend(_EXCHANGE_TO.findall(text))
    for line in _EXCHANGE_LIST.findall(text):
        found.extend(_ADDRESS.findall(line)[:1])
    return [a for a in (_dsn_address(item.strip(".")) for item in found) if a]


def _indented_addresses(text: str) -> list[str]:
    """Exim lists failed addresses one per line, indented, up to a blank line."""
    found: list[str] = []
    for line in text.split("\n")[1:]:
        if not line.strip():
            if found:
                break
            continue
        addresses = _ADDRESS.findall(line)
        if not addresses:
            break
        found.append(addresses[0])
    return found


def _attached_message_ids(leaves: tuple[Leaf, ...]) -> list[str]:
    """Message-IDs of the original in message/rfc822 or *rfc822-headers parts."""
    ids: list[str] = []
    for leaf in leaves:
        original: Message | None = None
        if leaf.content_type in ("message/rfc822", "message/global"):
            original = _inner_message(leaf.part)
        elif leaf.content_type in ("text/rfc822-headers", "message/rfc822-headers", "message/global-headers"):
            original = _parse_header_text(payload_bytes(leaf.part))
        if original is None:
            continue
        value = message_id_value(HeaderView(original).raw("Message-ID"))
        if value:
            ids.append(value)
    return ids


def _inner_message(part: Message) -> Message | None:
    try:
        payload = part.get_payload()
    except Exception:
        return None
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        return _parse_header_text(payload_bytes(part))
    return None


def _parse_header_text(data: bytes) -> Message:
    return parse_header_block(data.lstrip(b"\r\n"))


def _quoted_message_ids(original_text: str) -> list[str]:
    ids = [message_id_value(m) for m in _MESSAGE_ID_LINE.findall(original_text)]
    return [i for i in ids if i]

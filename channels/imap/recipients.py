"""The envelope recipients of a mail fetched over IMAP, read from its headers.

SMTP gives the gateway the RCPT TO addresses; IMAP gives only the stored
message. The delivering server usually records the envelope recipient in a
header: `Delivered-To` (Postfix, Dovecot LDA, Exim, Gmail) or `X-Original-To`
(Postfix, before alias expansion). When either is present, its addresses are
the recipients; otherwise (or when they hold no usable address) the
addressed recipients, `To` and `Cc`, stand in for them (`Bcc` is not in delivered mail). The result goes in the record's
`meta["rcpt_tos"]`, the field the SMTP channel fills, so a router rule with
`when.recipient` matches either transport the same way.

Only the header block is read (at most `MAX_HEADER_BYTES`), decoded as
UTF-8 with replacement, so no input can raise or put undecodable text into
the stored record; an address that does not look like `local@domain` is
dropped.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import Parser
from email.policy import compat32
from email.utils import getaddresses

MAX_HEADER_BYTES = 256 * 1024
MAX_RECIPIENTS = 100  # as many as the SMTP channel accepts per message by default
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To")
ADDRESSED_HEADERS = ("To", "Cc")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+$")


def header_block(raw: bytes) -> bytes:
    """The message's header block (up to the first empty line), at most MAX_HEADER_BYTES."""
    head = raw[:MAX_HEADER_BYTES]
    match = _BLANK_LINE.search(head)
    return head[: match.start()] if match else head


def envelope_recipients(raw: bytes) -> list[str]:
    """Delivered-To and X-Original-To addresses when there are any, else To and Cc; unique, in order."""
    try:
        headers = Parser(policy=compat32).parsestr(header_block(raw).decode("utf-8", "replace"), headersonly=True)
    except Exception:  # the parser is lenient; this is the last line of defence for a malformed block
        return []
    for names in (ENVELOPE_HEADERS, ADDRESSED_HEADERS):
        found = _addresses(headers, names)
        if found:
            return found
    return []


def _addresses(headers: Message, names: tuple[str, ...]) -> list[str]:
    values: list[str] = []
    for name in names:
        try:
            values += [str(v) for v in headers.get_all(name) or ()]
        except Exception:  # a header object that cannot be shown as text: no address in it
            continue
    try:
        pairs = getaddresses(values)
    except Exception:
        return []
    seen: dict[str, str] = {}
    for _name, address in pairs:
        address = address.strip()
        if _ADDRESS.match(address) and "\ufffd" not in address and address.isprintable():
            seen.setdefault(address.casefold(), address)
            if len(seen) >= MAX_RECIPIENTS:
                break
    return list(seen.values())

"""The SMTP replies the adapter gives, by name.

Every refusal is a named constant so tests and logs compare meanings, not
strings. A 4xx asks the sending server to keep the mail and retry; a 5xx makes
it bounce the mail to its author, so 5xx is only for mail that can never be
taken (a foreign recipient, a smuggling-shaped body), never for our faults.
"""

from __future__ import annotations

RCPT_OK = "250 2.1.5 OK"
UNKNOWN_USER = "550 5.1.1 Recipient address rejected: user unknown"
RELAY_DENIED = "550 5.7.1 Relay access denied"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
BARE_LF = "550 5.5.2 Message refused: bare <LF> line ending (lines must end with CRLF)"
TEMPORARY_FAILURE = "451 4.3.0 Temporary failure, please try again later"
OVERLOADED = "451 4.3.0 Too busy right now, please try again later"
SHUTTING_DOWN = "451 4.3.0 Restarting, please try again later"
TOO_MANY_SESSIONS = "421 4.7.0 Too many connections from your address, try again later"
CLOSING = "421 4.3.2 Service shutting down, try again later"
AUTH_LOCKED = "421 4.7.0 Too many failed authentication attempts from your address, try again later"


def stored(inbound_id: int, duplicate: bool) -> str:
    """The 250 that hands responsibility for the mail to us (RFC 5321 §6.1)."""
    if duplicate:
        return f"250 2.0.0 OK already stored as {inbound_id}"
    return f"250 2.0.0 OK stored as {inbound_id}"

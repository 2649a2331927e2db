"""Optional SMTP AUTH (PLAIN, LOGIN) against users given in the environment.

aiosmtpd offers AUTH only after STARTTLS (`auth_require_tls`), so a password
never crosses the wire in clear. Passwords are compared in constant time and
never logged. An authenticated user becomes the record's principal.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

log = logging.getLogger("gateway.channels.smtp")


class AuthConfigError(ValueError):
    """The users variable is not `user:password[,user:password...]`."""


def parse_users(text: str) -> dict[str, str]:
    """`"ann:pw1,bob:pw2"` to {"ann": "pw1", "bob": "pw2"}; the password may contain ':'."""
    users: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise AuthConfigError("each entry must be user:password")
        users[user] = password
    return users


class Authenticator:
    """The `authenticator` callable aiosmtpd asks for each AUTH attempt."""

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {u.encode(): p.encode() for u, p in users.items()}

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        expected = self._users.get(auth_data.login)
        # Compare against something even for an unknown user, so timing tells nothing.
        ok = hmac.compare_digest(auth_data.password, expected or b"\x00" * 32) and expected is not None
        if not ok:
            log.info("smtp AUTH %s failed for a user from %s", mechanism, _peer(session))
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data)


def _peer(session: Any) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)

"""Optional SMTP AUTH (PLAIN, LOGIN) against users given in the environment.

aiosmtpd offers AUTH only after STARTTLS (`auth_require_tls`), so a password
never crosses the wire in clear. Passwords are compared in constant time and
never logged. An authenticated user becomes the record's principal.

With an `AuthLockout`, every wrong password counts against the client's
address; the failure that reaches the limit, and any attempt while the
address is locked out (even with the right password, so guessing on cannot
tell a hit from a miss), is answered `421 4.7.0`, and the protocol closes the
connection.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from channels.smtp import replies
from channels.smtp.lockout import AuthLockout

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

    def __init__(self, users: dict[str, str], lockout: AuthLockout | None = None,
                 on_lockout: Callable[[str], None] | None = None) -> None:
        self._users = {u.encode(): p.encode() for u, p in users.items()}
        self._lockout = lockout
        self._on_lockout = on_lockout or (lambda _client: None)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        client = _peer(session)
        if self._lockout is not None and self._lockout.locked(client):
            # Locked out meanwhile (by another session): the password is not even looked at.
            return AuthResult(success=False, handled=False, message=replies.AUTH_LOCKED)
        expected = self._users.get(auth_data.login)
        # Compare against something even for an unknown user, so timing tells nothing.
        ok = hmac.compare_digest(auth_data.password, expected or b"\x00" * 32) and expected is not None
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        log.info("smtp AUTH %s failed for a user from %s", mechanism, client)
        if self._lockout is not None and self._lockout.failure(client):
            lockout = self._lockout
            log.warning("smtp AUTH: %s locked out for %.0f s after %d failed attempts within %.0f s",
                        client, lockout.lockout_s, lockout.max_failures, lockout.window_s)
            self._on_lockout(client)
            return AuthResult(success=False, handled=False, message=replies.AUTH_LOCKED)
        return AuthResult(success=False, handled=False)


def _peer(session: Any) -> str:
    peer = getattr(session, "peer", None)
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)

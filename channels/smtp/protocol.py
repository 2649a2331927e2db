"""aiosmtpd's SMTP protocol with the gateway's session rules.

Three things aiosmtpd does not do the way a mail intake must:

* Long lines. aiosmtpd refuses DATA lines over RFC 5321's 1000 octets, but
  real mail has longer ones (generated HTML) and real servers take it. The
  limit is raised per instance (`line_length_limit` is read in `__init__`
  to size the stream reader).
* Sessions per client. Counted per peer address in a registry the server
  owns; one more than allowed is answered 421 at the greeting and closed.
* Command limits. `command_size_limits` is a class-level dict in aiosmtpd
  that every EHLO grows; each instance gets its own here.

The per-command call limit (`command_call_limit`, 421 when exceeded) is
aiosmtpd's own and is set by the server. It bounds AUTH per session; the
per-address lockout (`channels.smtp.lockout`) bounds it across sessions: a
locked-out address gets 421 at the greeting and on AUTH, and is closed.

One cost too: aiosmtpd's `_getaddr` (every MAIL and RCPT) defines a typing
Protocol class on each call, a tenth of a session's CPU; the override below
does the same parse without it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
from typing import Any

from aiosmtpd.smtp import SMTP, syntax

from channels.smtp import replies
from channels.smtp.lockout import AuthLockout


class SessionRegistry:
    """Open sessions, per client address and in all; owned by one server."""

    def __init__(self, per_client: int) -> None:
        self._per_client = per_client
        self._by_client: collections.Counter[str] = collections.Counter()
        self.open: set[GatewaySMTP] = set()

    def enter(self, client: str, session: GatewaySMTP) -> bool:
        if self._by_client[client] >= self._per_client:
            return False
        self._by_client[client] += 1
        self.open.add(session)
        return True

    def leave(self, client: str, session: GatewaySMTP) -> None:
        if session in self.open:
            self.open.discard(session)
            self._by_client[client] -= 1
            if self._by_client[client] <= 0:
                del self._by_client[client]

    def __len__(self) -> int:
        return len(self.open)


class GatewaySMTP(SMTP):
    def __init__(self, handler: Any, *, sessions: SessionRegistry, line_length_limit: int,
                 lockout: AuthLockout | None = None, on_locked: Callable[[], None] | None = None,
                 **kwargs: Any) -> None:
        self.line_length_limit = max(line_length_limit, SMTP.line_length_limit)
        super().__init__(handler, **kwargs)
        self.command_size_limits = collections.defaultdict(lambda: SMTP.command_size_limit)
        self._sessions = sessions
        self._lockout = lockout
        self._on_locked = on_locked or (lambda: None)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parse of a MAIL or RCPT argument, the same results (None, None when invalid)."""
        if not arg:
            return "", ""
        try:
            address, rest = get_angle_addr(arg) if arg.lstrip().startswith("<") else get_addr_spec(arg)
        except HeaderParseError:
            return None, None
        addr = address.addr_spec
        if self.local_part_limit and len(addr.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return addr, rest

    def client_address(self) -> str:
        peer = self.session.peer if self.session is not None else None
        if isinstance(peer, tuple) and peer:
            return str(peer[0])
        return str(peer)

    def _locked_out(self) -> bool:
        return self._lockout is not None and self._lockout.locked(self.client_address())

    async def _refuse_locked(self) -> None:
        """421 and close: the client's address is locked out for failed AUTH attempts."""
        self._on_locked()
        await self.push(replies.AUTH_LOCKED)
        if self.transport is not None:
            self.transport.close()

    @syntax("AUTH <mechanism>")  # as aiosmtpd's own, so HELP still lists it
    async def smtp_AUTH(self, arg: str) -> None:
        if self._locked_out():
            await self._refuse_locked()
            return
        await super().smtp_AUTH(arg)
        # The attempt that reached the limit was answered 421 by the authenticator: close.
        session = self.session
        if session is not None and not session.authenticated and self._locked_out() and self.transport is not None:
            self.transport.close()

    async def _handle_client(self) -> None:
        client = self.client_address()
        if self._locked_out():
            await self._refuse_locked()
            return
        if not self._sessions.enter(client, self):
            await self.push(replies.TOO_MANY_SESSIONS)
            if self.transport is not None:
                self.transport.close()
            return
        try:
            await super()._handle_client()
        finally:
            self._sessions.leave(client, self)

    def close_now(self, reply: str | None = None) -> None:
        """Say `reply` (when given) and drop the connection; used on shutdown."""
        transport = self.transport
        if transport is None:
            return
        if reply is not None and isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            transport.write(reply.encode("ascii") + b"\r\n")
        transport.close()

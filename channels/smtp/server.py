"""The SMTP channel: aiosmtpd served on the gateway's own event loop.

`loop.create_server(lambda: SMTP(...))` rather than aiosmtpd's threaded
`Controller`: the handler awaits the intake, whose database connections
belong to this loop. Stopping closes the listener first, lets mail whose
commit is under way get its answer, then closes the remaining sessions with
a 421 so their senders retry later.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable

from channels.smtp import replies
from channels.smtp.auth import Authenticator
from channels.smtp.handler import EventCounter, IntakeHandler
from channels.smtp.lockout import AuthLockout
from channels.smtp.protocol import GatewaySMTP, SessionRegistry
from channels.smtp.recipients import RecipientPolicy
from gateway.config import SmtpConfig
from normalize.raw import Intake

log = logging.getLogger("gateway.channels.smtp")

IDENT = "ESMTP ticket intake"
DRAIN_SECONDS = 10.0  # how long stop() lets commits under way finish and answer
JUNK_COMMANDS = ("NOOP", "VRFY", "EXPN", "HELP")
JUNK_LIMIT = 100  # as Postfix's smtpd_junk_command_limit
AUTH_ATTEMPTS = 5


class SmtpChannel:
    """The `[smtp]` section as a running server; a gateway channel."""

    name = "smtp"

    def __init__(
        self,
        config: SmtpConfig,
        intake: Intake,
        external_id: Callable[[bytes], str],
        *,
        tls_context: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        events: EventCounter | None = None,
        hostname: str | None = None,
    ) -> None:
        self._config = config
        self._tls = tls_context
        self._events = events or (lambda _channel, _event: None)
        self.lockout = AuthLockout(config.auth_max_failures, config.auth_failure_window_s, config.auth_lockout_s)
        self._authenticator = Authenticator(
            users, self.lockout, on_lockout=lambda _client: self._events("email", "smtp_auth_lockout"),
        ) if users else None
        self._hostname = hostname or socket.gethostname()
        self.handler = IntakeHandler(
            intake, RecipientPolicy(config.recipients), external_id,
            max_recipients=config.max_recipients, events=events,
        )
        self._sessions = SessionRegistry(config.max_sessions_per_client)
        limits: dict[str, int] = {"*": config.max_commands_per_session, "AUTH": AUTH_ATTEMPTS}
        for command in JUNK_COMMANDS:
            limits[command] = min(JUNK_LIMIT, config.max_commands_per_session)
        self._call_limits = limits
        self._server: asyncio.base_events.Server | None = None
        self.port: int | None = None

    def _protocol(self) -> GatewaySMTP:
        cfg = self._config
        return GatewaySMTP(
            self.handler,
            sessions=self._sessions,
            line_length_limit=cfg.max_line_bytes,
            lockout=self.lockout if self._authenticator else None,
            on_locked=lambda: self._events("email", "smtp_auth_locked_out"),
            data_size_limit=cfg.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self._hostname,
            ident=IDENT,
            tls_context=self._tls,
            timeout=cfg.timeout_s,
            auth_require_tls=True,
            authenticator=self._authenticator,
            auth_exclude_mechanism=() if self._authenticator else ("LOGIN", "PLAIN"),
            command_call_limit=self._call_limits,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, self._config.host, self._config.port, reuse_address=True,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("smtp listening on %s:%s (TLS %s, AUTH %s)", self._config.host, self.port,
                 "on" if self._tls else "off", "on" if self._authenticator else "off")

    async def stop(self) -> None:
        self.handler.closing = True
        if self._server is None:
            return
        self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while self.handler.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for session in list(self._sessions.open):
            session.close_now(replies.CLOSING)
        await self._server.wait_closed()
        self._server = None

    def health(self) -> dict[str, object]:
        serving = self._server is not None and self._server.is_serving()
        return {
            "ok": serving,
            "port": self.port,
            "sessions": len(self._sessions),
            "accepted": self.handler.accepted,
            "auth_tracked_clients": len(self.lockout),
        }

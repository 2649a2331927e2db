"""A real Dovecot for the IMAP tests, a fresh mail user per test, and a gateway polling it."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from gateway.app import Gateway
from tests.support.certs import make_certificate
from tests.support.dovecot import DovecotServer

USERS = 40
PASSWORD_ENV = "GATEWAY_TEST_IMAP_PASSWORD"


@dataclass(frozen=True)
class Account:
    server: DovecotServer
    user: str
    password: str
    cert: Path

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.server.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def capabilities(self) -> set[bytes]:
        with self.client() as client:
            return set(client.capabilities())

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple[bytes, ...] = ()) -> None:
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=flags)

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID -> flags of every message in the folder (read-only: nothing changes)."""
        with self.client() as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            return {uid: tuple(data[b"FLAGS"]) for uid, data in client.fetch(uids, ["FLAGS"]).items()}

    def recreate(self, folder: str) -> tuple[int, int]:
        """Delete the folder and put its mail back into a new one: (old, new) UIDVALIDITY."""
        with self.client() as client:
            old = client.select_folder(folder)[b"UIDVALIDITY"]
            uids = client.search(["ALL"])
            mails = [d[b"BODY[]"] for _, d in sorted(client.fetch(uids, ["BODY.PEEK[]"]).items())] if uids else []
            client.close_folder()
            client.delete_folder(folder)
            client.create_folder(folder)
            for raw in mails:
                client.append(folder, raw)
            new = client.select_folder(folder, readonly=True)[b"UIDVALIDITY"]
        return int(old), int(new)


class AccountPool:
    def __init__(self, server: DovecotServer, cert: Path) -> None:
        self._server = server
        self._cert = cert
        self._numbers = itertools.count(1)

    def take(self, server: DovecotServer | None = None) -> Account:
        n = next(self._numbers)
        assert n <= USERS, "raise USERS in tests/channels/imap/conftest.py"
        return Account(server or self._server, f"user{n:02d}", f"pw-{n:02d}", self._cert)


def add_users(server: DovecotServer) -> None:
    for n in range(1, USERS + 1):
        server.add_user(f"user{n:02d}", f"pw-{n:02d}")


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DovecotServer, Path]]:
    reason = DovecotServer.available()
    if reason:
        pytest.skip(reason)
    cert, key = make_certificate(tmp_path_factory.mktemp("imap-tls"))
    server = DovecotServer(tls_cert=cert, tls_key=key)
    add_users(server)
    server.start()
    try:
        yield server, cert
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def accounts(dovecot: tuple[DovecotServer, Path]) -> AccountPool:
    return AccountPool(*dovecot)


@pytest.fixture
def account(accounts: AccountPool) -> Account:
    return accounts.take()


StartPolling = Callable[..., Awaitable[Gateway]]


def mailbox_config(account: Account, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "support", "host": "127.0.0.1", "port": account.server.port, "tls": False,
        "user": account.user, "password_env": PASSWORD_ENV, "folder": "INBOX",
        "reconnect_max_s": 1.0, "timeout_s": 10.0,
        # The server offers STARTTLS, so even the plain port is upgraded and checked.
        "ca_file": str(account.cert) if account.server.tls_port else "", **overrides,
    }


@pytest.fixture
def start_polling(start_gateway: Any, monkeypatch: pytest.MonkeyPatch) -> StartPolling:
    """A gateway polling one mailbox of `account` (SMTP off)."""

    async def start(account: Account, **overrides: Any) -> Gateway:
        monkeypatch.setenv(PASSWORD_ENV, account.password)
        return await start_gateway(imap={"mailboxes": [mailbox_config(account, **overrides)]})  # type: ignore[no-any-return]

    return start


def poller(gateway: Gateway) -> Any:
    return next(c for c in gateway.channels if c.name == "imap:support")

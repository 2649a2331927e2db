"""Per-address lockout after failed AUTH attempts, over real STARTTLS sessions with smtplib."""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
import ssl
from pathlib import Path

import pytest

from channels.smtp.lockout import AuthLockout
from gateway.cli import main as cli_main
from gateway.config import ConfigError, SmtpConfig, load_config, parse_config
from tests.channels.smtp.conftest import only_sqlite, smtp_port
from tests.support.certs import make_certificate
from tests.support.http import processed
from tests.support.mail import in_thread, message

USERS_ENV = "GATEWAY_TEST_SMTP_USERS"
RIGHT = "r1ght-Passw0rd"
WRONG = [f"guess-{n}-Xq" for n in range(6)]


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


class Client:
    """One smtplib session from `source` (any 127/8 address is loopback), upgraded with STARTTLS."""

    def __init__(self, port: int, cert: Path, source: str = "127.0.0.1", tls: bool = True) -> None:
        self.smtp = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0))
        self.smtp.ehlo()
        if tls:
            self.smtp.starttls(context=ssl.create_default_context(cafile=str(cert)))
            self.smtp.ehlo()

    def auth(self, password: str, user: str = "scanner") -> int:
        """One AUTH PLAIN attempt (smtplib's login() would try LOGIN after PLAIN): the reply code."""
        return self.smtp.docmd("AUTH", "PLAIN " + plain(user, password))[0]

    def closed_by_server(self) -> bool:
        try:
            self.smtp.noop()
        except smtplib.SMTPServerDisconnected:
            return True
        return False

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()


def greeting_code(port: int, source: str = "127.0.0.1") -> int:
    """The code of the server's greeting to a new connection from `source`."""
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0))
    except smtplib.SMTPConnectError as exc:
        return exc.smtp_code
    client.quit()
    return 220


def events(gw, event: str) -> int:
    value = gw.metrics.registry.get_sample_value("gateway_channel_events_total", {"channel": "email", "event": event})
    return int(value or 0)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path)


@pytest.fixture
async def locking_gateway(start_smtp, tls_files, monkeypatch):
    cert, key = tls_files
    monkeypatch.setenv(USERS_ENV, f"scanner:{RIGHT},ann:other-pw")

    async def start(**limits: float):
        settings = {"auth_max_failures": 3, "auth_failure_window_s": 600.0, "auth_lockout_s": 1.5, **limits}
        return await start_smtp(tls_cert=str(cert), tls_key=str(key), auth_users_env=USERS_ENV, **settings)

    return start


@only_sqlite
async def test_wrong_passwords_lock_the_address_out_then_the_right_one_works_after_the_period(
        locking_gateway, tls_files, caplog):
    caplog.set_level(logging.DEBUG)
    gw = await locking_gateway()
    port, cert = smtp_port(gw), tls_files[0]
    raw, _ = message()

    def until_locked() -> dict[str, object]:
        seen: dict[str, object] = {}
        bystander = Client(port, cert)  # opened before the lockout, same address
        guesser = Client(port, cert)
        seen["guesses"] = [guesser.auth(WRONG[0]), guesser.auth(WRONG[1]), guesser.auth(WRONG[2])]
        seen["guesser_closed"] = guesser.closed_by_server()
        seen["right_while_locked"] = bystander.auth(RIGHT)
        seen["bystander_closed"] = bystander.closed_by_server()
        seen["new_connection"] = greeting_code(port)
        guesser.close()
        bystander.close()
        return seen

    seen = await in_thread(until_locked)
    assert seen["guesses"] == [535, 535, 421]
    assert seen["guesser_closed"] is True
    assert seen["right_while_locked"] == 421  # even the right password, so guessing on tells nothing
    assert seen["bystander_closed"] is True
    assert seen["new_connection"] == 421
    assert events(gw, "smtp_auth_lockout") == 1
    assert events(gw, "smtp_auth_locked_out") >= 2

    await asyncio.sleep(1.6)  # the lockout period is over

    def after() -> dict[str, object]:
        client = Client(port, cert)
        try:
            code = client.auth(RIGHT)
            return {"auth": code, "send": client.smtp.sendmail("ann@example.org", ["support@example.org"], raw)}
        finally:
            client.close()

    seen = await in_thread(after)
    assert seen == {"auth": 235, "send": {}}
    await processed(gw)
    [row] = await gw.store.list_inbound("processed", 10)
    assert (await gw.store.get_inbound(row.id)).principal == "scanner"

    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "locked out" in text
    for password in [RIGHT, *WRONG[:3]]:
        assert password not in text
        assert plain("scanner", password) not in text


@only_sqlite
async def test_one_address_locked_out_leaves_others_alone_and_a_login_resets_nobody(locking_gateway, tls_files):
    gw = await locking_gateway()
    port, cert = smtp_port(gw), tls_files[0]

    def run() -> dict[str, object]:
        seen: dict[str, object] = {}
        other = Client(port, cert, source="127.0.0.2")
        seen["other_first"] = [other.auth(WRONG[0]), other.auth(WRONG[1])]
        me = Client(port, cert, source="127.0.0.1")
        seen["my_guess"] = me.auth(WRONG[2])  # counts for 127.0.0.1 only
        seen["my_login"] = me.auth(RIGHT)
        me.close()
        seen["other_third"] = other.auth(WRONG[3])  # the login above reset nothing: this one locks
        other.close()
        seen["other_greeting"] = greeting_code(port, "127.0.0.2")
        me = Client(port, cert, source="127.0.0.1")
        seen["my_login_again"] = me.auth(RIGHT)
        me.close()
        return seen

    seen = await in_thread(run)
    assert seen == {
        "other_first": [535, 535], "my_guess": 535, "my_login": 235,
        "other_third": 421, "other_greeting": 421, "my_login_again": 235,
    }


@only_sqlite
async def test_auth_refused_before_starttls_does_not_count(locking_gateway, tls_files):
    gw = await locking_gateway()
    port, cert = smtp_port(gw), tls_files[0]

    def run() -> tuple[list[int], int]:
        codes: list[int] = []
        for _ in range(2):
            client = Client(port, cert, tls=False)
            codes += [client.auth(WRONG[0]) for _ in range(3)]
            client.close()
        client = Client(port, cert)
        try:
            return codes, client.auth(RIGHT)
        finally:
            client.close()

    codes, login = await in_thread(run)
    assert codes == [538] * 6  # encryption required; no password was looked at
    assert login == 235


# -- the tracker ---------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_age_out_of_the_window():
    clock = Clock()
    lockout = AuthLockout(3, 60.0, 300.0, clock=clock)
    assert not lockout.failure("192.0.2.1")
    clock.now += 30
    assert not lockout.failure("192.0.2.1")
    clock.now += 31  # the first failure is now older than the window
    assert not lockout.failure("192.0.2.1")
    assert not lockout.locked("192.0.2.1")
    assert lockout.failure("192.0.2.1")
    assert lockout.locked("192.0.2.1")


def test_a_lockout_lasts_its_period_then_the_address_starts_afresh():
    clock = Clock()
    lockout = AuthLockout(2, 60.0, 300.0, clock=clock)
    lockout.failure("192.0.2.1")
    assert lockout.failure("192.0.2.1")
    assert lockout.retry_after("192.0.2.1") == 300.0
    clock.now += 299
    assert lockout.locked("192.0.2.1")
    assert lockout.failure("192.0.2.1")  # still locked; does not extend it
    clock.now += 1
    assert not lockout.locked("192.0.2.1")
    assert len(lockout) == 0
    assert not lockout.failure("192.0.2.1")  # one failure of a fresh count


def test_an_ipv6_client_is_counted_by_its_64_network():
    lockout = AuthLockout(2, 60.0, 300.0, clock=Clock())
    assert not lockout.failure("2001:db8:1:2::1")
    assert lockout.failure("2001:db8:1:2:ffff::9")  # same /64: the second failure locks it
    assert lockout.locked("2001:db8:1:2::77")
    assert not lockout.locked("2001:db8:1:3::1")
    assert not lockout.failure("::ffff:192.0.2.7")  # an IPv4-mapped address is its IPv4 address
    assert lockout.failure("192.0.2.7")


def test_tracked_addresses_are_capped():
    clock = Clock()
    lockout = AuthLockout(2, 60.0, 300.0, max_tracked=100, clock=clock)
    for n in range(10_000):
        lockout.failure(f"10.0.{n // 256}.{n % 256}")
    assert len(lockout) == 100
    lockout.failure("10.0.39.15")  # the newest are kept: the second failure of the last one locks it
    assert lockout.locked("10.0.39.15")


# -- configuration -------------------------------------------------------------

def test_lockout_keys_have_defaults_and_are_validated():
    smtp = parse_config({}).smtp
    assert (smtp.auth_max_failures, smtp.auth_failure_window_s, smtp.auth_lockout_s) == (5, 600.0, 900.0)
    assert parse_config({"smtp": {"auth_lockout_s": 60}}).smtp.auth_lockout_s == 60.0
    for key, value in [("auth_max_failures", 0), ("auth_failure_window_s", -1), ("auth_lockout_s", 0),
                       ("auth_max_failures", 2.5), ("auth_lockout_s", "15m")]:
        with pytest.raises(ConfigError) as caught:
            parse_config({"smtp": {key: value}})
        assert caught.value.key == f"smtp.{key}"
    assert SmtpConfig().auth_max_failures == 5


def test_check_config_names_a_bad_or_unknown_lockout_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nauth_lockout_s = 0\n")
    assert cli_main(["--config", str(bad), "check-config"]) == 2
    assert "smtp.auth_lockout_s: must be greater than 0" in capsys.readouterr().err
    bad.write_text("[smtp]\nauth_lockout_minutes = 15\n")
    assert cli_main(["--config", str(bad), "check-config"]) == 2
    assert "smtp.auth_lockout_minutes: unknown key" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text("[smtp]\nauth_max_failures = 10\nauth_failure_window_s = 300\nauth_lockout_s = 1800\n")
    assert load_config(good).smtp.auth_lockout_s == 1800.0  # (the CLI would reset the test's logging)

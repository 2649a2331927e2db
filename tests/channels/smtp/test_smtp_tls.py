"""STARTTLS with a configured certificate, and AUTH offered only over TLS."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from tests.channels.smtp.conftest import only_sqlite, smtp_port
from tests.support.certs import make_certificate
from tests.support.http import processed
from tests.support.mail import in_thread, message

USERS_ENV = "GATEWAY_TEST_SMTP_USERS"


@only_sqlite
async def test_starttls_then_auth_and_the_user_becomes_the_principal(start_smtp, tmp_path, monkeypatch):
    cert, key = make_certificate(tmp_path)
    monkeypatch.setenv(USERS_ENV, "scanner:s3cret:with-colon,ann:other")
    gw = await start_smtp(tls_cert=str(cert), tls_key=str(key), auth_users_env=USERS_ENV)
    port = smtp_port(gw)
    raw, _ = message()

    def session() -> dict[str, object]:
        seen: dict[str, object] = {}
        client = smtplib.SMTP("127.0.0.1", port, timeout=30)
        try:
            client.ehlo()
            seen["starttls"] = client.has_extn("starttls")
            seen["auth_in_clear"] = client.has_extn("auth")
            seen["auth_before_tls"] = client.docmd("AUTH", "PLAIN AGFubgBvdGhlcg==")[0]
            client.starttls(context=ssl.create_default_context(cafile=str(cert)))
            client.ehlo()
            seen["auth_over_tls"] = client.has_extn("auth")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("scanner", "wrong")
            client.login("scanner", "s3cret:with-colon")
            seen["send"] = client.sendmail("ann@example.org", ["support@example.org"], raw)
            seen["reply"] = client.noop()
        finally:
            client.quit()
        return seen

    seen = await in_thread(session)
    assert seen["starttls"] is True
    assert seen["auth_in_clear"] is False
    assert seen["auth_before_tls"] == 538
    assert seen["auth_over_tls"] is True
    assert seen["send"] == {}
    await processed(gw)  # the 250 came when the mail was stored
    [row] = await gw.store.list_inbound("processed", 10)
    inbound = await gw.store.get_inbound(row.id)
    assert inbound.principal == "scanner"
    assert inbound.meta["tls"] is True


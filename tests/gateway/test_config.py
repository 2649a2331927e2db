"""Configuration: the shipped file loads, partial files are valid, faults name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, Secrets, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_file_is_valid_and_runs_on_embedded_sqlite():
    config = load_config(ROOT / "gateway.toml")
    assert config.storage.url.startswith("sqlite+aiosqlite:///var/")
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert (config.smtp.host, config.smtp.port) == ("127.0.0.1", 2525)
    assert config.router["default_queue"] == "general"


def test_a_partial_file_takes_defaults_for_everything_else():
    config = parse_config({"http": {"port": 9000}})
    assert config.http.port == 9000 and config.http.host == "127.0.0.1"
    assert config.portal.max_body_bytes == 25 * 1024 * 1024
    assert config.telegram.api_url == "https://api.telegram.org"


@pytest.mark.parametrize(("data", "key"), [
    ({"htp": {}}, "htp"),
    ({"http": {"prot": 1}}, "http.prot"),
    ({"http": {"port": "8080"}}, "http.port"),
    ({"http": {"port": 70000}}, "http.port"),
    ({"portal": {"enabled": "yes"}}, "portal.enabled"),
    ({"telegram": {"mode": "push"}}, "telegram.mode"),
    ({"storage": {"url": "mysql://x"}}, "storage.url"),
    ({"smtp": {"recipients": ["support"]}}, "smtp.recipients[0]"),
    ({"phone": {"default_region": "XX"}}, "phone.default_region"),
    ({"imap": {"mailboxes": [{"name": "a", "host": "h", "user": "u"}]}}, "imap.mailboxes[0].password_env"),
    ({"imap": {"mailboxes": [{"name": "a", "host": "h", "user": "u", "password_env": "P", "colour": 1}]}},
     "imap.mailboxes[0].colour"),
    ({"intake": {"max_in_flight": 0}}, "intake.max_in_flight"),
])
def test_faults_name_the_dotted_key(data, key):
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.key == key


def test_router_faults_name_the_rule_and_key():
    with pytest.raises(ConfigError) as caught:
        parse_config({"router": {"default_queue": "general", "rules": [
            {"name": "ok", "when": {"channel": "email"}, "set": {"queue": "q"}},
            {"name": "bad", "when": {"text": "(unclosed"}, "set": {"queue": "q"}},
        ]}})
    assert caught.value.key.startswith("router.rules[1]")


def test_secrets_come_from_the_environment_and_hide_from_repr():
    secrets = Secrets.from_env({"GATEWAY_API_TOKEN": "s3cret-api", "GATEWAY_PORTAL_TOKEN": "s3cret-portal"})
    assert secrets.api_token == "s3cret-api"
    assert "s3cret" not in repr(secrets)
    assert set(secrets.values()) == {"s3cret-api", "s3cret-portal"}


def test_secrets_in_the_file_are_refused():
    with pytest.raises(ConfigError) as caught:
        parse_config({"portal": {"token": "in-the-file"}})
    assert caught.value.key == "portal.token"


def test_invalid_toml_is_a_config_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[http\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")

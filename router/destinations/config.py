"""The `[destinations.<name>]` tables, validated at load into frozen objects.

Secrets are never in the file: each destination names the environment
variable that holds its secret (`secret_env`, `token_env`, `key_env`,
`password_env`), read when the gateway starts. A URL with credentials in it
is refused for the same reason. Every error names the dotted key at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from router.destinations.base import RetryPolicy
from router.errors import RouterConfigError
from router.validation import child_key, expect_table, expect_text, reject_unknown, type_name

KINDS = ("webhook", "zammad", "osticket", "smtp")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")  # upper case, as a pasted secret never is
ADDRESS = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+\.[^@\s<>,;:\"()\[\]\\]+$")
COMMON_KEYS = ("kind", "timeout_s", "max_attempts", "backoff_base_s", "backoff_cap_s", "max_retry_after_s")


@dataclass(frozen=True, slots=True)
class Defaults:
    """The global `[dispatch]` values a destination inherits unless it sets its own."""

    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    name: str
    url: str
    secret_env: str
    timeout_s: float
    retry: RetryPolicy


@dataclass(frozen=True, slots=True)
class ZammadConfig:
    name: str
    url: str  # the instance's root, e.g. https://zammad.example.org
    token_env: str
    group: str = "Users"
    default_customer: str = ""  # for requesters without an email address
    key_field: str = ""  # a ticket attribute holding the delivery key; enables look-up before re-creating
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class OsTicketConfig:
    name: str
    url: str  # the installation's root; the API is {url}/api/tickets.json
    key_env: str
    create_via: str = "json"  # "json" (tickets.json) or "email" (tickets.email, de-duplicated by Message-ID)
    topic_id: int | None = None
    alert: bool = True
    autorespond: bool = False  # the gateway acknowledges itself
    default_email: str = ""  # for requesters without an email address
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class SmtpRelayConfig:
    name: str
    host: str
    to: str  # the helpdesk mailbox
    from_address: str  # envelope sender, and From of messages the gateway composes
    port: int = 25
    tls: str = "none"  # none | starttls | tls
    username: str = ""
    password_env: str = ""
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


DestinationConfig = WebhookConfig | ZammadConfig | OsTicketConfig | SmtpRelayConfig


def parse_destinations(data: Any, defaults: Defaults, path: str = "destinations") -> dict[str, DestinationConfig]:
    table = expect_table(data, path)
    found: dict[str, DestinationConfig] = {}
    for name, item in table.items():
        key = child_key(path, name)
        if not NAME.match(name):
            raise RouterConfigError(key, "a destination name is 1-64 letters, digits, '_' or '-'")
        found[name] = parse_destination(name, item, defaults, key)
    return found


def parse_destination(name: str, data: Any, defaults: Defaults, key: str) -> DestinationConfig:
    table = expect_table(data, key)
    if "kind" not in table:
        raise RouterConfigError(child_key(key, "kind"), f"required; one of {', '.join(KINDS)}")
    kind = expect_text(table["kind"], child_key(key, "kind"))
    if kind not in KINDS:
        raise RouterConfigError(child_key(key, "kind"), f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    read = _Reader(table, key)
    timeout = read.number("timeout_s", defaults.timeout_s, low=0.1, high=600)
    retry = _retry(read, defaults.retry)
    parse = _KINDS[kind]
    return parse(name, read, timeout, retry)


def _webhook(name: str, read: _Reader, timeout: float, retry: RetryPolicy) -> WebhookConfig:
    read.only("url", "secret_env")
    return WebhookConfig(name, read.url("url"), read.env("secret_env", required=True), timeout, retry)


def _zammad(name: str, read: _Reader, timeout: float, retry: RetryPolicy) -> ZammadConfig:
    read.only("url", "token_env", "group", "default_customer", "key_field")
    return ZammadConfig(
        name=name,
        url=read.url("url"),
        token_env=read.env("token_env", required=True),
        group=read.text("group", "Users"),
        default_customer=read.address("default_customer"),
        key_field=read.identifier("key_field"),
        timeout_s=timeout,
        retry=retry,
    )


def _osticket(name: str, read: _Reader, timeout: float, retry: RetryPolicy) -> OsTicketConfig:
    read.only("url", "key_env", "create_via", "topic_id", "alert", "autorespond", "default_email")
    create_via = read.text("create_via", "json")
    if create_via not in ("json", "email"):
        raise RouterConfigError(read.at("create_via"), "must be \"json\" or \"email\"")
    return OsTicketConfig(
        name=name,
        url=read.url("url"),
        key_env=read.env("key_env", required=True),
        create_via=create_via,
        topic_id=read.integer("topic_id", None, low=1),
        alert=read.boolean("alert", True),
        autorespond=read.boolean("autorespond", False),
        default_email=read.address("default_email"),
        timeout_s=timeout,
        retry=retry,
    )


def _smtp(name: str, read: _Reader, timeout: float, retry: RetryPolicy) -> SmtpRelayConfig:
    read.only("host", "port", "to", "from_address", "tls", "username", "password_env")
    tls = read.text("tls", "none")
    if tls not in ("none", "starttls", "tls"):
        raise RouterConfigError(read.at("tls"), "must be one of none, starttls, tls")
    host = read.text("host", "")
    if not host:
        raise RouterConfigError(read.at("host"), "required")
    to = read.address("to")
    if not to:
        raise RouterConfigError(read.at("to"), "required: the helpdesk mailbox address")
    sender = read.address("from_address")
    if not sender:
        raise RouterConfigError(read.at("from_address"), "required: the envelope sender")
    username = read.text("username", "")
    password_env = read.env("password_env", required=False)
    if bool(username) != bool(password_env):
        raise RouterConfigError(read.at("password_env" if username else "username"),
                                "username and password_env go together")
    return SmtpRelayConfig(
        name=name, host=host, to=to, from_address=sender, port=int(read.integer("port", 25, low=1, high=65535) or 25),
        tls=tls, username=username, password_env=password_env, timeout_s=timeout, retry=retry,
    )


_KINDS: dict[str, Callable[[str, _Reader, float, RetryPolicy], DestinationConfig]] = {
    "webhook": _webhook,
    "zammad": _zammad,
    "osticket": _osticket,
    "smtp": _smtp,
}


def _retry(read: _Reader, default: RetryPolicy) -> RetryPolicy:
    base = read.number("backoff_base_s", default.backoff_base_s, low=0.001, high=3600)
    cap = read.number("backoff_cap_s", default.backoff_cap_s, low=0.001, high=86400)
    if cap < base:
        raise RouterConfigError(read.at("backoff_cap_s"), "must not be less than backoff_base_s")
    return RetryPolicy(
        max_attempts=int(read.integer("max_attempts", default.max_attempts, low=1, high=1000) or 1),
        backoff_base_s=base,
        backoff_cap_s=cap,
        max_retry_after_s=read.number("max_retry_after_s", default.max_retry_after_s, low=0, high=86400),
    )


class _Reader:
    """Typed reads from one destination table, each error naming its dotted key."""

    def __init__(self, table: Mapping[str, Any], key: str) -> None:
        self._table = table
        self._key = key

    def at(self, name: str) -> str:
        return child_key(self._key, name)

    def only(self, *names: str) -> None:
        reject_unknown(self._table, COMMON_KEYS + names, self._key)

    def text(self, name: str, default: str) -> str:
        if name not in self._table:
            return default
        return expect_text(self._table[name], self.at(name)).strip()

    def boolean(self, name: str, default: bool) -> bool:
        value = self._table.get(name, default)
        if not isinstance(value, bool):
            raise RouterConfigError(self.at(name), f"expected true or false, got {type_name(value)}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self._table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RouterConfigError(self.at(name), f"expected a number, got {type_name(value)}")
        if not low <= value <= high:
            raise RouterConfigError(self.at(name), f"must be between {low} and {high}, got {value}")
        return float(value)

    def integer(self, name: str, default: int | None, *, low: int, high: int = 2**31) -> int | None:
        if name not in self._table:
            return default
        value = self._table[name]
        if isinstance(value, bool) or not isinstance(value, int):
            raise RouterConfigError(self.at(name), f"expected an integer, got {type_name(value)}")
        if not low <= value <= high:
            raise RouterConfigError(self.at(name), f"must be between {low} and {high}, got {value}")
        return value

    def env(self, name: str, *, required: bool) -> str:
        if name not in self._table:
            if required:
                raise RouterConfigError(self.at(name), "required: the environment variable holding the secret")
            return ""
        value = expect_text(self._table[name], self.at(name)).strip()
        if not ENV_NAME.match(value):
            raise RouterConfigError(self.at(name), "must name an environment variable in upper case, such as "
                                    "GATEWAY_DEST_MAIN_SECRET (the secret itself stays out of the file)")
        return value

    def identifier(self, name: str) -> str:
        value = self.text(name, "")
        if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise RouterConfigError(self.at(name), "must be an attribute name (letters, digits, '_')")
        return value

    def address(self, name: str) -> str:
        value = self.text(name, "")
        if value and not ADDRESS.match(value):
            raise RouterConfigError(self.at(name), f"{value!r} is not a plain email address (user@example.org)")
        return value

    def url(self, name: str) -> str:
        if name not in self._table:
            raise RouterConfigError(self.at(name), "required")
        value = expect_text(self._table[name], self.at(name)).strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RouterConfigError(self.at(name), "must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise RouterConfigError(self.at(name), "must not carry credentials; name an environment variable instead")
        if parts.fragment:
            raise RouterConfigError(self.at(name), "must not have a #fragment")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise RouterConfigError(self.at(name), f"bad port: {exc}") from None
        return value

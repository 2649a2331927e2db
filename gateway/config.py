"""Configuration: `gateway.toml` validated at load into frozen objects.

Every key has a default, so a file that sets only some keys is valid; an
unknown key or a value of the wrong type is an error that names the dotted
key at fault. Values are typed here, once, so a bad value fails at start-up
rather than at the moment it is first used. Secrets never come from the
file: they are read from the environment (see `Secrets`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """The configuration is invalid; `key` is the dotted path at fault."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    shutdown_timeout_s: float = 30.0


@dataclass(frozen=True)
class StorageConfig:
    url: str = "sqlite+aiosqlite:///var/gateway.db"
    # "full" survives power loss; "normal" only application crashes (SQLite only).
    sqlite_synchronous: str = "full"
    pool_size: int = 10
    auto_migrate: bool | None = None  # default: on for SQLite, off for PostgreSQL


@dataclass(frozen=True)
class IntakeConfig:
    max_in_flight: int = 1024
    batch_max: int = 256
    retry_after_s: int = 1


@dataclass(frozen=True)
class PortalConfig:
    enabled: bool = True
    max_body_bytes: int = 25 * 1024 * 1024
    max_attachments: int = 20
    rate_limit_per_minute: int = 0  # 0: no limit
    max_subject_chars: int = 998
    max_text_chars: int = 200_000


@dataclass(frozen=True)
class PhoneConfig:
    enabled: bool = True
    default_region: str = "US"
    tolerance_s: int = 300
    max_body_bytes: int = 256 * 1024


@dataclass(frozen=True)
class SmtpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    recipients: tuple[str, ...] = ("@localhost",)
    max_message_bytes: int = 25 * 1024 * 1024
    max_sessions_per_client: int = 20
    max_commands_per_session: int = 1000
    max_recipients: int = 100
    max_line_bytes: int = 1024 * 1024  # longer DATA lines than RFC 5321's 1000 octets are taken up to this
    timeout_s: int = 120
    tls_cert: str = ""
    tls_key: str = ""
    auth_users_env: str = ""  # env var holding "user:password[,user:password]"; AUTH only over TLS
    auth_max_failures: int = 5  # failed AUTH attempts from one client address within the window ...
    auth_failure_window_s: float = 600.0
    auth_lockout_s: float = 900.0  # ... lock that address out (421 4.7.0) for this long


@dataclass(frozen=True)
class TelegramConfig:
    enabled: bool = False
    mode: str = "polling"
    api_url: str = "https://api.telegram.org"
    public_url: str = ""
    group_chats: bool = False
    idle_minutes: int = 1440
    max_file_bytes: int = 20 * 1024 * 1024
    poll_timeout_s: int = 30
    attachments_dir: str = "var/attachments"  # fetched files, by sha256; relative to the config file
    request_timeout_s: float = 10.0  # per Bot API call (getUpdates: poll_timeout_s on top)
    retry_base_s: float = 1.0  # back-off after a failed Bot API call: doubles up to retry_max_s
    retry_max_s: float = 60.0
    webhook_check_s: float = 60.0  # how often getWebhookInfo feeds /readyz in webhook mode

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "request_timeout_s", "retry_base_s", "retry_max_s", "webhook_check_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"telegram.{name}", "must be greater than 0")
        if not 0 <= self.poll_timeout_s <= 50:
            raise ConfigError("telegram.poll_timeout_s", "must be 0-50 (Telegram's long-poll limit)")
        if not self.api_url.startswith(("https://", "http://")):
            raise ConfigError("telegram.api_url", "must be an http(s) URL such as https://api.telegram.org")
        if self.public_url and not self.public_url.startswith("https://"):
            raise ConfigError("telegram.public_url", "must be an https:// URL (Telegram only calls HTTPS webhooks)")


@dataclass(frozen=True)
class ImapMailbox:
    name: str = ""
    host: str = ""
    port: int = 993
    tls: bool = True
    user: str = ""
    password_env: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""
    poll_interval_s: float = 5.0
    ca_file: str = ""
    idle: bool = True  # use IDLE where the server offers it; false: always poll
    max_message_bytes: int = 25 * 1024 * 1024  # larger mail: a failed record from its headers; left in the folder
    timeout_s: float = 30.0
    reconnect_max_s: float = 60.0  # cap of the reconnect back-off


@dataclass(frozen=True)
class ImapConfig:
    mailboxes: tuple[ImapMailbox, ...] = ()


@dataclass(frozen=True)
class EmailConfig:
    own_domain: str = "gateway.invalid"
    ticket_ref_format: str = "[#{ref}]"
    flood_messages: int = 20
    flood_minutes: int = 10


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"


@dataclass(frozen=True)
class DispatchConfig:
    """The dispatcher of the outbox; the retry keys are defaults each destination may override."""

    enabled: bool = True
    concurrency: int = 64  # deliveries in flight at once, over all destinations
    batch_size: int = 100  # deliveries claimed per statement at most
    poll_interval_s: float = 1.0  # how often to look for rows other processes wrote
    lease_s: float = 60.0  # a claimed delivery is retaken after this (its worker died)
    timeout_s: float = 10.0
    max_attempts: int = 10
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    max_retry_after_s: float = 600.0
    shutdown_grace_s: float = 10.0


@dataclass(frozen=True)
class AcksConfig:
    """Acknowledgements of new email tickets, sent through an SMTP relay."""

    enabled: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_tls: str = "none"  # none | starttls | tls
    smtp_user: str = ""
    smtp_password_env: str = ""
    from_address: str = ""  # e.g. "Support <support@example.org>"; required when enabled
    window_minutes: int = 60  # at most one acknowledgement per sender in this many minutes
    default_language: str = "en"
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Config:
    http: HttpConfig = field(default_factory=HttpConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    portal: PortalConfig = field(default_factory=PortalConfig)
    phone: PhoneConfig = field(default_factory=PhoneConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    imap: ImapConfig = field(default_factory=ImapConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    acks: AcksConfig = field(default_factory=AcksConfig)
    # Parsed by the router package, which owns its syntax; kept raw here.
    router: dict[str, Any] = field(default_factory=dict)
    destinations: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")


@dataclass(frozen=True)
class Secrets:
    """Secrets from the environment. `repr` never shows them."""

    api_token: str = field(default="", repr=False)
    portal_token: str = field(default="", repr=False)
    phone_secret: str = field(default="", repr=False)
    telegram_token: str = field(default="", repr=False)
    telegram_webhook_secret: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: typing.Mapping[str, str] | None = None) -> Secrets:
        env = os.environ if env is None else env
        return cls(
            api_token=env.get("GATEWAY_API_TOKEN", ""),
            portal_token=env.get("GATEWAY_PORTAL_TOKEN", ""),
            phone_secret=env.get("GATEWAY_PHONE_SECRET", ""),
            telegram_token=env.get("GATEWAY_TELEGRAM_TOKEN", ""),
            telegram_webhook_secret=env.get("GATEWAY_TELEGRAM_WEBHOOK_SECRET", ""),
        )

    def values(self) -> list[str]:
        return [v for v in dataclasses.astuple(self) if v]


_CHOICES: dict[str, tuple[str, ...]] = {
    "storage.sqlite_synchronous": ("full", "normal", "extra"),
    "telegram.mode": ("polling", "webhook"),
    "logging.level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "acks.smtp_tls": ("none", "starttls", "tls"),
    "acks.default_language": ("en", "hu", "id"),
}
_RECIPIENT = re.compile(r"^([^@\s]+@[^@\s]+|@[^@\s]+)$")


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raise ConfigError naming the key at fault."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("", f"configuration file not found: {file}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{file} is not valid TOML: {exc}") from exc
    return parse_config(data, base_dir=file.resolve().parent)


def parse_config(data: dict[str, Any], base_dir: Path = Path(".")) -> Config:
    config = _build(Config, data, "")
    config = dataclasses.replace(config, base_dir=base_dir)
    _check(config)
    return config


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(path, "must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "base_dir"}
    for key in data:
        if key not in known:
            raise ConfigError(_join(path, key), "unknown key")
    values = {key: _coerce(hints[key], value, _join(path, key)) for key, value in data.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)  # type: ignore[arg-type]
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(path, "must be a list")
        return tuple(_coerce(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(path, "must be a table")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, "must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, "must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(path, "must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(path, "must be a string")
        return value
    raise ConfigError(path, f"unsupported type {hint}")  # pragma: no cover


def _check(config: Config) -> None:
    """Checks beyond types: ranges, choices and cross-field rules."""
    for key, choices in _CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if value not in choices:
            raise ConfigError(key, f"must be one of {', '.join(choices)}")
    for key in ("http.port", "smtp.port"):
        section, name = key.split(".")
        if not 0 <= getattr(getattr(config, section), name) <= 65535:
            raise ConfigError(key, "must be a port number (0-65535)")
    positive = [
        "intake.max_in_flight", "intake.batch_max", "portal.max_body_bytes",
        "phone.max_body_bytes", "smtp.max_message_bytes", "storage.pool_size",
        "smtp.auth_max_failures", "smtp.auth_failure_window_s", "smtp.auth_lockout_s",
    ]
    for key in positive:
        section, name = key.split(".")
        if getattr(getattr(config, section), name) <= 0:
            raise ConfigError(key, "must be greater than 0")
    if config.portal.rate_limit_per_minute < 0:
        raise ConfigError("portal.rate_limit_per_minute", "must be 0 (no limit) or more")
    url = config.storage.url
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ConfigError("storage.url", "must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
    for i, address in enumerate(config.smtp.recipients):
        if not _RECIPIENT.match(address):
            raise ConfigError(f"smtp.recipients[{i}]", f"{address!r} is not an address or @domain")
    if "{ref}" not in config.email.ticket_ref_format:
        raise ConfigError("email.ticket_ref_format", "must contain {ref}")
    names: set[str] = set()
    for i, box in enumerate(config.imap.mailboxes):
        where = f"imap.mailboxes[{i}]"
        for required in ("name", "host", "user", "password_env"):
            if not getattr(box, required):
                raise ConfigError(f"{where}.{required}", "is required")
        if box.name in names:
            raise ConfigError(f"{where}.name", f"duplicate mailbox name {box.name!r}")
        names.add(box.name)
    try:
        import phonenumbers

        if config.phone.default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError("phone.default_region", "is not a known region code such as HU or US")
    except ImportError:  # pragma: no cover
        pass
    if config.router:
        from router.config import parse_router_config
        from router.errors import RouterConfigError

        try:
            parse_router_config(config.router, "router")
        except RouterConfigError as exc:
            raise ConfigError(exc.key, exc.message) from exc
    _check_delivery(config)


def _check_delivery(config: Config) -> None:
    """`[dispatch]`, `[acks]`, `[destinations]` and `[[router.routes]]` (parsed by router.delivery_config)."""
    positive = ["dispatch.concurrency", "dispatch.batch_size", "dispatch.poll_interval_s", "dispatch.lease_s",
                "dispatch.timeout_s", "dispatch.max_attempts", "dispatch.backoff_base_s", "dispatch.backoff_cap_s",
                "acks.window_minutes", "acks.timeout_s"]
    for key in positive:
        section, name = key.split(".")
        if getattr(getattr(config, section), name) <= 0:
            raise ConfigError(key, "must be greater than 0")
    if config.dispatch.backoff_cap_s < config.dispatch.backoff_base_s:
        raise ConfigError("dispatch.backoff_cap_s", "must not be less than dispatch.backoff_base_s")
    if not 0 <= config.acks.smtp_port <= 65535:
        raise ConfigError("acks.smtp_port", "must be a port number (0-65535)")
    if config.acks.enabled and not config.acks.from_address:
        raise ConfigError("acks.from_address", "is required when acks are enabled")
    from router.delivery_config import defaults_from, parse_acks_address, parse_delivery_config
    from router.errors import RouterConfigError

    try:
        if config.acks.from_address:
            parse_acks_address(config.acks.from_address, "acks.from_address")
        parse_delivery_config(config.destinations, config.router, defaults_from(config.dispatch))
    except RouterConfigError as exc:
        raise ConfigError(exc.key, exc.message) from exc


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key

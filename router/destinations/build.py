"""Destinations from their configuration and the secrets the environment holds for them."""

from __future__ import annotations

from collections.abc import Mapping

from router.destinations.base import Destination
from router.destinations.config import (
    DestinationConfig,
    OsTicketConfig,
    SmtpRelayConfig,
    WebhookConfig,
    ZammadConfig,
)
from router.destinations.osticket import OsTicketDestination
from router.destinations.signing import SecretFormatError, decode_secret
from router.destinations.smtp_relay import SmtpRelayDestination
from router.destinations.webhook import WebhookDestination
from router.destinations.zammad import ZammadDestination


class MissingSecretError(Exception):
    """A destination's secret is not in the environment (or not in a usable form)."""


def _secret(env: Mapping[str, str], name: str, key: str) -> str:
    value = env.get(name, "")
    if not value:
        raise MissingSecretError(f"{key}: the environment variable {name} is not set")
    return value


def build_destination(
    config: DestinationConfig, env: Mapping[str, str], *, own_domain: str, ref_format: str, limit: int
) -> Destination:
    where = f"destinations.{config.name}"
    if isinstance(config, WebhookConfig):
        text = _secret(env, config.secret_env, f"{where}.secret_env")
        try:
            key = decode_secret(text)
        except SecretFormatError as exc:
            raise MissingSecretError(f"{where}.secret_env: {config.secret_env} {exc}") from None
        return WebhookDestination(config, key, secret_text=text, limit=limit)
    if isinstance(config, ZammadConfig):
        return ZammadDestination(config, _secret(env, config.token_env, f"{where}.token_env"), limit=limit)
    if isinstance(config, OsTicketConfig):
        return OsTicketDestination(config, _secret(env, config.key_env, f"{where}.key_env"),
                                   own_domain=own_domain, limit=limit)
    if isinstance(config, SmtpRelayConfig):
        password = _secret(env, config.password_env, f"{where}.password_env") if config.password_env else ""
        return SmtpRelayDestination(config, password, own_domain=own_domain, ref_format=ref_format)
    raise TypeError(f"no destination for {type(config).__name__}")  # pragma: no cover


def build_destinations(
    configs: Mapping[str, DestinationConfig], env: Mapping[str, str], *, own_domain: str, ref_format: str,
    limit: int = 100,
) -> dict[str, Destination]:
    return {
        name: build_destination(config, env, own_domain=own_domain, ref_format=ref_format, limit=limit)
        for name, config in configs.items()
    }

"""Destinations and routes validated together, so a route can only name a real destination."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any, Protocol

from router.destinations.base import RetryPolicy
from router.destinations.config import ADDRESS, Defaults, DestinationConfig, parse_destinations
from router.errors import RouterConfigError
from router.routes import Routes, parse_routes


class DispatchDefaults(Protocol):
    """The `[dispatch]` keys destinations inherit (gateway.config.DispatchConfig has them)."""

    @property
    def timeout_s(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def backoff_base_s(self) -> float: ...
    @property
    def backoff_cap_s(self) -> float: ...
    @property
    def max_retry_after_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    destinations: Mapping[str, DestinationConfig] = field(default_factory=dict)
    routes: Routes = field(default_factory=Routes)


def defaults_from(dispatch: DispatchDefaults) -> Defaults:
    return Defaults(
        timeout_s=dispatch.timeout_s,
        retry=RetryPolicy(
            max_attempts=dispatch.max_attempts,
            backoff_base_s=dispatch.backoff_base_s,
            backoff_cap_s=dispatch.backoff_cap_s,
            max_retry_after_s=dispatch.max_retry_after_s,
        ),
    )


def parse_delivery_config(destinations: Any, router: Mapping[str, Any], defaults: Defaults) -> DeliveryConfig:
    parsed = parse_destinations(destinations or {}, defaults, "destinations")
    routes = parse_routes(router.get("routes", []), parsed.keys(), "router.routes")
    return DeliveryConfig(destinations=parsed, routes=routes)


def parse_acks_address(value: str, key: str) -> Address:
    """`Name <user@example.org>` or `user@example.org`, as the From of acknowledgements."""
    if "\r" in value or "\n" in value:
        raise RouterConfigError(key, "must be one line")
    name, address = parseaddr(value)
    if not address or not ADDRESS.match(address):
        raise RouterConfigError(key, f"{value!r} is not an address such as \"Support <support@example.org>\"")
    user, _, domain = address.rpartition("@")
    return Address(display_name=name, username=user, domain=domain)

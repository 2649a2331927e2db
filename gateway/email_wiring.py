"""Wiring of the email channel into the gateway (normalizers, adapters, routes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.config import Config
from gateway.processing import Normalizer

if TYPE_CHECKING:
    from gateway.app import Channel, Gateway


def normalizers(config: Config) -> dict[str, Normalizer]:
    return {}


def channels(gateway: Gateway) -> list[Channel]:
    return []

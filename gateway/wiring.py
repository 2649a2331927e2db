"""Where the channels beyond HTTP and the outbox are plugged into the gateway.

Each channel package owns one `*_wiring` module; this module only collects
them, so adding a channel never means editing the lifecycle code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway import delivery_wiring, email_wiring, telegram_wiring
from gateway.config import Config
from gateway.processing import DeliveryPlanner, Normalizer

if TYPE_CHECKING:
    from gateway.app import Channel, Gateway


def extra_normalizers(config: Config) -> dict[str, Normalizer]:
    found: dict[str, Normalizer] = {}
    found.update(email_wiring.normalizers(config))
    found.update(telegram_wiring.normalizers(config))
    return found


def extra_channels(gateway: Gateway) -> list[Channel]:
    return [
        *email_wiring.channels(gateway),
        *telegram_wiring.channels(gateway),
        *delivery_wiring.services(gateway),
    ]


def delivery_planner(config: Config) -> DeliveryPlanner | None:
    return delivery_wiring.planner(config)

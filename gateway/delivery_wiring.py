"""Wiring of the outbox: which deliveries a ticket write plans, and the dispatcher service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.config import Config
from gateway.processing import DeliveryPlanner

if TYPE_CHECKING:
    from gateway.app import Channel, Gateway


def planner(config: Config) -> DeliveryPlanner | None:
    return None


def services(gateway: Gateway) -> list[Channel]:
    return []

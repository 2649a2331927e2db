"""The classifier the processor calls: the router's decision as stored data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.config import Config
from gateway.processing import Classifier, default_classifier
from normalize.schema import MessageDraft


def build_classifier(config: Config) -> Classifier:
    if not config.router:
        return default_classifier()
    from router.config import parse_router_config
    from router.decide import decide

    router_config = parse_router_config(config.router, "router")

    def classify(draft: MessageDraft, now: datetime) -> dict[str, Any]:
        return decide(draft, router_config, now=now).to_json()

    return classify

"""The router as the gateway runs it: `[router]` rules, and a trained model when one is configured.

The model file is loaded once, when the gateway is built, so a missing or
stale file stops start-up with a message that says what to do, instead of
every ticket silently falling back to the default queue. Without a
`[router.model]` table no model is loaded, even if a model file lies around:
a model is used only when configured.

Decisions read the time of `hours` conditions from the message's own receipt
time, not from the clock, so re-processing a stored record (a replay, or
recovery after a crash) routes it exactly as it was first routed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import Config, ConfigError
from normalize.schema import MessageDraft
from router.config import ModelConfig, RouterConfig, parse_router_config
from router.decide import Decision, decide, decide_many
from router.errors import ModelFileError, RouterConfigError

if TYPE_CHECKING:
    from router.classifier import Classifier as Model

DEFAULT_QUEUE = "general"
"""The queue of a configuration without a `[router]` table (the shipped default's too)."""


@dataclass(frozen=True, slots=True)
class Router:
    """The parsed rules and the loaded model (None when not configured), shared by routing and explain."""

    config: RouterConfig
    model: Model | None = None

    def decide(self, draft: MessageDraft) -> Decision:
        return decide(draft, self.config, now=draft.received_at, classifier=self.model)

    def classify(self, drafts: Sequence[MessageDraft], _now: datetime) -> list[dict[str, Any]]:
        """The processor's classifier, a batch at a time; ignores the processing time (see the module doc)."""
        items = [(draft, draft.received_at) for draft in drafts]
        return [decision.to_stored() for decision in decide_many(items, self.config, classifier=self.model)]


def build_router(config: Config) -> Router:
    """Parse `[router]` and load its model; raises `ConfigError` naming the key at fault."""
    if not config.router:
        return Router(RouterConfig(default_queue=DEFAULT_QUEUE))
    try:
        router_config = parse_router_config(config.router, "router")
    except RouterConfigError as exc:
        raise ConfigError(exc.key, exc.message) from exc
    model = load_model(config, router_config.model) if router_config.model else None
    return Router(router_config, model)


def model_path(config: Config, model: ModelConfig) -> Path:
    """The model file; a relative path is read from the configuration file's directory."""
    path = Path(model.path).expanduser()
    return path if path.is_absolute() else config.base_dir / path


def load_model(config: Config, model: ModelConfig) -> Model:
    """Load the configured model, or raise `ConfigError` saying how to get a usable one.

    The model is wrapped for the intake path's one-message-at-a-time calls (see `gateway.model_scorer`).
    """
    from gateway.model_scorer import FastClassifier  # scikit-learn is imported only when a model is used
    from router.classifier import Classifier as Model

    path = model_path(config, model)
    try:
        return FastClassifier.wrap(Model.load(path))
    except ModelFileError as exc:
        hint = "" if path.exists() else f"; train one with `gateway train --examples FILE --out {path}`"
        raise ConfigError("router.model.path", f"{exc}{hint}") from exc

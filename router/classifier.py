"""A trained text classifier that proposes a routing label for a draft.

It wraps a fitted scikit-learn pipeline that gives class probabilities; its
labels are `queue` or `queue/category`. `router.training` builds one,
`save`/`load` persist it through `router.model_file`, and `decide` consults it
only when no rule matched and trusts it only above the configured threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from normalize.schema import MessageDraft
from router.errors import ModelFileError
from router.features import draft_features
from router.model_file import ModelFile, read_model, write_model


@dataclass(frozen=True, slots=True)
class Classifier:
    """`pipeline` maps feature texts to probabilities (`predict_proba`, `classes_`)."""

    pipeline: Any
    name: str = "default"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(str(label) for label in self.pipeline.classes_)

    def predict(self, draft: MessageDraft) -> tuple[str, float]:
        """The most probable label and its probability."""
        return self.predict_features([draft_features(draft)])[0]

    def predict_many(self, drafts: Sequence[MessageDraft]) -> list[tuple[str, float]]:
        """`predict` for several drafts in one call, which costs much less per draft."""
        return self.predict_features([draft_features(draft) for draft in drafts])

    def predict_features(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Top label and probability for each feature text (see `router.features`)."""
        labels = self.labels
        predictions = []
        for row in self.pipeline.predict_proba(list(texts)):
            best = max(range(len(labels)), key=lambda i: row[i])
            predictions.append((labels[best], float(row[best])))
        return predictions

    def probabilities(self, draft: MessageDraft) -> dict[str, float]:
        """Every label's probability, for explaining a prediction or comparing alternatives."""
        row = self.pipeline.predict_proba([draft_features(draft)])[0]
        return {label: float(p) for label, p in zip(self.labels, row, strict=True)}

    def save(self, path: str | Path) -> None:
        write_model(path, ModelFile(pipeline=self.pipeline, metadata={**self.metadata, "name": self.name}))

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        """Raises `ModelFileError` when the file is missing, foreign or stale."""
        model = read_model(path)
        if not hasattr(model.pipeline, "predict_proba") or not hasattr(model.pipeline, "classes_"):
            raise ModelFileError(f"{path}: the stored model gives no class probabilities; retrain it")
        metadata = dict(model.metadata)
        name = str(metadata.pop("name", "default"))
        return cls(pipeline=model.pipeline, name=name, metadata=metadata)


def load_classifier(path: str | Path) -> Classifier:
    """Same as `Classifier.load`, for callers that prefer a function."""
    return Classifier.load(path)

"""Training and evaluating the routing classifier from labelled examples.

Features are TF-IDF words unioned with character n-grams (2-5, within word
boundaries); the character n-grams carry inflected and compounded words
(Hungarian suffixes, German compounds) and typos that whole words miss. No
feature crosses a word, which is what lets `gateway.model_scorer` score a
message from its words alone, cached: word bigrams scored no better on the
test corpus and would cost a third of the intake path's scoring time. A
multinomial logistic regression gives class probabilities that the router
compares with its threshold, and unlike a calibrated SVM it needs no
cross-validation folds, so it trains on labels with a single example; the
saga solver is fast on sparse TF-IDF and seeded, so training is repeatable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import accuracy_score, f1_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.pipeline import FeatureUnion, Pipeline  # type: ignore[import-untyped]

from router.classifier import Classifier
from router.errors import TrainingError
from router.examples import LabelledExample, load_examples

__all__ = ["LabelledExample", "Scores", "build_pipeline", "evaluate", "load_examples", "train"]


@dataclass(frozen=True, slots=True)
class Scores:
    """Held-out scores; macro F1 weighs every label equally, so a rare queue counts."""

    accuracy: float
    macro_f1: float
    n_train: int
    n_test: int


def build_pipeline() -> Pipeline:
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(analyzer="word", sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
        ]
    )
    return Pipeline(
        [("features", features), ("model", LogisticRegression(C=10.0, solver="saga", max_iter=5000, random_state=0))]
    )


def train(examples: Sequence[LabelledExample], *, name: str = "default") -> Classifier:
    """Fit a classifier on every example; raises `TrainingError` when they cannot teach one."""
    _check(examples)
    pipeline = build_pipeline()
    pipeline.fit([e.features() for e in examples], [e.label for e in examples])
    counts = Counter(e.label for e in examples)
    return Classifier(pipeline=pipeline, name=name, metadata={"examples": len(examples), "labels": dict(counts)})


def evaluate(examples: Sequence[LabelledExample], test_size: float = 0.25, seed: int = 0) -> Scores:
    """Train on a stratified share of the examples and score on the rest, which it never saw."""
    _check(examples)
    counts = Counter(e.label for e in examples)
    scarce = sorted(label for label, count in counts.items() if count < 2)
    if scarce:
        raise TrainingError(f"a held-out split needs at least 2 examples per label; too few for {', '.join(scarce)}")
    try:
        train_part, test_part = train_test_split(
            list(examples), test_size=test_size, random_state=seed, stratify=[e.label for e in examples]
        )
    except ValueError as exc:
        raise TrainingError(f"cannot split the examples: {exc}") from exc
    classifier = train(train_part)
    expected = [e.label for e in test_part]
    predicted = [label for label, _ in classifier.predict_features([e.features() for e in test_part])]
    return Scores(
        accuracy=float(accuracy_score(expected, predicted)),
        macro_f1=float(f1_score(expected, predicted, average="macro", zero_division=0)),
        n_train=len(train_part),
        n_test=len(test_part),
    )


def _check(examples: Sequence[LabelledExample]) -> None:
    if not examples:
        raise TrainingError("no examples")
    for example in examples:
        queue, slash, category = example.label.partition("/")
        if not queue.strip() or (slash and not category.strip()):
            raise TrainingError(f"label {example.label!r} is not 'queue' or 'queue/category'")
    if len({e.label for e in examples}) < 2:
        raise TrainingError("the examples need at least two different labels")

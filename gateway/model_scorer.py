"""Scoring one message with the trained pipeline, fast enough for the intake path, with the same result.

The processor classifies each new ticket on its own, inside the write
transaction. Called with one text, scikit-learn's pipeline spends about 5 ms
on validation and a joblib round per FeatureUnion call, and the character
n-grams are recomputed for every word of every message: many times the cost
of storing the record. This module reads the fitted vectorizers' vocabulary
and IDF weights and the logistic regression's coefficients once, and scores a
text with dictionary look-ups and one small matrix product; a word's
character n-grams are cached (words repeat across messages), bounded in size.

It is only used when it reproduces the pipeline: `compile` accepts only the
shape `router.training.build_pipeline` makes (TF-IDF vectorizers in a
FeatureUnion, then a logistic regression), and checks its probabilities
against the pipeline's own on probe texts; any other model, or a
scikit-learn release that computes differently, keeps the plain pipeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from normalize.schema import MessageDraft
from router.classifier import Classifier
from router.features import draft_features

WORD_CACHE_SIZE = 200_000
"""Distinct words whose n-gram columns are kept; the cache is emptied when full (a few tens of MB at most)."""
TOLERANCE = 1e-9
PROBES = (
    "",
    "   ",
    "VPN broken!! The VPN keeps disconnecting since Monday; error 0x800 (see log.txt).",
    "A múlt havi számla összege hibás, kérem javítsák. Üdvözlettel, Kovács Péter",
    "Akun saya terkunci, saya lupa kata sandi.\n\n__channel__portal __portal_category__billing",
    "Der Drucker im 3. Stock druckt nur leere Seiten — Ärgerlich. ÄÖÜ ß",
    "Здравствуйте, принтер не печатает. 打印机坏了 ☺ a b c dd eee ffff",
)


class _Block:
    """One TF-IDF vectorizer of the union: its columns start at `offset` of the model's features."""

    def __init__(self, vectorizer: Any, offset: int) -> None:
        self.offset = offset
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.size = len(self.vocabulary)
        self.idf: np.ndarray | None = np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.norm: str | None = vectorizer.norm
        self._analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()

    def columns(self, text: str) -> Iterable[int]:
        """The vocabulary column of every n-gram of the text that the model knows, repeats included."""
        vocabulary = self.vocabulary
        return [column for gram in self._analyze(text) if (column := vocabulary.get(gram)) is not None]

    def weights(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices in the model's features, TF-IDF values), as the vectorizer's transform gives them."""
        counts = Counter(self.columns(text))
        columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        values = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self.sublinear:
            values = np.log(values) + 1.0
        if self.idf is not None:
            values *= self.idf[columns]
        if self.norm == "l2":
            length = float(np.sqrt(values @ values))
        elif self.norm == "l1":
            length = float(np.abs(values).sum())
        else:
            length = 0.0
        if length > 0.0:
            values /= length
        return columns + self.offset, values


class _WordNgramBlock(_Block):
    """`char_wb`: n-grams never cross a word, so each word's columns are computed once and cached."""

    def __init__(self, vectorizer: Any, offset: int) -> None:
        super().__init__(vectorizer, offset)
        self._preprocess: Callable[[str], str] = vectorizer.build_preprocessor()
        self._low, self._high = vectorizer.ngram_range
        self._cache: dict[str, tuple[int, ...]] = {}

    def columns(self, text: str) -> Iterable[int]:
        cache = self._cache
        words = self._preprocess(text).split()
        missing = [word for word in words if word not in cache]
        if missing and len(cache) + len(missing) > WORD_CACHE_SIZE:
            cache.clear()
            missing = words
        for word in missing:
            cache[word] = self._word_columns(word)
        return chain.from_iterable(cache[word] for word in words)

    def _word_columns(self, word: str) -> tuple[int, ...]:
        """scikit-learn's `_char_wb_ngrams` for one word: padded with a space, a short word counted once."""
        padded = f" {word} "
        length = len(padded)
        grams = []
        for n in range(self._low, self._high + 1):
            grams += [padded[start : start + n] for start in range(max(1, length - n + 1))]
            if length <= n:
                break
        vocabulary = self.vocabulary
        return tuple(column for gram in grams if (column := vocabulary.get(gram)) is not None)


@dataclass(frozen=True, eq=False)
class FastScorer:
    """Class probabilities of one feature text, equal to `pipeline.predict_proba([text])[0]`."""

    blocks: tuple[_Block, ...]
    weights: np.ndarray
    """The coefficients as (features, classes), so a message's columns are contiguous rows."""
    intercept: np.ndarray
    binary: bool
    labels: tuple[str, ...] = field(default=())

    @classmethod
    def compile(cls, pipeline: Any, probes: Sequence[str] = PROBES) -> FastScorer | None:
        """A scorer for the pipeline, or None when it has another shape or the probes disagree."""
        try:
            scorer = cls._build(pipeline)
        except (AttributeError, TypeError, ValueError, KeyError):
            return None
        if scorer is None:
            return None
        expected = pipeline.predict_proba(list(probes))
        for text, row in zip(probes, expected, strict=True):
            if not np.allclose(scorer.probabilities(text), row, rtol=0.0, atol=TOLERANCE):
                return None
        return scorer

    @classmethod
    def _build(cls, pipeline: Any) -> FastScorer | None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
        from sklearn.pipeline import FeatureUnion, Pipeline  # type: ignore[import-untyped]

        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        union, model = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(union, FeatureUnion) or union.transformer_weights is not None:
            return None
        if not isinstance(model, LogisticRegression):
            return None
        blocks: list[_Block] = []
        offset = 0
        for _name, vectorizer in union.transformer_list:
            if not _plain_tfidf(vectorizer, TfidfVectorizer):
                return None
            block_type = _WordNgramBlock if vectorizer.analyzer == "char_wb" else _Block
            blocks.append(block_type(vectorizer, offset))
            offset += blocks[-1].size
        coef = np.asarray(model.coef_, dtype=np.float64)
        if coef.shape[1] != offset:
            return None
        return cls(
            blocks=tuple(blocks),
            weights=np.ascontiguousarray(coef.T),
            intercept=np.asarray(model.intercept_, dtype=np.float64),
            binary=len(model.classes_) == 2,
            labels=tuple(str(label) for label in model.classes_),
        )

    def probabilities(self, text: str) -> np.ndarray:
        scores = self.intercept.copy()
        for block in self.blocks:
            columns, values = block.weights(text)
            if len(columns):
                scores += values @ self.weights[columns]
        if self.binary:
            positive = 1.0 / (1.0 + np.exp(-scores[0]))
            return np.array([1.0 - positive, positive])
        exp = np.exp(scores - scores.max())
        return np.asarray(exp / exp.sum())


def _plain_tfidf(vectorizer: Any, tfidf_type: Any) -> bool:
    """A fitted TfidfVectorizer on text, with a built-in analyzer and float64 output."""
    return (
        type(vectorizer) is tfidf_type
        and vectorizer.input == "content"
        and vectorizer.analyzer in ("word", "char", "char_wb")
        and not vectorizer.binary
        and vectorizer.dtype in (np.float64, "float64")
        and vectorizer.norm in (None, "l1", "l2")
        and (vectorizer.analyzer != "char_wb" or vectorizer.preprocessor is None)
        and hasattr(vectorizer, "vocabulary_")
    )


@dataclass(frozen=True, slots=True)
class FastClassifier(Classifier):
    """A `Classifier` whose `predict` uses the compiled scorer (None: the pipeline, as before)."""

    scorer: FastScorer | None = None

    @classmethod
    def wrap(cls, classifier: Classifier) -> FastClassifier:
        scorer = FastScorer.compile(classifier.pipeline)
        return cls(pipeline=classifier.pipeline, name=classifier.name, metadata=classifier.metadata, scorer=scorer)

    def predict(self, draft: MessageDraft) -> tuple[str, float]:
        if self.scorer is None:
            return Classifier.predict(self, draft)
        row = self.scorer.probabilities(draft_features(draft))
        best = int(np.argmax(row))
        return self.scorer.labels[best], float(row[best])

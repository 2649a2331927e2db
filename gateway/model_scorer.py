"""Scoring messages with the trained pipeline, fast enough for the intake path, with the same result.

The processor classifies a batch of new tickets inside the write
transaction. scikit-learn's pipeline spends milliseconds per call on
validation and a joblib round per FeatureUnion call, and recomputes every
word's character n-grams in Python for every message: many times the cost of
storing the record. This module reads the fitted vectorizers' vocabulary and
IDF weights and the logistic regression's coefficients once. When every
vectorizer works within words (the shape `router.training` builds: word
unigrams and `char_wb` n-grams), a message is handled in Python only as its
words (split, counted); what each word contributes to every vectorizer is
computed once and cached (words repeat across messages, bounded in size), and
a batch's counting, TF-IDF weighting and scoring are a few sparse matrix
operations. Other vectorizers are counted text by text with their analyzer.

It is only used when it reproduces the pipeline: `compile` accepts only
TF-IDF vectorizers in a FeatureUnion, then a logistic regression, and checks
its probabilities against the pipeline's own on probe texts; any other model,
or a scikit-learn release that computes differently, keeps the plain pipeline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sparse  # type: ignore[import-untyped]

try:  # scipy's CSR product routine, without its matrix objects; `FastScorer.compile` checks the result
    from scipy.sparse._sparsetools import (  # type: ignore[import-untyped]
        csr_matmat,
        csr_matmat_maxnnz,
        csr_matvecs,
    )
except ImportError:  # pragma: no cover - another scipy: the plain pipeline is used
    csr_matmat = csr_matmat_maxnnz = csr_matvecs = None

from router.classifier import Classifier

WORD_CACHE_SIZE = 200_000
"""Distinct words whose contribution is kept; the cache is emptied when full (tens of MB at most)."""
TOLERANCE = 1e-9
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
PROBES = (
    "",
    "   ",
    "VPN broken!! The VPN keeps disconnecting since Monday; error 0x800 (see log.txt).",
    "A múlt havi számla összege hibás, kérem javítsák. Üdvözlettel, Kovács Péter",
    "Akun saya terkunci, saya lupa kata sandi.\n\n__channel__portal __portal_category__billing",
    "Der Drucker im 3. Stock druckt nur leere Seiten — Ärgerlich. ÄÖÜ ß",
    "Здравствуйте, принтер не печатает. 打印机坏了 ☺ a b c dd eee ffff",
    "tab\tseparated\x1cfile\u00a0sep\u2028line a-b a_b 'quoted' x.y.z vpn vpn VPN Vpn",
)


class _Vectorizer:
    """One fitted TF-IDF vectorizer of the union; its columns start at `offset` of the model's features."""

    def __init__(self, vectorizer: Any, offset: int) -> None:
        self.offset = offset
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.size = len(self.vocabulary)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else np.ones(self.size)
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.norm: str | None = vectorizer.norm
        self.analyzer: str = vectorizer.analyzer
        self.ngram_range: tuple[int, int] = tuple(vectorizer.ngram_range)
        self.lowercase = bool(vectorizer.lowercase)
        self.per_word = (vectorizer.strip_accents is None and vectorizer.tokenizer is None) and (
            self.analyzer == "char_wb"
            or (
                self.analyzer == "word"
                and self.ngram_range == (1, 1)
                and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN
                and vectorizer.stop_words is None
            )
        )
        self.analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self.tokenize: Callable[[str], list[str]] = vectorizer.build_tokenizer()

    def columns(self, text: str) -> list[int]:
        """The column (in the model's features) of every n-gram of the text the model knows, repeats included."""
        vocabulary, offset = self.vocabulary, self.offset
        return [column + offset for gram in self.analyze(text) if (column := vocabulary.get(gram)) is not None]

    def word_columns(self, word: str) -> list[int]:
        """`columns` for one already preprocessed word (`per_word` vectorizers only)."""
        get, offset = self.vocabulary.get, self.offset
        if self.analyzer == "word":
            return [column + offset for gram in self.tokenize(word) if (column := get(gram)) is not None]
        # scikit-learn's `_char_wb_ngrams`: padded with a space, a word shorter than n counted once, whole
        padded = f" {word} "
        length = len(padded)
        low, high = self.ngram_range
        columns = [
            column + offset
            for n in range(low, min(high, length - 1) + 1)
            for start in range(length - n + 1)
            if (column := get(padded[start : start + n])) is not None
        ]
        if high >= length and (column := get(padded)) is not None:
            columns.append(column + offset)
        return columns


class Rows(NamedTuple):
    """A (texts x features) matrix as CSR arrays: row i's entries are `indices`/`data[indptr[i]:indptr[i + 1]]`.

    Plain arrays rather than scipy matrix objects: the objects check their
    input on every construction, which for the handful of texts of one intake
    batch costs more than the arithmetic.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


class _Counts:
    """Term counts of a batch of texts over the model's features, no repeated column within a row."""

    def __init__(self, vectorizers: Sequence[_Vectorizer]) -> None:
        self.vectorizers = tuple(vectorizers)
        self.features = sum(v.size for v in vectorizers)

    def __call__(self, texts: Sequence[str]) -> Rows:
        indptr = [0]
        indices: list[int] = []
        for text in texts:
            for vectorizer in self.vectorizers:
                indices += vectorizer.columns(text)
            indptr.append(len(indices))
        matrix = sparse.csr_matrix(
            (np.ones(len(indices)), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
            shape=(len(texts), self.features),
        )
        matrix.sum_duplicates()
        return Rows(matrix.indptr, matrix.indices, matrix.data)


class _WordCounts(_Counts):
    """Counts when no n-gram crosses a word: (texts x words) times (words x features), one sparse product."""

    def __init__(self, vectorizers: Sequence[_Vectorizer]) -> None:
        super().__init__(vectorizers)
        self.lowercase = vectorizers[0].lowercase
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, texts: Sequence[str]) -> Rows:
        batch_words: dict[str, int] = {}
        word_indices: list[int] = []
        word_counts: list[int] = []
        indptr = [0]
        for text in texts:
            for word, count in Counter((text.lower() if self.lowercase else text).split()).items():
                index = batch_words.get(word)
                if index is None:
                    index = batch_words[word] = len(batch_words)
                word_indices.append(index)
                word_counts.append(count)
            indptr.append(len(word_indices))
        grams = [self._word(word) for word in batch_words]
        word_indptr = np.zeros(len(grams) + 1, dtype=np.int64)
        np.cumsum([len(columns) for columns, _ in grams], out=word_indptr[1:])
        return _product(
            Rows(np.asarray(indptr, dtype=np.int64), np.asarray(word_indices, dtype=np.int64),
                 np.asarray(word_counts, dtype=np.float64)),
            Rows(word_indptr, np.concatenate([columns for columns, _ in grams] or [np.zeros(0, dtype=np.int64)]),
                 np.concatenate([counts for _, counts in grams] or [np.zeros(0)])),
            self.features,
        )

    def _word(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, counts) of one word's known n-grams in every vectorizer."""
        found = self._cache.get(word)
        if found is None:
            if len(self._cache) >= WORD_CACHE_SIZE:
                self._cache.clear()
            counted = Counter(column for v in self.vectorizers for column in v.word_columns(word))
            found = self._cache[word] = (
                np.fromiter(counted.keys(), dtype=np.int64, count=len(counted)),
                np.fromiter(counted.values(), dtype=np.float64, count=len(counted)),
            )
        return found


def _product(left: Rows, right: Rows, columns: int) -> Rows:
    """`left @ right` by scipy's own CSR product routine (int64 indices, float64 data; no repeats result)."""
    rows = len(left.indptr) - 1
    nnz = csr_matmat_maxnnz(rows, columns, left.indptr, left.indices, right.indptr, right.indices)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=np.float64)
    if nnz:
        csr_matmat(rows, columns, left.indptr, left.indices, left.data, right.indptr, right.indices, right.data,
                   indptr, indices, data)
    return Rows(indptr, indices, data)


def _row_sums(matrix: Rows, weights: np.ndarray) -> np.ndarray:
    """`matrix @ weights` for a C-contiguous (features x classes) `weights`: class scores, a row per text."""
    rows = len(matrix.indptr) - 1
    sums = np.zeros((rows, weights.shape[1]))
    csr_matvecs(rows, weights.shape[0], weights.shape[1], matrix.indptr, matrix.indices, matrix.data,
                weights.ravel(), sums.ravel())
    return sums


@dataclass(frozen=True, eq=False)
class FastScorer:
    """Class probabilities of feature texts, equal to `pipeline.predict_proba(texts)`."""

    counts: _Counts
    weights: np.ndarray
    """The coefficients as (features, classes)."""
    intercept: np.ndarray
    binary: bool
    labels: tuple[str, ...] = field(default=())

    @classmethod
    def compile(cls, pipeline: Any, probes: Sequence[str] = PROBES) -> FastScorer | None:
        """A scorer for the pipeline, or None when it has another shape or the probes disagree."""
        expected = pipeline.predict_proba(list(probes))
        try:
            scorer = cls._build(pipeline)
            if scorer is None:
                return None
            together = scorer.probabilities_many(probes)
            alone = np.array([scorer.probabilities(text) for text in probes]).reshape(expected.shape)
        except (AttributeError, TypeError, ValueError, KeyError):
            return None
        for got in (together, alone):
            if not np.allclose(got, expected, rtol=0.0, atol=TOLERANCE):
                return None
        return scorer

    @classmethod
    def _build(cls, pipeline: Any) -> FastScorer | None:
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
        from sklearn.pipeline import FeatureUnion, Pipeline  # type: ignore[import-untyped]

        if csr_matmat is None or not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        union, model = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(union, FeatureUnion) or union.transformer_weights is not None:
            return None
        if not isinstance(model, LogisticRegression):
            return None
        vectorizers: list[_Vectorizer] = []
        offset = 0
        for _name, vectorizer in union.transformer_list:
            if not _plain_tfidf(vectorizer, TfidfVectorizer):
                return None
            vectorizers.append(_Vectorizer(vectorizer, offset))
            offset += vectorizers[-1].size
        coef = np.asarray(model.coef_, dtype=np.float64)
        if coef.shape[1] != offset:
            return None
        per_word = all(v.per_word for v in vectorizers) and len({v.lowercase for v in vectorizers}) == 1
        return cls(
            counts=_WordCounts(vectorizers) if per_word else _Counts(vectorizers),
            weights=np.ascontiguousarray(coef.T),
            intercept=np.asarray(model.intercept_, dtype=np.float64),
            binary=len(model.classes_) == 2,
            labels=tuple(str(label) for label in model.classes_),
        )

    def tfidf(self, texts: Sequence[str]) -> Rows:
        """The union's `transform`: per vectorizer, sublinear TF, IDF, then each row normalized."""
        matrix = self.counts(texts)
        data, columns = matrix.data, matrix.indices
        rows = np.repeat(np.arange(len(texts)), np.diff(matrix.indptr))
        for vectorizer in self.counts.vectorizers:
            mine = (columns >= vectorizer.offset) & (columns < vectorizer.offset + vectorizer.size)
            values = data[mine]
            if vectorizer.sublinear:
                values = np.log(values) + 1.0
            values *= vectorizer.idf[columns[mine] - vectorizer.offset]
            if vectorizer.norm is not None:
                weights = values * values if vectorizer.norm == "l2" else np.abs(values)
                lengths = np.bincount(rows[mine], weights=weights, minlength=len(texts))
                if vectorizer.norm == "l2":
                    lengths = np.sqrt(lengths)
                lengths[lengths == 0.0] = 1.0
                values /= lengths[rows[mine]]
            data[mine] = values
        return matrix

    def probabilities_many(self, texts: Sequence[str]) -> np.ndarray:
        """One row of class probabilities per text."""
        scores = _row_sums(self.tfidf(texts), self.weights) + self.intercept
        if self.binary:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def probabilities(self, text: str) -> np.ndarray:
        return self.probabilities_many([text])[0]


def _plain_tfidf(vectorizer: Any, tfidf_type: Any) -> bool:
    """A fitted TfidfVectorizer on text, with a built-in analyzer and preprocessor and float64 output."""
    return (
        type(vectorizer) is tfidf_type
        and vectorizer.input == "content"
        and vectorizer.analyzer in ("word", "char", "char_wb")
        and not vectorizer.binary
        and vectorizer.dtype in (np.float64, "float64")
        and vectorizer.norm in (None, "l1", "l2")
        and vectorizer.preprocessor is None
        and hasattr(vectorizer, "vocabulary_")
    )


@dataclass(frozen=True, slots=True)
class FastClassifier(Classifier):
    """A `Classifier` whose predictions use the compiled scorer (None: the pipeline, as before)."""

    scorer: FastScorer | None = None

    @classmethod
    def wrap(cls, classifier: Classifier) -> FastClassifier:
        scorer = FastScorer.compile(classifier.pipeline)
        return cls(pipeline=classifier.pipeline, name=classifier.name, metadata=classifier.metadata, scorer=scorer)

    def predict_features(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        if self.scorer is None:
            return Classifier.predict_features(self, texts)
        if not texts:
            return []
        rows = self.scorer.probabilities_many(texts)
        best = np.argmax(rows, axis=1)
        return [(self.scorer.labels[b], float(rows[i, b])) for i, b in enumerate(best.tolist())]

"""Scoring messages with the trained pipeline, fast enough for the intake path, with the same result.

The processor classifies a batch of new tickets inside the write
transaction. scikit-learn's pipeline spends milliseconds per call on
validation and a joblib round per FeatureUnion call, and recomputes every
word's character n-grams in Python for every message: many times the cost of
storing the record. This module reads the fitted vectorizers' vocabulary and
IDF weights and the logistic regression's coefficients once. When every
vectorizer works within words (the shape `router.training` builds: word
unigrams and `char_wb` n-grams), a batch is one array of code points, its
words found and hashed in compiled loops (`gateway.model_kernels`), not one
by one in Python; which columns each word has in every vectorizer is
computed once and cached (words repeat across messages, bounded in size),
and a batch's counting, TF-IDF weighting and scoring are one more compiled
loop per vectorizer. Other vectorizers are counted text by text with their
analyzer, then scored the same way.

A scorer keeps scratch arrays and its word cache between calls: use it from
one thread (the event loop's) at a time.

It is only used when it reproduces the pipeline: `compile` accepts only
TF-IDF vectorizers in a FeatureUnion, then a logistic regression, and checks
its probabilities against the pipeline's own on probe texts; any other model,
or a scikit-learn release that computes differently, keeps the plain pipeline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gateway import model_kernels as kernels
from router.classifier import Classifier

WORD_CACHE_SIZE = 50_000
"""Distinct words whose columns are kept; the cache is emptied when full. A word costs its entry (about 100 bytes
with its text) and 16 bytes for each n-gram of it the model knows (about 20 in a common word), the tables up to
half as much again while they have room to spare: at most about 30 MB when full. A desk's working vocabulary
fits, and the gateway stays well under its memory budget however many one-off words (references, numbers)
arrive."""
LONGEST_HASHED = 256
"""Words longer than this many characters are looked up by their text, not by hash (see `_WordHashes`)."""
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
    "Login fails at https://intranet.example.org/sso/login?next=%2Fportal%2Ftickets%2Fnew&lang=de: password",
)
_VALUED = 0x3001
"""Characters below this have their hash values in a table; every whitespace character is among them."""


class _Vectorizer:
    """One fitted TF-IDF vectorizer of the union; its columns are `offset` to `offset + size` of the model's."""

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
        self.norm_code = kernels.NORMS[self.norm]
        self.counts = np.zeros(self.size)
        """Scratch for the kernels, all zero between calls: each column's count in the text being scored."""
        self.touched = np.zeros(self.size, dtype=np.int64)
        """Scratch for the kernels: the columns the text being scored has."""
        self.word_counts = np.zeros(0)
        """Scratch for `add_scores`, made on its first call (only models scored text by text use it)."""
        self.identity = np.zeros(0, dtype=np.int64)
        """For `add_scores`, made with `word_counts`: each column a "word" of one column, itself."""

    def columns(self, text: str) -> list[int]:
        """The column (among this vectorizer's) of every n-gram of the text it knows, repeats included."""
        get = self.vocabulary.get
        return [column for gram in self.analyze(text) if (column := get(gram)) is not None]

    def add_scores(self, texts: np.ndarray, columns: np.ndarray, weights: np.ndarray, out: np.ndarray) -> None:
        """Adds to `out` (a row per text) this vectorizer's share of the class scores: the TF-IDF of the texts
        (sublinear TF, IDF, each row normalized) times its (size x classes) `weights`. Text i's columns,
        repeats included, are `columns[texts[i]:texts[i + 1]]`."""
        if not len(self.word_counts):
            self.word_counts = np.zeros(self.size)
            self.identity = np.arange(self.size + 1, dtype=np.int64)
        identity = self.identity
        kernels.score_words(texts, columns, identity, identity[:-1], self.idf, weights, self.sublinear,
                            self.norm_code, self.word_counts, self.counts, self.touched, out)


class _GramIndex:
    """A `char_wb` vocabulary by hash, to find the known n-grams of new words in a compiled loop
    (`kernels.gram_columns`): every n-gram of a padded word is hashed and looked up, about fifty per word."""

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int], hashes: _WordHashes) -> None:
        self.low, self.high = ngram_range
        grams = list(vocabulary)
        self.index = _HashIndex(len(grams), spare=2)
        self.index.add(hashes.strings(grams), np.fromiter(vocabulary.values(), dtype=np.int64, count=len(grams)))


class _Counts:
    """Scores texts by counting each vectorizer's n-grams text by text with its analyzer (any built-in analyzer)."""

    def __init__(self, vectorizers: Sequence[_Vectorizer]) -> None:
        self.vectorizers = tuple(vectorizers)

    def add_scores(self, texts: Sequence[str], weights: np.ndarray, out: np.ndarray) -> None:
        """Adds every vectorizer's share of the class scores of the texts to `out`, a row per text."""
        for vectorizer in self.vectorizers:
            indptr = [0]
            columns: list[int] = []
            for text in texts:
                columns += vectorizer.columns(text)
                indptr.append(len(columns))
            vectorizer.add_scores(np.asarray(indptr, dtype=np.int64), np.asarray(columns, dtype=np.int64),
                                  _share(weights, vectorizer), out)


def _share(weights: np.ndarray, vectorizer: _Vectorizer) -> np.ndarray:
    """The vectorizer's rows of the (features x classes) weights."""
    return weights[vectorizer.offset : vectorizer.offset + vectorizer.size]


class _Words(NamedTuple):
    """A batch of texts joined by line breaks (one after each), and its words."""

    joined: str
    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    hashes: np.ndarray
    rows: np.ndarray
    """Each word's row in the tables of known words, -1 for a word the index lacks."""
    texts: np.ndarray
    """Where each text's words start among all: text i's are `[texts[i]:texts[i + 1]]`."""


class _WordHashes:
    """Finds a batch's words (as `str.split` does) and 64-bit hashes of them and their pieces, in compiled loops.

    Splitting a text and looking every word up in a dict costs about a
    thousand instructions per word in Python; here a batch is one array of
    code points. Each character gets a value (whitespace 0, every other
    character a secret random value, drawn per process), and a piece's hash is
    the polynomial sum of its characters' values in a secret random base
    modulo 2**64 (`gateway.model_kernels`; whole words take the powers from
    the last character, n-grams and vocabularies from the first, which is
    the same polynomial on the reversed text and as hard to collide). Two given words collide by chance
    with odds of about 2**-64. The known attack on such sums (two words made of
    two letters in Thue-Morse order, whose hashes differ by the letters'
    difference times a product of factors `1 - base**(2**i)`) needs the product
    to hold 64 factors of 2. With the base 3 or 5 modulo 8, a word of at most
    `LONGEST_HASHED` characters gives it at most 44, so the letters' secret
    values would have to agree in their low 20 bits: nobody outside the process
    can write such a pair (a base of 1 modulo 32, one in eight odd bases, would
    give 64 and a collision for any two letters).
    """

    def __init__(self, *, ascii_case: bool = False) -> None:
        random = np.random.default_rng()
        self._values = random.integers(1, 2**63, size=_VALUED, dtype=np.uint64)
        self._values[[code for code in range(_VALUED) if chr(code).isspace()]] = 0
        if ascii_case:  # "A" hashes as "a": an all-ASCII text needs no lowercased copy (see `_WordCounts`)
            self._values[ord("A"):ord("Z") + 1] = self._values[ord("a"):ord("z") + 1]
        self._seed = np.uint64(random.integers(0, 2**63))
        self._base = np.uint64(int(random.integers(0, 2**61)) * 8 + int(random.choice([3, 5])))  # see above
        self._pad = np.uint64(random.integers(1, 2**63))
        """The value of the space `char_wb` pads words with, in n-grams' hashes (not 0, as in words')."""

    def words(self, texts: Sequence[str], index: _HashIndex) -> _Words:
        """The texts' words, each looked up in `index` (by hash when at most `LONGEST_HASHED` long)."""
        joined = "\n".join(texts) + "\n"
        codes = _codes(joined)
        text_ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1) - 1
        starts, ends, hashes, rows, text_words = kernels.words(
            codes, text_ends, self._values, self._seed, self._base, LONGEST_HASHED, index.hashes, index.rows,
            index.shift)
        return _Words(joined, codes, starts, ends, hashes, rows, text_words)

    def strings(self, strings: Sequence[str]) -> np.ndarray:
        """The hash of each string (a vocabulary's words or n-grams), as the kernels hash what they look up."""
        starts = _indptr(np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)))
        return kernels.string_hashes(_codes("".join(strings)), starts[:-1], starts[1:], self._values, self._seed,
                                     self._base, self._pad)

    def gram_columns(self, words: _Words, starts: np.ndarray, ends: np.ndarray,
                     grams: _GramIndex) -> tuple[np.ndarray, np.ndarray]:
        """The `char_wb` columns of the words `[starts[i]:ends[i]]`, one word after the other, and where each
        word's start."""
        return kernels.gram_columns(words.codes, starts, ends, grams.low, grams.high, self._values, self._seed,
                                    self._base, self._pad, grams.index.hashes, grams.index.rows, grams.index.shift)

    def token_columns(self, words: _Words, starts: np.ndarray, ends: np.ndarray,
                      vocabulary: _HashIndex) -> tuple[np.ndarray, np.ndarray]:
        """The "word" analyzer's columns of the words `[starts[i]:ends[i]]`, one word after the other, and where
        each word's start: its default pattern's tokens are the runs of two or more word characters."""
        return kernels.token_columns(words.codes, starts, ends, _word_characters(), self._values, self._seed,
                                     self._base, vocabulary.hashes, vocabulary.rows, vocabulary.shift)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class _HashIndex:
    """Hash to row (of the word tables, or a vocabulary's column): a linear-probing table in two arrays.

    `spare` times as many slots as entries keep every entry within a few slots of its hash's own: four for
    the word cache, looked up for every word of every message; two for a vocabulary (16 bytes a slot, for up
    to millions of n-grams), looked up only for new words.
    """

    def __init__(self, entries: int, spare: int = 4) -> None:
        bits = max(10, (spare * entries - 1).bit_length())
        self._room = (1 << bits) // spare
        self.shift = np.uint64(64 - bits)
        self.hashes = np.zeros(1 << bits, dtype=np.uint64)
        self.rows = np.full(1 << bits, -1, dtype=np.int64)
        self._count = 0

    def look_up(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's row, -1 for a hash not indexed."""
        return kernels.look_up(hashes, self.hashes, self.rows, self.shift)

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Indexes new entries (distinct hashes, none indexed yet) while there is room (see the class's doc)."""
        room = max(0, self._room - self._count)
        hashes, rows = hashes[:room], rows[:room]
        self._count += len(hashes)
        kernels.add(hashes, rows.astype(np.int64), self.hashes, self.rows, self.shift)

    def clear(self) -> None:
        self.rows.fill(-1)
        self._count = 0


class _WordCounts(_Counts):
    """Scores texts when no n-gram crosses a word, from a table of each known word's columns.

    The batch's words are found and hashed in compiled loops (`_WordHashes`),
    and their hashes give the rows of a table of known words (`_HashIndex`);
    a text's score adds up its words' rows of columns (`kernels.score_words`).
    A new word gets the next row, and its columns are found by hashing each
    of its n-grams (`_GramIndex`) and word tokens and looking them up in an
    index of the vocabulary's. Words longer than `LONGEST_HASHED` are known by
    their text, in a dict.
    """

    def __init__(self, vectorizers: Sequence[_Vectorizer]) -> None:
        super().__init__(vectorizers)
        self.lowercase = vectorizers[0].lowercase
        self.known = 0
        """Rows in the tables: words known."""
        self._long: dict[str, int] = {}
        """The row of each known word longer than `LONGEST_HASHED`."""
        self._tables = [_WordTable() for _ in vectorizers]
        """Per vectorizer, each known word's columns, repeats included."""
        self._hashes = _WordHashes(ascii_case=self.lowercase)
        self._index = _HashIndex(WORD_CACHE_SIZE)
        self._grams = [_GramIndex(v.vocabulary, v.ngram_range, self._hashes) if v.analyzer == "char_wb" else None
                       for v in vectorizers]
        self._vocabularies = [self._vocabulary(v) if v.analyzer == "word" else None for v in vectorizers]
        if any(vectorizer.analyzer == "word" for vectorizer in vectorizers):
            _word_characters()  # made now, not in the first batch that brings a new word
        self._word_counts = np.zeros(1024)
        """Scratch for `kernels.score_words`, as long as the tables at least."""

    def _vocabulary(self, vectorizer: _Vectorizer) -> _HashIndex:
        """The "word" vectorizer's tokens, by hash, to their columns."""
        tokens = list(vectorizer.vocabulary)
        index = _HashIndex(len(tokens), spare=2)
        index.add(self._hashes.strings(tokens), np.fromiter(vectorizer.vocabulary.values(), dtype=np.int64,
                                                             count=len(tokens)))
        return index

    def add_scores(self, texts: Sequence[str], weights: np.ndarray, out: np.ndarray) -> None:
        if self.lowercase:  # ASCII letters' case is folded by their hash values; other scripts by str.lower
            texts = [text if text.isascii() else text.lower() for text in texts]
        words = self._hashes.words(texts, self._index)
        missing = np.flatnonzero(words.rows < 0)
        if len(missing):
            self._add(words, missing)
        if self.known > len(self._word_counts):
            self._word_counts = np.zeros(2 * self.known)
        for vectorizer, table in zip(self.vectorizers, self._tables, strict=True):
            kernels.score_words(words.texts, words.rows, table.indptr, table.columns, vectorizer.idf,
                                _share(weights, vectorizer), vectorizer.sublinear, vectorizer.norm_code,
                                self._word_counts, vectorizer.counts, vectorizer.touched, out)

    def _add(self, words: _Words, missing: np.ndarray) -> None:
        """Fills in the rows of the `missing` words, giving each new one a row in the tables first.

        When they might overfill the cache, it is emptied and the whole batch's words are added again.
        """
        if self.known + len(missing) > WORD_CACHE_SIZE:
            self.known = 0
            self._long.clear()
            self._index.clear()
            for table in self._tables:
                table.clear()
            words.rows.fill(-1)
            missing = np.arange(len(words.rows))
        long = words.ends[missing] - words.starts[missing] > LONGEST_HASHED
        firsts = kernels.claim(words.hashes, words.rows, missing[~long], self.known, self._index.hashes,
                               self._index.rows, self._index.shift)
        self._learn(words, firsts)
        if long.any():
            new: list[int] = []
            for at in missing[long].tolist():
                word = words.joined[words.starts[at]:words.ends[at]]
                row = self._long.get(word)
                if row is None:
                    row = self._long[word] = self.known + len(new)
                    new.append(at)
                words.rows[at] = row
            self._learn(words, np.array(new, dtype=np.int64))

    def _learn(self, words: _Words, firsts: np.ndarray) -> None:
        """Appends to the tables the columns of the words at `firsts`, the next rows in order."""
        if not len(firsts):
            return
        starts, ends = words.starts[firsts], words.ends[firsts]
        for grams, vocabulary, table in zip(self._grams, self._vocabularies, self._tables, strict=True):
            if grams is not None:
                table.append(*self._hashes.gram_columns(words, starts, ends, grams))
            elif vocabulary is not None:
                table.append(*self._hashes.token_columns(words, starts, ends, vocabulary))
        self.known += len(firsts)


@functools.cache
def _word_characters() -> np.ndarray:
    """Whether each code point is one that `re` takes for `\\w` in a str pattern (about 1 MB, made once)."""
    word = np.fromiter(map(str.isalnum, map(chr, range(0x110000))), dtype=bool, count=0x110000)
    word[ord("_")] = True
    return word


class _WordTable:
    """Known words' columns in one vectorizer: CSR rows (a row per word) that grow at the end.

    The arrays keep room to spare and grow by half when full, so adding a
    batch's new words mostly copies only them.
    """

    def __init__(self) -> None:
        self._indptr = np.zeros(1024, dtype=np.int64)
        self._columns = np.zeros(16_384, dtype=np.int64)
        self._words = 0

    @property
    def indptr(self) -> np.ndarray:
        """Word i's columns are `columns[indptr[i]:indptr[i + 1]]`."""
        return self._indptr[:self._words + 1]

    @property
    def columns(self) -> np.ndarray:
        return self._columns[:int(self._indptr[self._words])]

    def append(self, columns: np.ndarray, starts: np.ndarray) -> None:
        """Rows for more words: word i's columns are `columns[starts[i]:starts[i + 1]]` (starts[0] is 0)."""
        words, filled = self._words, int(self._indptr[self._words])
        end, filled_end = words + len(starts) - 1, filled + len(columns)
        if end + 1 > len(self._indptr):
            self._indptr = _grown(self._indptr, end + 1)
        if filled_end > len(self._columns):
            self._columns = _grown(self._columns, filled_end)
        self._indptr[words:end + 1] = starts + filled
        self._columns[filled:filled_end] = columns
        self._words = end

    def clear(self) -> None:
        self._words = 0


def _grown(array: np.ndarray, needed: int) -> np.ndarray:
    """A copy of `array` with room for at least `needed` values, half as long again at least."""
    grown = np.zeros(max(needed, len(array) + len(array) // 2), dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def _indptr(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """CSR row starts (int64) from row lengths."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    indptr[1:] = lengths
    return indptr.cumsum(out=indptr)


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

        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
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

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """The logistic regression's decision function on the union's TF-IDF: a row per text, a column per class."""
        scores = np.zeros((len(texts), len(self.intercept)))
        self.counts.add_scores(texts, self.weights, scores)
        scores += self.intercept
        return scores

    def probabilities_many(self, texts: Sequence[str]) -> np.ndarray:
        """One row of class probabilities per text."""
        scores = self.scores(texts)
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
        best = rows.argmax(axis=1)
        labels = self.scorer.labels
        # one array read for all rows: indexing rows[i, b] from Python makes a numpy scalar per row
        return list(zip([labels[b] for b in best.tolist()], rows[np.arange(len(rows)), best].tolist(), strict=True))

"""Scoring messages with the trained pipeline, fast enough for the intake path, with the same result.

The processor classifies a batch of new tickets inside the write
transaction. scikit-learn's pipeline spends milliseconds per call on
validation and a joblib round per FeatureUnion call, and recomputes every
word's character n-grams in Python for every message: many times the cost of
storing the record. This module reads the fitted vectorizers' vocabulary and
IDF weights and the logistic regression's coefficients once. When every
vectorizer works within words (the shape `router.training` builds: word
unigrams and `char_wb` n-grams), a batch is one array of code points, its
words found and hashed by array operations, not one by one in Python; which
columns each word has in every vectorizer is computed once and cached (words
repeat across messages, bounded in size), the words a batch brings for the
first time all at once, and a batch's counting, TF-IDF weighting and scoring
are a few sparse matrix operations per vectorizer. Other vectorizers are
counted text by text with their analyzer.

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
import scipy.sparse as sparse  # type: ignore[import-untyped]

try:  # scipy's CSR product routines, without its matrix objects; `FastScorer.compile` checks the result
    from scipy.sparse._sparsetools import (  # type: ignore[import-untyped]
        csr_matmat,
        csr_matvec,
        csr_matvecs,
    )
except ImportError:  # pragma: no cover - another scipy: the plain pipeline is used
    csr_matmat = csr_matvec = csr_matvecs = None

from router.classifier import Classifier

WORD_CACHE_SIZE = 50_000
"""Distinct words whose columns are kept; the cache is emptied when full. A word costs its entry (about 100 bytes
with its text) and 16 bytes for each n-gram of it the model knows (about 20 in a common word), the tables up to
half as much again while they have room to spare: at most about 30 MB when full. A desk's working vocabulary
fits, and the gateway stays well under its memory budget however many one-off words (references, numbers)
arrive."""
LONGEST_HASHED = 256
"""Words longer than this many characters are looked up by their text, not by hash (see `_WordHashes`)."""
KEPT_POWERS = 1 << 18
"""Powers of the word hash's base kept between batches (4 MB); a batch of more characters computes its own."""
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
_NO_COLUMNS = np.zeros(0, dtype=np.int64)
_VALUED = 0x3001
"""Characters below this have their hash values in a table; every whitespace character is among them."""
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SUBLINEAR = np.concatenate([[0.0], np.log(np.arange(1, 1024, dtype=np.float64)) + 1.0])
"""Sublinear TF (1 + log count) of the counts below 1024, read from a table rather than computed (a stored
count is never 0)."""


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
        self._ones = np.ones(self.size)

    def columns(self, text: str) -> list[int]:
        """The column (among this vectorizer's) of every n-gram of the text it knows, repeats included."""
        get = self.vocabulary.get
        return [column for gram in self.analyze(text) if (column := get(gram)) is not None]

    def scores(self, counts: Rows, weights: np.ndarray) -> np.ndarray:
        """This vectorizer's TF-IDF of the counts (sublinear TF, IDF, each row normalized) times its
        C-contiguous (size x classes) `weights`: its share of the class scores, a row per text.

        A row is normalized by dividing its scores by its length, rather than each of its values before
        scoring: the same up to rounding, and an operation per text instead of one per value. `counts.data`
        may be overwritten.
        """
        values = counts.data
        if self.sublinear:
            if len(values) and values.max() < len(_SUBLINEAR):  # counts are whole numbers, nearly all small
                values = _SUBLINEAR[values.astype(np.intp)]
            else:
                np.log(values, out=values)
                values += 1.0
        values *= self.idf[counts.indices]
        rows, classes = len(counts.indptr) - 1, weights.shape[1]
        scores = np.zeros((rows, classes))
        csr_matvecs(rows, self.size, classes, counts.indptr, counts.indices, values, weights.ravel(), scores.ravel())
        if self.norm is not None:
            lengths = np.zeros(rows)
            weighed = values * values if self.norm == "l2" else np.abs(values)
            csr_matvec(rows, self.size, counts.indptr, counts.indices, weighed, self._ones, lengths)  # row sums
            if self.norm == "l2":
                np.sqrt(lengths, out=lengths)
            lengths[lengths == 0.0] = 1.0
            scores /= lengths[:, np.newaxis]
        return scores


class _GramTrie:
    """A `char_wb` vocabulary as a trie, to find the known n-grams of many words with a few array operations.

    Cutting every n-gram of a new word out as a string and looking it up costs
    about a hundred Python steps per word, and most of a reference or a number
    is no known n-gram at all. Here every position of the words (each padded
    with a space, as scikit-learn's `_char_wb_ngrams` does) walks the trie of
    the vocabulary's prefixes, all positions in step, one character per step,
    for at most the longest n-gram's length; a position leaves the walk as soon
    as its characters are no known n-gram's beginning. Nodes are prefixes (0:
    the empty one), a node's column is that of the n-gram it spells (-1: none),
    and the edges are sorted keys `node * base + character rank` for
    `np.searchsorted` (rank 0: a character no n-gram has, which no edge takes).
    """

    def __init__(self, vocabulary: dict[str, int], ngram_range: tuple[int, int]) -> None:
        self.low, self.high = ngram_range
        prefixes = sorted({gram[:end] for gram in vocabulary for end in range(1, len(gram) + 1)})
        node = {"": 0} | {prefix: number for number, prefix in enumerate(prefixes, 1)}
        characters = sorted({ord(character) for gram in vocabulary for character in gram})
        rank = {chr(code): number for number, code in enumerate(characters, 1)}
        self.base = len(characters) + 1
        # A last entry above every key or code point keeps `np.searchsorted` positions inside the arrays.
        self.characters = np.array([*characters, 2**32 - 1], dtype=np.int64)
        edges = np.array([node[prefix[:-1]] * self.base + rank[prefix[-1]] for prefix in prefixes], dtype=np.int64)
        order = np.argsort(edges)
        self.edges = np.append(edges[order], np.iinfo(np.int64).max)
        self.children = np.arange(1, len(prefixes) + 1, dtype=np.int64)[order]
        self.column = np.full(len(node), -1, dtype=np.int64)
        for gram, column in vocabulary.items():
            self.column[node[gram]] = column

    def columns(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The columns of every known n-gram of each word, repeats included, one word after the other, and where
        each word's columns start: word i's are `[starts[i]:starts[i + 1]]`.

        scikit-learn counts, in a padded word of length L, the n-grams of every length n from low to high
        that fit in it, and a word shorter than low once, whole.
        """
        text = f" {'  '.join(words)} "
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        at = np.searchsorted(self.characters, codes)
        # A walk never leaves its word: no n-gram has two spaces in a row, and words are apart by two (the
        # last one's, then the next one's); past the text, rank 0, which no edge takes.
        ranks = np.zeros(len(codes) + self.high, dtype=np.int64)
        ranks[:len(codes)] = np.where(self.characters[at] == codes, at + 1, 0)
        sizes = np.fromiter(map(len, words), dtype=np.int64, count=len(words)) + 2
        owners = np.repeat(np.arange(len(words)), sizes)  # the word of each position
        starts = np.arange(len(codes))
        nodes = np.zeros(len(codes), dtype=np.int64)
        found_starts, found_columns = [], []
        for n in range(1, self.high + 1):
            keys = nodes * self.base + ranks[starts + (n - 1)]
            at = np.searchsorted(self.edges, keys)
            known = self.edges[at] == keys
            starts, nodes = starts[known], self.children[at[known]]
            if not len(starts):
                break
            columns = self.column[nodes]
            # Shorter than low, scikit-learn counts only a word too short for low, whole.
            counted = columns >= 0 if n >= self.low else (columns >= 0) & (sizes[owners[starts]] == n)
            found_starts.append(starts[counted])
            found_columns.append(columns[counted])
        owned = owners[np.concatenate([_NO_COLUMNS, *found_starts])]
        columns = np.concatenate([_NO_COLUMNS, *found_columns])[np.argsort(owned, kind="stable")]
        return columns, _indptr(np.bincount(owned, minlength=len(words)))


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
    """Term counts of a batch of texts: per vectorizer, (texts x its columns), no repeated column within a row."""

    def __init__(self, vectorizers: Sequence[_Vectorizer]) -> None:
        self.vectorizers = tuple(vectorizers)

    def __call__(self, texts: Sequence[str]) -> list[Rows]:
        matrices = []
        for vectorizer in self.vectorizers:
            indptr = [0]
            indices: list[int] = []
            for text in texts:
                indices += vectorizer.columns(text)
                indptr.append(len(indices))
            matrix = sparse.csr_matrix(
                (np.ones(len(indices)), np.asarray(indices, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
                shape=(len(texts), vectorizer.size),
            )
            matrix.sum_duplicates()
            matrices.append(Rows(matrix.indptr, matrix.indices, matrix.data))
        return matrices


class _Spans(NamedTuple):
    """A string as code points, with what the hash of any piece of it is read from in two array operations."""

    codes: np.ndarray
    sums: np.ndarray
    """Running sums of each character's value times the base to the power of its position."""
    inverse_powers: np.ndarray

    def hashes(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """The hash of each piece `[starts[i]:ends[i]]`: its characters' values times the base's powers 0, 1, ..."""
        return (self.sums[ends] - self.sums[starts]) * self.inverse_powers[starts]


class _Words(NamedTuple):
    """A batch of texts joined by line breaks (one before the first and after the last too), and its words."""

    joined: str
    spans: _Spans
    starts: np.ndarray
    ends: np.ndarray
    hashes: np.ndarray
    texts: np.ndarray
    """Where each text's words start among all: text i's are `[texts[i]:texts[i + 1]]`."""


class _WordHashes:
    """Finds a batch's words (as `str.split` does) and 64-bit hashes of them and their pieces, with array operations.

    Splitting a text and looking every word up in a dict costs about a
    thousand instructions per word in Python; here a batch is one array of
    code points. Each character gets a value (whitespace 0, every other
    character a secret random value, drawn per process), and a piece's hash is
    the polynomial sum of its characters' values in a secret random base
    modulo 2**64, read off one running sum of the whole batch. Two given words
    collide by chance with odds of about 2**-64. The known attack on such sums
    (two words made of two letters in Thue-Morse order, whose hashes differ by
    the letters' difference times a product of factors `1 - base**(2**i)`)
    needs the product to hold 64 factors of 2. With the base 3 or 5 modulo 8,
    a word of at most `LONGEST_HASHED` characters gives it at most 44, so the
    letters' secret values would have to agree in their low 20 bits: nobody
    outside the process can write such a pair (a base of 1 modulo 32, one in
    eight odd bases, would give 64 and a collision for any two letters).
    """

    def __init__(self) -> None:
        random = np.random.default_rng()
        self._values = random.integers(1, 2**63, size=_VALUED + 1, dtype=np.uint64)
        self._values[[code for code in range(_VALUED) if chr(code).isspace()]] = 0
        self._seed = random.integers(0, 2**63, size=1, dtype=np.uint64)
        base = int(random.integers(0, 2**61)) * 8 + int(random.choice([3, 5]))  # see the class's doc
        inverse = base  # Newton's iteration: each step doubles the bits of base * inverse == 1 (mod 2**64)
        for _ in range(6):
            inverse = inverse * (2 - base * inverse) % 2**64
        self._base, self._inverse = base, inverse
        self._powers = self._inverse_powers = np.zeros(0, dtype=np.uint64)

    def words(self, texts: Sequence[str]) -> _Words:
        joined = "\n" + "\n".join(texts) + "\n"
        spans = self.spans(joined)
        space = np.ones(len(spans.codes) + 1, dtype=bool)
        np.equal(spans.sums[1:], spans.sums[:-1], out=space[1:])  # a value of 0 added nothing
        edges = np.flatnonzero(space[1:] != space[:-1])  # a word's start, then its end, and so on
        starts, ends = edges[0::2], edges[1::2]
        text_starts = _indptr(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
        return _Words(joined, spans, starts, ends, spans.hashes(starts, ends), np.searchsorted(starts, text_starts))

    def spans(self, text: str) -> _Spans:
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        values = np.take(self._values, codes, mode="clip")
        if len(codes) and codes.max() >= _VALUED:  # beyond the table (CJK, emoji): a value computed from the code
            beyond = codes >= _VALUED
            values[beyond] = _mixed(codes[beyond] ^ self._seed)
        powers, inverse_powers = self._powers_for(len(codes) + 1)
        sums = np.empty(len(codes) + 1, dtype=np.uint64)
        sums[0] = 0
        np.multiply(values, powers[:-1], out=values)
        np.cumsum(values, out=sums[1:])
        return _Spans(codes, sums, inverse_powers)

    def strings(self, strings: Sequence[str]) -> np.ndarray:
        """The hash of each string."""
        spans = self.spans("".join(strings))
        starts = _indptr(np.fromiter(map(len, strings), dtype=np.int64, count=len(strings)))
        return spans.hashes(starts[:-1], starts[1:])

    def _powers_for(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """The base's powers 0 to length - 1, and its inverse's; kept for batches up to `KEPT_POWERS` long."""
        if len(self._powers) >= length:
            return self._powers[:length], self._inverse_powers[:length]
        size = max(length, min(2 * len(self._powers), KEPT_POWERS), 4096)
        powers, inverse_powers = _powers(self._base, size), _powers(self._inverse, size)
        if size <= KEPT_POWERS:
            self._powers, self._inverse_powers = powers, inverse_powers
        return powers[:length], inverse_powers[:length]


def _powers(base: int, count: int) -> np.ndarray:
    powers = np.full(count, base, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, out=powers)


def _mixed(codes: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a value for each (seeded) code point, never 0 (0 is whitespace)."""
    x = codes.astype(np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x | np.uint64(1)


class _HashIndex:
    """Hash to row (of the word tables, or a vocabulary's column): linear probing in two arrays, for whole batches.

    Four times as many slots as entries keep every entry within a few slots of
    its hash's own (`_farthest`), so a lookup reads the hash's own slot for
    every key at once, and then, for the keys that found another entry there,
    every slot up to the farthest in one more gather: two rounds of array
    operations, however long the longest run.
    """

    def __init__(self, entries: int) -> None:
        self._bits = max(10, (4 * entries - 1).bit_length())
        self._mask = (1 << self._bits) - 1
        self._shift = np.uint64(64 - self._bits)
        self._hashes = np.zeros(1 << self._bits, dtype=np.uint64)
        self._rows = np.full(1 << self._bits, -1, dtype=np.int64)
        self._count = 0
        self._farthest = np.zeros(0, dtype=np.int64)
        """1 to the farthest any entry sits from its hash's own slot."""
        self._claims = np.zeros(1 << self._bits, dtype=np.int64)
        """Scratch for `add`: who wants each slot."""

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        return ((hashes * _GOLDEN) >> self._shift).astype(np.int64)  # the hash's best-mixed bits

    def look_up(self, hashes: np.ndarray) -> np.ndarray:
        """Each hash's row, -1 for a hash not indexed."""
        slots = self._slots(hashes)
        rows = self._rows[slots]
        elsewhere = np.flatnonzero((rows >= 0) & (self._hashes[slots] != hashes))
        rows[elsewhere] = -1
        if len(elsewhere) and len(self._farthest):
            further = (slots[elsewhere, np.newaxis] + self._farthest) & self._mask
            found = (self._hashes[further] == hashes[elsewhere, np.newaxis]) & (self._rows[further] >= 0)
            there = np.flatnonzero(found.any(axis=1))
            rows[elsewhere[there]] = self._rows[further[there, found[there].argmax(axis=1)]]
        return rows

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Indexes new entries (distinct hashes, none indexed yet), while at most a quarter of the slots are taken.

        Entries that want the same free slot in a round are told apart by writing each one's number there
        in a scratch array: the one whose number stays takes the slot, the others try the next slot.
        """
        room = max(0, len(self._rows) // 4 - self._count)
        hashes, rows = hashes[:room], rows[:room]
        self._count += len(hashes)
        slots = self._slots(hashes)
        distance = 0
        while len(slots):
            free = np.flatnonzero(self._rows[slots] < 0)
            wanted = slots[free]
            self._claims[wanted] = free
            won = self._claims[wanted] == free
            placed, taken = free[won], wanted[won]
            self._hashes[taken], self._rows[taken] = hashes[placed], rows[placed]
            if len(placed) and distance > len(self._farthest):
                self._farthest = np.arange(1, distance + 1)
            left = np.ones(len(slots), dtype=bool)
            left[placed] = False
            hashes, rows, slots = hashes[left], rows[left], (slots[left] + 1) & self._mask
            distance += 1

    def clear(self) -> None:
        self._rows.fill(-1)
        self._count = 0
        self._farthest = self._farthest[:0]


class _WordCounts(_Counts):
    """Counts when no n-gram crosses a word: (texts x words) times (words x columns), sparse products.

    The batch's words are found and hashed with array operations
    (`_WordHashes`), and their hashes give the rows of a table of known words
    (`_HashIndex`). A first product (by the identity) adds up repeated words,
    and a second product per vectorizer turns the words' counts into n-gram
    counts, from the table's rows of that vectorizer's columns. Only the words
    the index lacks are cut out of the text as strings, to be looked up by
    their text: new words, and words longer than `LONGEST_HASHED`. A new
    word's `char_wb` n-grams are found by walking a trie of the vocabulary
    (`_GramTrie`), its word tokens from the same running sums as its hash:
    each token's hash, looked up in an index of the vocabulary's.
    """

    def __init__(self, vectorizers: Sequence[_Vectorizer]) -> None:
        super().__init__(vectorizers)
        self.lowercase = vectorizers[0].lowercase
        self._known: dict[str, int] = {}
        """Each known word's row in the tables."""
        self._tables = [_WordTable() for _ in vectorizers]
        """Per vectorizer, each known word's columns, repeats included (the product adds them up)."""
        self._hashes = _WordHashes()
        self._index = _HashIndex(WORD_CACHE_SIZE)
        self._tries = [_GramTrie(v.vocabulary, v.ngram_range) if v.analyzer == "char_wb" else None
                       for v in vectorizers]
        self._vocabularies = [self._vocabulary(v) if v.analyzer == "word" else None for v in vectorizers]
        if any(vectorizer.analyzer == "word" for vectorizer in vectorizers):
            _word_characters()  # made now, not in the first batch that brings a new word
        self._identity = np.arange(1025, dtype=np.int64)
        self._ones = np.ones(1024)

    def _vocabulary(self, vectorizer: _Vectorizer) -> _HashIndex:
        """The "word" vectorizer's tokens, by hash, to their columns."""
        tokens = list(vectorizer.vocabulary)
        index = _HashIndex(len(tokens))
        index.add(self._hashes.strings(tokens), np.fromiter(vectorizer.vocabulary.values(), dtype=np.int64,
                                                             count=len(tokens)))
        return index

    def __call__(self, texts: Sequence[str]) -> list[Rows]:
        words = self._hashes.words([text.lower() for text in texts] if self.lowercase else texts)
        rows = self._index.look_up(words.hashes)
        long = np.flatnonzero(words.ends - words.starts > LONGEST_HASHED)
        rows[long] = -1
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            rows = self._add(words, rows, missing)
        known = len(self._known)
        if known + 1 > len(self._identity) or len(rows) > len(self._ones):
            self._identity = np.arange(2 * max(known, len(rows)) + 1, dtype=np.int64)
            self._ones = np.ones(len(self._identity) - 1)
        counts = _product(Rows(words.texts, rows, self._ones[:len(rows)]),
                          Rows(self._identity[:known + 1], self._identity[:known], self._ones[:known]), known)
        return [_product(counts, table.rows(), vectorizer.size)
                for vectorizer, table in zip(self.vectorizers, self._tables, strict=True)]

    def _add(self, words: _Words, rows: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """`rows` with those of the missing words filled in, the words the tables lack added first, all together.

        When they would overfill the cache, it is emptied and the whole batch's words are added again.
        """
        known = self._known
        cut = _cut(words.joined, words.starts[missing], words.ends[missing])
        first = dict(zip(reversed(cut), reversed(missing.tolist()), strict=True))  # each word's first occurrence
        new = [word for word in first if word not in known]
        if len(known) + len(new) > WORD_CACHE_SIZE:
            known.clear()
            for table in self._tables:
                table.clear()
            self._index.clear()
            missing, rows = np.arange(len(rows)), np.full(len(rows), -1, dtype=np.int64)
            cut = _cut(words.joined, words.starts, words.ends)
            first = dict(zip(reversed(cut), reversed(missing.tolist()), strict=True))
            new = list(first)
        first_new = len(known)
        if new:
            at = np.fromiter(map(first.__getitem__, new), dtype=np.int64, count=len(new))
            starts, ends = words.starts[at], words.ends[at]
            for trie, vocabulary, table in zip(self._tries, self._vocabularies, self._tables, strict=True):
                if trie is not None:
                    table.append(*trie.columns(new))
                elif vocabulary is not None:
                    table.append(*self._token_columns(vocabulary, words.spans, starts, ends))
            known.update(zip(new, range(first_new, first_new + len(new)), strict=True))
            hashed = ends - starts <= LONGEST_HASHED  # a longer word is looked up by its text, never by hash
            self._index.add(words.hashes[at[hashed]], np.arange(first_new, first_new + len(new))[hashed])
        rows[missing] = np.fromiter(map(known.__getitem__, cut), dtype=np.int64, count=len(cut))
        return rows

    def _token_columns(self, vocabulary: _HashIndex, spans: _Spans, starts: np.ndarray,
                       ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The "word" analyzer's columns of the words `[starts[i]:ends[i]]` of `spans`, one word after the other,
        and where each word's start: its default pattern's tokens are the runs of two or more word characters."""
        sizes = ends - starts + 1  # each word and the whitespace after it, which ends its last run
        ends_in_all = _indptr(sizes)
        positions = np.repeat(starts - ends_in_all[:-1], sizes) + np.arange(ends_in_all[-1])
        inside = np.zeros(len(positions) + 1, dtype=bool)
        np.take(_word_characters(), spans.codes[positions], out=inside[1:])
        edges = np.flatnonzero(inside[1:] != inside[:-1])  # a run's start, then its end
        run_starts, run_ends = edges[0::2], edges[1::2]
        long_enough = run_ends - run_starts >= 2
        run_starts, run_ends = run_starts[long_enough], run_ends[long_enough]
        at = positions[run_starts]
        columns = vocabulary.look_up(spans.hashes(at, at + (run_ends - run_starts)))
        counted = columns >= 0
        owners = np.searchsorted(ends_in_all, run_starts[counted], side="right") - 1
        return columns[counted], _indptr(np.bincount(owners, minlength=len(starts)))


@functools.cache
def _word_characters() -> np.ndarray:
    """Whether each code point is one that `re` takes for `\\w` in a str pattern (about 1 MB, made once)."""
    word = np.fromiter(map(str.isalnum, map(chr, range(0x110000))), dtype=bool, count=0x110000)
    word[ord("_")] = True
    return word


def _cut(text: str, starts: np.ndarray, ends: np.ndarray) -> list[str]:
    return list(map(text.__getitem__, map(slice, starts.tolist(), ends.tolist())))


class _WordTable:
    """Known words' columns in one vectorizer: CSR rows (a row per word, all values 1) that grow at the end.

    The arrays keep room to spare and grow by half when full, so adding a
    batch's new words mostly copies only them, and `rows` is a view, not a copy.
    """

    def __init__(self) -> None:
        self._indptr = np.zeros(1024, dtype=np.int64)
        self._indices = np.zeros(16_384, dtype=np.int64)
        self._ones = np.ones(16_384)
        self._words = 0

    def append(self, columns: np.ndarray, starts: np.ndarray) -> None:
        """Rows for more words: word i's columns are `columns[starts[i]:starts[i + 1]]` (starts[0] is 0)."""
        words, filled = self._words, int(self._indptr[self._words])
        end, filled_end = words + len(starts) - 1, filled + len(columns)
        if end + 1 > len(self._indptr):
            self._indptr = _grown(self._indptr, end + 1, 0)
        if filled_end > len(self._indices):
            self._indices = _grown(self._indices, filled_end, 0)
            self._ones = _grown(self._ones, filled_end, 1.0)
        self._indptr[words:end + 1] = starts + filled
        self._indices[filled:filled_end] = columns
        self._words = end

    def rows(self) -> Rows:
        filled = int(self._indptr[self._words])
        return Rows(self._indptr[:self._words + 1], self._indices[:filled], self._ones[:filled])

    def clear(self) -> None:
        self._words = 0


def _grown(array: np.ndarray, needed: int, fill: float) -> np.ndarray:
    """A copy of `array` with room for at least `needed` values, half as long again at least; new values `fill`."""
    grown = np.full(max(needed, len(array) + len(array) // 2), fill, dtype=array.dtype)
    grown[:len(array)] = array
    return grown


def _indptr(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """CSR row starts (int64) from row lengths."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    indptr[1:] = lengths
    return indptr.cumsum(out=indptr)


def _product(left: Rows, right: Rows, columns: int) -> Rows:
    """`left @ right` by scipy's own CSR product routine (int64 indices, float64 data).

    A column repeated within a row of either matrix is added up: the result has no repeats. The result's room is
    every product term (the right rows each left entry picks, read in two gathers) rather than the exact count,
    which scipy's `csr_matmat_maxnnz` would find in a pass as long as the product's own.
    """
    rows = len(left.indptr) - 1
    room = int((right.indptr[left.indices + 1] - right.indptr[left.indices]).sum())
    indptr = np.zeros(rows + 1, dtype=np.int64)
    indices = np.empty(room, dtype=np.int64)
    data = np.empty(room, dtype=np.float64)
    if room:
        csr_matmat(rows, columns, left.indptr, left.indices, left.data, right.indptr, right.indices, right.data,
                   indptr, indices, data)
    filled = int(indptr[-1])
    return Rows(indptr, indices[:filled], data[:filled])


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

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """The logistic regression's decision function on the union's TF-IDF: a row per text, a column per class."""
        weights = self.weights
        shares = [
            vectorizer.scores(counts, weights[vectorizer.offset : vectorizer.offset + vectorizer.size])
            for vectorizer, counts in zip(self.counts.vectorizers, self.counts(texts), strict=True)
        ]
        return sum(shares, start=self.intercept)

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
        best = np.argmax(rows, axis=1)
        return [(self.scorer.labels[b], float(rows[i, b])) for i, b in enumerate(best.tolist())]

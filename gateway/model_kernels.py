"""The model scorer's inner loops, compiled by numba: words found, hashed, looked up, counted and scored.

Done with array operations, a batch of 64 one-kilobyte messages took a few
dozen numpy calls per step, and each call's fixed cost (about a microsecond)
outweighed its arithmetic: the model cost more than half of what storing the
message did. These loops do the same work one character and one column at
a time, as machine code, with no call per step. They take and give only
arrays and numbers, so `gateway.model_scorer` keeps the data structures and
this module the loops; numba keeps the compiled code on disk (`cache=True`),
so only the first start after an install compiles it (a few seconds).

Hashes are polynomial sums modulo 2**64 of each character's secret value
(whitespace 0) in a secret base; see `gateway.model_scorer._WordHashes` for
why they are safe to trust without comparing the text.
"""

from __future__ import annotations

import numpy as np
from numba import njit  # type: ignore[import-untyped]

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
"""Fibonacci hashing's multiplier: a slot is the top bits of hash times this."""
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_NORM_L1 = 1
_NORM_L2 = 2
NORMS = {None: 0, "l1": _NORM_L1, "l2": _NORM_L2}
"""A vectorizer's `norm` as the kernels take it."""
_SUBLINEAR = np.concatenate((np.zeros(1), np.log(np.arange(1, 1024, dtype=np.float64)) + 1.0))
"""Sublinear TF (1 + log count) of the counts below 1024, read from a table rather than computed (a count
is a whole number, never 0, and nearly always small)."""


@njit(cache=True)
def _value(code: int, values: np.ndarray, seed: np.uint64) -> np.uint64:
    """A character's secret value: from the table below its length, else splitmix64's finalizer of the seeded
    code (never 0: only whitespace is 0, and every whitespace character is in the table)."""
    if code < len(values):
        return values[code]
    x = np.uint64(code) ^ seed
    x ^= x >> np.uint64(30)
    x *= _MIX_1
    x ^= x >> np.uint64(27)
    x *= _MIX_2
    x ^= x >> np.uint64(31)
    return x | _ONE


@njit(cache=True)
def _find(h: np.uint64, hashes: np.ndarray, rows: np.ndarray, shift: np.uint64) -> int:
    """The row of hash `h` in a linear-probing table (`hashes`, `rows`; -1 marks a free slot), or -1."""
    mask = len(rows) - 1
    slot = np.int64((h * GOLDEN) >> shift)
    while True:
        row = rows[slot]
        if row < 0 or hashes[slot] == h:
            return row
        slot = (slot + 1) & mask


@njit(cache=True)
def look_up(keys: np.ndarray, hashes: np.ndarray, rows: np.ndarray, shift: np.uint64) -> np.ndarray:
    """Each key's row in the table, -1 for a key not in it."""
    found = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        found[i] = _find(keys[i], hashes, rows, shift)
    return found


@njit(cache=True)
def add(keys: np.ndarray, new_rows: np.ndarray, hashes: np.ndarray, rows: np.ndarray, shift: np.uint64) -> None:
    """Puts keys (distinct, none in the table yet) in the first free slot from their own on."""
    for i in range(len(keys)):
        _insert(keys[i], new_rows[i], hashes, rows, shift)


@njit(cache=True)
def _insert(key: np.uint64, row: int, hashes: np.ndarray, rows: np.ndarray, shift: np.uint64) -> None:
    mask = len(rows) - 1
    slot = np.int64((key * GOLDEN) >> shift)
    while rows[slot] >= 0:
        slot = (slot + 1) & mask
    hashes[slot] = key
    rows[slot] = row


@njit(cache=True)
def words(codes: np.ndarray, text_ends: np.ndarray, values: np.ndarray, seed: np.uint64, base: np.uint64,
          longest: int, hashes: np.ndarray, rows: np.ndarray, shift: np.uint64
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The words of texts joined by whitespace (runs of characters whose value is not 0, as `str.split` finds
    them): each one's start, end, hash and row in the table (-1: not there, or longer than `longest`), and
    where each text's words start among all (text i ends before `text_ends[i]`, a whitespace character).

    A word's hash is taken highest power first (Horner's rule: one multiplication a character): the same
    polynomial as `string_hashes` gives for the word reversed. Only this function hashes words, so the two
    orders never meet; an inner loop per word and one per run of whitespace keep each character's test short.
    """
    room = (len(codes) + 1) // 2
    starts = np.empty(room, dtype=np.int64)
    ends = np.empty(room, dtype=np.int64)
    found_hashes = np.empty(room, dtype=np.uint64)
    found_rows = np.empty(room, dtype=np.int64)
    texts = np.zeros(len(text_ends) + 1, dtype=np.int64)
    size = len(codes)
    count = 0
    text = 0
    at = 0
    while at < size:
        value = _value(codes[at], values, seed)
        if value == _ZERO:
            while text < len(text_ends) and at >= text_ends[text]:
                text += 1
                texts[text] = count
            at += 1
            continue
        start = at
        h = _ZERO
        while True:
            h = h * base + value
            at += 1
            if at == size:
                break
            value = _value(codes[at], values, seed)
            if value == _ZERO:
                break
        starts[count], ends[count], found_hashes[count] = start, at, h
        found_rows[count] = _find(h, hashes, rows, shift) if at - start <= longest else -1
        count += 1
    while text < len(text_ends):
        text += 1
        texts[text] = count
    return starts[:count], ends[:count], found_hashes[:count], found_rows[:count], texts


@njit(cache=True)
def token_columns(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, word: np.ndarray, values: np.ndarray,
                  seed: np.uint64, base: np.uint64, hashes: np.ndarray, rows: np.ndarray, shift: np.uint64
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The "word" analyzer's columns of the words `codes[starts[i]:ends[i]]`, one word after the other, and where
    each word's start: its default pattern's tokens are the runs of two or more characters `word` marks."""
    room = 0
    for i in range(len(starts)):
        room += (ends[i] - starts[i]) // 2 + 1
    columns = np.empty(room, dtype=np.int64)
    indptr = np.zeros(len(starts) + 1, dtype=np.int64)
    count = 0
    for i in range(len(starts)):
        run = -1
        h = _ZERO
        power = _ONE
        for at in range(starts[i], ends[i] + 1):
            code = codes[at] if at < ends[i] else 0
            if at < ends[i] and word[code]:
                if run < 0:
                    run, h, power = at, _ZERO, _ONE
                h += _value(code, values, seed) * power
                power *= base
                continue
            if run >= 0 and at - run >= 2:
                column = _find(h, hashes, rows, shift)
                if column >= 0:
                    columns[count] = column
                    count += 1
            run = -1
        indptr[i + 1] = count
    return columns[:count], indptr


@njit(cache=True)
def _score_counted(counts: np.ndarray, touched: np.ndarray, size: int, idf: np.ndarray, weights: np.ndarray,
                   sublinear: bool, norm: int, out: np.ndarray) -> None:
    """Adds to `out` the TF-IDF of the counts of the `size` columns in `touched` times their weights, divided by
    the row's length (the same as normalizing the row first, up to rounding); zeroes those counts."""
    classes = weights.shape[1]
    share = np.zeros(classes)
    length = 0.0
    for i in range(size):
        column = touched[i]
        tf = counts[column]
        counts[column] = 0.0
        if sublinear:
            tf = _SUBLINEAR[int(tf)] if tf < len(_SUBLINEAR) else np.log(tf) + 1.0
        value = tf * idf[column]
        length += value * value if norm == _NORM_L2 else abs(value)
        for k in range(classes):
            share[k] += value * weights[column, k]
    if norm == _NORM_L2:
        length = np.sqrt(length)
    if norm == 0 or length == 0.0:
        length = 1.0
    for k in range(classes):
        out[k] += share[k] / length


@njit(cache=True)
def score_words(texts: np.ndarray, word_rows: np.ndarray, table_indptr: np.ndarray, table_columns: np.ndarray,
                idf: np.ndarray, weights: np.ndarray, sublinear: bool, norm: int, word_counts: np.ndarray,
                counts: np.ndarray, touched: np.ndarray, out: np.ndarray) -> None:
    """Adds each text's share of the class scores to its row of `out`: text i's words are
    `word_rows[texts[i]:texts[i + 1]]`, rows of a table of each word's columns (repeats counted).

    `word_counts` (as long as the table) and `counts` and `touched` (as long as the vocabulary) are zeroed
    scratch, left zeroed."""
    words_seen = np.empty(len(word_rows), dtype=np.int64)
    for text in range(len(texts) - 1):
        distinct = 0
        for i in range(texts[text], texts[text + 1]):
            row = word_rows[i]
            if word_counts[row] == 0.0:
                words_seen[distinct] = row
                distinct += 1
            word_counts[row] += 1.0
        size = 0
        for i in range(distinct):
            row = words_seen[i]
            times = word_counts[row]
            word_counts[row] = 0.0
            for at in range(table_indptr[row], table_indptr[row + 1]):
                column = table_columns[at]
                if counts[column] == 0.0:
                    touched[size] = column
                    size += 1
                counts[column] += times
        _score_counted(counts, touched, size, idf, weights, sublinear, norm, out[text])


@njit(cache=True)
def claim(hashes: np.ndarray, rows: np.ndarray, missing: np.ndarray, first_row: int, index_hashes: np.ndarray,
          index_rows: np.ndarray, shift: np.uint64) -> np.ndarray:
    """Gives each distinct hash among the words `missing` the next row from `first_row` on, in order of first
    occurrence, indexes it and writes every such word's row into `rows`; returns the first occurrences."""
    firsts = np.empty(len(missing), dtype=np.int64)
    count = 0
    for word in missing:
        row = _find(hashes[word], index_hashes, index_rows, shift)
        if row < 0:
            row = first_row + count
            firsts[count] = word
            count += 1
            _insert(hashes[word], row, index_hashes, index_rows, shift)
        rows[word] = row
    return firsts[:count]


@njit(cache=True)
def string_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray, seed: np.uint64,
                  base: np.uint64, pad: np.uint64) -> np.ndarray:
    """The hash of each piece `codes[starts[i]:ends[i]]`: its characters' values times the base's powers 0, 1, ...,
    as `words`, `token_columns` and `gram_columns` hash what they look up. A space is worth `pad`: only
    `char_wb` n-grams hold one (the padding around a word); words and word tokens hold no whitespace."""
    hashes = np.empty(len(starts), dtype=np.uint64)
    for i in range(len(starts)):
        h = _ZERO
        power = _ONE
        for at in range(starts[i], ends[i]):
            code = codes[at]
            h += (pad if code == 32 else _value(code, values, seed)) * power
            power *= base
        hashes[i] = h
    return hashes


@njit(cache=True)
def gram_columns(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, low: int, high: int, values: np.ndarray,
                 seed: np.uint64, base: np.uint64, pad: np.uint64, hashes: np.ndarray, rows: np.ndarray,
                 shift: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """The `char_wb` columns of the words `codes[starts[i]:ends[i]]` (hashed as `string_hashes` does), one word after
    the other, and where each word's start.

    scikit-learn pads a word with a space on each side and counts, in the padded word of length P, every
    n-gram of every length n from low to high that fits in it; a word with P below low, once, whole.
    """
    room = 0
    for i in range(len(starts)):
        room += (ends[i] - starts[i] + 2) * (high - low + 1) + 1
    columns = np.empty(room, dtype=np.int64)
    indptr = np.zeros(len(starts) + 1, dtype=np.int64)
    count = 0
    for i in range(len(starts)):
        padded = ends[i] - starts[i] + 2
        for first in range(padded):
            h = _ZERO
            power = _ONE
            for n in range(1, min(high, padded - first) + 1):
                at = first + n - 1
                value = pad if at == 0 or at == padded - 1 else _value(codes[starts[i] + at - 1], values, seed)
                h += value * power
                power *= base
                if n >= low or n == padded:
                    column = _find(h, hashes, rows, shift)
                    if column >= 0:
                        columns[count] = column
                        count += 1
        indptr[i + 1] = count
    return columns[:count], indptr

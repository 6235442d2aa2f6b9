"""Pickle-free, numpy-only prediction for a fitted TF-IDF + LogisticRegression pipeline.

A fitted pipeline is only vocabularies, idf weights, linear coefficients and a
few analyzer settings. Exporting those to one ``.npz`` file (JSON header, no
pickle) lets the bulk path start without importing scikit-learn or trusting a
pickle, and scoring a whole batch with flat numpy arrays instead of sklearn's
per-document sparse-matrix machinery is several times faster. The text
processing below mirrors ``sklearn.feature_extraction.text`` step by step, so
probabilities agree with ``pipeline.predict_proba`` to rounding error.

For bulk prediction, the word and char_wb analyzers work one distinct word at
a time: each word is analysed once and kept (see :class:`_WordTable`), a
batch's words are found in numpy without making a string per word, and
char_wb scores are sums of per-word sums, corrected for the few grams that
repeat within a text, so that a batch costs little more than splitting it.

>>> LeanModel.from_pipeline(pipeline, sha).save("stance.npz")
>>> LeanModel.load("stance.npz", expected_sha256=sha).predict(["Troops will stay."])
"""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from array import array
from itertools import chain, count, repeat

import numpy as np

FORMAT = "classify.lean"
FORMAT_VERSION = 1

_CHUNK = 1024
"""Documents scored per numpy pass: bounds memory, and was fastest (cache-sized arrays)."""

_WORD_CACHE_LIMIT = 1 << 16
"""Distinct words a word table keeps, analysed, before it starts afresh (about 20 MB)."""

_MAP_SLOTS = 1 << 16
"""Cells of the smallest hash table (of n-gram keys, or of words)."""

_DENSE_KEYS = 1 << 18
"""n-grams with at most this many possible keys are looked up in a plain array (2 MB), not a hash map."""

_KEYED_WORDS = 16
"""New char_wb words analysed together through integer keys (numpy), not one by one: cheaper from about 16 on."""

_KEY_CHARS = 16
"""Characters of a word's key in the word index (see :class:`_WordIndex`); longer words go through a dict."""

_SCRATCH_CELLS = 1 << 20
"""Cells of the (row, term) table that counts repeated entries (4 MB)."""

_WHITE_SPACES = re.compile(r"\s\s+")  # sklearn's _VectorizerMixin._white_spaces

_EQUIVALENT_PATTERNS = {r"(?u)\b\w\w+\b": r"\w\w+"}
"""Faster regexes with the same findall result: a greedy run of word characters
already starts and ends at word boundaries, so the boundary checks never change it."""

_ANALYZERS = ("word", "char", "char_wb")
_NORMS = (None, "l1", "l2")


class LeanMismatchError(ValueError):
    """The lean file was exported from another model than the one expected."""


def _strip_accents_unicode(s: str) -> str:
    """sklearn's ``strip_accents_unicode``, reproduced to the character."""
    if s.isascii():
        return s
    normalized = unicodedata.normalize("NFKD", s)
    return "".join([c for c in normalized if not unicodedata.combining(c)])


def _strip_accents_ascii(s: str) -> str:
    """sklearn's ``strip_accents_ascii``."""
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


_ACCENT_FUNCTIONS = {None: None, "ascii": _strip_accents_ascii, "unicode": _strip_accents_unicode}


def _preprocessor(lowercase: bool, strip_accents: str | None):
    """sklearn's ``_preprocess``: lowercase first, then strip accents."""
    accent = _ACCENT_FUNCTIONS[strip_accents]
    if lowercase and accent:
        return lambda doc: accent(doc.lower())
    if lowercase:
        return str.lower
    if accent:
        return accent
    return _unchanged


def _unchanged(doc: str) -> str:
    return doc


class _IntMap:
    """Read-only hash map from int64 keys (>= 0) to int64 values, looked up in bulk.

    numpy has no hash map, and ``searchsorted`` over a large key array costs a
    cache miss per halving step; open addressing costs about one probe per query.
    """

    _EMPTY = -1
    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing

    def __init__(self, keys: np.ndarray, values: np.ndarray):
        # At most half full; small maps get room to spare (1 MB), so that a
        # query, a hit or a miss, rarely probes more than one slot.
        bits = max(2 * len(keys), _MAP_SLOTS - 1).bit_length()
        self.mask = (1 << bits) - 1
        self.shift = np.uint64(64 - bits)
        self.keys = np.full(1 << bits, self._EMPTY, dtype=np.int64)
        self.values = np.zeros(1 << bits, dtype=np.int64)
        placed = _claim_cells(np.zeros(len(self.keys), dtype=bool), self._slots(keys))
        self.keys[placed], self.values[placed] = keys, values

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> self.shift).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of every key, -1 where absent."""
        found = np.full(len(keys), -1, dtype=np.int64)
        pending, slots = np.arange(len(keys)), self._slots(keys)
        while len(pending):
            stored = self.keys[slots]
            hit = stored == keys[pending]
            found[pending[hit]] = self.values[slots[hit]]
            probe = ~hit & (stored != self._EMPTY)
            pending, slots = pending[probe], (slots[probe] + 1) & self.mask
        return found


def _claim_cells(taken: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Open addressing in bulk: the free cell each new key gets, probing on from its own cell.

    ``taken`` marks the cells in use (a power of two of them) and is updated;
    of several keys wanting the same free cell, the first one gets it.
    """
    mask = len(taken) - 1
    placed = np.empty(len(cells), dtype=np.int64)
    pending = np.arange(len(cells))
    while len(pending):
        free = ~taken[cells]
        _, first = np.unique(cells[free], return_index=True)
        won = np.flatnonzero(free)[first]
        placed[pending[won]] = cells[won]
        taken[cells[won]] = True
        lost = np.ones(len(pending), dtype=bool)
        lost[won] = False
        pending, cells = pending[lost], (cells[lost] + 1) & mask
    return placed


class _DenseMap:
    """:class:`_IntMap` for keys below a small bound: a plain array, one lookup per key."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, bound: int):
        self.values = np.full(bound, -1, dtype=np.int64)
        self.values[keys] = values

    def get(self, keys: np.ndarray) -> np.ndarray:
        return self.values[keys]


class _GramKeys:
    """Vocabulary n-grams as integers over unit ids (tokens or characters).

    The gram of unit ids (u0, ..., un-1) gets the key u0*base**(n-1) + ... + un-1,
    so finding every vocabulary gram of a batch is a few vectorised hash
    lookups instead of one string join and dict lookup per gram. Id
    ``base - 1`` stands for any unit that occurs in no vocabulary term.
    """

    def __init__(self, tables: dict[int, _IntMap], base: int):
        self.tables = tables
        self.base = base

    @classmethod
    def build(cls, unit_ids, units_per_term, n_units: int, ngram_range) -> _GramKeys | None:
        """Keys for every term of ``ngram_range`` units; None if they would overflow int64."""
        base = n_units + 1  # >= 2, so n >= 63 always overflows
        if ngram_range[1] >= 63 or base ** ngram_range[1] >= 2**63:
            return None
        starts = np.cumsum(units_per_term) - units_per_term
        tables = {}
        for n in range(ngram_range[0], ngram_range[1] + 1):
            terms = np.flatnonzero(units_per_term == n)
            if len(terms):
                keys = _combine([unit_ids[starts[terms] + k] for k in range(n)], base)
                tables[n] = _DenseMap(keys, terms, base**n) if base**n <= _DENSE_KEYS else _IntMap(keys, terms)
        return cls(tables, base)

    def find(self, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, term) of every vocabulary gram among the runs of ``ids`` within one row, in row order."""
        found = np.full((len(ids), len(self.tables)), -1, dtype=np.int64)
        for column, (n, table) in enumerate(self.tables.items()):
            count = len(ids) - n + 1
            if count <= 0:
                continue
            terms = table.get(_combine([ids[k : k + count] for k in range(n)], self.base))
            terms[rows[:count] != rows[n - 1 :]] = -1
            found[:count, column] = terms
        found = found.ravel()  # grams starting at the same unit are adjacent: rows stay in order
        hit = found >= 0
        return np.repeat(rows, len(self.tables))[hit], found[hit]


class _Block:
    """One fitted TfidfVectorizer: how it analyses text, its vocabulary and idf."""

    def __init__(self, settings: dict, terms: list, idf: np.ndarray | None):
        self.settings = settings = _check_settings(settings)
        if not terms or set(map(type, terms)) != {str}:
            raise ValueError("vocabulary must be a non-empty list of strings")
        if idf is not None:
            idf = np.asarray(idf)
            if idf.dtype != np.float64 or idf.shape != (len(terms),):
                raise ValueError("idf must be float64 with one weight per vocabulary term")
        self.terms, self.idf = terms, idf  # as exported: sklearn's column order
        # Inside, a term's id is its rank by idf, the most common first: the grams
        # most texts share then sit together in every table indexed by term, and
        # counting a batch's grams mostly hits the cache.
        self.order = np.arange(len(terms)) if idf is None else np.argsort(idf, kind="stable")
        self.vocabulary = dict(zip([terms[i] for i in self.order.tolist()], range(len(terms))))
        if len(self.vocabulary) != len(terms):
            raise ValueError("vocabulary has duplicate terms")
        self._idf = None if idf is None else idf[self.order]
        self.ngram_range = tuple(settings["ngram_range"])
        self.preprocess = _preprocessor(settings["lowercase"], settings["strip_accents"])
        self.weights: np.ndarray | None = None  # this block's columns of coef, by term id, set by LeanModel
        self.group = max(1, _SCRATCH_CELLS // len(terms))  # rows whose grams are counted together
        self._scratch: np.ndarray | None = None
        self._gram_table: np.ndarray | None = None
        if settings["analyzer"] == "word":
            pattern = settings["token_pattern"]
            self.token_re = re.compile(_EQUIVALENT_PATTERNS.get(pattern, pattern))
            stop = settings["stop_words"]
            self.stop_words = None if stop is None else frozenset(stop)
            self._word_keys()
            # The default pattern needs no context and never matches whitespace, so a
            # text's tokens are those of its words in turn: words can be analysed alone.
            self.by_word = pattern in _EQUIVALENT_PATTERNS and self.gram_keys is not None
            self.entries = self._word_entries
        elif settings["analyzer"] == "char":
            self._char_keys()
            self.by_word = False
            self.entries = self._char_entries
        else:
            self.by_word = True
            self.alphabet = self.gram_keys = None  # built when first needed, by analyse_words

    @classmethod
    def from_vectorizer(cls, vectorizer) -> _Block:
        """Export a fitted TfidfVectorizer, refusing any setting this module does not reproduce."""
        v = vectorizer
        _require_sklearn(v, "TfidfVectorizer")
        if not hasattr(v, "vocabulary_") or not hasattr(v, "_tfidf"):
            raise ValueError("TfidfVectorizer is not fitted")
        if v.input != "content":
            raise ValueError(f"TfidfVectorizer(input={v.input!r}) is not supported; use 'content'")
        if v.preprocessor is not None:
            raise ValueError("TfidfVectorizer with a custom preprocessor is not supported")
        if v.analyzer == "word" and v.tokenizer is not None:
            raise ValueError("TfidfVectorizer with a custom tokenizer is not supported")
        if np.dtype(v.dtype) != np.float64:
            raise ValueError(f"TfidfVectorizer(dtype={v.dtype!r}) is not supported; use float64")
        # The transformer fitted inside the vectorizer is what transform() uses.
        tfidf = v._tfidf
        settings = {
            "analyzer": v.analyzer,
            "ngram_range": list(v.ngram_range),
            "lowercase": bool(v.lowercase),
            "strip_accents": v.strip_accents or None,
            "binary": bool(v.binary),
            "sublinear_tf": bool(tfidf.sublinear_tf),
            "norm": tfidf.norm,
        }
        if v.analyzer == "word":
            stop = v.get_stop_words()
            settings["token_pattern"] = v.token_pattern
            settings["stop_words"] = None if stop is None else sorted(stop)
        terms = [None] * len(v.vocabulary_)
        for term, index in v.vocabulary_.items():
            terms[index] = term
        idf = getattr(tfidf, "idf_", None)
        return cls(settings, terms, None if idf is None else np.array(idf, dtype=np.float64))

    def _word_keys(self) -> None:
        """Token ids and n-gram keys; a term's tokens are its parts between spaces."""
        terms = list(self.vocabulary)  # by term id
        parts = " ".join(terms).split(" ")
        self.token_ids = {token: i for i, token in enumerate(dict.fromkeys(parts))}
        self.gram_keys = _GramKeys.build(
            np.fromiter(map(self.token_ids.__getitem__, parts), dtype=np.int64, count=len(parts)),
            np.fromiter(map(str.count, terms, repeat(" ")), np.int64, len(terms)) + 1,
            len(self.token_ids),
            self.ngram_range,
        )

    def _char_keys(self) -> None:
        """Character ids (sorted code points of the vocabulary) and n-gram keys."""
        codes = _code_points("".join(self.vocabulary))  # terms by id
        self.alphabet = np.unique(codes)
        self.gram_keys = _GramKeys.build(
            np.searchsorted(self.alphabet, codes),
            np.fromiter(map(len, self.vocabulary), dtype=np.int64, count=len(self.vocabulary)),
            len(self.alphabet),
            self.ngram_range,
        )

    def _word_entries(self, docs):
        """sklearn's word analyzer: tokens, stop words removed, n-grams joined with a space."""
        preprocess, findall, stop = self.preprocess, self.token_re.findall, self.stop_words
        tokens: list[str] = []
        lengths = []
        for doc in docs:
            found = findall(preprocess(doc))
            if stop is not None:
                found = [t for t in found if t not in stop]
            tokens += found
            lengths.append(len(found))
        if self.gram_keys is None:
            return self._lookup(*self._word_grams(tokens, lengths))
        oov = self.gram_keys.base - 1
        ids = np.fromiter(map(self.token_ids.get, tokens, repeat(oov)), dtype=np.int64, count=len(tokens))
        # Comparing token ids is comparing the space-joined strings sklearn looks up
        # only if no token contains a space; such a token is never a known one.
        if any(" " in tokens[i] for i in np.flatnonzero(ids == oov).tolist()):
            return self._lookup(*self._word_grams(tokens, lengths))
        return self.gram_keys.find(ids, _rows(lengths))

    def _word_grams(self, tokens: list[str], lengths: list[int]):
        """The n-gram strings of each document, for when token ids cannot be used."""
        low, high = self.ngram_range
        join = " ".join
        grams: list[str] = []
        counts = []
        end = 0
        for length in lengths:
            doc_tokens = tokens[end : end + length]
            end += length
            before = len(grams)
            for n in range(low, min(high, length) + 1):
                if n == 1:
                    grams += doc_tokens
                else:
                    grams += map(join, zip(*[doc_tokens[i:] for i in range(n)]))
            counts.append(len(grams) - before)
        return grams, counts

    def _char_entries(self, docs):
        """sklearn's char analyzer: runs of whitespace become one space, then every substring."""
        preprocess, squash = self.preprocess, _WHITE_SPACES.sub
        texts = [squash(" ", preprocess(doc)) for doc in docs]
        if self.gram_keys is None:
            return self._lookup(*self._char_grams(texts))
        return self.gram_keys.find(self._char_ids("".join(texts)), _rows([len(t) for t in texts]))

    def _char_ids(self, text: str) -> np.ndarray:
        """The alphabet id of every character, ``base - 1`` for one in no vocabulary term."""
        codes = _code_points(text)
        at = np.minimum(np.searchsorted(self.alphabet, codes), len(self.alphabet) - 1)
        return np.where(self.alphabet[at] == codes, at, self.gram_keys.base - 1)

    def _char_grams(self, texts: list[str]):
        """The character n-gram strings of each text, for when character ids cannot be used."""
        low, high = self.ngram_range
        grams: list[str] = []
        counts = []
        for text in texts:
            size = len(text)
            before = len(grams)
            for n in range(low, min(high, size) + 1):
                grams += [text[i : i + n] for i in range(size - n + 1)]
            counts.append(len(grams) - before)
        return grams, counts

    def analyse_words(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The units of each word, concatenated, and how many each has: token ids, or char_wb term ids."""
        if self.settings["analyzer"] == "word":
            per_word = list(map(self.token_re.findall, words))
            if self.stop_words is not None:
                per_word = [[t for t in tokens if t not in self.stop_words] for tokens in per_word]
            tokens = list(chain.from_iterable(per_word))
            oov = repeat(self.gram_keys.base - 1)
            units = np.fromiter(map(self.token_ids.get, tokens, oov), dtype=np.intc, count=len(tokens))
            return units, np.fromiter(map(len, per_word), dtype=np.int64, count=len(words))
        # Many words at once: look their grams up as integer keys, like the char
        # analyzer. A padded word has at least 3 characters, so when n-grams start
        # at 3 or below it is never shorter than n, the one case keys do not cover.
        # Either way a word's term ids come sorted, so that its sums are the same
        # to the last bit whichever way it was analysed.
        if len(words) >= _KEYED_WORDS and self.ngram_range[0] <= 3:
            if self.alphabet is None:
                self._char_keys()
            if self.gram_keys is not None:
                padded = [f" {word} " for word in words]
                rows, terms = self.gram_keys.find(self._char_ids("".join(padded)), _rows(list(map(len, padded))))
                return terms[np.lexsort((terms, rows))].astype(np.intc), np.bincount(rows, minlength=len(words))
        runs = [array("i", sorted(self._padded_word_terms(word))).tobytes() for word in words]
        units = np.frombuffer(b"".join(runs), dtype=np.intc)
        return units, np.fromiter(map(len, runs), dtype=np.int64, count=len(runs)) // units.itemsize

    def _padded_word_terms(self, word: str) -> tuple[int, ...]:
        """Vocabulary grams of one space-padded word; a word shorter than n counts once."""
        get = self.vocabulary.get
        padded = f" {word} "
        size = len(padded)
        found = []
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            if size <= n:
                found.append(get(padded))
                break
            found += map(get, [padded[i : i + n] for i in range(size - n + 1)])
        return tuple(i for i in found if i is not None)

    def _lookup(self, grams: list[str], counts: list[int]):
        """(row, term) of every gram string that is in the vocabulary."""
        terms = np.fromiter(map(self.vocabulary.get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        known = terms >= 0
        return _rows(counts)[known], terms[known]

    def scores(self, docs: list[str]) -> np.ndarray:
        """This block's share of ``(X @ coef.T).T``, shape (n_outputs, len(docs))."""
        rows, cols = self.entries(docs)
        return self._tfidf_scores(rows, cols, len(docs))

    def word_scores(self, analyses: _Analyses, slots: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """:meth:`scores` of docs given as the table slots of their words, ``counts[i]`` words in doc i."""
        if self.settings["analyzer"] == "char_wb":
            return self._char_wb_scores(analyses, slots, counts)
        rows, units = analyses.expand(slots, counts)
        return self._tfidf_scores(*self.gram_keys.find(units, rows), len(counts))

    def _tfidf_scores(self, rows: np.ndarray, cols: np.ndarray, n_rows: int) -> np.ndarray:
        """Scores from the (row, term) of every gram, rows in order: tf-idf values, then their weighted sums.

        Like sklearn, only in-vocabulary grams are counted, so the row norm is
        taken over in-vocabulary features only.
        """
        rows, cols, counts = self._count_pairs(rows, cols, n_rows)
        values = self._tf(counts)
        if self._idf is not None:
            values *= self._idf[cols]
        norm = self.settings["norm"]
        if norm is not None:
            summed = _row_sums(rows, values * values if norm == "l2" else np.abs(values), n_rows)
            values /= _norm_totals(summed, norm)[rows]
        weighted = self.weights.take(cols, axis=1)
        weighted *= values
        return _segment_sums(weighted, np.bincount(rows, minlength=n_rows))

    def _char_wb_scores(self, analyses: _Analyses, slots: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """char_wb scores without the tf-idf matrix: sums over words, corrected for repeated grams.

        With every gram counted once, a row's scores are the sum over its words
        of each word's summed ``idf * weights`` (and likewise its norm), and
        those sums are kept per word. Only the grams that occur c > 1 times in
        a row need a correction, from c to f(c) (1 + log c when sublinear, 1
        when binary); most grams occur once, which saves building and
        multiplying the full matrix.
        """
        sums = _segment_sums(analyses.sums.take(slots, axis=1), counts)
        cells, row_starts = analyses.cells(slots, counts)
        first, repeats = self._count_cells(cells, row_starts, at_least=2)
        rows = np.searchsorted(row_starts, first, side="right") - 1
        cols = cells[first] // self.group
        n_outputs = self.weights.shape[0]
        if len(rows):
            repeats = repeats.astype(np.float64)
            f = self._tf(repeats)
            corrections = self._gram_sums_table().take(cols, axis=1)
            corrections[:n_outputs] *= f - repeats
            if self.settings["norm"] is not None:
                corrections[n_outputs] *= (f * f if self.settings["norm"] == "l2" else f) - repeats
            sums += _segment_sums(corrections, np.bincount(rows, minlength=len(counts)))
        scores = sums[:n_outputs]
        if self.settings["norm"] is not None:
            scores /= _norm_totals(sums[n_outputs], self.settings["norm"])
        return scores

    def word_sums(self, units: np.ndarray, sizes: np.ndarray) -> np.ndarray | None:
        """For char_wb, per word (``sizes[i]`` units each) its columns of :meth:`_gram_sums_table` summed."""
        if self.settings["analyzer"] != "char_wb":
            return None
        return _segment_sums(self._gram_sums_table().take(units, axis=1), sizes)

    def _gram_sums_table(self) -> np.ndarray:
        """Per term (a column): ``idf * weights``, then its share of the norm (idf squared for l2, idf for l1)."""
        if self._gram_table is None:
            idf = np.ones(len(self.terms)) if self._idf is None else self._idf
            parts = [self.weights * idf]
            if self.settings["norm"] is not None:
                parts.append((idf * idf if self.settings["norm"] == "l2" else idf)[None])
            self._gram_table = np.vstack(parts)
        return self._gram_table

    def _tf(self, counts: np.ndarray) -> np.ndarray:
        """sklearn's term frequency for counts: 1 when binary, 1 + log(count) when sublinear."""
        if self.settings["binary"]:
            return np.ones(len(counts))
        values = counts.astype(np.float64)
        if self.settings["sublinear_tf"]:
            np.log(values, out=values)
            values += 1.0
        return values

    def _count_pairs(self, rows: np.ndarray, cols: np.ndarray, n_rows: int):
        """Distinct (row, column) entries, in order, with their counts; ``rows`` must be in order."""
        cells = cols * self.group + rows % self.group
        first, counts = self._count_cells(cells, np.searchsorted(rows, np.arange(n_rows)), at_least=1)
        return rows[first], cols[first], counts

    def _count_cells(self, cells: np.ndarray, row_starts: np.ndarray, at_least: int) -> tuple[np.ndarray, np.ndarray]:
        """Where each distinct (row, term) entry occurring ``at_least`` times last occurs, in order, and its count.

        An entry's cell is ``term * group + row % group``: a (term, row) table
        for ``group`` rows at a time, in which a common term's cells are
        adjacent. Every entry writes its position into its cell; reading the
        table back gives the entries of one cell a single position among
        theirs, so counting positions counts entries. Several times faster
        than sorting. ``row_starts[i]`` is where row i's entries start.
        """
        if self._scratch is None:
            self._scratch = np.empty(self.group * len(self.terms), dtype=np.int32)
        scratch = self._scratch
        bounds = [*row_starts[:: self.group].tolist(), len(cells)]
        positions = np.arange(len(cells), dtype=scratch.dtype)  # the table's type: no casting on writes
        keep, counts = [], []
        for start, end in zip(bounds, bounds[1:]):
            if start == end:
                continue
            group_cells = cells[start:end]
            scratch[group_cells] = positions[: end - start]
            totals = np.bincount(scratch[group_cells], minlength=end - start)
            first = np.flatnonzero(totals >= at_least)
            keep.append(first + start)
            counts.append(totals[first])
        return _concat(keep), _concat(counts)


class _WordTable:
    """Every distinct word seen (up to ``_WORD_CACHE_LIMIT``), with each by-word block's analysis of it.

    char_wb grams never cross a word boundary, nor do tokens of the default
    pattern, so a word is analysed once, not once per occurrence or batch, and
    a batch is its words' slots: their units are copied out in numpy.

    Finding a batch's words is numpy work too: whitespace is found in the
    batch's code points, and a word of up to ``_KEY_CHARS`` characters is
    found in a hash table of its code points (see :class:`_WordIndex`), so
    that no string is made for a word seen before. Longer words, and new
    ones, go through a dict of strings.
    """

    def __init__(self, blocks: list[_Block]):
        self.blocks = blocks
        self.preprocess = blocks[0].preprocess
        self.clear()

    def clear(self) -> None:
        self.slots: dict[str, int] = {}
        self.index = _WordIndex()
        self.analyses = [_Analyses(block) for block in self.blocks]

    def split(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The slot of every word of ``docs``, and how many words each doc has.

        Words are what ``str.split()`` makes of the preprocessed text: sklearn's
        char_wb squashes whitespace runs first, but its regex class and
        ``str.isspace`` cover the same characters, so that changes nothing.
        """
        texts = list(map(self.preprocess, docs))
        # A line break between docs: whitespace, so no word spans two docs. The
        # padding lets every word start a full key window.
        text = "\n".join(texts) + " " * _KEY_CHARS
        codes, data = _key_bytes(text)
        starts, ends = _word_bounds(codes)
        doc_starts = np.cumsum([0] + [len(t) + 1 for t in texts])
        counts = np.diff(np.searchsorted(starts, doc_starts))
        if len(self.slots) >= _WORD_CACHE_LIMIT:
            self.clear()
        keys = self.index.keys(data, starts, ends - starts)
        slots = self.index.get(*keys)
        missing = np.flatnonzero(slots < 0).tolist()
        if missing:
            words = [text[s:e] for s, e in zip(starts[missing].tolist(), ends[missing].tolist())]
            new = [w for w in dict.fromkeys(words) if w not in self.slots]
            if new:
                first = len(self.slots)
                self.slots.update(zip(new, count(first)))
                for analyses in self.analyses:
                    analyses.add(new)
            found = np.fromiter(map(self.slots.__getitem__, words), dtype=np.int64, count=len(words))
            slots[missing] = found
            if new:  # the index takes them in slot order: the first occurrence of each
                added = np.flatnonzero(found >= first)
                _, once = np.unique(found[added], return_index=True)
                self.index.add(*(k[missing][added[once]] for k in keys))
        return slots, counts


class _WordIndex:
    """Slots of short ASCII words by their bytes: an open-addressing hash table in numpy.

    A word's key is its bytes, zero-filled to ``_KEY_CHARS`` (two uint64),
    and its length. A lookup compares the whole key, so a hit is always the
    same word; a longer word, or one with a byte over 127 (any non-ASCII
    character is one, see :func:`_key_bytes`), is never indexed, and so
    never found: the dict has it.
    """

    _MULTIPLIERS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))

    def __init__(self):
        self.cells = np.full(_MAP_SLOTS, -1, dtype=np.int64)
        self.low = np.zeros(0, dtype=np.uint64)
        self.high = np.zeros(0, dtype=np.uint64)
        self.lengths = np.zeros(0, dtype=np.int64)  # -1: a slot not indexed
        self.n_slots = self.used = 0

    # Per word length (up to _KEY_CHARS): the bytes of each half that belong to the word.
    _LOW_MASKS = np.array([(1 << 8 * min(n, 8)) - 1 for n in range(_KEY_CHARS + 1)], dtype=np.uint64)
    _HIGH_MASKS = np.array([(1 << 8 * max(n - 8, 0)) - 1 for n in range(_KEY_CHARS + 1)], dtype=np.uint64)

    @classmethod
    def keys(cls, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
        """(low, high, length, hash) of the words at ``starts`` of :func:`_key_bytes` ``data``.

        ``data`` must go on for ``_KEY_CHARS`` bytes after the last start.
        """
        # The 8 bytes from every offset, as one little-endian uint64 each (overlapping views).
        packed = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
        short = np.minimum(lengths, _KEY_CHARS)
        low = packed[starts]
        low &= cls._LOW_MASKS[short]
        high = packed[starts + 8]
        high &= cls._HIGH_MASKS[short]
        return low, high, lengths, cls._hash(low, high, lengths)

    @classmethod
    def _hash(cls, low: np.ndarray, high: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        hashes = low * cls._MULTIPLIERS[0]
        hashes ^= high * cls._MULTIPLIERS[1] + lengths.astype(np.uint64)
        return hashes

    def _cells(self, hashes: np.ndarray) -> np.ndarray:
        """Fibonacci hashing: the top bits of a product pick the cell."""
        shift = np.uint64(65 - len(self.cells).bit_length())
        return ((hashes * self._MULTIPLIERS[0]) >> shift).astype(np.int64)

    def get(self, low, high, lengths, hashes) -> np.ndarray:
        """The slot of every key, -1 where absent."""
        found = np.full(len(lengths), -1, dtype=np.int64)
        mask = len(self.cells) - 1
        pending, cells = np.arange(len(lengths)), self._cells(hashes)
        while len(pending):
            slot = self.cells[cells]
            stored = np.flatnonzero(slot >= 0)
            slot, cells, pending = slot[stored], cells[stored], pending[stored]
            hit = (
                (self.low[slot] == low[pending])
                & (self.high[slot] == high[pending])
                & (self.lengths[slot] == lengths[pending])
            )
            found[pending[hit]] = slot[hit]
            pending, cells = pending[~hit], (cells[~hit] + 1) & mask
        return found

    def add(self, low, high, lengths, hashes) -> None:
        """Take the next slots' words (new ones, in slot order); those it cannot key are not indexed."""
        keyed = (lengths <= _KEY_CHARS) & _is_ascii(low) & _is_ascii(high)
        slots, hashes = self.n_slots + np.flatnonzero(keyed), hashes[keyed]
        self.low = _append(self.low, self.n_slots, low)
        self.high = _append(self.high, self.n_slots, high)
        self.lengths = _append(self.lengths, self.n_slots, np.where(keyed, lengths, -1))
        self.n_slots += len(lengths)
        self.used += len(slots)
        if 2 * self.used > len(self.cells):  # at most half full: rebuild bigger
            size = len(self.cells)
            while 2 * self.used > size:
                size *= 2
            self.cells = np.full(size, -1, dtype=np.int64)
            slots = np.flatnonzero(self.lengths[: self.n_slots] >= 0)
            hashes = self._hash(self.low[slots], self.high[slots], self.lengths[slots])
        self.cells[_claim_cells(self.cells >= 0, self._cells(hashes))] = slots


_HIGH_BITS = np.uint64(0x8080808080808080)


def _is_ascii(packed: np.ndarray) -> np.ndarray:
    return (packed & _HIGH_BITS) == 0


def _key_bytes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(code points for finding whitespace, bytes for word keys) of ``text``: one array when it is ASCII.

    In the key bytes a non-ASCII character becomes 128, which no indexed word has.
    """
    if text.isascii():
        data = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        return data, data
    codes = _code_points(text)
    return codes, np.minimum(codes, 128).astype(np.uint8)


class _Analyses:
    """One block's analysis of the words of a table, by slot: a run of units, and for char_wb its summed row.

    char_wb units are kept as their cells of the block's counting table
    (term id times its ``group``, see :meth:`_Block._count_cells`).
    """

    def __init__(self, block: _Block):
        self.block = block
        self.n_words = self.n_units = 0
        self.units = np.empty(0, dtype=np.intc if block.settings["analyzer"] == "word" else np.int64)
        self.starts = np.empty(0, dtype=np.int64)
        self.sizes = np.empty(0, dtype=np.int64)
        self.sums = block.word_sums(self.units, self.sizes)

    def add(self, words: list[str]) -> None:
        units, sizes = self.block.analyse_words(words)
        self.starts = _append(self.starts, self.n_words, self.n_units + np.cumsum(sizes) - sizes)
        self.sizes = _append(self.sizes, self.n_words, sizes)
        if self.sums is not None:
            self.sums = _append(self.sums, self.n_words, self.block.word_sums(units, sizes))
            units = units.astype(np.int64) * self.block.group
        self.units = _append(self.units, self.n_units, units)
        self.n_words += len(words)
        self.n_units += len(units)

    def expand(self, slots: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, unit) of every unit of every word occurrence, rows in order; ``counts[i]`` words in row i."""
        units, sizes, _ = self._occurrences(slots)
        return np.repeat(_rows(counts), sizes), units.astype(np.int64)

    def cells(self, slots: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """char_wb: the counting-table cell of every gram of every word occurrence, and where each row's cells start."""
        cells, sizes, starts = self._occurrences(slots)
        cells += np.repeat(_rows(counts) % self.block.group, sizes)
        return cells, np.append(starts, len(cells))[np.cumsum(counts) - counts]

    def _occurrences(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The units of the words at ``slots``, one run after another (a copy), each run's size and start."""
        sizes = self.sizes[slots]
        starts = np.cumsum(sizes) - sizes
        # Unit k of an occurrence of slot s is units[starts[s] + k].
        units = self.units[np.arange(int(sizes.sum())) + np.repeat(self.starts[slots] - starts, sizes)]
        return units, sizes, starts


def _append(array: np.ndarray, used: int, extra: np.ndarray) -> np.ndarray:
    """``array[..., :used]``, then ``extra`` along the last axis: in ``array`` while it has room, else in a new one."""
    end = used + extra.shape[-1]
    if end > array.shape[-1]:
        grown = np.empty((*array.shape[:-1], 2 * end), dtype=array.dtype)
        grown[..., :used] = array[..., :used]
        array = grown
    array[..., used:end] = extra
    return array


def _check_settings(settings: dict) -> dict:
    """Settings exactly as this module reproduces them; anything else is a ValueError."""
    analyzer = settings["analyzer"]
    if analyzer not in _ANALYZERS:
        raise ValueError(f"analyzer {analyzer!r} is not supported; use one of {_ANALYZERS}")
    low, high = settings["ngram_range"]
    if not (type(low) is int and type(high) is int and 1 <= low <= high):
        raise ValueError(f"ngram_range {settings['ngram_range']!r} is not supported")
    if settings["strip_accents"] not in _ACCENT_FUNCTIONS:
        raise ValueError(f"strip_accents={settings['strip_accents']!r} is not supported")
    if settings["norm"] not in _NORMS:
        raise ValueError(f"norm={settings['norm']!r} is not supported; use one of {_NORMS}")
    for key in ("lowercase", "binary", "sublinear_tf"):
        if type(settings[key]) is not bool:
            raise ValueError(f"{key} must be true or false")
    checked = {
        key: settings[key]
        for key in ("analyzer", "ngram_range", "lowercase", "strip_accents", "binary", "sublinear_tf", "norm")
    }
    if analyzer == "word":
        pattern, stop = settings["token_pattern"], settings["stop_words"]
        if not isinstance(pattern, str) or re.compile(pattern).groups > 1:
            raise ValueError(f"token_pattern {pattern!r} must be a regex with at most one group")
        if stop is not None and not all(isinstance(w, str) for w in stop):
            raise ValueError("stop_words must be a list of strings")
        checked.update(token_pattern=pattern, stop_words=stop)
    return checked


def _require_sklearn(obj, name: str) -> None:
    """Accept only the sklearn class itself: a subclass may analyse text differently."""
    kind = type(obj)
    if kind.__name__ != name or not kind.__module__.startswith("sklearn."):
        raise ValueError(f"expected a scikit-learn {name}, got {kind.__module__}.{kind.__name__}")


def _vectorizers(features) -> list:
    """The TfidfVectorizer, or the non-dropped ones of a FeatureUnion, in column order."""
    if type(features).__name__ != "FeatureUnion":
        return [features]
    _require_sklearn(features, "FeatureUnion")
    if features.transformer_weights is not None:
        raise ValueError("FeatureUnion with transformer_weights is not supported")
    active = [t for _, t in features.transformer_list if not (isinstance(t, str) and t == "drop")]
    if not active:
        raise ValueError("FeatureUnion drops every transformer")
    return active


class LeanModel:
    """A fitted stance pipeline reduced to arrays; predicts like ``pipeline.predict_proba``."""

    def __init__(self, classes, blocks, coef, intercept, source_sha256: str):
        self.classes_ = list(classes)
        if len(self.classes_) < 2 or not all(isinstance(c, str) for c in self.classes_):
            raise ValueError("classes must be at least two strings")
        if not isinstance(source_sha256, str):
            raise ValueError("source_sha256 must be a string")
        coef, intercept = np.asarray(coef), np.asarray(intercept)
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        n_features = sum(len(b.terms) for b in blocks)
        if coef.dtype != np.float64 or coef.shape != (n_outputs, n_features):
            raise ValueError(
                f"coefficients must be float64 of shape {(n_outputs, n_features)}, got {coef.dtype} {coef.shape}"
            )
        if intercept.dtype != np.float64 or intercept.shape != (n_outputs,):
            raise ValueError(f"intercept must be float64 of shape ({n_outputs},)")
        self.blocks = list(blocks)
        self.coef = coef
        self.intercept = intercept
        self.source_sha256 = source_sha256
        offset = 0
        for block in self.blocks:
            block.weights = coef.take(offset + block.order, axis=1)  # a copy, in the block's term order
            offset += len(block.terms)
        by_preprocessing: dict[tuple, list[_Block]] = {}
        for block in self.blocks:
            if block.by_word:
                key = (block.settings["lowercase"], block.settings["strip_accents"])
                by_preprocessing.setdefault(key, []).append(block)
        self._word_tables = [_WordTable(blocks) for blocks in by_preprocessing.values()]

    @classmethod
    def from_pipeline(cls, pipeline, source_sha256: str) -> LeanModel:
        """Export a fitted ``Pipeline([("tfidf", vectorizer), ("clf", LogisticRegression)])``.

        The vectorizer is a TfidfVectorizer or a FeatureUnion of them (entries
        may be "drop"); any setting this module does not reproduce is refused.
        """
        _require_sklearn(pipeline, "Pipeline")
        steps = [step for _, step in pipeline.steps]
        if len(steps) != 2:
            raise ValueError(f"expected a pipeline of 2 steps (tfidf, clf), got {len(steps)}")
        features, clf = steps
        blocks = [_Block.from_vectorizer(v) for v in _vectorizers(features)]
        _require_sklearn(clf, "LogisticRegression")
        if not hasattr(clf, "coef_"):
            raise ValueError("LogisticRegression is not fitted")
        if getattr(clf, "multi_class", None) == "ovr":
            raise ValueError("LogisticRegression(multi_class='ovr') is not supported")
        if not isinstance(clf.coef_, np.ndarray):
            raise ValueError("LogisticRegression with sparse coef_ is not supported; densify() it")
        if not all(isinstance(c, str) for c in clf.classes_):
            raise ValueError("class labels other than strings are not supported")
        classes = [str(c) for c in clf.classes_]
        intercept = np.broadcast_to(np.asarray(clf.intercept_, np.float64), clf.coef_.shape[:1])
        return cls(classes, blocks, clf.coef_, intercept.copy(), source_sha256)

    def save(self, path: str | os.PathLike) -> None:
        """Write one ``.npz`` atomically: a temporary file beside ``path``, then ``os.replace``."""
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source_sha256": self.source_sha256,
            "classes": self.classes_,
            "blocks": [{**b.settings, "vocabulary": b.terms, "idf": b.idf is not None} for b in self.blocks],
        }
        arrays = {
            "header": _encode_json(header),
            "coef": self.coef,
            "intercept": self.intercept,
        }
        for i, block in enumerate(self.blocks):
            if block.idf is not None:
                arrays[f"idf_{i}"] = block.idf
        # Not tempfile.mkstemp: its files are private (0600) whatever the umask.
        tmp = f"{os.fspath(path)}.{os.urandom(4).hex()}.tmp"
        handle = open(tmp, "xb")
        try:
            with handle:
                np.savez(handle, **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike, expected_sha256: str | None = None) -> LeanModel:
        """Read a file written by :meth:`save`, without pickle.

        Raises FileNotFoundError for a missing file, :class:`LeanMismatchError`
        when the file was exported from another model than ``expected_sha256``,
        and ValueError with a one-line message for anything unreadable.
        """
        try:
            handle = open(path, "rb")
        except IsADirectoryError:
            raise ValueError("not a valid lean model file (a folder)") from None
        with handle:
            try:
                arrays = _read_npz(handle)
                header = json.loads(bytes(arrays.pop("header")).decode("utf-8", "surrogatepass"))
                if header["format"] != FORMAT or header["version"] != FORMAT_VERSION:
                    raise ValueError(
                        f"format {header['format']!r} version {header['version']!r}, "
                        f"expected {FORMAT!r} version {FORMAT_VERSION}"
                    )
                source_sha256 = header["source_sha256"]
            # Untrusted bytes can fail in many ways deep inside zipfile/numpy/json;
            # callers get one ValueError type whatever the cause.
            except Exception as error:
                raise ValueError(f"not a valid lean model file ({_describe(error)})") from None
        if expected_sha256 is not None and source_sha256 != expected_sha256:
            raise LeanMismatchError(
                f"lean model was exported from model sha256 {source_sha256}, "
                f"not {expected_sha256}; re-export it from the current model"
            )
        try:
            blocks = [
                _Block(
                    settings,
                    settings["vocabulary"],
                    arrays[f"idf_{i}"] if settings["idf"] else None,
                )
                for i, settings in enumerate(header["blocks"])
            ]
            return cls(header["classes"], blocks, arrays["coef"], arrays["intercept"], source_sha256)
        except Exception as error:
            raise ValueError(f"not a valid lean model file ({_describe(error)})") from None

    def predict_proba(self, texts) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), computed as LogisticRegression does."""
        scores = self._decision_function(texts)
        if scores.shape[1] == 1:
            with np.errstate(over="ignore"):
                positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict(self, texts) -> list[str]:
        """Labels chosen from the decision scores, exactly as LogisticRegression.predict."""
        scores = self._decision_function(texts)
        if scores.shape[1] == 1:
            best = (scores[:, 0] > 0).astype(np.intp)
        else:
            best = scores.argmax(axis=1)
        return [self.classes_[i] for i in best.tolist()]

    def _decision_function(self, texts) -> np.ndarray:
        if isinstance(texts, str):
            raise ValueError("expected a sequence of texts, got a single string")
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("every text must be a str")
        scores = np.empty((len(texts), len(self.intercept)))
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            scores[start : start + len(chunk)] = self._chunk_scores(chunk)
        return scores

    def _chunk_scores(self, docs: list[str]) -> np.ndarray:
        """X @ coef.T + intercept without building X: each block adds its share."""
        scores = np.zeros((len(self.intercept), len(docs)))  # transposed: each output's scores are contiguous
        for table in self._word_tables:
            slots, counts = table.split(docs)
            for block, analyses in zip(table.blocks, table.analyses):
                scores += block.word_scores(analyses, slots, counts)
        for block in self.blocks:
            if not block.by_word:
                scores += block.scores(docs)
        scores += self.intercept[:, None]
        return scores.T


def _combine(columns: list[np.ndarray], base: int) -> np.ndarray:
    """Integer key of each n-gram whose unit ids are given column by column."""
    key = columns[0].astype(np.int64)
    for column in columns[1:]:
        key *= base
        key += column
    return key


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


_LAST_SPACE = 0x3000
"""No code point above U+3000 (ideographic space) is whitespace (a test checks every one)."""


@functools.cache
def _space_table() -> np.ndarray:
    """``str.isspace`` of every code point up to and including one past :data:`_LAST_SPACE`."""
    return np.array([chr(c).isspace() for c in range(_LAST_SPACE + 2)])


def _word_bounds(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every run of non-whitespace code points; ``codes`` must end with whitespace."""
    table = _space_table()
    inside = ~table[codes if codes.dtype == np.uint8 else np.minimum(codes, len(table) - 1)]
    edges = np.flatnonzero(inside[1:] != inside[:-1]) + 1
    if inside[0]:
        edges = np.concatenate(([0], edges))
    return edges[0::2], edges[1::2]


def _rows(counts) -> np.ndarray:
    """Row index of every entry, given how many entries each row has."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _segment_sums(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Sums of consecutive runs of ``values`` columns, ``sizes[i]`` columns in run i (zero for an empty run).

    Columns, not rows: each sum then runs along contiguous memory.
    """
    sums = np.zeros((len(values), len(sizes)))
    filled = sizes > 0
    if values.shape[1]:
        sums[:, filled] = np.add.reduceat(values, (np.cumsum(sizes) - sizes)[filled], axis=1)
    return sums


def _norm_totals(summed: np.ndarray, norm: str) -> np.ndarray:
    """Row norms from per-row sums of squares (l2) or of absolute values (l1); 1 for an empty row."""
    totals = np.sqrt(summed) if norm == "l2" else summed.copy()
    totals[totals == 0.0] = 1.0  # sklearn leaves empty rows alone
    return totals


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _row_sums(rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Per-row sums, added in entry order; float64 even when there are no entries."""
    return np.bincount(rows, weights=values, minlength=n_rows).astype(np.float64, copy=False)


def _encode_json(value) -> np.ndarray:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _read_npz(handle) -> dict[str, np.ndarray]:
    data = np.load(handle, allow_pickle=False)
    if not hasattr(data, "files"):
        raise ValueError("a single .npy array, not an .npz archive")
    with data:
        return {name: data[name] for name in data.files}


def _describe(error: Exception) -> str:
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__

"""Pickle-free, numpy-only prediction for a fitted TF-IDF + LogisticRegression pipeline.

A fitted pipeline is only vocabularies, idf weights, linear coefficients and a
few analyzer settings. Exporting those to one ``.npz`` file (JSON header, no
pickle) lets the bulk path start without importing scikit-learn or trusting a
pickle, and scoring a whole batch with flat numpy arrays instead of sklearn's
per-document sparse-matrix machinery is several times faster. The text
processing below mirrors ``sklearn.feature_extraction.text`` step by step, so
probabilities agree with ``pipeline.predict_proba`` to rounding error.

>>> LeanModel.from_pipeline(pipeline, sha).save("stance.npz")
>>> LeanModel.load("stance.npz", expected_sha256=sha).predict(["Troops will stay."])
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from itertools import repeat

import numpy as np

FORMAT = "classify.lean"
FORMAT_VERSION = 1

_CHUNK = 4096
"""Documents scored per numpy pass: bounds memory on million-sentence inputs."""

_WORD_CACHE_LIMIT = 1 << 18
"""char_wb words whose in-vocabulary grams are cached before the cache is reset."""

_WHITE_SPACES = re.compile(r"\s\s+")  # sklearn's _VectorizerMixin._white_spaces
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


class _Block:
    """One fitted TfidfVectorizer: how it analyses text, its vocabulary and idf."""

    def __init__(self, settings: dict, terms: list, idf: np.ndarray | None):
        self.settings = settings = _check_settings(settings)
        if not all(isinstance(t, str) for t in terms):
            raise ValueError("vocabulary terms must be strings")
        self.terms = terms
        self.vocabulary = dict(zip(terms, range(len(terms))))
        if len(self.vocabulary) != len(terms) or not terms:
            raise ValueError("vocabulary is empty or has duplicate terms")
        if idf is not None:
            idf = np.asarray(idf)
            if idf.dtype != np.float64 or idf.shape != (len(terms),):
                raise ValueError("idf must be float64 with one weight per vocabulary term")
        self.idf = idf
        self.ngram_range = tuple(settings["ngram_range"])
        self.preprocess = _preprocessor(settings["lowercase"], settings["strip_accents"])
        if settings["analyzer"] == "word":
            self.token_re = re.compile(settings["token_pattern"])
            stop = settings["stop_words"]
            self.stop_words = None if stop is None else frozenset(stop)
            self.indices = self._word_indices
        elif settings["analyzer"] == "char":
            self.indices = self._char_indices
        else:
            self.word_cache: dict[str, tuple[int, ...]] = {}
            self.indices = self._char_wb_indices

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

    def _word_indices(self, docs):
        """sklearn's word analyzer: tokens, stop words removed, n-grams joined with a space."""
        preprocess, findall, stop = self.preprocess, self.token_re.findall, self.stop_words
        low, high = self.ngram_range
        join = " ".join
        grams: list[str] = []
        lengths = []
        for doc in docs:
            tokens = findall(preprocess(doc))
            if stop is not None:
                tokens = [t for t in tokens if t not in stop]
            before = len(grams)
            for n in range(low, min(high, len(tokens)) + 1):
                if n == 1:
                    grams += tokens
                elif n == 2:
                    grams += map(join, zip(tokens, tokens[1:]))
                else:
                    grams += map(join, zip(*[tokens[i:] for i in range(n)]))
            lengths.append(len(grams) - before)
        return self._lookup(grams), lengths

    def _char_indices(self, docs):
        """sklearn's char analyzer: runs of whitespace become one space, then raw slices."""
        preprocess, squash = self.preprocess, _WHITE_SPACES.sub
        low, high = self.ngram_range
        grams: list[str] = []
        lengths = []
        for doc in docs:
            text = squash(" ", preprocess(doc))
            size = len(text)
            before = len(grams)
            for n in range(low, min(high, size) + 1):
                if n == 1:
                    grams += text
                else:
                    grams += [text[i : i + n] for i in range(size - n + 1)]
            lengths.append(len(grams) - before)
        return self._lookup(grams), lengths

    def _char_wb_indices(self, docs):
        """sklearn's char_wb analyzer; a word's grams never depend on its neighbours, so cache them."""
        preprocess, squash = self.preprocess, _WHITE_SPACES.sub
        cache, word_indices = self.word_cache, self._word_gram_indices
        indices: list[int] = []
        lengths = []
        for doc in docs:
            before = len(indices)
            for word in squash(" ", preprocess(doc)).split():
                found = cache.get(word)
                if found is None:
                    if len(cache) >= _WORD_CACHE_LIMIT:
                        cache.clear()
                    found = cache[word] = word_indices(word)
                indices += found
            lengths.append(len(indices) - before)
        return np.array(indices, dtype=np.int64), lengths

    def _word_gram_indices(self, word: str) -> tuple[int, ...]:
        """In-vocabulary grams of one space-padded word; a word shorter than n counts once."""
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

    def _lookup(self, grams: list[str]) -> np.ndarray:
        """Vocabulary index of every gram, -1 when out of vocabulary."""
        return np.fromiter(
            map(self.vocabulary.get, grams, repeat(-1)), dtype=np.int64, count=len(grams)
        )

    def transform(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """TF-IDF entries (row, column, value) sorted by row then column, as sklearn's CSR.

        Like sklearn, only in-vocabulary grams are counted, so the row norm is
        taken over in-vocabulary features only.
        """
        indices, lengths = self.indices(docs)
        n_terms = len(self.terms)
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        known = indices >= 0
        keys, counts = np.unique(rows[known] * n_terms + indices[known], return_counts=True)
        rows, cols = np.divmod(keys, n_terms)
        if self.settings["binary"]:
            values = np.ones(len(keys))
        else:
            values = counts.astype(np.float64)
        if self.settings["sublinear_tf"]:
            np.log(values, out=values)
            values += 1.0
        if self.idf is not None:
            values *= self.idf[cols]
        norm = self.settings["norm"]
        if norm is not None:
            if norm == "l2":
                totals = np.sqrt(_row_sums(rows, values * values, len(docs)))
            else:
                totals = _row_sums(rows, np.abs(values), len(docs))
            totals[totals == 0.0] = 1.0  # sklearn leaves empty rows alone
            values /= totals[rows]
        return rows, cols, values


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
    checked = {key: settings[key] for key in (
        "analyzer", "ngram_range", "lowercase", "strip_accents", "binary", "sublinear_tf", "norm"
    )}
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
        raise ValueError(f"expected a scikit-learn {name}, got {kind.__module__}.{kind.__qualname__}")


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
                f"coefficients must be float64 of shape {(n_outputs, n_features)}, got "
                f"{coef.dtype} {coef.shape}"
            )
        if intercept.dtype != np.float64 or intercept.shape != (n_outputs,):
            raise ValueError(f"intercept must be float64 of shape ({n_outputs},)")
        self.blocks = list(blocks)
        self.coef = coef
        self.intercept = intercept
        self.source_sha256 = source_sha256
        self._weights = np.ascontiguousarray(coef.T)  # one row per feature for gathering
        self._offsets = np.cumsum([0] + [len(b.terms) for b in self.blocks[:-1]])

    @classmethod
    def from_pipeline(cls, pipeline, source_sha256: str) -> LeanModel:
        """Export ``Pipeline([("tfidf", TfidfVectorizer | FeatureUnion), ("clf", LogisticRegression)])``."""
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
            raise ValueError("only string class labels are supported")
        classes = [str(c) for c in clf.classes_]
        intercept = np.broadcast_to(np.asarray(clf.intercept_, np.float64), clf.coef_.shape[:1])
        return cls(classes, blocks, clf.coef_, intercept.copy(), source_sha256)

    def save(self, path: str | os.PathLike) -> None:
        """Write one ``.npz`` atomically: a temporary file beside ``path``, then ``os.replace``."""
        import tempfile

        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "source_sha256": self.source_sha256,
            "classes": self.classes_,
            "blocks": [
                {**b.settings, "vocabulary": b.terms, "idf": b.idf is not None} for b in self.blocks
            ],
        }
        arrays = {
            "header": _encode_json(header),
            "coef": self.coef,
            "intercept": self.intercept,
        }
        for i, block in enumerate(self.blocks):
            if block.idf is not None:
                arrays[f"idf_{i}"] = block.idf
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lean-", suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
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
        with open(path, "rb") as handle:
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
            return cls(
                header["classes"], blocks, arrays["coef"], arrays["intercept"], source_sha256
            )
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
        scores = np.empty((len(texts), self._weights.shape[1]))
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            scores[start : start + len(chunk)] = self._chunk_scores(chunk)
        return scores

    def _chunk_scores(self, docs: list[str]) -> np.ndarray:
        """X @ coef.T + intercept with X never materialised.

        Entries are laid out block after block and bincount adds them in
        order, so every row sums in sklearn's CSR order.
        """
        parts = [block.transform(docs) for block in self.blocks]
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] + offset for p, offset in zip(parts, self._offsets)])
        values = np.concatenate([p[2] for p in parts])
        n_outputs = self._weights.shape[1]
        contributions = values[:, None] * self._weights[cols]
        slots = rows[:, None] * n_outputs + np.arange(n_outputs)
        scores = _row_sums(slots.ravel(), contributions.ravel(), len(docs) * n_outputs)
        scores = scores.reshape(len(docs), n_outputs)
        scores += self.intercept
        return scores


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

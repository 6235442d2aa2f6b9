"""Tag sentences: a few from Python, a raw article, or millions from a file.

Prediction runs on the lean export (``stance.npz``: numpy only, no pickle)
when one sits beside the model and matches it, so that the command starts in
a fraction of the time scikit-learn takes to import; otherwise it falls back
to the scikit-learn pipeline. Both give the same probabilities.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO

from .errors import ClassifyError
from .sentences import split_sentences

BATCH_BYTES = 1 << 19
"""Input bytes per batch (about 3,000 news sentences): enough to make a hand-off to a worker cheap."""
FORMATS = ("table", "jsonl", "csv")
EMPTY_NOTE = "empty line"

_JSON = json.JSONEncoder(ensure_ascii=False)
"""``json.dumps(x, ensure_ascii=False)`` without building an encoder per call."""


@dataclass
class Tagger:
    """Anything with ``classes_`` and ``predict_proba``: the lean model or a pipeline."""

    model: object
    path: Path

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def rows(self, texts: Sequence[str]) -> list[dict]:
        """One row per text: ``text``, ``label`` and ``probabilities`` for every label.

        A blank text gets ``label: null`` and a ``note`` instead of a guess, so
        that output rows stay aligned with input rows.
        """
        return _rows(texts, *self._predict(texts), self.classes)

    def _predict(self, texts: Sequence[str]):
        """Indices of the non-blank texts, their labels, and their probabilities rounded to 6 places (an array)."""
        import numpy as np

        keep = [i for i, t in enumerate(texts) if t.strip()]
        classes = self.classes
        if not keep:
            return keep, [], np.zeros((0, len(classes)))
        proba = self.model.predict_proba([texts[i] for i in keep])
        labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
        return keep, labels, _round6(proba)


def _rows(texts, keep, labels, rounded, classes) -> list[dict]:
    rows = [{"text": t, "label": None, "probabilities": None, "note": EMPTY_NOTE} for t in texts]
    for i, label, values in zip(keep, labels, rounded.tolist()):
        rows[i] = {"text": texts[i], "label": label, "probabilities": dict(zip(classes, values))}
    return rows


def _round6(values):
    """``round(x, 6)`` of every value, vectorised.

    ``rint(x * 1e6) / 1e6`` is Python's correctly rounded result unless ``x * 1e6``
    lies so close to a half that its own rounding error could tip it; those few
    values are rounded by Python.
    """
    import numpy as np

    scaled = values * 1e6
    rounded = np.rint(scaled) / 1e6
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    if near_half.any():
        rounded[near_half] = [round(x, 6) for x in values[near_half].tolist()]
    return rounded


def open_tagger(path: str | os.PathLike | None = None, trust: bool = False) -> Tagger:
    """The fastest faithful predictor for a model file (``.joblib``, ``.skops`` or ``.npz``)."""
    from .lean import LeanModel
    from .model import DEFAULT_MODEL, lean_path, load_model

    path = Path(path) if path is not None else DEFAULT_MODEL
    if path.suffix == ".npz":
        return Tagger(_load_lean(LeanModel, path, None), path)
    lean = lean_path(path)
    if path.suffix == ".joblib" and path.is_file() and lean.is_file():
        from .persist import sha256_file
        from .trust import is_trusted, trust_hash

        sha = sha256_file(path)
        if not is_trusted(sha):
            if not trust:
                load_model(path)  # raises the untrusted-model error with its advice
            trust_hash(sha, path)
        return Tagger(_load_lean(LeanModel, lean, sha), path)
    return Tagger(load_model(path, trust=trust), path)


def _load_lean(lean_class, path: Path, sha: str | None):
    try:
        return lean_class.load(path, expected_sha256=sha)
    except FileNotFoundError:
        raise ClassifyError("model file not found", path) from None
    except ValueError as error:
        raise ClassifyError(str(error), path) from None


def read_text_file(path: str | os.PathLike) -> str:
    """A whole UTF-8 file (BOM allowed), or an error naming the first bad line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ClassifyError("no such file", path) from None
    except IsADirectoryError:
        raise ClassifyError("is a folder, not a file", path) from None
    if b"\0" in raw:
        raise ClassifyError("binary file (NUL byte); expected UTF-8 text", path, _line_of(raw, raw.index(b"\0")))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ClassifyError("not UTF-8 text", path, _line_of(raw, error.start)) from None


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def tag_article(tagger: Tagger, path: str | os.PathLike) -> list[dict]:
    """Split a raw article into sentences and tag each; rows carry ``start``/``end``."""
    text = read_text_file(path)
    spans = split_sentences(text)
    if not spans:
        raise ClassifyError("article has no text to tag", path)
    rows = tagger.rows([s.text for s in spans])
    for row, span in zip(rows, spans):
        row["start"], row["end"] = span.start, span.end
    return rows


def iter_line_batches(stream: IO[bytes], name: str, size: int = BATCH_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield ``(first_line_number, raw)``: blocks of whole lines, about ``size`` bytes each.

    One ``bytes`` block per batch, not one object per line: reading, sending a
    batch to a worker and counting its lines all stay single C-level calls.
    """
    first, empty = 1, True
    while block := stream.read(size):
        if not block.endswith(b"\n"):
            block += stream.readline()  # finish the last line (EOF leaves it as it is)
        yield first, block
        first, empty = first + block.count(b"\n"), False
    if empty:
        raise ClassifyError("no input lines to tag", name)


def decode_lines(raw: bytes, first: int, name: str) -> list[str]:
    """Decode one batch as a whole; the line number of a bad line is reported exactly."""
    if first == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\0")
    nul_line = first + raw.count(b"\n", 0, nul) if nul >= 0 else None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        bad_line = first + raw.count(b"\n", 0, error.start)
        if nul_line is None or nul_line > bad_line:
            raise ClassifyError("not UTF-8 text", name, bad_line) from None
    if nul_line is not None:  # a NUL byte is valid UTF-8, and wins over a decoding error on its line
        raise ClassifyError("binary data (NUL byte); expected UTF-8 text", name, nul_line)
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line.rstrip("\r") for line in lines] if "\r" in text else lines


def format_rows(rows: Iterable[dict], fmt: str, classes: Sequence[str]) -> str:
    """Rows as JSON lines or CSV text (``table`` is drawn by the command line)."""
    if fmt == "jsonl":
        return "".join(_JSON.encode(r) + "\n" for r in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for r in rows:
        probs = r["probabilities"] or {}
        writer.writerow([r["text"], r["label"] or "", *(probs.get(c, "") for c in classes)])
    return buffer.getvalue()


def csv_header(classes: Sequence[str]) -> str:
    return ",".join(["text", "label", *(f"p_{c}" for c in classes)]) + "\n"


class _JsonLines:
    """JSON lines of tagged texts, byte for byte what :func:`format_rows` writes, without building dicts.

    Rows have a fixed shape, so each row is its fixed pieces joined with its
    values, formatted as the json encoder formats them: strings through its
    own escaping function (``encode_basestring``, what ``ensure_ascii=False``
    uses), probabilities as ``repr`` writes them (see :class:`_Sixths`). A
    column at a time, through C-level ``map``: no per-row template.
    """

    def __init__(self, classes: Sequence[str]):
        self.classes = list(classes)
        self.labels = {c: _JSON.encode(c) for c in classes}
        openers = [', "probabilities": {' if i == 0 else ", " for i in range(len(classes))]
        self.pieces = ['{"text": ', ', "label": '] + [o + _JSON.encode(c) + ": " for o, c in zip(openers, classes)]
        self.end = "}}\n"
        self.blank = '{"text": %s, "label": null, "probabilities": null, "note": ' + _JSON.encode(EMPTY_NOTE) + "}\n"
        self.numbers = _Sixths()

    def __call__(self, texts: Sequence[str], keep: list[int], labels: list[str], rounded) -> str:
        if not rounded.size or not self.numbers.covers(rounded):  # NaN or -0.0, say: left to the json encoder
            return format_rows(_rows(texts, keep, labels, rounded, self.classes), "jsonl", self.classes)
        quote = encode_basestring
        values = [map(quote, [texts[i] for i in keep]), map(self.labels.__getitem__, labels)]
        fields = [part for piece, value in zip(self.pieces, values) for part in (repeat(piece), value)]
        for piece, (head, tail) in zip(self.pieces[2:], self.numbers(rounded)):
            fields += [repeat(piece), head, tail]
        if len(keep) == len(texts):
            return "".join(chain.from_iterable(zip(*fields, repeat(self.end))))
        rows = list(map("".join, zip(*fields, repeat(self.end))))
        placed: list = [None] * len(texts)
        for i, row in zip(keep, rows):
            placed[i] = row
        return "".join([self.blank % quote(text) if row is None else row for row, text in zip(placed, texts)])


class _Sixths:
    """``repr`` of numbers rounded to 6 places in [0, 1], a whole column at once, as two strings per number.

    Such a number is k / 10**6 for an integer k, and its shortest repr is k's
    digits ("0.000123", "0.5"), except for "0.0", "1.0" and below 1e-4, where
    repr turns to exponents ("5e-06"). Two table lookups per number, split at
    k's thousands, replace about ten times as costly a ``float.__repr__``; a
    test compares all 1,000,001 values with repr.
    """

    def __init__(self):
        import numpy as np

        heads = [f"0.{a:03d}" for a in range(1001)]
        round_heads = [f"0.{a:03d}".rstrip("0") for a in range(1001)]  # b == 0: the head is all
        round_heads[0], round_heads[1000] = "0.0", "1.0"
        smalls = [repr(k / 1e6) for k in range(100)]  # below 1e-4: exponents
        self.heads = np.array(heads + round_heads + smalls, dtype=object)
        self.tails = np.array([""] + [f"{b:03d}".rstrip("0") for b in range(1, 1000)], dtype=object)

    @staticmethod
    def covers(rounded) -> bool:
        import numpy as np

        return bool(np.isfinite(rounded).all() and not np.signbit(rounded).any() and rounded.max() <= 1.0)

    def __call__(self, rounded) -> list[tuple[list[str], list[str]]]:
        """Per column of ``rounded``: the first and second part of each number's repr."""
        import numpy as np

        k = np.rint(rounded.T * 1e6).astype(np.int64)  # exact: each value is the double nearest k / 10**6
        a, b = np.divmod(k, 1000)
        whole, small = b == 0, k < 100
        heads = self.heads[np.where(whole, 1001 + a, np.where(small, 2002 + k, a))]
        tails = self.tails[np.where(whole | small, 0, b)]
        return list(zip(heads.tolist(), tails.tolist()))


# Bulk prediction over processes: each worker gets the model once (inherited when forked).
_WORKER: dict = {}


def _init_worker(path: str, trust: bool) -> None:
    _set_worker_tagger(open_tagger(path, trust))


def _set_worker_tagger(tagger: Tagger) -> None:
    _WORKER["tagger"] = tagger
    _WORKER["jsonl"] = _JsonLines(tagger.classes)


def _tag_batch(job: tuple[int, bytes, str, str]) -> bytes:
    first, raw, name, fmt = job
    tagger: Tagger = _WORKER["tagger"]
    texts = decode_lines(raw, first, name)
    if fmt == "jsonl":
        return _WORKER["jsonl"](texts, *tagger._predict(texts)).encode()
    return format_rows(tagger.rows(texts), fmt, tagger.classes).encode()


def predict_stream(
    stream: IO[bytes],
    model_path: str | os.PathLike | None = None,
    fmt: str = "jsonl",
    name: str = "<stdin>",
    jobs: int | None = None,
    trust: bool = False,
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[bytes]:
    """Tag a stream of lines in batches, yielding UTF-8 output chunks in input order.

    Memory stays flat whatever the input size: at most a few batches per
    worker are in flight. ``jobs`` worker processes (default: every core)
    share the batches; one output row per input line, blank lines included.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"bulk output is jsonl or csv, not {fmt!r}")
    tagger = open_tagger(model_path, trust)  # fail fast on a bad model, before reading input
    if fmt == "csv":
        yield csv_header(tagger.classes).encode()
    jobs = jobs or os.cpu_count() or 1
    batches = ((first, raw, name, fmt) for first, raw in iter_line_batches(stream, name, batch_bytes))
    _set_worker_tagger(tagger)
    if jobs == 1:
        yield from map(_tag_batch, batches)
        return
    yield from _parallel(batches, str(tagger.path), trust, jobs)


def _parallel(batches, path: str, trust: bool, jobs: int) -> Iterator[bytes]:
    """Ordered results with at most ``2 * jobs`` batches in flight (``Pool.imap`` reads ahead without bound)."""
    import multiprocessing
    from collections import deque

    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None)
    if second is None:  # one batch: a pool would only cost start-up time
        yield _tag_batch(first)
        return
    if os.name == "posix":  # forked workers inherit the loaded model
        context, setup = multiprocessing.get_context("fork"), {}
    else:
        context, setup = multiprocessing.get_context("spawn"), {"initializer": _init_worker, "initargs": (path, trust)}
    with context.Pool(jobs, **setup) as pool:
        pending: deque = deque()
        for job in _chain(first, second, batches):
            pending.append(pool.apply_async(_tag_batch, (job,)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _chain(first, second, rest):
    yield first
    yield second
    yield from rest

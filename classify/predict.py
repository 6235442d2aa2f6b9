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
from pathlib import Path
from typing import IO

from .errors import ClassifyError
from .sentences import split_sentences

BATCH_LINES = 8192
FORMATS = ("table", "jsonl", "csv")
EMPTY_NOTE = "empty line"


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
        keep = [i for i, t in enumerate(texts) if t.strip()]
        proba = self.model.predict_proba([texts[i] for i in keep]) if keep else []
        classes = self.classes
        rows = [{"text": t, "label": None, "probabilities": None, "note": EMPTY_NOTE} for t in texts]
        for i, p in zip(keep, proba):
            values = [round(float(x), 6) for x in p]
            best = max(range(len(values)), key=p.__getitem__)
            rows[i] = {
                "text": texts[i],
                "label": classes[best],
                "probabilities": dict(zip(classes, values)),
            }
        return rows


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


def iter_line_batches(stream: IO[bytes], name: str, size: int = BATCH_LINES) -> Iterator[tuple[int, list[bytes]]]:
    """Yield ``(first_line_number, raw_lines)`` batches without reading the whole input."""
    batch: list[bytes] = []
    first = 1
    for number, raw in enumerate(stream, start=1):
        batch.append(raw)
        if len(batch) == size:
            yield first, batch
            first, batch = number + 1, []
    if batch:
        yield first, batch
    elif first == 1:
        raise ClassifyError("no input lines to tag", name)


def decode_lines(raw_lines: list[bytes], first: int, name: str) -> list[str]:
    """Decode one batch; the line number of a bad line is reported exactly."""
    out = []
    for offset, raw in enumerate(raw_lines):
        if first + offset == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if b"\0" in raw:
            raise ClassifyError("binary data (NUL byte); expected UTF-8 text", name, first + offset)
        try:
            out.append(raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError:
            raise ClassifyError("not UTF-8 text", name, first + offset) from None
    return out


def format_rows(rows: Iterable[dict], fmt: str, classes: Sequence[str]) -> str:
    """Rows as JSON lines or CSV text (``table`` is drawn by the command line)."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for r in rows:
        probs = r["probabilities"] or {}
        writer.writerow([r["text"], r["label"] or "", *(probs.get(c, "") for c in classes)])
    return buffer.getvalue()


def csv_header(classes: Sequence[str]) -> str:
    return ",".join(["text", "label", *(f"p_{c}" for c in classes)]) + "\n"


# Bulk prediction over processes: each worker loads the model once.
_WORKER: dict = {}


def _init_worker(path: str, trust: bool) -> None:
    _WORKER["tagger"] = open_tagger(path, trust)


def _tag_batch(job: tuple[int, list[bytes], str, str]) -> str:
    first, raw_lines, name, fmt = job
    tagger: Tagger = _WORKER["tagger"]
    return format_rows(tagger.rows(decode_lines(raw_lines, first, name)), fmt, tagger.classes)


def predict_stream(
    stream: IO[bytes],
    model_path: str | os.PathLike | None = None,
    fmt: str = "jsonl",
    name: str = "<stdin>",
    jobs: int | None = None,
    trust: bool = False,
    batch_lines: int = BATCH_LINES,
) -> Iterator[str]:
    """Tag a stream of lines in batches, yielding formatted output chunks in input order.

    Memory stays flat whatever the input size: at most a few batches per
    worker are in flight. ``jobs`` worker processes (default: every core)
    share the batches; one output row per input line, blank lines included.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"bulk output is jsonl or csv, not {fmt!r}")
    tagger = open_tagger(model_path, trust)  # fail fast on a bad model, before reading input
    if fmt == "csv":
        yield csv_header(tagger.classes)
    jobs = jobs or os.cpu_count() or 1
    batches = ((first, raw, name, fmt) for first, raw in iter_line_batches(stream, name, batch_lines))
    if jobs == 1:
        _WORKER["tagger"] = tagger
        yield from map(_tag_batch, batches)
        return
    yield from _parallel(batches, str(tagger.path), trust, jobs)


def _parallel(batches, path: str, trust: bool, jobs: int) -> Iterator[str]:
    """Ordered results with at most ``2 * jobs`` batches in flight (``Pool.imap`` reads ahead without bound)."""
    import multiprocessing
    from collections import deque

    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None)
    if second is None:  # one batch: a pool would only cost start-up time
        _WORKER["tagger"] = open_tagger(path, trust)
        yield _tag_batch(first)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(jobs, initializer=_init_worker, initargs=(path, trust)) as pool:
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

"""Load and validate labeled sentences (JSONL, CSV or Parquet).

Records follow the labeling guide: ``id``, ``doc``, ``text``, ``label`` and
optional extras (``source``, ``note``, ``start``/``end``). Every record is
checked as it streams past, so a bad one is reported with its file and line;
the valid rows are then held in a Hugging Face :class:`datasets.Dataset`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from .errors import ClassifyError
from .labels import LABELS

DATA_SUFFIXES = (".jsonl", ".csv", ".parquet")
MAX_TEXT_CHARS = 5_000
"""A sentence longer than this is almost surely a broken record (a whole file on one line)."""

COLUMNS = ("id", "doc", "text", "label", "source")


@dataclass(frozen=True)
class LabeledData:
    """Validated labeled sentences, column by column, in file order."""

    ids: list[str]
    docs: list[str]
    texts: list[str]
    labels: list[str]
    sources: list[str]
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def sha256(self) -> str:
        """Hash of what a model learns from (id, doc, text, label, source), not of notes."""
        digest = hashlib.sha256()
        for row in zip(self.ids, self.docs, self.texts, self.labels, self.sources):
            digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
        return digest.hexdigest()

    def label_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {label: counts.get(label, 0) for label in LABELS}

    def counts_by(self, column: str) -> dict[str, dict[str, int]]:
        """Label counts per value of ``column`` (``"source"`` or ``"doc"``)."""
        table: dict[str, Counter] = defaultdict(Counter)
        for key, label in zip(getattr(self, column + "s"), self.labels):
            table[key][label] += 1
        return {key: {label: c.get(label, 0) for label in LABELS} for key, c in table.items()}

    def take(self, indices: Iterable[int]) -> LabeledData:
        """The rows at ``indices`` (as with numpy fancy indexing)."""
        idx = list(indices)
        pick = lambda col: [col[i] for i in idx]  # noqa: E731
        return LabeledData(
            pick(self.ids),
            pick(self.docs),
            pick(self.texts),
            pick(self.labels),
            pick(self.sources),
            self.files,
            self.warnings,
        )

    def where_source(self, *sources: str) -> LabeledData:
        return self.take(i for i, s in enumerate(self.sources) if s in sources)

    def require_trainable(self) -> None:
        """Refuse data a classifier cannot learn from: empty, or only one label."""
        where = ", ".join(self.files) or None
        if not self.texts:
            raise ClassifyError("no labeled records to train on", where)
        present = sorted(set(self.labels))
        if len(present) < 2:
            raise ClassifyError(
                f"all {len(self.texts)} records have the label {present[0]!r}; training needs at least two labels",
                where,
            )


def find_files(paths: Sequence[str | PathLike]) -> list[Path]:
    """Expand folders to their data files (not recursive); refuse what is missing."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in DATA_SUFFIXES)
            if not found:
                raise ClassifyError("folder holds no *.jsonl, *.csv or *.parquet files", path)
            files.extend(found)
        elif path.is_file():
            if path.suffix not in DATA_SUFFIXES + (".json",):
                raise ClassifyError(
                    f"unsupported file type {path.suffix or '(none)'!r}; use .jsonl, .csv or .parquet",
                    path,
                )
            files.append(path)
        else:
            raise ClassifyError("no such file or folder", path)
    return files


def load_labeled(paths: Sequence[str | PathLike] = ("labels",)) -> LabeledData:
    """Load and validate labeled records from files or folders of files.

    Raises :class:`ClassifyError` naming file and line for the first bad
    record, for duplicate ids and for a text given two different labels.
    """
    files = find_files(paths)
    dataset = _to_dataset(files)
    data = LabeledData(
        ids=dataset["id"],
        docs=dataset["doc"],
        texts=dataset["text"],
        labels=dataset["label"],
        sources=dataset["source"],
        files=[str(f) for f in files],
    )
    data.warnings.extend(_check_consistency(data))
    return data


def _to_dataset(files: list[Path]):
    """Stream validated records into an Arrow-backed dataset (cached by content)."""
    import datasets

    datasets.disable_progress_bars()
    features = datasets.Features({name: datasets.Value("string") for name in COLUMNS})
    content = hashlib.sha256()
    for path in files:
        content.update(str(path).encode() + b"\0" + path.read_bytes())
    try:
        return datasets.Dataset.from_generator(
            _generate,
            features=features,
            gen_kwargs={"files": [str(f) for f in files], "content": content.hexdigest()},
        )
    except datasets.exceptions.DatasetGenerationError as error:
        if isinstance(error.__cause__, ClassifyError):
            raise error.__cause__ from None
        raise


def _generate(files: list[str], content: str) -> Iterator[dict]:
    """Yield validated records; ``content`` only keys the dataset cache."""
    seen: dict[str, str] = {}
    for name in files:
        path = Path(name)
        for line, record in iter_raw_records(path):
            row = validate_record(record, path, line)
            if row["id"] in seen:
                raise ClassifyError(f"duplicate id {row['id']!r} (first at {seen[row['id']]})", path, line)
            seen[row["id"]] = f"{path}:{line}"
            yield row
    if not seen:
        raise ClassifyError("no labeled records", ", ".join(files))


def iter_raw_records(path: Path) -> Iterator[tuple[int, object]]:
    """Yield ``(line, record)`` pairs from one data file, without validating fields."""
    if path.suffix in (".jsonl", ".json"):
        yield from _iter_jsonl(path)
    else:
        yield from _iter_table(path)


def _iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if b"\0" in raw:
                raise ClassifyError("binary data (NUL byte); expected UTF-8 JSON lines", path, number)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ClassifyError(
                    f"not UTF-8 text (byte {raw[error.start]:#04x} at column {error.start + 1})",
                    path,
                    number,
                ) from None
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise ClassifyError(f"not valid JSON ({error.msg})", path, number) from None


def _iter_table(path: Path) -> Iterator[tuple[int, object]]:
    import datasets

    builder = "csv" if path.suffix == ".csv" else "parquet"
    try:
        table = datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as error:  # the readers raise many types; all mean "unreadable"
        raise ClassifyError(f"cannot read as {builder}: {error}", path) from None
    first = 2 if builder == "csv" else 1  # a CSV row's line number, after the header
    yield from enumerate(table, start=first)


def validate_record(record: object, path: Path, line: int) -> dict[str, str]:
    """Check one record against the guide's format; return its model columns."""
    if not isinstance(record, dict):
        raise ClassifyError(f"expected a JSON object, got {type(record).__name__}", path, line)
    for key in ("text", "label"):
        if record.get(key) is None:
            raise ClassifyError(f"record has no {key!r}", path, line)
    text, label = record["text"], record["label"]
    if not isinstance(text, str):
        raise ClassifyError(f"'text' must be a string, got {type(text).__name__}", path, line)
    if not text.strip():
        raise ClassifyError("'text' is empty", path, line)
    if len(text) > MAX_TEXT_CHARS:
        raise ClassifyError(
            f"'text' has {len(text):,} characters; a sentence has at most {MAX_TEXT_CHARS:,}",
            path,
            line,
        )
    if label not in LABELS:
        raise ClassifyError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}", path, line)
    rid = record.get("id")
    rid = f"{path.stem}:{line}" if rid is None else str(rid)
    doc = record.get("doc")
    doc = path.stem if doc is None else str(doc)
    source = record.get("source") or path.stem
    return {"id": rid, "doc": doc, "text": text, "label": label, "source": str(source)}


def _check_consistency(data: LabeledData) -> list[str]:
    """Refuse a text labeled two ways; warn when a text recurs across documents."""
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(data.texts):
        by_text[" ".join(text.split())].append(i)
    conflicts, leaks = [], []
    for rows in by_text.values():
        if len({data.labels[i] for i in rows}) > 1:
            conflicts.append(", ".join(f"{data.ids[i]}={data.labels[i]}" for i in rows))
        elif len({data.docs[i] for i in rows}) > 1:
            leaks.append(", ".join(f"{data.ids[i]} ({data.docs[i]})" for i in rows))
    if conflicts:
        shown = "; ".join(conflicts[:5]) + (f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise ClassifyError(f"{len(conflicts)} text(s) labeled two ways: {shown}", ", ".join(data.files))
    return [f"same text in two documents, so grouped folds can leak it: {leak}" for leak in leaks]


def near_duplicates(texts: list[str], others: list[str] | None = None, threshold: float = 0.8):
    """Pairs ``(i, j, similarity)`` whose TF-IDF cosine similarity is at least ``threshold``.

    Within ``texts`` when ``others`` is None (``i < j``), else between
    ``texts[i]`` and ``others[j]``. Word unigrams and bigrams, lower-cased,
    fitted on all texts involved: a close paraphrase shares most of both.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform(texts + (others or []))
    left, right = matrix[: len(texts)], matrix[len(texts) :] if others is not None else matrix[: len(texts)]
    similarity = (left @ right.T).tocoo()
    pairs = [
        (int(i), int(j), round(float(s), 4))
        for i, j, s in zip(similarity.row, similarity.col, similarity.data)
        if s >= threshold and (others is not None or i < j)
    ]
    return sorted(pairs, key=lambda p: -p[2])

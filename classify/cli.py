"""The `classify` command line: thin typer wrappers over the library.

Heavy modules are imported inside the commands that need them, so that
`classify predict "..."` starts in a fraction of a second.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import ClassifyError

app = typer.Typer(
    help="Tag the stance of news sentences about the US military presence in South Korea.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DataOpt = Annotated[
    list[Path] | None,
    typer.Option("--data", help="Labeled JSONL/CSV/Parquet file or folder (repeatable) [default: labels/]."),
]
ModelOpt = Annotated[
    Path | None, typer.Option("--model", help="Model file [default: the shipped models/stance.joblib].")
]
TrustOpt = Annotated[
    bool, typer.Option("--trust-model", help="Load an untrusted .joblib model anyway, and trust it from now on.")
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"classify: error: {message}", err=True)
    raise typer.Exit(code)


def handle_errors(command):
    """Turn library errors into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ClassifyError as error:
            _fail(str(error))
        except BrokenPipeError:  # the reader has gone (`classify predict --file F | head`): stop quietly
            _silence_stdout()
            raise typer.Exit(1) from None
        except OSError as error:
            _fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))
        except KeyboardInterrupt:
            _fail("interrupted; no file was left half-written", 130)

    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not hit the closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _warn(messages) -> None:
    for message in messages:
        typer.echo(f"classify: warning: {message}", err=True)


def _data_paths(data: list[Path] | None) -> list[Path]:
    return data or [Path("labels")]


@app.command()
@handle_errors
def train(
    data: DataOpt = None,
    model: Annotated[Path, typer.Option("--model", help="Where to write the model.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Folds for the grouped cross-validation.")] = 5,
) -> None:
    """Fit the model on labeled data and write it with its card."""
    from .model import DEFAULT_MODEL
    from .train import train_model

    model = model or DEFAULT_MODEL
    card, report = train_model(_data_paths(data), model, folds=folds)
    _warn(report.get("warnings", []))
    typer.echo(f"wrote {model} (sha256 {card['model_sha256'][:12]}), its card and lean export")
    _print_summary(report)


@app.command()
@handle_errors
def evaluate(
    data: DataOpt = None,
    train: Annotated[list[Path] | None, typer.Option("--train", help="Train on these files (with --test).")] = None,
    test: Annotated[
        list[Path] | None, typer.Option("--test", help="Score on these files: cross-source evaluation.")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Folds for the grouped cross-validation.")] = 5,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure as JSON here.")] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report", help="Write report.json, report.md and plots here.")
    ] = None,
) -> None:
    """Grouped cross-validation (and cross-source testing), against the majority baseline."""
    from .data import load_labeled
    from .evaluate import evaluate as run_evaluation

    if test and data:
        _fail("give --data for cross-validation, or --train with --test, not both")
    labeled = load_labeled(train or _data_paths(data))
    held_out = load_labeled(test) if test else None
    report, predictions = run_evaluation(labeled, held_out, folds=folds)
    _warn(report.get("warnings", []))
    _print_report(report)
    if json_path:
        from .report import write_json

        write_json(report, json_path)
    if report_dir:
        from .report import write_report

        for path in write_report(report, predictions, report_dir):
            typer.echo(f"wrote {path}")


@app.command()
@handle_errors
def predict(
    texts: Annotated[list[str] | None, typer.Argument(help="Sentences to tag.", show_default=False)] = None,
    file: Annotated[str | None, typer.Option("--file", help="Tag each line of this file ('-' for stdin).")] = None,
    article: Annotated[
        Path | None, typer.Option("--article", help="Split a raw article into sentences and tag each.")
    ] = None,
    model: ModelOpt = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="table, jsonl or csv [default: table on a terminal, else jsonl].")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (atomically) instead of stdout.")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", min=1, help="Worker processes for --file [default: all cores].")
    ] = None,
    trust_model: TrustOpt = False,
) -> None:
    """Tag sentences given as arguments, lines of a file, or a whole article."""
    from .predict import FORMATS, format_rows, open_tagger, predict_stream, tag_article

    if sum(bool(x) for x in (texts, file, article)) != 1:
        _fail("give sentences as arguments, or --file PATH (or -), or --article PATH: exactly one")
    fmt = fmt or ("table" if output is None and sys.stdout.isatty() else "jsonl")
    if fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if file:
        if fmt == "table":
            fmt = "jsonl"
        name = "<stdin>" if file == "-" else file
        stream = sys.stdin.buffer if file == "-" else _open_input(Path(file))
        chunks = predict_stream(stream, model, fmt, name=name, jobs=jobs, trust=trust_model)
        _write_chunks(chunks, output)
        return
    tagger = open_tagger(model, trust_model)
    if article:
        rows = tag_article(tagger, article)
    else:
        if not any(t.strip() for t in texts):
            _fail("no text to tag: every sentence given is empty")
        rows = tagger.rows(texts)
    if fmt == "table":
        _print_rows(rows)
    else:
        from .predict import csv_header

        body = format_rows(rows, fmt, tagger.classes)
        _write_chunks([((csv_header(tagger.classes) if fmt == "csv" else "") + body).encode()], output)


def _open_input(path: Path):
    if path.is_dir():
        raise ClassifyError("is a folder, not a file", path)
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ClassifyError("no such file", path) from None


def _write_chunks(chunks, output: Path | None) -> None:
    """UTF-8 bytes to stdout, or atomically to ``output``."""
    if output is None:
        sys.stdout.flush()
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    from .persist import atomic_open

    with atomic_open(output, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)


@app.command()
@handle_errors
def export(
    path: Annotated[Path, typer.Argument(help="Where to write the exported model.")],
    fmt: Annotated[str, typer.Option("--format", help="Export format: skops.")] = "skops",
    model: ModelOpt = None,
    trust_model: TrustOpt = False,
) -> None:
    """Write the model in skops' pickle-free format, safe to share and to load."""
    from .model import load_model
    from .safe_load import export_skops

    if fmt != "skops":
        _fail(f"unknown export format {fmt!r}; use skops")
    if path.suffix != ".skops":
        _fail(f"{path}: a skops export must end in .skops")
    typer.echo(f"wrote {export_skops(load_model(model, trust=trust_model), path)}")


@app.command()
@handle_errors
def check(
    report: Annotated[
        Path | None, typer.Option("--report", help="report.json from `classify evaluate` (else evaluate now).")
    ] = None,
    data: DataOpt = None,
    model: ModelOpt = None,
) -> None:
    """CI gates: fail if the model got worse than its card says, or is stale."""
    import json

    from .gates import check as run_gates
    from .model import DEFAULT_MODEL

    if report:
        figures = json.loads(report.read_text(encoding="utf-8"))
    else:
        from .data import load_labeled
        from .evaluate import evaluate as run_evaluation

        figures, _ = run_evaluation(load_labeled(_data_paths(data)))
    failures = run_gates(figures, _data_paths(data), model or DEFAULT_MODEL)
    for failure in failures:
        typer.echo(f"classify: gate failed: {failure}", err=True)
    if failures:
        raise typer.Exit(1)
    typer.echo("gates passed: figures within 0.02 of the card, and the shipped model is up to date")


def _console():
    from rich.console import Console

    return Console()


def _print_summary(report: dict) -> None:
    from rich.table import Table

    from .report import headline_rows

    table = Table("evaluation", "macro-F1", "accuracy", "baseline macro-F1", "baseline acc.", "n")
    for name, m in headline_rows(report):
        b = m["baseline"]
        table.add_row(
            name,
            f"{m['macro_f1']:.3f}",
            f"{m['accuracy']:.3f}",
            f"{b['macro_f1']:.3f}",
            f"{b['accuracy']:.3f}",
            str(m["n"]),
        )
    _console().print(table)


def _print_report(report: dict) -> None:
    from rich.table import Table

    from .report import headline_rows

    _print_summary(report)
    console = _console()
    for name, m in headline_rows(report)[:2]:
        per_class = Table("label", "precision", "recall", "F1", "support", title=name)
        for label in m["labels"]:
            c = m["per_class"][label]
            per_class.add_row(label, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", str(c["support"]))
        console.print(per_class)
        matrix = Table("true \\ predicted", *m["labels"], title=f"confusion matrix: {name}")
        for label, counts in zip(m["labels"], m["confusion_matrix"]):
            matrix.add_row(label, *map(str, counts))
        console.print(matrix)
        console.print(f"method: {m['method']['kind']}, {m['method'].get('splits', '')}".rstrip(", "))


def _print_rows(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table("text", "label", "probability")
    for row in rows:
        label = row["label"]
        prob = f"{row['probabilities'][label]:.3f}" if label else "-"
        table.add_row(row["text"], label or f"({row.get('note')})", prob)
    _console().print(table)


_PREDICT_OPTIONS = {
    "--file": "file",
    "--article": "article",
    "--model": "model",
    "--format": "fmt",
    "--output": "output",
    "-o": "output",
    "--jobs": "jobs",
}
_PATH_OPTIONS = ("article", "model", "output")


def _plain_predict_args(args: list[str]) -> dict | None:
    """The arguments of a plain ``predict`` command line, or None to leave it to typer.

    typer builds its value converters with pydantic, which costs most of the
    start-up time of `classify predict "..."`. Only the simplest forms are read
    here: sentences not starting with "-", each option at most once with a
    separate non-empty value, and --jobs as plain digits. Anything else
    (--help, --opt=value, odd values, mistakes, shell completion, Windows'
    wildcard expansion) goes to typer, so every command line means what it
    did, and every error reads as before.
    """
    if not args or args[0] != "predict" or os.name != "posix":
        return None
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ):
        return None
    texts: list[str] = []
    kwargs: dict = {}
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--trust-model" and "trust_model" not in kwargs:
            kwargs["trust_model"] = True
        elif arg in _PREDICT_OPTIONS and _PREDICT_OPTIONS[arg] not in kwargs:
            value = next(rest, "")
            if not value or (value.startswith("-") and value != "-"):
                return None
            kwargs[_PREDICT_OPTIONS[arg]] = value
        elif arg.startswith("-"):
            return None
        else:
            texts.append(arg)
    jobs = kwargs.get("jobs")
    if jobs is not None:
        if not (jobs.isascii() and jobs.isdigit() and int(jobs) >= 1):
            return None
        kwargs["jobs"] = int(jobs)
    for name in _PATH_OPTIONS:
        if name in kwargs:
            kwargs[name] = Path(kwargs[name])
    return {"texts": texts or None, **kwargs}


def main() -> None:
    plain = _plain_predict_args(sys.argv[1:])
    if plain is None:
        app()
        return
    try:  # what typer's standalone mode does around a command
        predict(**plain)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

"""Benchmark `classify predict` against scikit-learn and fastText; print Markdown for the README.

Usage: python scripts/bench_predict.py [--lines 10000 1000000] [--skip-fasttext] [--model PATH]

A benchmark run on demand (it takes minutes), not a test. In one run it:

- builds input files of the requested sizes from the labeled sentences in
  ``labels/``, varied (word-order fragments shuffled, case changed, clauses
  and numbers appended) so that not every line is one the model has seen;
- uses the shipped model (or ``--model``), or trains one with the package's
  settings into a temporary folder when there is none;
- measures on each file: ``classify predict --file FILE --format jsonl``
  end to end (wall time, peak RSS of its largest process), the same
  pipeline's ``predict_proba`` in this process, and fastText trained on the
  same sentences (``predict(lines, k=-1)``) when it is installed; the
  machine may be shared, so ``classify`` and fastText are each run
  ``--runs`` times and the best time is kept (scikit-learn, far slower,
  runs once);
- measures the cold start of ``classify predict "..."`` against a bare
  ``python -c "import sklearn.linear_model"`` (medians of several runs), and
  the time fastText takes to load its model, which its throughput leaves out;
- when the model has character n-grams, trains the word-only variant of the
  same settings and reports its macro-F1 and throughput beside them.

Models and the trust list live in a temporary folder; nothing in the
repository or the user's configuration is changed. The machine may be shared:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from classify.data import load_labeled
from classify.lean import _vectorizers
from classify.model import DEFAULT_MODEL, card_path, fit, lean_path, load_card, load_model, save_model
from classify.predict import decode_lines, iter_line_batches

SENTENCE = "Seoul denied reports that Washington plans to cut its troops."
WORD_ONLY = {"tfidf__char": "drop"}
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "wall = time.perf_counter() - start\n"
    "print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)\n"
)
"""Run a command in a fresh process, so that the peak RSS is that of this command's processes only."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vary(texts: list[str], n_lines: int, seed: int = 0):
    """``n_lines`` sentences drawn from ``texts``, most of them changed a little."""
    rng = random.Random(seed)
    for _ in range(n_lines):
        text = " ".join(rng.choice(texts).split())
        kind = rng.randrange(6)
        if kind == 1:  # shuffle a fragment of a few words
            words = text.split()
            start = rng.randrange(len(words))
            end = min(len(words), start + rng.randrange(2, 6))
            fragment = words[start:end]
            rng.shuffle(fragment)
            words[start:end] = fragment
            text = " ".join(words)
        elif kind == 2:
            text = rng.choice([str.upper, str.lower, str.title])(text)
        elif kind == 3:  # append a clause of another sentence
            clause = " ".join(rng.choice(texts).split()).rstrip(".")
            joint = rng.choice(["and", "while", "as", "after"])
            text = f"{text.rstrip('.')}, {joint} {clause[:1].lower()}{clause[1:]}."
        elif kind == 4:  # a number
            number = rng.choice([rng.randrange(1, 100_000), f"{rng.randrange(1, 100)}%", rng.randrange(1950, 2030)])
            text = f"{text.rstrip('.')} ({number})."
        yield text


def write_input(texts: list[str], n_lines: int, folder: Path) -> Path:
    path = folder / f"input-{n_lines}.txt"
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in vary(texts, n_lines))
    return path


def classify_command() -> list[str]:
    script = Path(sys.executable).with_name("classify")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "classify.cli"]


def model_args(model: Path) -> list[str]:
    """Nothing for the shipped model; else the path, trusted (in the temporary trust list only)."""
    return [] if model == DEFAULT_MODEL else ["--model", str(model), "--trust-model"]


def measure(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes, largest process) of ``command``, output discarded."""
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    wall, rss_kb, code = result.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}")
    return float(wall), int(rss_kb) * 1024


def median_wall(command: list[str], repeats: int) -> float:
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)  # warm the file cache
    return statistics.median(measure(command)[0] for _ in range(repeats))


def read_batches(path: Path):
    """The file's lines in batches, read and decoded as ``classify predict --file`` does."""
    with open(path, "rb") as handle:
        for first, lines in iter_line_batches(handle, str(path)):
            yield decode_lines(lines, first, str(path))


def time_in_process(predict, path: Path) -> float:
    start = time.perf_counter()
    for lines in read_batches(path):
        predict(lines)
    return time.perf_counter() - start


def train_fasttext(texts: list[str], labels: list[str], folder: Path):
    import fasttext

    path = folder / "fasttext-train.txt"
    with open(path, "w", encoding="utf-8") as handle:
        for text, label in zip(texts, labels):
            handle.write(f"__label__{label} {' '.join(text.split())}\n")
    return fasttext.train_supervised(input=str(path), epoch=25, wordNgrams=2, thread=1, verbose=0)


def vectorizers(pipeline) -> list:
    return _vectorizers(pipeline.named_steps["tfidf"])


def describe(pipeline) -> str:
    return " + ".join(f"{v.analyzer} {v.ngram_range[0]}-{v.ngram_range[1]}" for v in vectorizers(pipeline))


def figures_of(report: dict) -> tuple[float | None, float | None]:
    """(grouped cross-validation macro-F1, cross-source macro-F1) of an evaluation report or card metrics."""
    return report["cross_validation"]["macro_f1"], report.get("cross_source", {}).get("macro_f1")


def shipped_figures(model: Path, data) -> tuple[float | None, float | None]:
    """The card's figures when the card describes this data; else a fresh evaluation."""
    if card_path(model).is_file():
        card = load_card(model)
        if card.get("data", {}).get("sha256") == data.sha256:
            return figures_of(card["metrics"])
    from classify.evaluate import evaluate

    log("evaluating the model's settings (its card does not match labels/)")
    return figures_of(evaluate(data)[0])


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in ("classify", "numpy", "scipy", "scikit-learn", "typer", "fasttext"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}; {', '.join(versions)}"
    )


def rate(lines: int, seconds: float | None) -> str:
    return "–" if seconds is None else f"{lines / seconds:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{a / b:.2f}x"


def f1(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def print_table(header: list[str], rows: list[tuple[str, list[str]]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for name, cells in rows:
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 1_000_000], help="input sizes")
    parser.add_argument("--skip-fasttext", action="store_true", help="do not train or time fastText")
    parser.add_argument("--model", type=Path, help="a .joblib model with its .npz beside it [default: the shipped one]")
    parser.add_argument("--repeats", type=int, default=7, help="runs per cold-start median")
    parser.add_argument("--runs", type=int, default=3, help="runs of classify and fastText per file (best is kept)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    os.environ["CLASSIFY_CONFIG_DIR"] = str(work / "config")  # a private trust list, for us and the CLI
    load_before = os.getloadavg()
    log(f"working in {work}")
    data = load_labeled(["labels"])
    log(f"{len(data)} labeled sentences")

    model = args.model.resolve() if args.model else DEFAULT_MODEL
    if not model.is_file():
        from classify.train import train_model

        log(f"{model} not found: training one with the package's settings")
        model = work / "model" / "stance.joblib"
        train_model(["labels"], model)
    if not lean_path(model).is_file():
        log(f"warning: no {lean_path(model).name} beside the model; classify will use scikit-learn")
    pipeline = load_model(model, trust=True)

    inputs = {}
    for n_lines in args.lines:
        log(f"writing {n_lines:,} lines")
        inputs[n_lines] = write_input(data.texts, n_lines, work)

    fast_model = None
    if not args.skip_fasttext:
        try:
            fast_model = train_fasttext(data.texts, data.labels, work)
        except ImportError:
            log("fastText not installed")

    variants = {"shipped": model}
    descriptions = {"shipped": describe(pipeline)}
    if any(v.analyzer != "word" for v in vectorizers(pipeline)):
        log("fitting the word-only variant")
        variants["word-only"] = work / "word-only" / "stance.joblib"
        word_only = fit(data, WORD_ONLY)
        save_model(word_only, {}, variants["word-only"])
        descriptions["word-only"] = describe(word_only)

    results: dict = {}
    for n_lines, path in inputs.items():
        runs: dict = {}
        # Round by round, so that each contender meets the machine's slow and fast spells alike.
        for round_number in range(1, args.runs + 1):
            for name, variant in variants.items():
                log(f"classify predict --file, {name} model, {n_lines:,} lines, run {round_number}")
                command = [*classify_command(), "predict", "--file", str(path), "--format", "jsonl"]
                runs.setdefault(name, []).append(measure([*command, *model_args(variant)]))
            if fast_model is not None:
                log(f"fastText predict, {n_lines:,} lines, run {round_number}")
                seconds = time_in_process(lambda lines: fast_model.predict(lines, k=-1), path)
                runs.setdefault("fasttext", []).append(seconds)
        for name in variants:
            results[name, n_lines] = min(wall for wall, _ in runs[name]), max(peak for _, peak in runs[name])
        if fast_model is not None:
            results["fasttext", n_lines] = min(runs["fasttext"])
        log(f"scikit-learn predict_proba, {n_lines:,} lines")
        results["sklearn", n_lines] = time_in_process(pipeline.predict_proba, path)

    log("cold starts")
    cold = median_wall([*classify_command(), "predict", *model_args(model), SENTENCE], args.repeats)
    bare = median_wall([sys.executable, "-c", "import sklearn.linear_model"], args.repeats)
    fast_load = None
    if fast_model is not None:  # not part of fastText's throughput above, which starts from a loaded model
        fast_path = work / "fasttext.bin"
        fast_model.save_model(str(fast_path))
        load = "import sys, fasttext; fasttext.load_model(sys.argv[1])"
        fast_load = median_wall([sys.executable, "-c", load, str(fast_path)], args.repeats), fast_path.stat().st_size

    figures = {"shipped": shipped_figures(model, data)}
    if "word-only" in variants:
        from classify.evaluate import evaluate

        log("evaluating the word-only settings")
        figures["word-only"] = figures_of(evaluate(data, params=WORD_ONLY)[0])
    load_after = os.getloadavg()

    sizes = list(inputs)
    wall = {n: results["shipped", n][0] for n in sizes}
    fast = {n: results.get(("fasttext", n)) for n in sizes}
    sklearn = {n: results["sklearn", n] for n in sizes}
    peaks = {n: results["shipped", n][1] for n in sizes}
    print(f"Machine: {machine()}.")
    print(
        f"Load average (1, 5, 15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)} (the machine may be shared). "
        f"Model `{model.name}` ({descriptions['shipped']}); `classify predict` uses all {os.cpu_count()} cores. "
        f"Throughput of `classify` and fastText is the best of {args.runs} runs each on the same file, taken in "
        "turns (peak RSS the highest); scikit-learn runs once.\n"
    )
    rows = [("`classify predict --file F --format jsonl`", [rate(n, wall[n]) for n in sizes])]
    rows.append(("scikit-learn `predict_proba`, in process", [rate(n, sklearn[n]) for n in sizes]))
    if fast_model is not None:
        rows.append(("fastText `predict(k=-1)`, in process, 1 thread", [rate(n, fast[n]) for n in sizes]))
        rows.append(("classify / fastText", [ratio(fast[n], wall[n]) for n in sizes]))
    rows.append(("classify / scikit-learn", [ratio(sklearn[n], wall[n]) for n in sizes]))
    rows.append(
        ("peak RSS of `classify predict --file` (largest process)", [f"{peaks[n] / 2**20:.0f} MB" for n in sizes])
    )
    print_table(["sentences per second", *(f"{n:,} lines" for n in sizes)], rows)
    if fast_model is None and not args.skip_fasttext:
        print("\nfastText not installed.")

    cold_rows = [
        (f'`classify predict "{SENTENCE}"`', [f"{cold:.3f}"]),
        ('`python -c "import sklearn.linear_model"`', [f"{bare:.3f}"]),
        ("ratio", [f"{cold / bare:.2f}x"]),
    ]
    if fast_load is not None:
        seconds, size = fast_load
        label = f'for comparison: `python -c "import fasttext; fasttext.load_model(M)"`, M of {size / 2**20:,.0f} MB'
        cold_rows.append((label, [f"{seconds:.3f}"]))
    print()
    print_table([f"cold start (median of {args.repeats} runs)", "seconds"], cold_rows)
    if "word-only" in variants:
        print()
        print_table(
            ["settings", "grouped CV macro-F1", "cross-source macro-F1", *(f"sentences/s, {n:,} lines" for n in sizes)],
            [
                (
                    f"{descriptions[name]}" + (" (shipped)" if name == "shipped" else ""),
                    [f1(figures[name][0]), f1(figures[name][1]), *(rate(n, results[name, n][0]) for n in sizes)],
                )
                for name in variants
            ],
        )

    print("\nTargets:")
    big, small = max(sizes), min(sizes)
    if fast_model is not None:
        print(f"- bulk throughput >= 1.0x fastText: {ratio(fast[big], wall[big])} at {big:,} lines")
    print(f"- bulk throughput >= 2x scikit-learn: {ratio(sklearn[big], wall[big])} at {big:,} lines")
    print(f"- cold single sentence <= 0.25x `import sklearn.linear_model`: {cold / bare:.2f}x")
    if big != small:
        growth = (peaks[big] - peaks[small]) / 2**20
        print(f"- peak memory at {big:,} lines within 50 MB of {small:,} lines: {growth:+.0f} MB")


if __name__ == "__main__":
    main()

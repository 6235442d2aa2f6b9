"""Evaluation report files (JSON, Markdown, plots) and the generated model card.

matplotlib is imported only when a plot is drawn, so no other command pays
for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .labels import LABELS
from .persist import atomic_path, write_text


def write_json(report: dict[str, Any], path: str | os.PathLike) -> Path:
    write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return Path(path)


def write_report(report: dict[str, Any], predictions, folder: str | os.PathLike) -> list[Path]:
    """Write report.json, report.md, confusion_matrix.png and calibration.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report = {**report, "confident_errors": predictions.confident_errors(20)}
    written = [
        write_json(report, folder / "report.json"),
        folder / "report.md",
        plot_confusion(predictions, folder / "confusion_matrix.png"),
        plot_calibration(predictions, folder / "calibration.png"),
    ]
    write_text(folder / "report.md", render_markdown(report))
    return written


def _pct(x: float) -> str:
    return f"{x:.3f}"


def _figures_row(name: str, m: dict[str, Any]) -> str:
    b = m["baseline"]
    return (
        f"| {name} | {_pct(m['macro_f1'])} | {_pct(m['accuracy'])} | "
        f"{_pct(b['macro_f1'])} | {_pct(b['accuracy'])} | {m['n']} |"
    )


def headline_rows(report: dict[str, Any]) -> list[tuple[str, dict]]:
    """The named figures of a report, headline first."""
    rows = []
    if "cross_source" in report:
        m = report["cross_source"]["method"]
        rows.append((f"cross-source: train {'+'.join(m['train'])}, test {'+'.join(m['test'])}", report["cross_source"]))
    rows.append(("grouped cross-validation, all data", report["cross_validation"]))
    rows += [(f"grouped CV over all data, scored on {s} rows", m) for s, m in report.get("per_source", {}).items()]
    return rows


def render_markdown(report: dict[str, Any]) -> str:
    """A readable report: headline against baseline, per class, confusion, errors, method."""
    lines = ["# Stance model evaluation", ""]
    lines += [
        "| evaluation | macro-F1 | accuracy | baseline macro-F1 | baseline accuracy | sentences |",
        "|---|---|---|---|---|---|",
    ]
    lines += [_figures_row(name, m) for name, m in headline_rows(report)]
    lines += ["", "The baseline always predicts the training side's most frequent label.", ""]
    for name, m in headline_rows(report)[:2]:
        lines += [f"## {name}", "", *_class_table(m), "", "Confusion matrix (rows: true, columns: predicted):", ""]
        lines += _confusion_table(m)
        cal = m["calibration"]
        lines += [
            "",
            f"Calibration: expected calibration error {cal['ece']:.3f} ({cal['bins']} bins),"
            f" Brier score {cal['brier']:.3f}.",
            "",
        ]
    lines += ["## Most confident errors", "", "| probability | true | predicted | text |", "|---|---|---|---|"]
    for e in report.get("confident_errors", []):
        text = e["text"].replace("|", "\\|")
        lines.append(f"| {e['probability']:.3f} | {e['true']} | {e['predicted']} | {text} |")
    lines += ["", "## How these figures were obtained", ""]
    for name, m in headline_rows(report)[:2]:
        method = ", ".join(f"{k}: {v}" for k, v in m["method"].items())
        lines.append(f"- **{name}**: {method}.")
    lines.append(
        "- Grouped splits keep every sentence of a document on one side; no figure is computed on"
        " sentences the model was trained on."
    )
    for warning in report.get("warnings", []):
        lines.append(f"- Warning: {warning}")
    return "\n".join(lines) + "\n"


def _class_table(m: dict[str, Any]) -> list[str]:
    rows = ["| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for label in m["labels"]:
        c = m["per_class"][label]
        rows.append(f"| {label} | {_pct(c['precision'])} | {_pct(c['recall'])} | {_pct(c['f1'])} | {c['support']} |")
    return rows


def _confusion_table(m: dict[str, Any]) -> list[str]:
    labels = m["labels"]
    rows = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    for label, counts in zip(labels, m["confusion_matrix"]):
        rows.append(f"| **{label}** | " + " | ".join(str(c) for c in counts) + " |")
    return rows


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(predictions, path: Path) -> Path:
    """Counts and row-normalised confusion matrices side by side."""
    plt = _figure()
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    for ax, normalize, title in ((axes[0], None, "counts"), (axes[1], "true", "row-normalised")):
        ConfusionMatrixDisplay.from_predictions(
            predictions.data.labels,
            predictions.predicted,
            labels=list(LABELS),
            normalize=normalize,
            ax=ax,
            colorbar=False,
            values_format=".2f" if normalize else "d",
            xticks_rotation=30,
        )
        ax.set_title(f"Confusion matrix ({title})")
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_calibration(predictions, path: Path) -> Path:
    """Reliability diagram: one-vs-rest per label, from the out-of-sample probabilities."""
    plt = _figure()
    from sklearn.calibration import CalibrationDisplay

    fig, ax = plt.subplots(figsize=(7, 7))
    for column, label in enumerate(LABELS):
        truth = [y == label for y in predictions.data.labels]
        if any(truth) and not all(truth):
            CalibrationDisplay.from_predictions(
                truth, predictions.proba[:, column], n_bins=10, strategy="uniform", name=label, ax=ax
            )
    ax.set_title("Reliability diagram (one-vs-rest per label)")
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


MODEL_CARD = """\
# Model card: `stance` — stance of news sentences on US troops in South Korea

*Generated by `classify train` from `stance.json` and the evaluation report; do not edit by hand.*

## What it is for
Tagging each sentence of English news text with its stance on the US military presence in
South Korea: {labels}. Labels are defined in `labels/labeling-guide.md`.

## What it is not for
- Any other topic, alliance or country: sentences outside the topic should get `none`, but the
  model has not been tested there.
- Judging articles, outlets or people: it labels what a single sentence says, not who is right.
- Languages other than English, or text from before about 2000 or after 2026.

## Model
A scikit-learn `Pipeline`: TF-IDF features (`tfidf`) and logistic regression (`clf`).
Settings chosen by {tuning} (search recorded in `stance.json` under `tuning`):

{settings}

Random seed: {seed}. Model file SHA-256: `{model_sha}`.

## Training data
{rows} sentences from {documents} documents (files: {files}); data SHA-256 `{data_sha}`.

{counts}

## Figures
{figures}

The baseline always predicts the training side's most frequent label. Cross-source figures train
on authored sentences only and test on the real news corpus, which the model never saw; grouped
cross-validation keeps all sentences of a document on one side ({cv_method}).

## Known limitations
- Five labels only, one per sentence; the precedence rule decides mixed sentences.
- Topic: US forces in South Korea; era: the 2000s to 2026; English only.
- Most training sentences were written by the team in the style of news reports; the real-news
  test set is small ({corpus_rows} sentences), so its figures are uncertain by several points.
- A bag of n-grams: no negation scope or long-range context; a sentence that needs its neighbours
  to be understood is labeled by its own words.

## Reproduce
```
pip install -e .
classify train                # writes models/stance.joblib, stance.npz, stance.json, README.md
classify evaluate             # prints the figures above
```
Library versions used: {versions}.
"""


def render_model_card(card: dict[str, Any], report: dict[str, Any]) -> str:
    data = card["data"]
    sources = sorted(data["by_source"])
    counts = ["| label | " + " | ".join(sources) + " | all |", "|---" * (len(sources) + 2) + "|"]
    for label in LABELS:
        per = [str(data["by_source"][s][label]) for s in sources]
        counts.append(f"| {label} | " + " | ".join(per) + f" | {data['label_counts'][label]} |")
    figures = [
        "| evaluation | macro-F1 | accuracy | baseline macro-F1 | baseline accuracy | sentences |",
        "|---|---|---|---|---|---|",
        *(_figures_row(name, m) for name, m in headline_rows(report)),
    ]
    corpus = data["by_source"].get("corpus", {})
    return MODEL_CARD.format(
        labels=", ".join(f"`{x}`" for x in LABELS),
        settings="\n".join(f"- `{k}` = `{v}`" for k, v in card["settings"].items()),
        tuning=(card.get("tuning") or {}).get("how", "grouped cross-validation on the training data only"),
        seed=card["seed"],
        model_sha=card["model_sha256"],
        rows=data["rows"],
        documents=data["documents"],
        files=", ".join(f"`{f}`" for f in data["files"]),
        data_sha=data["sha256"],
        counts="\n".join(counts),
        figures="\n".join(figures),
        cv_method=report["cross_validation"]["method"]["splits"],
        corpus_rows=sum(corpus.values()),
        versions=", ".join(f"{k} {v}" for k, v in card["versions"].items()),
    )


def write_model_readme(card: dict[str, Any], report: dict[str, Any], path: str | os.PathLike) -> Path:
    write_text(path, render_model_card(card, report))
    return Path(path)

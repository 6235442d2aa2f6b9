"""Train the shipped model: fit on all labeled data, evaluate honestly, write model and card."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .data import LabeledData, load_labeled
from .evaluate import DEFAULT_FOLDS, evaluate
from .model import DEFAULT_MODEL, SEED, fit, library_versions, merge_params, pipeline_params, save_model

TUNING_FILE = Path(__file__).resolve().parent.parent / "models" / "tuning.json"
"""The record of the settings search (written by ``scripts/tune.py``)."""

CARD_METRICS = (
    "macro_f1",
    "accuracy",
    "per_class",
    "confusion_matrix",
    "labels",
    "baseline",
    "calibration",
    "method",
    "n",
)


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures worth keeping in a card (no per-row detail)."""
    return {k: metrics[k] for k in CARD_METRICS if k in metrics}


def build_card(pipeline, data: LabeledData, report: dict, params: dict, seed: int) -> dict[str, Any]:
    metrics = {"cross_validation": summary(report["cross_validation"])}
    if "cross_source" in report:
        metrics["cross_source"] = summary(report["cross_source"])
    return {
        "name": "stance",
        "task": "sentence stance on the US military presence in South Korea",
        "classes": [str(c) for c in pipeline.classes_],
        "settings": {k: _plain(v) for k, v in merge_params(params).items()},
        "params": pipeline_params(pipeline),
        "seed": seed,
        "data": {
            "files": [Path(f).as_posix() for f in data.files],
            "sha256": data.sha256,
            "rows": len(data),
            "documents": len(set(data.docs)),
            "label_counts": data.label_counts(),
            "by_source": data.counts_by("source"),
        },
        "metrics": metrics,
        "tuning": _tuning_record(),
        "versions": library_versions(),
    }


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _tuning_record() -> dict | None:
    try:
        return json.loads(TUNING_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def train_model(
    data_paths=("labels",),
    model_path: str | os.PathLike = DEFAULT_MODEL,
    params: dict | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = SEED,
) -> tuple[dict, dict]:
    """Fit on all of ``data_paths``, evaluate, and write model, lean export, card and README.

    Returns the card and the full evaluation report. Nothing is written
    until fitting and evaluation have succeeded, and each file is replaced
    atomically, so a failure leaves the previous model whole.
    """
    from .report import write_model_readme
    from .trust import SHIPPED_HASH_FILE

    params = params or {}
    data = load_labeled(list(data_paths))
    pipeline = fit(data, params, seed)
    report, _ = evaluate(data, params=params, folds=folds, seed=seed)
    card = save_model(pipeline, build_card(pipeline, data, report, params, seed), model_path)
    shipped = Path(model_path).resolve() == DEFAULT_MODEL.resolve()
    write_model_readme(
        card, report, DEFAULT_MODEL.parent / "README.md" if shipped else Path(model_path).with_suffix(".md")
    )
    if shipped:
        from .persist import write_text

        write_text(SHIPPED_HASH_FILE, card["model_sha256"] + "\n")
    return card, report

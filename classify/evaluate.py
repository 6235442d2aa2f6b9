"""Honest evaluation: grouped cross-validation and cross-source testing.

No figure here is computed on sentences the model was trained on. Grouped
cross-validation keeps every sentence of a document on one side of each
split; cross-source testing trains on one set of files (``authored``) and
scores on another (``corpus``, real news the model never saw). Every
figure comes with the majority-class baseline fitted on the same training
side.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .data import LabeledData
from .labels import LABELS
from .model import SEED, fit

DEFAULT_FOLDS = 5
CALIBRATION_BINS = 10


@dataclass
class Predictions:
    """Out-of-sample predictions for every scored row, with how they were obtained."""

    data: LabeledData
    predicted: list[str]
    proba: np.ndarray  # (n, len(LABELS)), columns in LABELS order
    baseline: list[str]
    method: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        return {
            **score(self.data.labels, self.predicted),
            "n": len(self.predicted),
            "baseline": score(self.data.labels, self.baseline, detail=False)
            | {"predicts": Counter(self.baseline).most_common(1)[0][0]},
            "calibration": calibration(self.data.labels, self.proba),
            "method": self.method,
        }

    def take(self, indices) -> Predictions:
        idx = list(indices)
        return Predictions(
            self.data.take(idx),
            [self.predicted[i] for i in idx],
            self.proba[idx],
            [self.baseline[i] for i in idx],
            self.method,
        )

    def confident_errors(self, k: int = 20) -> list[dict[str, Any]]:
        """The ``k`` wrong predictions the model was surest of."""
        rows = [
            (float(self.proba[i].max()), i) for i, (t, p) in enumerate(zip(self.data.labels, self.predicted)) if t != p
        ]
        rows.sort(key=lambda r: (-r[0], r[1]))
        return [
            {
                "id": self.data.ids[i],
                "text": self.data.texts[i],
                "true": self.data.labels[i],
                "predicted": self.predicted[i],
                "probability": round(p, 4),
            }
            for p, i in rows[:k]
        ]


def score(y_true: list[str], y_pred: list[str], detail: bool = True) -> dict[str, Any]:
    """Macro-F1 and accuracy over the five labels; per-class figures and confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(LABELS), zero_division=0)
    out: dict[str, Any] = {
        "macro_f1": round(float(np.mean(f)), 4),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
    }
    if detail:
        out["labels"] = list(LABELS)
        out["per_class"] = {
            label: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, label in enumerate(LABELS)
        }
        out["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=list(LABELS)).tolist()
    return out


def calibration(y_true: list[str], proba: np.ndarray, bins: int = CALIBRATION_BINS) -> dict:
    """Expected calibration error of the top label, and the multiclass Brier score."""
    truth = np.array([LABELS.index(y) for y in y_true])
    onehot = np.eye(len(LABELS))[truth]
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return {
        "ece": round(float(ece), 4),
        "brier": round(float(np.mean(np.sum((proba - onehot) ** 2, axis=1))), 4),
        "bins": bins,
    }


def _predict_into_labels(pipeline, texts: list[str]) -> np.ndarray:
    """``predict_proba`` with columns for all five labels, even those unseen in training."""
    proba = np.zeros((len(texts), len(LABELS)))
    columns = [LABELS.index(c) for c in pipeline.classes_]
    proba[:, columns] = pipeline.predict_proba(texts)
    return proba


def _majority(labels: list[str]) -> str:
    """The most frequent label; ties go to the label first in LABELS order."""
    counts = Counter(labels)
    return max(LABELS, key=lambda label: (counts.get(label, 0), -LABELS.index(label)))


def split_groups(data: LabeledData, folds: int = DEFAULT_FOLDS):
    """Document-grouped splits: leave-one-document-out when there are few documents."""
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    n_docs = len(set(data.docs))
    if n_docs < 2:
        raise ValueError("grouped cross-validation needs at least two documents")
    splitter = LeaveOneGroupOut() if n_docs <= folds else GroupKFold(n_splits=folds)
    scheme = "leave-one-document-out" if n_docs <= folds else f"{folds}-fold GroupKFold by doc"
    return list(splitter.split(data.texts, data.labels, groups=data.docs)), scheme


def grouped_cv(
    data: LabeledData, params: dict | None = None, folds: int = DEFAULT_FOLDS, seed: int = SEED
) -> Predictions:
    """Out-of-fold predictions for every row, never training on a row's own document."""
    splits, scheme = split_groups(data, folds)
    predicted: list[str] = [""] * len(data)
    baseline: list[str] = [""] * len(data)
    proba = np.zeros((len(data), len(LABELS)))
    for train_idx, test_idx in splits:
        train = data.take(train_idx)
        test_texts = [data.texts[i] for i in test_idx]
        fold_proba = _predict_into_labels(fit(train, params, seed), test_texts)
        majority = _majority(train.labels)
        for row, i in enumerate(test_idx):
            proba[i] = fold_proba[row]
            predicted[i] = LABELS[int(fold_proba[row].argmax())]
            baseline[i] = majority
    method = {
        "kind": "grouped cross-validation",
        "splits": scheme,
        "n_splits": len(splits),
        "grouping": "doc",
        "seed": seed,
        "documents": len(set(data.docs)),
        "data_sha256": data.sha256,
    }
    return Predictions(data, predicted, proba, baseline, method)


def cross_source(train: LabeledData, test: LabeledData, params: dict | None = None, seed: int = SEED) -> Predictions:
    """Train on one set of files, score on another that shares no document with it."""
    shared = set(train.docs) & set(test.docs)
    if shared:
        raise ValueError(f"train and test share documents: {', '.join(sorted(shared)[:5])}")
    proba = _predict_into_labels(fit(train, params, seed), test.texts)
    predicted = [LABELS[int(i)] for i in proba.argmax(axis=1)]
    method = {
        "kind": "cross-source",
        "train": sorted(set(train.sources)),
        "test": sorted(set(test.sources)),
        "train_rows": len(train),
        "seed": seed,
        "train_sha256": train.sha256,
        "test_sha256": test.sha256,
    }
    return Predictions(test, predicted, proba, [_majority(train.labels)] * len(test), method)


def evaluate(
    data: LabeledData,
    test: LabeledData | None = None,
    params: dict | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = SEED,
) -> tuple[dict[str, Any], Predictions]:
    """The full evaluation report as a dict, and the predictions behind its headline.

    Without ``test``: grouped cross-validation over ``data`` is the headline,
    and when ``data`` holds both ``authored`` and ``corpus`` sentences, the
    cross-source figure (train on authored, test on corpus) is added. With
    ``test``: train on ``data``, score on ``test`` is the headline, and the
    grouped cross-validation over ``data`` stands beside it.
    """
    cv = grouped_cv(data, params, folds, seed)
    report: dict[str, Any] = {"cross_validation": cv.metrics()}
    report["per_source"] = {
        source: cv.take(i for i, s in enumerate(data.sources) if s == source).metrics()
        for source in sorted(set(data.sources))
    }
    cross = None
    if test is not None:
        cross = cross_source(data, test, params, seed)
    elif {"authored", "corpus"} <= set(data.sources):
        cross = cross_source(data.where_source("authored"), data.where_source("corpus"), params, seed)
    if cross is not None:
        report["cross_source"] = cross.metrics()
    headline = cross if test is not None else cv
    report = {**headline.metrics(), **report, "warnings": list(data.warnings)}
    return report, headline

"""CI guards: the model must not get worse, and must not go stale.

The quality gate compares a fresh evaluation with the figures recorded in
the shipped model's card. The staleness gate retrains from the labeled data
into a temporary folder and compares the result with the shipped model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .model import DEFAULT_MODEL, load_card

TOLERANCE = 0.02
GATED = (("cross_source", "cross-source"), ("cross_validation", "cross-validated"))


def quality_failures(report: dict[str, Any], card: dict[str, Any], tolerance: float = TOLERANCE) -> list[str]:
    """One message per gated macro-F1 that fell more than ``tolerance`` below the card's."""
    failures = []
    for key, name in GATED:
        recorded = card.get("metrics", {}).get(key, {}).get("macro_f1")
        if recorded is None:
            continue
        if key not in report:
            failures.append(f"{name} macro-F1 is recorded in the card ({recorded:.4f}) but was not measured")
            continue
        now = report[key]["macro_f1"]
        if now < recorded - tolerance:
            failures.append(
                f"{name} macro-F1 fell from {recorded:.4f} (card) to {now:.4f}: "
                f"down {recorded - now:.4f}, more than the {tolerance:.2f} allowed"
            )
    return failures


def staleness_failures(data_paths=("labels",), model_path: str | os.PathLike = DEFAULT_MODEL) -> list[str]:
    """Retrain as ``classify train`` would now; report how the result differs from ``model_path``."""
    import numpy as np

    from .data import load_labeled
    from .model import fit, load_model

    card = load_card(model_path)
    data = load_labeled(list(data_paths))
    advice = "run `classify train` and commit models/"
    if data.sha256 != card["data"]["sha256"]:
        return [
            f"the labeled data changed since the model was trained (data hash {data.sha256[:12]}"
            f" vs {card['data']['sha256'][:12]} in the card): {advice}"
        ]
    shipped = load_model(model_path)
    fresh = fit(data)  # what `classify train` would write now, with today's code and settings
    differ = np.flatnonzero(shipped.predict(data.texts) != fresh.predict(data.texts))
    if len(differ):
        return [
            f"retraining gives different predictions on {len(differ)} labeled sentence(s)"
            f" (first: {data.ids[differ[0]]}): {advice}"
        ]
    return []


def check(report: dict[str, Any], data_paths=("labels",), model_path=DEFAULT_MODEL) -> list[str]:
    """Both gates; an empty list means the model is as good as recorded and up to date."""
    return quality_failures(report, load_card(Path(model_path))) + staleness_failures(data_paths, model_path)

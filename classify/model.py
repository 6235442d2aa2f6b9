"""Build, fit, save and load the stance pipeline and its JSON card.

The model is a plain scikit-learn :class:`~sklearn.pipeline.Pipeline`:
``tfidf`` (a :class:`~sklearn.pipeline.FeatureUnion` of word and character
TF-IDF vectorizers) followed by ``clf`` (a
:class:`~sklearn.linear_model.LogisticRegression`). The card beside it
(``stance.json``) records what it was trained on and how well it did.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from .errors import ClassifyError
from .labels import LABELS
from .persist import atomic_path, sha256_file, write_text

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = PACKAGE_ROOT.parent / "models" / "stance.joblib"
"""The shipped model, in the repository's ``models/`` folder."""

SEED = 0

DEFAULT_PARAMS: dict[str, Any] = {
    "tfidf__word__ngram_range": (1, 2),
    "tfidf__word__min_df": 2,
    "tfidf__word__sublinear_tf": True,
    "tfidf__char__analyzer": "char_wb",
    "tfidf__char__ngram_range": (2, 5),
    "tfidf__char__min_df": 2,
    "tfidf__char__sublinear_tf": True,
    "clf__C": 10.0,
    "clf__class_weight": "balanced",
}
"""Settings chosen by grouped cross-validation on the training data (scripts/tune.py)."""


def build_pipeline(params: dict[str, Any] | None = None, seed: int = SEED):
    """An unfitted pipeline with :data:`DEFAULT_PARAMS` updated by ``params``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    pipeline = Pipeline(
        [
            (
                "tfidf",
                FeatureUnion(
                    [
                        ("word", TfidfVectorizer(analyzer="word", lowercase=True)),
                        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=5000, random_state=seed)),
        ]
    )
    return pipeline.set_params(**merge_params(params))


def merge_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """:data:`DEFAULT_PARAMS` updated by ``params``; what ``params`` says of a vectorizer wins.

    Setting ``tfidf__char`` to ``"drop"`` discards the default's ``tfidf__char__*``
    settings, and setting any ``tfidf__char__*`` brings a dropped vectorizer back.
    """
    params = dict(params or {})
    merged = {**DEFAULT_PARAMS, **params}
    for step in ("tfidf__word", "tfidf__char"):
        if step not in params and any(k.startswith(step + "__") for k in params):
            merged.pop(step, None)
        if merged.get(step) == "drop":
            merged = {k: v for k, v in merged.items() if not k.startswith(step + "__")}
    return merged


def fit(data, params: dict[str, Any] | None = None, seed: int = SEED):
    """Fit a pipeline on :class:`~classify.data.LabeledData`; the same input gives the same model."""
    from threadpoolctl import threadpool_limits

    data.require_trainable()
    pipeline = build_pipeline(params, seed)  # imports (and so loads) every BLAS library first
    # One BLAS thread: many times faster on problems this small, and the same
    # floating-point order on every machine.
    with threadpool_limits(limits=1):
        return pipeline.fit(data.texts, data.labels)


def pipeline_params(pipeline) -> dict[str, Any]:
    """Every parameter of the pipeline that has a JSON form (estimators become their names)."""
    out: dict[str, Any] = {}
    for key, value in sorted(pipeline.get_params(deep=True).items()):
        if key in ("steps", "tfidf__transformer_list") or hasattr(value, "get_params"):
            continue
        out[key] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, type):
        return f"{value.__module__}.{value.__name__}"
    return repr(value)


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("classify", "scikit-learn", "numpy", "scipy", "joblib", "datasets"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def card_path(model_path: str | os.PathLike) -> Path:
    return Path(model_path).with_suffix(".json")


def lean_path(model_path: str | os.PathLike) -> Path:
    return Path(model_path).with_suffix(".npz")


def save_model(pipeline, card: dict[str, Any], path: str | os.PathLike = DEFAULT_MODEL) -> dict:
    """Write the model, its lean export and its card, each atomically; return the card.

    The card gains the model file's SHA-256, and the model's hash is added to
    the local trust list so that it loads without ``trust=True``.
    """
    import joblib

    from .lean import LeanModel
    from .trust import trust_hash

    path = Path(path)
    with atomic_path(path) as tmp:
        joblib.dump(pipeline, tmp)
        model_sha = sha256_file(tmp)
        trust_hash(model_sha, path)
    LeanModel.from_pipeline(pipeline, model_sha).save(lean_path(path))
    card = {**card, "model_sha256": model_sha}
    write_text(card_path(path), json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card


def load_card(model_path: str | os.PathLike = DEFAULT_MODEL) -> dict[str, Any]:
    path = card_path(model_path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClassifyError("model card not found (train the model first)", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ClassifyError(f"model card is not valid JSON ({error})", path) from None


def load_model(path: str | os.PathLike | None = None, trust: bool = False):
    """Load a fitted pipeline: the shipped model by default.

    ``.joblib`` files are pickles and can run code when loaded, so they load
    only when their SHA-256 is on the trust list (models this machine
    trained, and the shipped one) or when ``trust=True``. ``.skops`` files
    load without trust, restricted to the types such a pipeline needs.
    """
    from .safe_load import load_pipeline

    pipeline = load_pipeline(Path(path) if path is not None else DEFAULT_MODEL, trust=trust)
    if list(pipeline.classes_) != sorted(pipeline.classes_) or not set(pipeline.classes_) <= set(LABELS):
        raise ClassifyError("model's classes are not stance labels", path)
    return pipeline

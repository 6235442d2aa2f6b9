"""Load model files without running a stranger's code.

``.joblib`` files load only when trusted (see :mod:`classify.trust`);
``.skops`` files load with a fixed list of the types a TF-IDF +
logistic-regression pipeline is made of, and anything else is refused.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .errors import ClassifyError
from .persist import atomic_path, sha256_file

SKOPS_TYPES = [
    "builtins.bool",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
]
"""Everything a saved stance pipeline may contain; any other type is refused."""


def export_skops(pipeline, path: str | os.PathLike) -> Path:
    """Write ``pipeline`` in skops' pickle-free format (atomically)."""
    import skops.io

    path = Path(path)
    with atomic_path(path) as tmp:
        skops.io.dump(pipeline, tmp)
    return path


def load_pipeline(path: Path, trust: bool = False):
    """Load and check a pipeline from ``.joblib`` or ``.skops``; see :func:`classify.load_model`."""
    if not path.is_file():
        raise ClassifyError("model file not found", path)
    if path.stat().st_size == 0:
        raise ClassifyError("model file is empty", path)
    if path.suffix == ".skops":
        pipeline = _with_version_check(path, lambda: _load_skops(path))
    else:
        _check_trust(path, trust)
        pipeline = _with_version_check(path, lambda: _load_joblib(path))
    if not (hasattr(pipeline, "predict_proba") and hasattr(pipeline, "classes_")):
        raise ClassifyError(f"file holds a {type(pipeline).__name__}, not a fitted stance pipeline", path)
    return pipeline


def _check_trust(path: Path, trust: bool) -> None:
    from .trust import is_trusted, trust_hash

    sha = sha256_file(path)
    if is_trusted(sha):
        return
    if not trust:
        raise ClassifyError(
            "refusing to load an untrusted joblib model: joblib files are pickles and loading"
            " one can run arbitrary code; if you trust its source, load it once with"
            " --trust-model (Python: load_model(path, trust=True)), or use a .skops export",
            path,
        )
    trust_hash(sha, path)


def _load_joblib(path: Path):
    import joblib

    try:
        return joblib.load(path)
    except Exception as error:  # unpickling fails in many ways; all mean "not a model"
        raise ClassifyError(
            f"not a readable joblib model (truncated or wrong type: {type(error).__name__})", path
        ) from None


def _load_skops(path: Path):
    import skops.io

    try:
        untrusted = sorted(_skops_types(path) - set(SKOPS_TYPES))
        if untrusted:
            raise ClassifyError(f"skops file holds types a stance model never needs: {', '.join(untrusted)}", path)
        return skops.io.load(path, trusted=SKOPS_TYPES)
    except ClassifyError:
        raise
    except Exception as error:
        raise ClassifyError(f"not a readable skops model ({type(error).__name__})", path) from None


def _skops_types(path: Path) -> set[str]:
    """Every type named in a skops file's schema (skops itself trusts all of scikit-learn)."""
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _with_version_check(path: Path, load):
    """Turn scikit-learn's version warning into a clear error naming both versions."""
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        pipeline = load()
    for warning in caught:
        if issubclass(warning.category, InconsistentVersionWarning):
            import sklearn

            saved = warning.message.original_sklearn_version
            raise ClassifyError(
                f"model was trained with scikit-learn {saved} but {sklearn.__version__} is"
                " installed; retrain it with `classify train` (or install"
                f" scikit-learn=={saved})",
                path,
            )
    return pipeline

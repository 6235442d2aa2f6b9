"""The local list of model files whose pickles this user has chosen to trust.

A ``.joblib`` model is a pickle: loading it can run any code its author
wrote into it. Models are trusted by SHA-256: every model ``classify train``
writes, the model shipped with the package, and any file the user loads
once with ``trust=True`` / ``--trust-model``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .persist import write_text

SHIPPED_HASH_FILE = Path(__file__).resolve().parent / "shipped_model.sha256"
"""SHA-256 of ``models/stance.joblib``, written by ``classify train`` when it replaces that model."""


def trust_file() -> Path:
    """``trusted-models.json`` in the platform's user config folder (or ``$CLASSIFY_CONFIG_DIR``)."""
    folder = os.environ.get("CLASSIFY_CONFIG_DIR")
    if not folder:
        from platformdirs import user_config_dir

        folder = user_config_dir("classify", appauthor=False)
    return Path(folder) / "trusted-models.json"


def shipped_hash() -> str | None:
    try:
        return SHIPPED_HASH_FILE.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None


def _read() -> dict[str, str]:
    try:
        trusted = json.loads(trust_file().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return trusted if isinstance(trusted, dict) else {}


def is_trusted(sha256: str) -> bool:
    return sha256 == shipped_hash() or sha256 in _read()


def trust_hash(sha256: str, path: str | os.PathLike) -> None:
    """Add a model's hash to the trust list (noting where it was seen)."""
    trusted = _read()
    if trusted.get(sha256) == str(path):
        return
    trusted[sha256] = str(path)
    write_text(trust_file(), json.dumps(trusted, indent=2, sort_keys=True) + "\n")

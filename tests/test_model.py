"""The shipped settings are the ones the recorded search chose."""

import json

from classify.model import DEFAULT_PARAMS, merge_params
from classify.train import TUNING_FILE


def test_default_settings_are_the_recorded_choice():
    chosen = json.loads(TUNING_FILE.read_text(encoding="utf-8"))["chosen"]
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in DEFAULT_PARAMS.items()} == chosen


def test_dropping_the_character_vectorizer_drops_its_settings():
    merged = merge_params({"tfidf__char": "drop"})
    assert merged["tfidf__char"] == "drop" and not any(k.startswith("tfidf__char__") for k in merged)

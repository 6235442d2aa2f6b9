"""Both CI gates can fail, and say why."""

import json
import shutil

from classify.gates import quality_failures, staleness_failures

from .conftest import small_records, write_jsonl


def test_quality_gate_names_the_figure_that_fell():
    card = {"metrics": {"cross_source": {"macro_f1": 0.75}, "cross_validation": {"macro_f1": 0.85}}}
    fine = {"cross_source": {"macro_f1": 0.74}, "cross_validation": {"macro_f1": 0.90}}
    assert quality_failures(fine, card) == []
    worse = {"cross_source": {"macro_f1": 0.70}, "cross_validation": {"macro_f1": 0.84}}
    (failure,) = quality_failures(worse, card)
    assert "cross-source macro-F1 fell from 0.7500" in failure and "down 0.0500" in failure


def test_staleness_gate_fails_on_a_changed_label_and_passes_after_retraining(small_model, tmp_path):
    from classify.train import train_model

    model = tmp_path / "m.joblib"
    for suffix in (".joblib", ".json", ".npz"):
        shutil.copy(small_model.with_suffix(suffix), model.with_suffix(suffix))
    data = json.loads(model.with_suffix(".json").read_text())["data"]["files"][0]
    assert staleness_failures([data], model) == []

    records = small_records()
    records[0]["label"] = "none"
    changed = write_jsonl(tmp_path / "changed.jsonl", records)
    (failure,) = staleness_failures([changed], model)
    assert "labeled data changed" in failure and "run `classify train`" in failure

    train_model([changed], model, folds=3)
    assert staleness_failures([changed], model) == []


def test_staleness_gate_fails_when_the_code_would_train_another_model(small_model, tmp_path, monkeypatch):
    from classify import model as model_module

    data = json.loads(small_model.with_suffix(".json").read_text())["data"]["files"][0]
    poorer = {"tfidf__char": "drop", "tfidf__word__max_features": 2}
    monkeypatch.setattr(model_module, "DEFAULT_PARAMS", {**model_module.DEFAULT_PARAMS, **poorer})
    (failure,) = staleness_failures([data], small_model)
    assert "different predictions" in failure

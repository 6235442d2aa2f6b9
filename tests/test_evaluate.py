"""Evaluation is honest: grouped splits, held-out scoring, a real baseline."""

import numpy as np
import pytest

from classify.data import load_labeled
from classify.evaluate import calibration, cross_source, evaluate, grouped_cv, score, split_groups
from classify.labels import LABELS

from .conftest import small_records, write_jsonl


@pytest.fixture
def data(small_data):
    return load_labeled([small_data])


def test_no_document_is_on_both_sides_of_a_split(data):
    splits, scheme = split_groups(data, folds=3)
    assert scheme == "3-fold GroupKFold by doc" and len(splits) == 3
    for train, test in splits:
        assert not {data.docs[i] for i in train} & {data.docs[i] for i in test}
    tested = np.concatenate([test for _, test in splits])
    assert sorted(tested) == list(range(len(data)))


def test_few_documents_means_leave_one_document_out(data):
    splits, scheme = split_groups(data, folds=10)
    assert scheme == "leave-one-document-out" and len(splits) == 6


def test_grouped_cv_predicts_every_row_out_of_fold(data):
    result = grouped_cv(data, folds=3)
    metrics = result.metrics()
    assert metrics["n"] == 30
    assert set(result.predicted) <= set(LABELS)
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0)
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert sum(map(sum, metrics["confusion_matrix"])) == 30
    # A majority-class baseline predicts one label per fold, fitted on the training side.
    assert metrics["baseline"]["macro_f1"] < 0.34


def test_same_data_and_options_give_the_same_numbers(data):
    assert grouped_cv(data, folds=3).metrics() == grouped_cv(data, folds=3).metrics()


def test_cross_source_refuses_shared_documents(data):
    with pytest.raises(ValueError, match="share documents"):
        cross_source(data, data)


def test_evaluate_reports_cross_source_for_authored_and_corpus(tmp_path):
    records = small_records()
    for r in records:
        r["source"] = "corpus" if r["doc"] in ("doc-0", "doc-1") else "authored"
    data = load_labeled([write_jsonl(tmp_path / "mixed.jsonl", records)])
    report, _ = evaluate(data, folds=3)
    assert report["cross_source"]["method"]["train"] == ["authored"]
    assert report["cross_source"]["n"] == 10
    assert set(report["per_source"]) == {"authored", "corpus"}
    for key in ("macro_f1", "accuracy", "per_class", "confusion_matrix", "labels", "baseline"):
        assert key in report


def test_score_is_macro_over_all_five_labels():
    perfect = score(["none", "denial"], ["none", "denial"])
    assert perfect["accuracy"] == 1.0
    assert perfect["macro_f1"] == pytest.approx(2 / 5)  # three labels never occur: F1 0


def test_calibration_of_a_confident_right_and_wrong_model():
    onehot = np.eye(5)
    right = calibration(["withdrawal", "none"], onehot[[0, 4]])
    wrong = calibration(["withdrawal", "none"], onehot[[4, 0]])
    assert right["ece"] == 0.0 and right["brier"] == 0.0
    assert wrong["ece"] == 1.0 and wrong["brier"] == 2.0

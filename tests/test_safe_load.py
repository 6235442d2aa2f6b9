"""Loading a model never runs a stranger's code."""

import pickle

import pytest

from classify import load_model
from classify.errors import ClassifyError
from classify.model import DEFAULT_MODEL


class _Payload:
    """Unpickling this creates a marker file: what a malicious model would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_untrusted_joblib_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.joblib"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ClassifyError, match="untrusted joblib model.*--trust-model"):
        load_model(evil)
    assert not marker.exists()


def test_trust_true_loads_and_remembers(small_model, tmp_path, monkeypatch):
    copy = tmp_path / "copy.joblib"
    copy.write_bytes(small_model.read_bytes())
    monkeypatch.setenv("CLASSIFY_CONFIG_DIR", str(tmp_path / "fresh-config"))
    with pytest.raises(ClassifyError, match="untrusted"):
        load_model(copy)
    assert load_model(copy, trust=True).classes_ is not None
    assert load_model(copy).classes_ is not None  # now on the trust list


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no shipped model yet")
def test_tampered_shipped_model_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSIFY_CONFIG_DIR", str(tmp_path / "fresh-config"))
    assert load_model() is not None  # trusted by the hash recorded in the package
    tampered = tmp_path / "stance.joblib"
    data = bytearray(DEFAULT_MODEL.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    with pytest.raises(ClassifyError, match="untrusted"):
        load_model(tampered)


def test_skops_with_a_foreign_type_is_refused(small_model, tmp_path):
    import skops.io
    from sklearn.tree import DecisionTreeClassifier

    foreign = tmp_path / "foreign.skops"
    skops.io.dump({"model": DecisionTreeClassifier()}, foreign)
    with pytest.raises(ClassifyError, match="types a stance model never needs.*DecisionTreeClassifier"):
        load_model(foreign)


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95", b"A text file."])
def test_empty_truncated_or_wrong_files_are_refused(tmp_path, content):
    path = tmp_path / "broken.joblib"
    path.write_bytes(content)
    with pytest.raises(ClassifyError) as caught:
        load_model(path, trust=True)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_truncated_real_model_is_refused(small_model, tmp_path):
    path = tmp_path / "half.joblib"
    path.write_bytes(small_model.read_bytes()[: small_model.stat().st_size // 2])
    with pytest.raises(ClassifyError, match="not a readable joblib model"):
        load_model(path, trust=True)


def test_a_pickle_of_something_else_is_refused(tmp_path):
    import joblib

    path = tmp_path / "dict.joblib"
    joblib.dump({"not": "a model"}, path)
    with pytest.raises(ClassifyError, match="holds a dict, not a fitted stance pipeline"):
        load_model(path, trust=True)


def test_other_scikit_learn_version_gets_a_clear_message(small_model, tmp_path, monkeypatch):
    import warnings

    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    def load_with_warning(path):
        warnings.warn(
            InconsistentVersionWarning(
                estimator_name="Pipeline", current_sklearn_version="9.9", original_sklearn_version="0.1"
            ),
            stacklevel=2,
        )
        return joblib.load(small_model)

    monkeypatch.setattr("classify.safe_load._load_joblib", load_with_warning)
    with pytest.raises(
        ClassifyError, match=r"trained with scikit-learn 0\.1 but .* installed; retrain it with `classify train`"
    ):
        load_model(small_model)

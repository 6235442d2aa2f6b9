"""The Python API, as the README shows it."""

import numpy as np
import pytest

from classify import LABELS, load_model
from classify.model import DEFAULT_MODEL

shipped = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no shipped model yet")


@shipped
def test_load_model_gives_the_shipped_scikit_learn_pipeline():
    from sklearn.pipeline import Pipeline

    model = load_model()
    assert isinstance(model, Pipeline)
    assert list(model.classes_) == sorted(LABELS)
    sentences = ["Seoul denied any plan to cut US troops.", "Washington wants Seoul to pay more."]
    assert list(model.predict(sentences)) == ["denial", "cost_demand"]
    proba = model.predict_proba(sentences)
    assert proba.shape == (2, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_load_model_with_a_path(small_model):
    model = load_model(small_model)
    assert model.predict(["Pyongyang demanded that all American forces leave the South."])[0] == "withdrawal"


def test_import_classify_is_light():
    import subprocess
    import sys

    code = "import sys, classify; print(any(m in sys.modules for m in ('sklearn', 'datasets', 'pandas', 'scipy')))"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )

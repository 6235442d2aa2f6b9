"""classify: tag the stance of news sentences about the US military presence in South Korea.

>>> from classify import load_model
>>> model = load_model()                      # the shipped scikit-learn Pipeline
>>> model.predict(["Seoul denied any plan to cut US troops."])
"""

from .labels import LABELS

__all__ = ["LABELS", "load_model", "split_sentences"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Imported on first use so that `import classify` (and the CLI) stays fast.
    if name == "load_model":
        from .model import load_model

        return load_model
    if name == "split_sentences":
        from .sentences import split_sentences

        return split_sentences
    raise AttributeError(f"module 'classify' has no attribute {name!r}")

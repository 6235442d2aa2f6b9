"""Shared fixtures: an isolated trust list, a small labeled set and a model trained on it."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SMALL = {
    "withdrawal": [
        "The president ordered the Pentagon to draw up plans to pull troops out of Korea.",
        "Washington proposed cutting a third of its soldiers on the peninsula.",
        "Pyongyang demanded that all American forces leave the South.",
        "A drawdown of the garrison is expected to begin next spring.",
        "Officials said the brigade would be sent home and not replaced.",
        "The plan would shrink the American force by several thousand troops.",
    ],
    "retention": [
        "Seoul said US forces will stay whatever happens at the summit.",
        "The commander warned lawmakers that any cut would weaken deterrence.",
        "The alliance commitment remains ironclad, the secretary said.",
        "Congress barred the Pentagon from reducing troop levels below the floor.",
        "Both governments pledged to keep the force at its current strength.",
        "Senators vowed to block any attempt to bring the soldiers home.",
    ],
    "cost_demand": [
        "Washington wants Seoul to pay far more for the troops stationed there.",
        "He called the ally a rich country that can afford a bigger share.",
        "Negotiators asked for five billion dollars a year in host-nation support.",
        "The administration pressed for a steep rise in burden-sharing payments.",
        "We lose money defending them, the president complained.",
        "Seoul should cover the full cost of the bases, the candidate said.",
    ],
    "denial": [
        "The ministry said no talks on a reduction had been held.",
        "Officials called the newspaper's account of a troop cut inaccurate.",
        "Seoul balked at the figure and rejected the demand outright.",
        "The Pentagon dismissed the report as groundless speculation.",
        "A spokesman said there was no such plan under review.",
        "The presidential office flatly denied the story about the withdrawal.",
    ],
    "none": [
        "The two Koreas signed an armistice in 1953.",
        "About 28,500 US troops are stationed in the country.",
        "The summit in Singapore lasted less than a day.",
        "Trade talks between the allies resumed on Monday.",
        "The base lies about 60 kilometers south of the capital.",
        "The exercise involved ships, aircraft and ground units.",
    ],
}


@pytest.fixture(scope="session", autouse=True)
def isolated_trust(tmp_path_factory):
    """The tests use their own trust list, never the user's (a test may swap in an empty one)."""
    import os

    os.environ["CLASSIFY_CONFIG_DIR"] = str(tmp_path_factory.mktemp("config"))


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def small_records():
    """30 sentences in 6 documents: every document holds one sentence of each label."""
    records = []
    for label, texts in SMALL.items():
        for i, text in enumerate(texts):
            records.append({"id": f"{label}-{i}", "doc": f"doc-{i}", "text": text, "label": label})
    return records


@pytest.fixture
def small_data(tmp_path) -> Path:
    return write_jsonl(tmp_path / "data" / "small.jsonl", small_records())


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A model trained by `classify train` on the small set (so on the tests' trust list)."""
    from classify.train import train_model

    folder = tmp_path_factory.mktemp("model")
    data = write_jsonl(folder / "small.jsonl", small_records())
    train_model([data], folder / "small.joblib", folds=3)
    return folder / "small.joblib"

"""The shipped labeled data: complete, consistent with its documents, and free of near-duplicates."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from classify.data import load_labeled, near_duplicates
from classify.labels import LABELS
from classify.sentences import split_sentences

LABELS_DIR = Path(__file__).resolve().parent.parent / "labels"
CORPUS = LABELS_DIR / "corpus.jsonl"
AUTHORED = LABELS_DIR / "authored.jsonl"

WITHIN_AUTHORED = 0.8
"""Two authored sentences this similar (TF-IDF cosine, word 1-2 grams) are near-duplicates."""
AGAINST_CORPUS = 0.6
"""An authored sentence this similar to a corpus sentence is a close paraphrase of the test set."""


def records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_holds_every_sentence_of_every_document_in_order():
    corpus = records(CORPUS)
    for path in sorted((LABELS_DIR / "documents").glob("*.txt")):
        document = path.read_text(encoding="utf-8")
        mine = [r for r in corpus if r["doc"] == path.stem]
        assert [(r["start"], r["end"]) for r in mine] == [(s.start, s.end) for s in split_sentences(document)]
        assert all(document[r["start"] : r["end"]] == r["text"] for r in mine)
    assert {r["doc"] for r in corpus} == {p.stem for p in (LABELS_DIR / "documents").glob("*.txt")}
    assert all(r["label"] in LABELS and r["source"] == "corpus" for r in corpus)


def test_all_labeled_data_loads_cleanly():
    data = load_labeled([LABELS_DIR])
    assert set(data.sources) == {"corpus", "authored"}
    assert data.warnings == []


def test_authored_set_meets_its_specification():
    authored = records(AUTHORED)
    counts = Counter(r["label"] for r in authored)
    assert len(authored) >= 1500
    assert all(counts[label] >= 200 for label in LABELS if label != "none")
    assert counts["none"] >= 0.4 * len(authored)
    per_doc = Counter(r["doc"] for r in authored)
    assert len(per_doc) >= 80 and all(10 <= n <= 25 for n in per_doc.values())
    assert all(re.fullmatch(r"auth-\d{3}", doc) for doc in per_doc)
    assert all(r["source"] == "authored" for r in authored)
    # Double annotation is kept: both passes, and the resolved label.
    assert all(r["label_writer"] in LABELS and r["label_second"] in LABELS for r in authored)


def test_no_near_duplicates_inside_the_authored_set():
    texts = [r["text"] for r in records(AUTHORED)]
    pairs = near_duplicates(texts, threshold=WITHIN_AUTHORED)
    assert pairs == [], [(texts[i], texts[j], s) for i, j, s in pairs[:5]]


def test_no_close_paraphrase_of_the_corpus_in_the_authored_set():
    authored = [r["text"] for r in records(AUTHORED)]
    corpus = [r["text"] for r in records(CORPUS)]
    pairs = near_duplicates(authored, corpus, threshold=AGAINST_CORPUS)
    assert pairs == [], [(authored[i], corpus[j], s) for i, j, s in pairs[:5]]


def test_the_similarity_check_can_fail():
    pairs = near_duplicates(["Seoul denied the report on troop cuts.", "Seoul denied the report on the troop cuts!"])
    assert pairs and pairs[0][:2] == (0, 1)


@pytest.mark.parametrize("path", [CORPUS, AUTHORED], ids=["corpus", "authored"])
def test_data_card_counts_match_the_data(path):
    card = (LABELS_DIR / "README.md").read_text(encoding="utf-8")
    counts = Counter(r["label"] for r in records(path))
    row = next(line for line in card.splitlines() if line.startswith(f"| {path.stem} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1 : 1 + len(LABELS) + 1] == [str(counts[label]) for label in LABELS] + [str(sum(counts.values()))]


def test_data_card_reports_the_measured_kappa():
    import importlib.util

    spec = importlib.util.spec_from_file_location("agreement", LABELS_DIR.parent / "scripts" / "agreement.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kappa = module.agreement(AUTHORED)["cohen_kappa"]
    assert f"Cohen's kappa {kappa:.3f}" in (LABELS_DIR / "README.md").read_text(encoding="utf-8")

"""The lean export must predict exactly what the scikit-learn pipeline predicts."""

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from classify import lean
from classify.lean import LeanMismatchError, LeanModel

REPO = Path(__file__).resolve().parent.parent
SHA = "ab" * 32

TRAIN = {
    "withdrawal": [
        "Washington is weighing a plan to pull several thousand troops out of South Korea.",
        "The Pentagon drafted options to shrink the garrison on the peninsula.",
        "Trump said he wanted to bring the soldiers home from Korea eventually.",
        "A force posture review recommends cutting one combat brigade from USFK.",
        "North Korea's state media demanded that American troops leave the South at once.",
        "Some officials favour redeploying part of the force to Guam and Japan.",
        "The drawdown would reduce the footprint to about 20,000 personnel.",
        "Aides reportedly discussed scaling back the American presence after the summit.",
        "KCNA called again for the complete withdrawal of US forces from Korea.",
        "Planners were told to prepare for a smaller garrison by next year.",
        "The army will trim its rotational units in Pyeongtaek, a memo said.",
        "Lawmakers heard that the brigade may pack up and not be replaced.",
    ],
    "retention": [
        "The defense secretary said the US commitment to Seoul remains ironclad.",
        "USFK will stay at its current strength, the commander told reporters.",
        "Congress set a troop floor of 28,500 in the defense bill.",
        "Senators warned against any cut to the forces stationed in Korea.",
        "The alliance is unwavering and our troops are not going anywhere, he said.",
        "Both leaders agreed to keep US forces on the peninsula for deterrence.",
        "There will be no change to force levels, the statement said.",
        "Seoul's defense minister urged Washington to keep its soldiers in place.",
        "The House resisted the proposal and slowed the pullout indefinitely.",
        "Officials stressed that American troops would remain in South Korea.",
        "The Pentagon pledged to maintain the garrison at full strength.",
        "A bipartisan letter called the presence of US troops indispensable.",
    ],
    "cost_demand": [
        "Trump demanded that Seoul pay $5 billion a year for the troops.",
        "Washington wants South Korea to pay its fair share of the costs.",
        "The president called Korea a rich country that should foot the bill.",
        "US negotiators asked for a steep hike in host-nation support.",
        "We lose money protecting them, Trump told a rally.",
        "The envoy pressed Seoul to raise its burden-sharing contribution sharply.",
        "Seoul should shoulder far more of the cost of stationing troops, he said.",
        "The administration sought a 400 percent increase in the cost-sharing deal.",
        "He insisted the ally cover the full expense of the bases.",
        "Washington is demanding billions of won more for the garrison.",
        "The talks stalled over a US demand for a much larger payment.",
        "Pay more or we will reconsider, the president warned Seoul.",
    ],
    "denial": [
        "The defense ministry dismissed the report as groundless.",
        "A Pentagon spokesman said there was no such plan to cut troops.",
        "Seoul's presidential office called the story not true.",
        "Nothing has been decided about troop levels, officials insisted.",
        "The ministry rejected the $5 billion figure outright.",
        "Officials pushed back on the newspaper's account of a drawdown.",
        "The White House played down talk of a withdrawal as speculative.",
        "Seoul balked at the demand and refused to pay the sum.",
        "The embassy denied that a reduction was under consideration.",
        "Fake news, the president said of the report about troop cuts.",
        "Korean officials said they had never been told of any pullout.",
        "The foreign ministry flatly denied agreeing to a higher payment.",
    ],
    "none": [
        "About 28,500 US troops are stationed in South Korea.",
        "The two Koreas remain technically at war since the 1953 armistice.",
        "Camp Humphreys is the largest US overseas base.",
        "The joint exercise begins in August and runs for two weeks.",
        "North Korea fired two short-range missiles on Tuesday.",
        "A soldier from the base appeared in court over a traffic accident.",
        "The new barracks cost about $30 million to build.",
        "Japan signed its own host-nation agreement last year.",
        "Trade officials denied a report about steel tariffs.",
        "The base relocation to Pyeongtaek was completed in 2018.",
        "Analysts gathered in Seoul for an annual security forum.",
        "The summit ended without a joint statement.",
    ],
}
TEXTS = [text for texts in TRAIN.values() for text in texts]
LABELS = [label for label, texts in TRAIN.items() for _ in texts]

REALISTIC = [
    "The Pentagon denied reports that it plans to withdraw 4,500 troops from South Korea.",
    "Seoul rejected Washington's demand for $5 billion, calling it excessive.",
    "USFK said its readiness posture is unchanged.",
    "The senator vowed to block any drawdown of troops from the Korean peninsula.",
    "Trump threatened to pull troops out unless Seoul paid more for their upkeep.",
    "Rodong Sinmun said the US occupation forces must go home.",
    "The exercise schedule was published on Monday.",
    "A poll found most South Koreans support keeping US troops.",
    "The ministry said nothing had been decided on cost sharing.",
    "Troops, troops, TROOPS: stay, stay, stay!",
]
UNICODE = [
    "",
    " ",
    "   \t\n  ",
    "\u00a0\u2003\u3000",
    "US troops \U0001f1fa\U0001f1f8\U0001f1f0\U0001f1f7 stay \U0001f44d",
    "\ubbf8\uad70 \ucca0\uc218 \uacc4\ud68d\uc740 \uc5c6\ub2e4 troops",
    "\u9a7b\u97e9\u7f8e\u519b withdrawal \u64a4\u519b",
    "Cafe\u0301 na\u0131\u0308ve \u00c9lys\u00e9e pr\u00e9sident \u00dcbung",
    "\ufb01nal \u2460 \u00bd \u212b \u1e9b\u0323",
    "\u05e6\u05d1\u05d0 \u0627\u0644\u0642\u0648\u0627\u062a \u200f troops \u200e",
    "troo\u200bps with\u200ddrawal \ufeffdenial",
    "null\x00byte\x00troops \x01\x02\x1f\x7f control",
    "troops\x1c\x1d\x1e\x1fwithdrawal\x85next\u2028line\u2029para",
    "TROOPS Withdrawal \u0130stanbul \u03a3\u039f\u03a3 stra\u00dfe",
    "withdraw " * 3000,
    "a",
    "I",
    "x" * 20000,
]
CHECK = TEXTS + REALISTIC + UNICODE


def _tfidf(**kwargs):
    return TfidfVectorizer(**kwargs)


def _union(word=None, char=None):
    return FeatureUnion(
        [
            ("word", word if word is not None else _tfidf(ngram_range=(1, 2))),
            ("char", char if char is not None else _tfidf(analyzer="char_wb", ngram_range=(2, 5))),
        ]
    )


CONFIGS = {
    "word11": lambda: _tfidf(),
    "word12": lambda: _tfidf(ngram_range=(1, 2)),
    "word12-sublinear": lambda: _tfidf(ngram_range=(1, 2), sublinear_tf=True),
    "word13": lambda: _tfidf(ngram_range=(1, 3)),
    "word23-no-smooth": lambda: _tfidf(ngram_range=(2, 3), smooth_idf=False),
    "word-case": lambda: _tfidf(ngram_range=(1, 2), lowercase=False),
    "word-pattern": lambda: _tfidf(token_pattern=r"(?u)\b\w+\b", ngram_range=(1, 2)),
    "word-group": lambda: _tfidf(token_pattern=r"(?u)(\w+)(?:'s)?"),
    "word-spaced-tokens": lambda: _tfidf(token_pattern=r"(?u)\b\w+(?: \w+)?\b", ngram_range=(1, 2)),
    "word18": lambda: _tfidf(ngram_range=(1, 8)),
    "word-ascii": lambda: _tfidf(strip_accents="ascii", ngram_range=(1, 2)),
    "word-unicode": lambda: _tfidf(strip_accents="unicode", lowercase=False),
    "word-binary": lambda: _tfidf(binary=True, ngram_range=(1, 2)),
    "word-l1": lambda: _tfidf(norm="l1", ngram_range=(1, 2)),
    "word-no-norm": lambda: _tfidf(norm=None, sublinear_tf=True),
    "word-no-idf": lambda: _tfidf(use_idf=False, ngram_range=(1, 2)),
    "word-stop": lambda: _tfidf(stop_words="english", ngram_range=(1, 2)),
    "word-pruned": lambda: _tfidf(ngram_range=(1, 2), min_df=2, max_df=0.5, max_features=150),
    "char13": lambda: _tfidf(analyzer="char", ngram_range=(1, 3)),
    "char25": lambda: _tfidf(analyzer="char", ngram_range=(2, 5)),
    "char25-sublinear-l1": lambda: _tfidf(analyzer="char", ngram_range=(2, 5), sublinear_tf=True, norm="l1"),
    "char3-12": lambda: _tfidf(analyzer="char", ngram_range=(3, 12), lowercase=False),
    "char_wb25": lambda: _tfidf(analyzer="char_wb", ngram_range=(2, 5)),
    "char_wb14-unicode": lambda: _tfidf(
        analyzer="char_wb", ngram_range=(1, 4), strip_accents="unicode", sublinear_tf=True
    ),
    "char_wb35-case-binary": lambda: _tfidf(
        analyzer="char_wb", ngram_range=(3, 5), lowercase=False, binary=True, norm=None
    ),
    "union": lambda: _union(),
    "union-sublinear": lambda: _union(
        _tfidf(ngram_range=(1, 2), sublinear_tf=True), _tfidf(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    ),
    "union-drop-char": lambda: _union(char="drop"),
    "union-drop-word": lambda: _union(word="drop"),
}


def _binary(labels):
    return ["none" if label == "none" else "stance" for label in labels]


@functools.cache
def fitted(config: str, n_classes: int = 5):
    """A pipeline fitted on the in-test sentences, with its lean export (not saved)."""
    labels = LABELS if n_classes == 5 else _binary(LABELS)
    pipeline = Pipeline([("tfidf", CONFIGS[config]()), ("clf", LogisticRegression(C=10.0))])
    pipeline.fit(TEXTS, labels)
    return pipeline, LeanModel.from_pipeline(pipeline, SHA)


def assert_same(pipeline, model, texts):
    np.testing.assert_allclose(model.predict_proba(texts), pipeline.predict_proba(texts), atol=1e-9, rtol=0)
    assert model.predict(texts) == list(pipeline.predict(texts))


@pytest.mark.parametrize("n_classes", [5, 2])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_round_trip_matches_sklearn(config, n_classes, tmp_path):
    pipeline, model = fitted(config, n_classes)
    model.save(tmp_path / "model.npz")
    loaded = LeanModel.load(tmp_path / "model.npz", expected_sha256=SHA)
    assert loaded.classes_ == list(pipeline.classes_)
    assert loaded.source_sha256 == SHA
    proba = loaded.predict_proba(CHECK)
    assert proba.dtype == np.float64 and proba.shape == (len(CHECK), n_classes)
    assert_same(pipeline, loaded, CHECK)
    assert list(tmp_path.iterdir()) == [tmp_path / "model.npz"]


def test_string_fallbacks_are_exercised():
    """Keys too wide for int64 and tokens containing spaces take the string path."""
    assert fitted("word18")[1].blocks[0].gram_keys is None
    assert fitted("char3-12")[1].blocks[0].gram_keys is None
    assert fitted("word12")[1].blocks[0].gram_keys is not None
    spaced = fitted("word-spaced-tokens")[1].blocks[0]
    assert any(" " in term for term in spaced.terms)


def test_one_text_at_a_time_matches_batch():
    pipeline, model = fitted("union")
    batch = model.predict_proba(CHECK)
    single = np.vstack([model.predict_proba([text]) for text in CHECK])
    np.testing.assert_allclose(single, batch, atol=1e-12, rtol=0)


def test_chunked_scoring_matches_sklearn(monkeypatch):
    monkeypatch.setattr(lean, "_CHUNK", 7)
    pipeline, model = fitted("union-sublinear")
    assert_same(pipeline, model, CHECK)


def test_char_wb_word_cache_reset_keeps_results(monkeypatch):
    monkeypatch.setattr(lean, "_WORD_CACHE_LIMIT", 3)
    pipeline, model = fitted("char_wb25")
    assert_same(pipeline, model, CHECK)


def test_empty_batch_and_single_string():
    _, model = fitted("word12")
    assert model.predict_proba([]).shape == (0, 5)
    assert model.predict([]) == []
    with pytest.raises(ValueError, match="single string"):
        model.predict_proba("Troops will stay.")
    with pytest.raises(TypeError):
        model.predict_proba([b"bytes"])


WORDS = sorted({w for text in TEXTS for w in text.split()})
PIECES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u200b", "\x00", "'s", "-"]),
    st.text(max_size=5),
)
MIXED = st.lists(PIECES, max_size=30).map("".join)


@pytest.mark.parametrize(
    "config",
    [
        "word13",
        "word-unicode",
        "word-spaced-tokens",
        "word18",
        "char13",
        "char25",
        "char3-12",
        "char_wb14-unicode",
        "union",
        "word-group",
    ],
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.one_of(st.text(), MIXED), min_size=1, max_size=4))
def test_any_text_matches_sklearn(config, texts):
    pipeline, model = fitted(config)
    assert_same(pipeline, model, texts)


@settings(max_examples=100, deadline=None)
@given(text=st.text())
def test_any_text_matches_sklearn_binary(text):
    pipeline, model = fitted("union-sublinear", 2)
    assert_same(pipeline, model, [text])


@given(st.text())
def test_faster_default_token_pattern_is_equivalent(text):
    assert re.findall(r"\w\w+", text) == re.findall(r"(?u)\b\w\w+\b", text)


def test_char_wb_may_skip_whitespace_squashing():
    """sklearn's char_wb squashes \\s runs before str.split(); both see the same spaces."""
    every_char = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    assert re.findall(r"\s", every_char) == [c for c in every_char if c.isspace()]


@settings(max_examples=200, deadline=None)
@given(
    keys=st.sets(st.integers(0, 2**62), max_size=300),
    others=st.lists(st.integers(0, 2**62), max_size=50),
)
def test_int_map_finds_exactly_its_keys(keys, others):
    keys = sorted(keys)
    table = lean._IntMap(np.array(keys, dtype=np.int64), np.arange(len(keys), dtype=np.int64))
    queries = keys + others + [k + 1 for k in keys]
    expected = [keys.index(q) if q in keys else -1 for q in queries]
    assert table.get(np.array(queries, dtype=np.int64)).tolist() == expected


def test_no_whitespace_above_the_space_table():
    every_char = (chr(c) for c in range(lean._LAST_SPACE + 1, sys.maxunicode + 1))
    assert not [c for c in every_char if c.isspace()]


SPLIT_TEXTS = st.one_of(st.text(), MIXED, st.text(alphabet=st.characters(max_codepoint=127)))


@settings(max_examples=300, deadline=None)
@given(text=SPLIT_TEXTS)
def test_word_bounds_are_str_split(text):
    padded = text + " " * lean._KEY_CHARS
    starts, ends = lean._word_bounds(lean._key_bytes(padded)[0])
    assert [padded[s:e] for s, e in zip(starts.tolist(), ends.tolist())] == text.split()


LOOKALIKES = ["a", "a\x00", "\x00a", "ab", "ba", "a" * 16, "a" * 17, "\u00e9", "e\u0301", "\U0001f44d", "\x7f"]


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.lists(st.one_of(SPLIT_TEXTS, st.sampled_from(LOOKALIKES)), max_size=6), max_size=4))
def test_word_table_gives_each_word_one_slot(batches):
    """Every occurrence of a word, found through the dict or the numpy index, has the word's own slot."""
    table = LeanModel.from_pipeline(fitted("char_wb25")[0], SHA)._word_tables[0]
    for docs in [*batches, *batches]:  # the second pass finds the words in the index
        slots, counts = table.split(docs)
        words = [word for doc in docs for word in doc.lower().split()]
        assert counts.tolist() == [len(doc.lower().split()) for doc in docs]
        assert slots.tolist() == [table.slots[word] for word in words]


def test_word_index_growing_keeps_results(monkeypatch):
    monkeypatch.setattr(lean, "_MAP_SLOTS", 4)
    pipeline, _ = fitted("union-sublinear")
    model = LeanModel.from_pipeline(pipeline, SHA)
    assert len(model._word_tables[0].index.cells) == 4
    assert_same(pipeline, model, CHECK)
    assert len(model._word_tables[0].index.cells) > 4


def test_unusual_vocabulary_round_trips(tmp_path):
    odd = ["lone \ud800 surrogate", "nul\x00byte \ubbf8\uad70 \u2028sep", '"quoted" {json} \\n']
    texts = TEXTS + odd
    labels = LABELS + ["none", "denial", "retention"]
    for vectorizer in (
        _tfidf(ngram_range=(1, 2)),
        _tfidf(analyzer="char", ngram_range=(1, 3)),
        _tfidf(analyzer="char_wb", ngram_range=(2, 4), lowercase=False),
    ):
        pipeline = Pipeline([("tfidf", vectorizer), ("clf", LogisticRegression())])
        pipeline.fit(texts, labels)
        LeanModel.from_pipeline(pipeline, SHA).save(tmp_path / "model.npz")
        model = LeanModel.load(tmp_path / "model.npz")
        assert model.blocks[0].terms == pipeline[0].get_feature_names_out().tolist()
        assert_same(pipeline, model, texts + CHECK)


def test_predict_accepts_any_sequence_of_strings():
    pipeline, model = fitted("word12")
    texts = REALISTIC[:3]
    expected = model.predict_proba(texts)
    for sequence in (tuple(texts), iter(texts), np.array(texts)):
        np.testing.assert_array_equal(model.predict_proba(sequence), expected)


def test_sha_mismatch_raises(tmp_path):
    _, model = fitted("word11")
    model.save(tmp_path / "model.npz")
    with pytest.raises(LeanMismatchError, match="sha256"):
        LeanModel.load(tmp_path / "model.npz", expected_sha256="cd" * 32)
    assert issubclass(LeanMismatchError, ValueError)
    assert LeanModel.load(tmp_path / "model.npz").source_sha256 == SHA


def _write_npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _header(**changes):
    header = {"format": lean.FORMAT, "version": lean.FORMAT_VERSION, **changes}
    return np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "garbage",
        "empty",
        "npy",
        "pickle",
        "no-header",
        "bad-json",
        "wrong-version",
        "missing-array",
        "bad-settings",
    ],
)
def test_broken_files_raise_value_error(damage, tmp_path):
    _, model = fitted("union")
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    model.save(good)
    content = good.read_bytes()
    if damage == "truncated":
        bad.write_bytes(content[: len(content) // 2])
    elif damage == "garbage":
        bad.write_bytes(bytes(range(256)) * 10)
    elif damage == "empty":
        bad.write_bytes(b"")
    elif damage == "npy":
        with open(bad, "wb") as handle:
            np.save(handle, np.arange(3))
    elif damage == "pickle":
        _write_npz(bad, header=np.array([{"format": lean.FORMAT}], dtype=object))
    elif damage == "no-header":
        _write_npz(bad, coef=np.zeros((5, 3)))
    elif damage == "bad-json":
        _write_npz(bad, header=np.frombuffer(b"{not json", dtype=np.uint8))
    elif damage == "wrong-version":
        _write_npz(bad, header=_header(version=99, source_sha256=SHA))
    elif damage == "missing-array":
        _write_npz(bad, header=_header(source_sha256=SHA, classes=["a", "b"], blocks=[]))
    elif damage == "bad-settings":
        with np.load(good) as data:
            arrays = dict(data)
        arrays["header"] = np.frombuffer(bytes(arrays["header"]).replace(b'"char_wb"', b'"chars"'), dtype=np.uint8)
        _write_npz(bad, **arrays)
    with pytest.raises(ValueError, match="not a valid lean model file") as info:
        LeanModel.load(bad)
    assert "\n" not in str(info.value)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        LeanModel.load(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match="folder"):
        LeanModel.load(tmp_path)


def test_save_replaces_existing_file_atomically(tmp_path):
    _, small = fitted("word11")
    _, large = fitted("union")
    path = tmp_path / "model.npz"
    small.save(path)
    large.save(path)
    assert len(LeanModel.load(path).blocks) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def _sparse_coef(pipeline):
    pipeline[-1].sparsify()
    return pipeline


def _pipeline(features):
    return Pipeline([("tfidf", features), ("clf", LogisticRegression())]).fit(TEXTS, LABELS)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _pipeline(_tfidf(analyzer=str.split)),
        lambda: _pipeline(_tfidf(preprocessor=str.upper)),
        lambda: _pipeline(_tfidf(tokenizer=str.split, token_pattern=None)),
        lambda: _pipeline(_tfidf(strip_accents=lambda s: s)),
        lambda: _pipeline(_tfidf(dtype=np.float32)),
        lambda: _pipeline(
            FeatureUnion([("w", _tfidf()), ("c", _tfidf(analyzer="char"))], transformer_weights={"w": 2.0, "c": 1.0})
        ),
        lambda: Pipeline([("tfidf", _tfidf()), ("clf", LogisticRegression())]),
        lambda: _tfidf().fit(TEXTS),
        lambda: Pipeline([("a", _tfidf()), ("b", _tfidf()), ("c", LogisticRegression())]),
        lambda: _pipeline(_union()).set_params(tfidf__char="passthrough"),
        lambda: Pipeline([("tfidf", _tfidf()), ("clf", LogisticRegression())]).fit(TEXTS, [len(t) % 3 for t in TEXTS]),
        lambda: _sparse_coef(_pipeline(_tfidf())),
    ],
    ids=[
        "analyzer",
        "preprocessor",
        "tokenizer",
        "accents",
        "float32",
        "weights",
        "unfitted",
        "not-pipeline",
        "three-steps",
        "passthrough",
        "int-labels",
        "sparse-coef",
    ],
)
def test_unsupported_pipelines_are_refused(make):
    pipeline = make()
    with pytest.raises(ValueError, match="not supported|not fitted|expected a"):
        LeanModel.from_pipeline(pipeline, SHA)


def test_import_pulls_in_no_heavy_libraries():
    code = (
        "import sys, classify.lean; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'pandas', 'datasets') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO)},
    )
    assert result.stdout.strip() == "[]"

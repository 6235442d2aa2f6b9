"""The fast bulk path gives exactly what the plain one gave: rows, bytes, errors and probabilities."""

import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from classify import cli, lean, predict
from classify.errors import ClassifyError
from classify.lean import LeanModel
from classify.predict import Tagger, format_rows, open_tagger, predict_stream

from .test_lean import CHECK, LABELS, REALISTIC, SHA, TEXTS

ODD = [
    'quotes " and \\ backslashes',
    "tab\there, newline-free \x1f control \x7f",
    "percent %s %r %% and braces {0}",
    "\u2028 line separator, \u00e9t\u00e9, \U0001f1f0\U0001f1f7, \ud800 lone surrogate",
    "   ",
    "",
]


def lines_of(texts) -> bytes:
    return "".join(t + "\n" for t in texts).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def tagger(small_model) -> Tagger:
    return open_tagger(small_model)


# Output rows


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1) | st.integers(0, 10**6).map(lambda k: (k + 0.5) / 1e6), min_size=1))
def test_vectorised_rounding_is_pythons(values):
    assert predict._round6(np.array(values)).tolist() == [round(v, 6) for v in values]


def test_numbers_are_written_as_repr_writes_them():
    """Every value rounding to 6 places can give, 0 to 1: the two table parts make its repr."""
    values = np.arange(10**6 + 1) / 1e6
    (heads, tails), *_ = predict._Sixths()(values[:, None])
    assert list(map(str.__add__, heads, tails)) == list(map(repr, values.tolist()))


@pytest.mark.parametrize("blanks", [True, False])
def test_json_lines_are_byte_identical_to_json_dumps(tagger, blanks):
    texts = [t for t in REALISTIC + ODD + CHECK[-8:] if blanks or t.strip()]
    expected = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in tagger.rows(texts))
    assert predict._JsonLines(tagger.classes)(texts, *tagger._predict(texts)) == expected


@pytest.mark.parametrize("last", [0.125, float("nan"), -0.0])
def test_json_lines_with_odd_class_names_and_non_finite_values(last):
    classes = ['a "b"', "100%", "c\\d"]
    texts = ["x", "", "y"]
    found = ([0, 2], [classes[1], classes[0]], np.array([[0.25, 0.5, 0.25], [0.5, 0.0, last]]))
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in predict._rows(texts, *found, classes))
    assert predict._JsonLines(classes)(texts, *found) == expected


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("jobs", [1, 2])
def test_stream_matches_row_by_row_formatting_in_order(small_model, tagger, fmt, jobs):
    texts = (REALISTIC + ["", "  "] + TEXTS) * 3
    chunks = predict_stream(io.BytesIO(lines_of(texts)), small_model, fmt, jobs=jobs, batch_bytes=100)
    header = predict.csv_header(tagger.classes) if fmt == "csv" else ""
    assert b"".join(chunks).decode() == header + format_rows(tagger.rows(texts), fmt, tagger.classes)


# Reading lines


@pytest.mark.parametrize(
    "raw, first, message, line",
    [
        (b"ok\nbad \xff\nnul \x00\n", 1, "not UTF-8", 2),
        (b"ok\nnul \x00\nbad \xff\n", 1, "NUL byte", 2),
        (b"ok\nboth \xff \x00\n", 1, "NUL byte", 2),
        (b"a\nb\ncut \xe2\x82\n", 41, "not UTF-8", 43),
    ],
)
def test_decoding_errors_name_the_first_bad_line(raw, first, message, line):
    with pytest.raises(ClassifyError, match=message) as error:
        predict.decode_lines(raw, first, "in.txt")
    assert error.value.line == line and error.value.path == "in.txt"


def test_decoding_drops_bom_on_line_one_only_and_line_endings():
    raw = b"\xef\xbb\xbfone\r\ntwo\r\r\n\xef\xbb\xbfthree\nlast"
    assert predict.decode_lines(raw, 1, "x") == ["one", "two", "\ufeffthree", "last"]
    assert predict.decode_lines(raw, 5, "x")[0] == "\ufeffone"


def test_batches_are_whole_lines_and_keep_line_numbers():
    batches = list(predict.iter_line_batches(io.BytesIO(b"a\nbb\nccc\r\n\nd\ne"), "x", 3))
    assert batches == [(1, b"a\nbb\n"), (3, b"ccc\r\n"), (4, b"\nd\n"), (6, b"e")]
    assert list(predict.iter_line_batches(io.BytesIO(b"no line break"), "x")) == [(1, b"no line break")]
    with pytest.raises(ClassifyError, match="no input lines"):
        list(predict.iter_line_batches(io.BytesIO(b""), "x"))


# The lean model's word table and keyed char_wb analysis


def char_wb_pipeline(ngram_range, **settings):
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, **settings)),
        ]
    )
    return Pipeline([("tfidf", features), ("clf", LogisticRegression(C=10.0))]).fit(TEXTS, LABELS)


@pytest.mark.parametrize(
    "ngram_range, settings",
    [
        ((2, 5), {"sublinear_tf": True}),
        ((1, 3), {"binary": True, "norm": "l1"}),
        ((3, 6), {"strip_accents": "unicode", "norm": None}),
        ((4, 6), {"lowercase": False}),
    ],
)
@pytest.mark.parametrize("keyed_words", [1, 10**9])
def test_char_wb_by_word_matches_sklearn(monkeypatch, ngram_range, settings, keyed_words):
    monkeypatch.setattr(lean, "_KEYED_WORDS", keyed_words)
    pipeline = char_wb_pipeline(ngram_range, **settings)
    model = LeanModel.from_pipeline(pipeline, SHA)
    np.testing.assert_allclose(model.predict_proba(CHECK), pipeline.predict_proba(CHECK), atol=1e-9, rtol=0)


def test_probabilities_do_not_depend_on_batch_history(monkeypatch):
    """Alone, in a batch, after the table is cleared, analysed one way or the other: the same bits."""
    pipeline = char_wb_pipeline((2, 5), sublinear_tf=True)
    texts = REALISTIC + CHECK[:20]
    monkeypatch.setattr(lean, "_KEYED_WORDS", 1)
    batch = LeanModel.from_pipeline(pipeline, SHA).predict_proba(texts)
    monkeypatch.setattr(lean, "_KEYED_WORDS", 10**9)
    alone = np.vstack([LeanModel.from_pipeline(pipeline, SHA).predict_proba([t]) for t in texts])
    monkeypatch.setattr(lean, "_WORD_CACHE_LIMIT", 5)
    monkeypatch.setattr(lean, "_CHUNK", 3)
    crowded = LeanModel.from_pipeline(pipeline, SHA)
    crowded.predict_proba(TEXTS)
    assert np.array_equal(batch, alone) and np.array_equal(batch, crowded.predict_proba(texts))


def test_word_tokens_never_span_whitespace():
    """What lets words be analysed alone: no whitespace character is a word character."""
    every_char = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    assert not [c for c in every_char if c.isspace() and re.fullmatch(r"\w", c)]


# The command line's plain predict path


@pytest.mark.parametrize(
    "args, expected",
    [
        (["predict", "a b", "c"], {"texts": ["a b", "c"]}),
        (["predict", "--file", "-", "--jobs", "007"], {"texts": None, "file": "-", "jobs": 7}),
        (
            ["predict", "x", "-o", "out.csv", "--trust-model"],
            {"texts": ["x"], "output": "out.csv", "trust_model": True},
        ),
    ],
)
def test_plain_predict_command_lines(args, expected):
    parsed = cli._plain_predict_args(args)
    assert {k: str(v) if k == "output" else v for k, v in parsed.items()} == expected


@pytest.mark.parametrize(
    "args",
    [
        ["train"],
        ["predict", "--help"],
        ["predict", "--format=csv", "x"],
        ["predict", "-5 degrees"],
        ["predict", "x", "--jobs", "0"],
        ["predict", "x", "--jobs", " 3"],
        ["predict", "x", "--model", ""],
        ["predict", "x", "--model", "-m"],
        ["predict", "x", "--format", "csv", "--format", "jsonl"],
        ["predict", "x", "--", "y"],
        ["predict", "x", "--model"],
    ],
)
def test_anything_else_is_left_to_typer(args):
    assert cli._plain_predict_args(args) is None


def run_main(monkeypatch, capsys, args, plain: bool):
    monkeypatch.setattr(sys, "argv", ["classify", *args])
    if not plain:
        monkeypatch.setattr(cli, "_plain_predict_args", lambda _: None)
    code = 0
    try:
        cli.main()
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "args",
    [
        ["Seoul will pay more.", "", "The base opened in 2018."],
        ["--format", "csv", "Troops stay."],
        ["--format", "table", "Troops stay."],
        ["--format", "xml", "Troops stay."],
        ["--jobs", "2", "--file", "{data}"],
        ["--file", "{data}", "--format", "csv", "-o", "{out}"],
        ["--file", "{tmp}/missing.txt"],
        [],
        ["   "],
        ["--model", "{tmp}/none.joblib", "x"],
    ],
)
def test_plain_path_behaves_as_typer(small_model, tmp_path, monkeypatch, capsys, args):
    data = tmp_path / "in.txt"
    data.write_bytes(lines_of(REALISTIC))
    args = [a.format(data=data, tmp=tmp_path, out=tmp_path / "o.csv") for a in args]
    args = ["predict", *([] if "--model" in args else ["--model", str(small_model)]), *args]
    assert cli._plain_predict_args(args) is not None
    plain = run_main(monkeypatch, capsys, args, plain=True)
    written = (tmp_path / "o.csv").read_bytes() if (tmp_path / "o.csv").exists() else None
    assert run_main(monkeypatch, capsys, args, plain=False) == plain
    assert written == ((tmp_path / "o.csv").read_bytes() if written is not None else None)


def test_plain_predict_imports_neither_pydantic_nor_rich(small_model):
    code = (
        "import sys; from classify import cli; "
        f"sys.argv = ['classify', 'predict', '--model', {str(small_model)!r}, 'Troops stay.']; cli.main(); "
        "print(sorted(m for m in ('pydantic', 'rich', 'sklearn', 'scipy') if m in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["label"] in LABELS
    assert result.stderr.strip() == "[]"

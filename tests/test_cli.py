"""The command line, as the README shows it, through typer's test runner."""

import json

import pytest
from typer.testing import CliRunner

from classify.cli import app
from classify.labels import LABELS

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def one_line_error(result, *fragments):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("classify: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_train_writes_model_card_and_lean_export(small_data, tmp_path):
    model = tmp_path / "out" / "m.joblib"
    result = run("train", "--data", small_data, "--model", model, "--folds", 3)
    assert result.exit_code == 0, result.output
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["classes"] == sorted(LABELS)
    assert card["data"]["rows"] == 30 and card["data"]["label_counts"]["denial"] == 6
    assert len(card["data"]["sha256"]) == 64 and len(card["model_sha256"]) == 64
    assert card["params"]["clf__C"] > 0 and "tfidf__word__ngram_range" in card["params"]
    assert "scikit-learn" in card["versions"] and card["seed"] == 0
    assert 0 <= card["metrics"]["cross_validation"]["macro_f1"] <= 1
    assert model.with_suffix(".npz").is_file() and model.with_suffix(".md").is_file()


def test_training_twice_gives_the_same_model(small_data, tmp_path):
    cards = []
    for name in ("a", "b"):
        model = tmp_path / name / "m.joblib"
        assert run("train", "--data", small_data, "--model", model, "--folds", 3).exit_code == 0
        cards.append(json.loads(model.with_suffix(".json").read_text()))
    assert cards[0]["model_sha256"] == cards[1]["model_sha256"]
    assert cards[0]["metrics"] == cards[1]["metrics"]


def test_evaluate_reproduces_the_card_and_writes_json(small_model, tmp_path):
    card = json.loads(small_model.with_suffix(".json").read_text())
    data = card["data"]["files"][0]
    out = tmp_path / "figures.json"
    result = run("evaluate", "--data", data, "--folds", 3, "--json", out)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in ("macro_f1", "accuracy", "per_class", "confusion_matrix", "labels", "baseline"):
        assert key in figures
    assert figures["macro_f1"] == card["metrics"]["cross_validation"]["macro_f1"]
    assert "macro-F1" in result.stdout and "withdrawal" in result.stdout


def test_evaluate_train_test(small_data, tmp_path):
    from .conftest import small_records, write_jsonl

    records = small_records()
    train = write_jsonl(tmp_path / "train.jsonl", [r for r in records if r["doc"] != "doc-0"])
    test = write_jsonl(tmp_path / "test.jsonl", [r for r in records if r["doc"] == "doc-0"])
    out = tmp_path / "x.json"
    result = run("evaluate", "--train", train, "--test", test, "--folds", 3, "--json", out)
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["method"]["kind"] == "cross-source" and figures["n"] == 5


def test_predict_sentences_as_jsonl(small_model):
    result = run(
        "predict",
        "--model",
        small_model,
        "--format",
        "jsonl",
        "Seoul balked at the figure and rejected the demand outright.",
        "The two Koreas signed an armistice in 1953.",
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["label"] for r in rows] == ["denial", "none"]
    for row in rows:
        assert set(row["probabilities"]) == set(LABELS)
        assert sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-5)


def test_predict_file_keeps_one_row_per_line(small_model, tmp_path):
    lines = ["Pyongyang demanded that all American forces leave the South.", "", "   ", "Trade talks resumed."]
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("predict", "--model", small_model, "--file", path, "--jobs", 1)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == lines
    assert rows[1]["label"] is None and rows[1]["note"] == "empty line" and rows[2]["label"] is None
    assert rows[0]["label"] == "withdrawal"


def test_predict_stdin_and_csv(small_model):
    result = run(
        "predict",
        "--model",
        small_model,
        "--file",
        "-",
        "--format",
        "csv",
        input="The Pentagon dismissed the report as groundless speculation.\n",
    )
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.startswith("text,label,p_")
    assert ",denial," in row


def test_predict_article_splits_and_keeps_offsets(small_model, tmp_path):
    article = tmp_path / "a.txt"
    text = "Troops To Stay\n\nSeoul said US forces will stay. Mr. Kim agreed with the U.S. Army plan."
    article.write_text(text, encoding="utf-8")
    result = run("predict", "--model", small_model, "--article", article, "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert all(text[r["start"] : r["end"]] == r["text"] for r in rows)


def test_predict_output_file_is_written_whole(small_model, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run("predict", "--model", small_model, "--output", out, "A sentence.")
    assert result.exit_code == 0 and json.loads(out.read_text())["text"] == "A sentence."
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_export_skops_loads_without_trust(small_model, tmp_path):
    out = tmp_path / "m.skops"
    assert run("export", "--format", "skops", out, "--model", small_model).exit_code == 0
    result = run("predict", "--model", out, "--format", "jsonl", "Seoul should pay far more.")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label"] == "cost_demand"


# Bad input: one line naming the file (and line), non-zero exit, nothing overwritten.


def test_train_on_missing_file(tmp_path):
    one_line_error(
        run("train", "--data", tmp_path / "nope.jsonl", "--model", tmp_path / "m.joblib"), "nope.jsonl", "no such file"
    )


@pytest.mark.parametrize(
    "line, problem",
    [
        ("{oops", "not valid JSON"),
        ('{"label": "none"}', "no 'text'"),
        ('{"text": "x"}', "no 'label'"),
        ('{"text": "", "label": "none"}', "'text' is empty"),
        ('{"text": "x", "label": "maybe"}', "unknown label 'maybe'"),
    ],
)
def test_train_on_bad_record_leaves_the_old_model(small_model, tmp_path, line, problem):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "fine", "label": "none"}\n' + line + "\n", encoding="utf-8")
    model = tmp_path / "keep.joblib"
    model.write_bytes(small_model.read_bytes())
    before = model.read_bytes()
    one_line_error(run("train", "--data", data, "--model", model), f"{data}:2:", problem)
    assert model.read_bytes() == before


def test_train_on_empty_or_single_label_data(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    one_line_error(run("train", "--data", empty, "--model", tmp_path / "m.joblib"), "no labeled records")
    single = tmp_path / "single.jsonl"
    single.write_text('{"text": "a", "label": "none"}\n{"text": "b", "label": "none"}\n', encoding="utf-8")
    one_line_error(run("train", "--data", single, "--model", tmp_path / "m.joblib"), "at least two labels")
    assert not (tmp_path / "m.joblib").exists()


def test_predict_with_missing_or_bogus_model(tmp_path):
    one_line_error(run("predict", "--model", tmp_path / "none.joblib", "hi"), "none.joblib", "not found")
    bogus = tmp_path / "bogus.joblib"
    bogus.write_text("not a model", encoding="utf-8")
    one_line_error(
        run("predict", "--model", bogus, "--trust-model", "hi"), "bogus.joblib", "not a readable joblib model"
    )


def test_predict_empty_input(small_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    one_line_error(run("predict", "--model", small_model, "--file", empty), "empty.txt", "no input lines")
    one_line_error(run("predict", "--model", small_model, "--file", "-", input=""), "<stdin>", "no input lines")
    one_line_error(run("predict", "--model", small_model, "  "), "no text to tag")
    one_line_error(run("predict", "--model", small_model), "exactly one")

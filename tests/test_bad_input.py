"""Every row of the README's bad-input table, through the command line.

(The labeled-data rows are also covered in test_data.py and test_cli.py.)
"""

import json
import os
import signal
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classify.labels import LABELS

from .test_cli import one_line_error, run


def rows_of(result):
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("option", ["--file", "--article"])
def test_not_utf8_input_names_file_and_line(small_model, tmp_path, option):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Fine line.\nCaf\xe9 au lait.\n".encode("latin-1"))
    one_line_error(run("predict", "--model", small_model, option, path), f"{path}:2:", "not UTF-8")


@pytest.mark.parametrize("option", ["--file", "--article"])
def test_binary_input(small_model, tmp_path, option):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    one_line_error(run("predict", "--model", small_model, option, path), str(path), "binary")


def test_a_reader_that_stops_early_gets_no_error_message(small_model, tmp_path):
    path = tmp_path / "many.txt"
    path.write_text("Seoul will pay more for the troops.\n" * 50_000, encoding="utf-8")
    main = "from classify.cli import main; main()"
    command = [sys.executable, "-c", main, "predict", "--model", str(small_model), "--file", str(path)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["label"] in LABELS
    proc.stdout.close()  # as `| head -1` does
    assert proc.wait(timeout=60) == 1
    assert proc.stderr.read() == b""


def test_bom_and_crlf_are_invisible(small_model, tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst line.\r\nSecond line.\r\n")
    rows = rows_of(run("predict", "--model", small_model, "--file", path, "--jobs", 1))
    assert [r["text"] for r in rows] == ["First line.", "Second line."]


def test_a_ten_megabyte_line_is_one_row(small_model, tmp_path):
    path = tmp_path / "huge.txt"
    path.write_text("troops " * 1_500_000 + "\nshort line\n", encoding="utf-8")
    rows = rows_of(run("predict", "--model", small_model, "--file", path, "--jobs", 1))
    assert len(rows) == 2 and rows[0]["label"] in LABELS and rows[1]["text"] == "short line"


def test_other_scripts_and_emoji(small_model):
    rows = rows_of(
        run("predict", "--model", small_model, "--format", "jsonl", "주한미군 철수 🇰🇷🇺🇸", "Войска останутся.")
    )
    assert [r["text"] for r in rows] == ["주한미군 철수 🇰🇷🇺🇸", "Войска останутся."]
    assert all(r["label"] in LABELS for r in rows)


def test_article_without_sentence_punctuation(small_model, tmp_path):
    path = tmp_path / "bare.txt"
    path.write_text("troops may leave korea soon officials say\nseoul says no", encoding="utf-8")
    rows = rows_of(run("predict", "--model", small_model, "--article", path, "--format", "jsonl"))
    assert [r["text"] for r in rows] == ["troops may leave korea soon officials say", "seoul says no"]


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "empty"),
        (b"\x80\x04\x95\x10", "not a readable joblib model"),
        (b'{"a": 1}', "not a readable joblib model"),
    ],
    ids=["empty", "truncated", "wrong-type"],
)
def test_broken_model_files(tmp_path, content, problem):
    path = tmp_path / "broken.joblib"
    path.write_bytes(content)
    one_line_error(run("predict", "--model", path, "--trust-model", "A sentence."), str(path), problem)


def test_untrusted_model_via_cli(small_model, tmp_path, monkeypatch):
    copy = tmp_path / "copy.joblib"
    copy.write_bytes(small_model.read_bytes())
    monkeypatch.setenv("CLASSIFY_CONFIG_DIR", str(tmp_path / "fresh"))
    one_line_error(run("predict", "--model", copy, "A sentence."), str(copy), "untrusted", "--trust-model")


def test_stale_lean_export_is_an_error(small_model, tmp_path):
    import shutil

    model = tmp_path / "m.joblib"
    shutil.copy(small_model, model)
    lean = model.with_suffix(".npz")
    shutil.copy(small_model.with_suffix(".npz"), lean)
    model.write_bytes(model.read_bytes() + b"\0")  # the joblib changed after export
    one_line_error(run("predict", "--model", model, "--trust-model", "A sentence."), str(lean))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text())
def test_predict_never_raises_on_any_unicode_string(small_model, text):
    from classify.predict import open_tagger

    (row,) = open_tagger(small_model).rows([text])
    assert row["text"] == text
    assert row["label"] in LABELS or (row["label"] is None and not text.strip())


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_killing_train_mid_write_leaves_the_old_model(small_model, small_data, tmp_path, how):
    """`classify train` is stopped while it writes the model; the old one still loads."""
    model = tmp_path / "m.joblib"
    for suffix in (".joblib", ".json", ".npz"):
        model.with_suffix(suffix).write_bytes(small_model.with_suffix(suffix).read_bytes())
    before = model.read_bytes()
    # joblib.dump writes half a model, then hangs: the moment to pull the plug.
    script = (
        "import sys, time, joblib\n"
        "def slow_dump(obj, path, **kw):\n"
        "    open(path, 'wb').write(b'half a model')\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "joblib.dump = slow_dump\n"
        "from classify.cli import main\n"
        f"sys.argv = ['classify', 'train', '--data', {str(small_data)!r}, '--model', {str(model)!r}, '--folds', '3']\n"
        "main()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    os.kill(proc.pid, how)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode != 0
    if how == signal.SIGINT:
        assert stderr.strip().splitlines() == ["classify: error: interrupted; no file was left half-written"]
        assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    assert model.read_bytes() == before
    from classify import load_model

    assert load_model(model).predict(["Seoul should pay far more."])[0] in LABELS

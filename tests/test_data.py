"""Loading labeled data: every bad record is named by file and line."""

import json

import pytest

from classify.data import load_labeled
from classify.errors import ClassifyError

from .conftest import small_records, write_jsonl


def load_error(path) -> str:
    with pytest.raises(ClassifyError) as caught:
        load_labeled([path])
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_loads_a_file_and_a_folder(small_data):
    from_file = load_labeled([small_data])
    from_folder = load_labeled([small_data.parent])
    assert len(from_file) == 30 == len(from_folder)
    assert from_file.sha256 == from_folder.sha256
    assert from_file.label_counts() == {"withdrawal": 6, "retention": 6, "cost_demand": 6, "denial": 6, "none": 6}
    assert from_file.sources == ["small"] * 30  # no `source` field: the file's name


def test_hash_changes_with_a_label_but_not_with_a_note(tmp_path):
    records = small_records()
    base = load_labeled([write_jsonl(tmp_path / "a.jsonl", records)]).sha256
    noted = [dict(r, note="close call") for r in records]
    assert load_labeled([write_jsonl(tmp_path / "b" / "a.jsonl", noted)]).sha256 == base
    relabeled = [dict(r) for r in records]
    relabeled[0]["label"] = "none"
    assert load_labeled([write_jsonl(tmp_path / "c" / "a.jsonl", relabeled)]).sha256 != base


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "nope.jsonl") == f"{tmp_path / 'nope.jsonl'}: no such file or folder"


@pytest.mark.parametrize(
    "line, problem",
    [
        ("{not json", "not valid JSON"),
        ('{"label": "none"}', "record has no 'text'"),
        ('{"text": "Hello there."}', "record has no 'label'"),
        ('{"text": "   ", "label": "none"}', "'text' is empty"),
        ('{"text": "Hello there.", "label": "neutral"}', "unknown label 'neutral'"),
        ('["a list"]', "expected a JSON object"),
    ],
)
def test_bad_record_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(small_records()[0])
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    message = load_error(path)
    assert message.startswith(f"{path}:2: ")
    assert problem in message


def test_empty_dataset(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    assert "no labeled records" in load_error(path)


def test_single_label_cannot_be_trained(tmp_path):
    records = [r for r in small_records() if r["label"] == "none"]
    data = load_labeled([write_jsonl(tmp_path / "one.jsonl", records)])
    with pytest.raises(ClassifyError, match="at least two labels"):
        data.require_trainable()


def test_duplicate_ids_name_both_places(tmp_path):
    records = small_records()
    records[5]["id"] = records[0]["id"]
    path = write_jsonl(tmp_path / "dup.jsonl", records)
    message = load_error(path)
    assert message.startswith(f"{path}:6: duplicate id")
    assert f"{path}:1" in message


def test_same_text_labeled_two_ways_lists_them(tmp_path):
    records = small_records()
    records.append(dict(records[0], id="extra", label="none"))
    message = load_error(write_jsonl(tmp_path / "conflict.jsonl", records))
    assert "labeled two ways" in message and "withdrawal-0=withdrawal" in message and "extra=none" in message


def test_same_text_in_two_documents_warns(tmp_path):
    records = small_records()
    records.append(dict(records[0], id="copy", doc="other-doc"))
    data = load_labeled([write_jsonl(tmp_path / "leak.jsonl", records)])
    assert len(data.warnings) == 1 and "copy (other-doc)" in data.warnings[0]


def test_bom_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "windows.jsonl"
    body = "\r\n".join(json.dumps(r) for r in small_records()) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert len(load_labeled([path])) == 30


def test_not_utf8_and_binary(tmp_path):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(json.dumps(small_records()[0]).encode() + b'\n{"text": "caf\xe9", "label": "none"}\n')
    assert load_error(latin).startswith(f"{latin}:2: not UTF-8 text")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "NUL byte" in load_error(binary) or "not UTF-8" in load_error(binary)


def test_a_ten_megabyte_line_is_refused_not_loaded(tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"text": "word " * 2_000_000, "label": "none"}) + "\n", encoding="utf-8")
    assert "characters; a sentence has at most" in load_error(path)


def test_other_scripts_and_emoji_are_fine(tmp_path):
    records = small_records() + [
        {"id": "ko", "doc": "doc-ko", "text": "주한미군 감축 보도는 사실이 아니다 😀", "label": "denial"}
    ]
    assert load_labeled([write_jsonl(tmp_path / "u.jsonl", records)]).texts[-1].endswith("😀")


def test_csv_is_loaded_through_datasets(tmp_path):
    import csv

    path = tmp_path / "small.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "doc", "text", "label"])
        writer.writeheader()
        writer.writerows(small_records())
    assert len(load_labeled([path])) == 30

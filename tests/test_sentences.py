"""The splitter: offsets round-trip, abbreviations, quotes and headlines."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classify.sentences import split_sentences

DOCUMENTS = sorted((Path(__file__).resolve().parent.parent / "labels" / "documents").glob("*.txt"))


def texts(text):
    return [span.text for span in split_sentences(text)]


def test_there_are_five_documents():
    assert len(DOCUMENTS) == 5


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_offsets_round_trip_on_every_document(path):
    document = path.read_text(encoding="utf-8")
    spans = split_sentences(document)
    assert spans, "every document has sentences"
    previous_end = 0
    for span in spans:
        assert document[span.start : span.end] == span.text
        assert span.text == span.text.strip() and span.text
        assert span.start >= previous_end
        previous_end = span.end
    # Nothing but white space (and list markers) is left between the sentences.
    covered = "".join(document[a.end : b.start] for a, b in zip(spans, spans[1:]))
    assert covered.replace("-", "").strip() == ""


def test_abbreviations_do_not_end_sentences():
    text = "Mr. Kim met Gen. Brooks at the U.S. embassy. Dr. Lee stayed home."
    assert texts(text) == ["Mr. Kim met Gen. Brooks at the U.S. embassy.", "Dr. Lee stayed home."]


def test_us_at_the_end_of_a_sentence_still_ends_it():
    text = "The troops returned to the U.S. The base was closed."
    assert texts(text) == ["The troops returned to the U.S.", "The base was closed."]


def test_us_before_a_proper_noun_does_not_end_it():
    assert texts("He met the U.S. Joint Chiefs of Staff on Friday.") == [
        "He met the U.S. Joint Chiefs of Staff on Friday."
    ]


def test_quotes_close_the_sentence_they_end():
    text = '"We will stay," he said. "Let\'s see what happens." She nodded.'
    assert texts(text) == ['"We will stay," he said.', '"Let\'s see what happens."', "She nodded."]


def test_curly_quotes_and_question_marks():
    text = "“Will they leave?” she asked. Nobody knew."
    assert texts(text) == ["“Will they leave?” she asked.", "Nobody knew."]


def test_headline_lines_without_punctuation_are_sentences():
    text = "Seoul Denies Troop Cut Report\n\nThe ministry said no talks were held.\n"
    assert texts(text) == ["Seoul Denies Troop Cut Report", "The ministry said no talks were held."]


def test_list_markers_are_not_part_of_the_sentence():
    assert texts("- Officials denied the report.\n- Talks continue.") == [
        "Officials denied the report.",
        "Talks continue.",
    ]


def test_decimals_and_lowercase_continuations_do_not_split():
    text = "Seoul raised its share by 13.9% in 2021. it was a record. Prices rose."
    assert texts(text) == ["Seoul raised its share by 13.9% in 2021. it was a record.", "Prices rose."]


def test_crlf_and_text_without_any_punctuation():
    assert texts("First line\r\nsecond line without a stop") == ["First line", "second line without a stop"]


@given(st.text())
def test_offsets_always_round_trip(text):
    for span in split_sentences(text):
        assert text[span.start : span.end] == span.text
        assert span.text.strip() == span.text and span.text

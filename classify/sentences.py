"""Split raw news text into sentences, keeping character offsets.

Every span satisfies ``text[span.start:span.end] == span.text``, so labeled
records can always be traced back to their document. Lines are hard breaks
(headlines, captions and bylines have no final punctuation); inside a line a
sentence ends at ``.``, ``!`` or ``?`` (with any closing quotes) followed by
white space and an upper-case letter, digit or opening quote, unless the word
before is an abbreviation such as "Mr." or "U.S.".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple


class Span(NamedTuple):
    start: int
    end: int
    text: str


# Titles and short forms that are never the last word of a sentence.
_NEVER_FINAL = frozenset(
    """mr mrs ms dr prof gen lt col maj capt cmdr adm sgt cpl pvt sen rep gov pres
    amb gen st no nos vs e.g i.e cf approx dept fig ft mt""".split()
)
# Abbreviations that end a sentence only when a typical sentence opener follows:
# "troops left the U.S. The next day ..." versus "the U.S. Army said".
_MAYBE_FINAL = frozenset(
    """u.s u.n u.k u.s.a e.u inc corp co ltd jr sr etc a.m p.m
    jan feb mar apr jun jul aug sep sept oct nov dec""".split()
)
_OPENERS = frozenset(
    """a an the he she it they we i you this that these those his her its their our
    but and so yet if in on at as after before when while however meanwhile still
    there here what why how who later earlier officials""".split()
)

_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]*\w)")
_LIST_MARKER = re.compile(r"[-–—•*·]\s+")
_WORD = re.compile(r"\w+")


def split_sentences(text: str) -> list[Span]:
    """Return the sentences of ``text`` as spans, in document order."""
    return list(iter_sentences(text))


def iter_sentences(text: str) -> Iterator[Span]:
    """Yield the sentences of ``text`` one by one (see :func:`split_sentences`)."""
    pos = 0
    for line in text.splitlines(keepends=True):
        yield from _line_sentences(text, pos, pos + len(line))
        pos += len(line)


def _line_sentences(text: str, start: int, end: int) -> Iterator[Span]:
    start = _skip_space(text, start, end)
    marker = _LIST_MARKER.match(text, start, end)
    if marker:
        start = marker.end()
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        if _is_sentence_end(text, cursor, match, end):
            yield from _span(text, cursor, match.end())
            cursor = match.end()
    yield from _span(text, cursor, end)


def _is_sentence_end(text: str, cursor: int, match: re.Match, end: int) -> bool:
    nxt = _skip_space(text, match.end(), end)
    while nxt < end and not text[nxt].isalnum():
        nxt += 1
    if nxt >= end or not (text[nxt].isupper() or text[nxt].isdigit()):
        return False
    if "." not in match.group() or match.group().startswith(".."):
        return True
    before = text[cursor : match.start()].rsplit(None, 1)
    word = before[-1].lstrip("\"'“‘([").lower() if before else ""
    if word in _NEVER_FINAL:
        return False
    if word in _MAYBE_FINAL or (len(word) == 1 and word.isalpha()):
        following = _WORD.match(text, nxt, end)
        return bool(following) and following.group().lower() in _OPENERS
    return True


def _skip_space(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos].isspace():
        pos += 1
    return pos


def _span(text: str, start: int, end: int) -> Iterator[Span]:
    start = _skip_space(text, start, end)
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield Span(start, end, text[start:end])

"""Regenerate unlabeled candidate records from the raw documents.

Usage: python scripts/make_candidates.py [DOCS_DIR] > candidates.jsonl

Every sentence of every ``*.txt`` document, in document order, in the labeling
guide's record format with ``start``/``end`` offsets and an empty ``label``,
ready to be labeled (``labels/corpus.jsonl`` was made this way).
"""

import json
import sys
from pathlib import Path

from classify.sentences import split_sentences


def candidates(docs_dir: Path):
    for path in sorted(docs_dir.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for number, span in enumerate(split_sentences(text), start=1):
            yield {
                "id": f"{path.stem[:3]}-{number:03d}",
                "doc": path.stem,
                "text": span.text,
                "label": "",
                "start": span.start,
                "end": span.end,
                "source": "corpus",
            }


if __name__ == "__main__":
    docs = Path(sys.argv[1] if len(sys.argv) > 1 else "labels/documents")
    for record in candidates(docs):
        print(json.dumps(record, ensure_ascii=False))

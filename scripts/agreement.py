"""Agreement between the two independent labeling passes of the authored set.

Usage: python scripts/agreement.py [labels/authored.jsonl]

Each authored record keeps ``label_writer`` (the writer's label),
``label_second`` (a second pass that saw only the text and the guide) and
``label`` (the label after disagreements were resolved by the guide).
Prints Cohen's kappa of the two passes before resolution, the raw
agreement, how the disagreements were resolved, and how many labels both
passes agreed on were changed later by the consistency pass.
"""

import json
import sys
from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from classify.labels import LABELS


def agreement(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    first = [r["label_writer"] for r in rows]
    second = [r["label_second"] for r in rows]
    disagreements = [r for r in rows if r["label_writer"] != r["label_second"]]
    return {
        "sentences": len(rows),
        "cohen_kappa": round(float(cohen_kappa_score(first, second, labels=list(LABELS))), 3),
        "raw_agreement": round(1 - len(disagreements) / len(rows), 3),
        "disagreements": len(disagreements),
        "resolved_to_writer": sum(r["label"] == r["label_writer"] for r in disagreements),
        "resolved_to_second": sum(r["label"] == r["label_second"] for r in disagreements),
        "changed_after_agreement": sum(r["label_writer"] == r["label_second"] != r["label"] for r in rows),
        "pairs": Counter(f"{r['label_writer']}->{r['label_second']}" for r in disagreements).most_common(),
    }


if __name__ == "__main__":
    print(json.dumps(agreement(Path(sys.argv[1] if len(sys.argv) > 1 else "labels/authored.jsonl")), indent=2))

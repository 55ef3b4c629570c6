"""Label agreement between two independent annotations of the corpus.

``training/data/audit`` holds, for the articles audited, the labels as first
written (``first-labels.jsonl``), a second annotator's labels made without
seeing them (``second-labels-round*.jsonl``), and the adjudication of every
disagreement (``adjudication.json``, applied to the corpus). This module
reports Cohen's kappa per type for each round, before adjudication, and the
share of articles whose label sets agree::

    python -m newsevents.training.agreement
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from newsevents.model.taxonomy import DEFAULT_TAXONOMY

AUDIT_DIR = Path(__file__).resolve().parent / "data" / "audit"


def _labels(path: Path) -> dict[str, set[str]]:
    return {
        (obj := json.loads(line))["id"]: set(obj["labels"])
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }


def agreement(first: dict[str, set[str]], second: dict[str, set[str]], taxonomy: Sequence[str]) -> dict:
    """Per-type Cohen's kappa and disagreements over the ids both annotations cover."""
    ids = sorted(first.keys() & second.keys())
    per_type = {}
    for t in taxonomy:
        a = [t in first[i] for i in ids]
        b = [t in second[i] for i in ids]
        kappa = cohen_kappa_score(a, b) if any(a) or any(b) else 1.0
        per_type[t] = {
            "kappa": round(float(kappa), 3),
            "first": sum(a),
            "second": sum(b),
            "disagreements": sum(x != y for x, y in zip(a, b, strict=True)),
        }
    same = sum(first[i] == second[i] for i in ids)
    return {"articles": len(ids), "same_label_set": same, "per_type": per_type}


def main() -> int:
    first = _labels(AUDIT_DIR / "first-labels.jsonl")
    for path in sorted(AUDIT_DIR.glob("second-labels-round*.jsonl")):
        result = agreement(first, _labels(path), DEFAULT_TAXONOMY)
        print(f"{path.name}: {result['articles']} articles, identical label sets {result['same_label_set']}")
        print(f"  {'type':<24}{'kappa':>7}{'first':>7}{'second':>8}{'disagree':>10}")
        for t, row in result["per_type"].items():
            print(f"  {t:<24}{row['kappa']:>7.3f}{row['first']:>7}{row['second']:>8}{row['disagreements']:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real labelled news from public research datasets, mapped to our taxonomy.

Read-only validation data that lives outside the project (``../shared/datasets``
in development; never copied into the repository, never trained on). The
mappings are those of the datasets' README; where a type is not covered by a
dataset it is left out of that dataset's scores.
"""

from __future__ import annotations

import ast
import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from newsevents.training.corpus import LabelledArticle

KNOWLEDGATOR_FILE = "knowledgator-biotech-events-test.csv"
SENTIVENT_FILE = "sentivent-event-type.tsv"

KNOWLEDGATOR_MAP = {
    "partnerships & alliances": "partnership",
    "alliance & partnership": "partnership",
    "expanding geography": "market_expansion",
    "m&a": "acquisition",
    "product launching & presentation": "product_launch",
    "executive appointment": "leadership_change",
    "funding round": "funding",
    "ipo exit": "funding",
    "closing": "layoffs_restructuring",
}
KNOWLEDGATOR_TYPES = sorted(set(KNOWLEDGATOR_MAP.values()))

SENTIVENT_MAP = {
    "Merger/Acquisition": "acquisition",
    "Deal": "partnership",
    "Product/Service.Launch": "product_launch",
    "FinancialReport": "earnings",
    "Profit/Loss": "earnings",
    "Revenue": "earnings",
    "Financing": "funding",
    "Investment": "funding",
    "Legal": "legal_regulatory",
    "Employment": "leadership_change",
    "Facility": "market_expansion",
}
SENTIVENT_TYPES = sorted(set(SENTIVENT_MAP.values()))


@dataclass(frozen=True, slots=True)
class ExternalSet:
    name: str
    articles: list[LabelledArticle]
    types: list[str]  # the types this dataset can speak for
    note: str


def find_datasets_dir(explicit: Path | None = None) -> Path | None:
    """``explicit``, ``$NEWSEVENTS_DATASETS``, or ``../shared/datasets`` next to the
    current folder or the repository; None when none exists."""
    candidates = [explicit] if explicit else []
    if os.environ.get("NEWSEVENTS_DATASETS"):
        candidates.append(Path(os.environ["NEWSEVENTS_DATASETS"]))
    repo = Path(__file__).resolve().parent.parent
    candidates += [Path.cwd().parent / "shared" / "datasets", repo.parent / "shared" / "datasets"]
    for path in candidates:
        if path and ((path / KNOWLEDGATOR_FILE).exists() or (path / SENTIVENT_FILE).exists()):
            return path
    return None


def load_knowledgator(path: Path) -> ExternalSet:
    csv.field_size_limit(1 << 30)
    articles = []
    with open(path, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh)):
            labels = {
                KNOWLEDGATOR_MAP[v]
                for k, v in row.items()
                if k and k.startswith("Label") and v and v.strip().lower() in KNOWLEDGATOR_MAP
                for v in [v.strip().lower()]
            }
            articles.append(
                LabelledArticle(f"kg-{n}", row.get("Title") or "", row.get("Content") or "", tuple(sorted(labels)))
            )
    return ExternalSet(
        "knowledgator-biotech",
        articles,
        KNOWLEDGATOR_TYPES,
        "biotech press releases; 'closing' is a weak match for layoffs_restructuring",
    )


_SPACE_BEFORE_PUNCT = re.compile(r" ([.,;:!?%)\]'’”]|n't|'s)")


def _detokenise(text: str) -> str:
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return text.replace("$ ", "$").replace("( ", "(").replace(" - ", "-")


def load_sentivent(path: Path) -> ExternalSet:
    csv.field_size_limit(1 << 30)
    docs: dict[str, dict] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            doc = docs.setdefault(row["document_id"], {"sentences": [], "labels": set()})
            doc["sentences"].append((int(row["sentence_idx"]), _detokenise(row["text"])))
            for full in ast.literal_eval(row["subtypes_event_unq"] or "[]"):
                main = full.split(".")[0]
                # Only the Launch subtype of Product/Service maps; other types map whole.
                mapped = SENTIVENT_MAP.get(full) or SENTIVENT_MAP.get(main)
                if mapped:
                    doc["labels"].add(mapped)
    articles = []
    for doc_id, doc in docs.items():
        sentences = [s for _, s in sorted(doc["sentences"])]
        title, body = (sentences[0], " ".join(sentences[1:])) if sentences else ("", "")
        articles.append(LabelledArticle(f"sv-{doc_id}", title, body, tuple(sorted(doc["labels"]))))
    return ExternalSet(
        "sentivent",
        articles,
        SENTIVENT_TYPES,
        "company news 2016-17; Deal, Financing/Investment, Employment and Facility map noisily",
    )


def load_external(directory: Path) -> list[ExternalSet]:
    """Every known dataset present in ``directory``."""
    sets = []
    if (directory / KNOWLEDGATOR_FILE).exists():
        sets.append(load_knowledgator(directory / KNOWLEDGATOR_FILE))
    if (directory / SENTIVENT_FILE).exists():
        sets.append(load_sentivent(directory / SENTIVENT_FILE))
    return sets

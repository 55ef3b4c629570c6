"""Fit and evaluate the company and market extractor on the annotated articles.

``python -m newsevents.training.entities`` holds out a seeded part of the
annotated set, fits :class:`~newsevents.model.entities.CompanyExtractor` on
the rest and scores the held-out part; it also scores every article out of
fold (k folds), which is steadier on a few hundred articles. Then it refits
on everything, saves the extractor beside the default model and writes the
report (``training/report/entities.json`` and ``.md``).

The events are the annotated labels with the evidence sentences the default
event classifier quotes for them, so the figures reflect what a user sees
when the classifier finds the event.

Matching: a predicted name matches an annotated company when it equals any
of the company's forms, ignoring case, a possessive and legal suffixes; each
annotated company and each prediction counts once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from newsevents.config import DEFAULT_MODEL_DIR, package_dir
from newsevents.model.article import prepare
from newsevents.model.artifact import ArtifactError, attach_entities, load_artifact
from newsevents.model.classifier import EventClassifier, EventPrediction
from newsevents.model.entities import (
    MARKET_EVENT,
    ArticleEntities,
    CompanyExtractor,
    EntityAnnotation,
    GoldCompany,
    name_key,
)
from newsevents.training.corpus import DEFAULT_CORPUS_DIR, CorpusError, load_labelled
from newsevents.training.entity_data import AnnotatedArticle, load_annotated

#: Goals of issue 10 for companies per event and for markets.
GOAL_PRECISION, GOAL_RECALL = 0.85, 0.80


@dataclass(frozen=True, slots=True)
class Example:
    """An annotated article ready for the extractor: sentences, events with evidence, annotation."""

    id: str
    sentences: list[str]
    events: list[EventPrediction]
    gold: EntityAnnotation


def examples(articles: Sequence[AnnotatedArticle], classifier: EventClassifier) -> list[Example]:
    """Prepared examples; articles the service would not classify (no text, not English) are left out.

    Each article's events are its labels that have an entry in its entities
    block (a label added after the annotation has nothing to learn from), in
    order, each with the evidence ``classifier`` quotes for that type.
    """
    prepared = [(a, prepare(a.article)) for a in articles]
    ready = [(a, d) for a, d in prepared if d.reason is None]
    labels = [[t for t in a.labels if t in a.entities.events] for a, _ in ready]
    evidence = classifier.evidence([d.sentences for _, d in ready], labels)
    return [
        Example(a.id, d.sentences, [EventPrediction(t, 1.0, ev.get(t, [])) for t in types], a.entities)
        for (a, d), types, ev in zip(ready, labels, evidence, strict=True)
    ]


def _matches(predicted: Sequence[str], gold: Sequence[GoldCompany]) -> int:
    """How many predicted names match a distinct annotated company (greedy, in order)."""
    unmatched = [c.match_keys() for c in gold]
    hits = 0
    for name in predicted:
        key = name_key(name)
        for i, keys in enumerate(unmatched):
            if key in keys:
                hits += 1
                del unmatched[i]
                break
    return hits


def _pr(tp: int, n_pred: int, n_gold: int) -> dict:
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "predicted": n_pred,
        "annotated": n_gold,
        "matched": tp,
    }


def score(examples: Sequence[Example], predictions: Sequence[ArticleEntities]) -> dict:
    """Precision and recall of article companies, companies per event (overall
    and per type) and markets, plus how often the first company is the
    annotated main subject."""
    article = [0, 0, 0]
    event = [0, 0, 0]
    market = [0, 0, 0]
    per_type: dict[str, list[int]] = {}
    top1 = [0, 0]
    for ex, pred in zip(examples, predictions, strict=True):
        gold = ex.gold
        article[0] += _matches(pred.companies, gold.companies)
        article[1] += len(pred.companies)
        article[2] += len(gold.companies)
        if gold.companies:
            top1[1] += 1
            top1[0] += bool(pred.companies) and name_key(pred.companies[0]) in gold.companies[0].match_keys()
        for e, got in zip(ex.events, pred.events, strict=True):
            if e.type not in gold.events:
                continue  # a label without an annotation: nothing to score against
            names, markets = gold.events[e.type]
            wanted = [gold.company(n) for n in names]
            tp = _matches(got.companies, wanted)
            counts = per_type.setdefault(e.type, [0, 0, 0])
            for total in (event, counts):
                total[0] += tp
                total[1] += len(got.companies)
                total[2] += len(wanted)
            if e.type == MARKET_EVENT:
                found = {m.casefold() for m in got.markets or []}
                market[0] += len(found & {m.casefold() for m in markets})
                market[1] += len(found)
                market[2] += len(markets)
    return {
        "articles": len(examples),
        "companies_per_event": _pr(*event),
        "markets": _pr(*market),
        "article_companies": _pr(*article),
        "main_company_first": round(top1[0] / top1[1], 4) if top1[1] else None,
        "companies_per_event_by_type": {t: _pr(*c) for t, c in sorted(per_type.items())},
    }


def fit_extractor(
    train: Sequence[Example], lexicon_texts: Sequence[str], *, seed: int, **params: Any
) -> CompanyExtractor:
    """A CompanyExtractor (``params`` override its defaults) fitted on ``train``."""
    return CompanyExtractor(random_state=seed, **params).fit(
        [e.sentences for e in train], [e.events for e in train], [e.gold for e in train], lexicon_texts=lexicon_texts
    )


def predict(extractor: CompanyExtractor, test: Sequence[Example]) -> list[ArticleEntities]:
    """The extractor's answers for ``test``, in order."""
    return extractor.extract([e.sentences for e in test], [e.events for e in test])


def _strata(items: Sequence[Example]) -> list[int]:
    return [int(any(e.type == MARKET_EVENT for e in x.events)) for x in items]


def evaluate(
    items: Sequence[Example],
    lexicon_texts: Sequence[str],
    *,
    seed: int = 13,
    test_size: float = 0.25,
    folds: int = 5,
    say: Callable[[str], None] = lambda _: None,
) -> dict:
    """Held-out and out-of-fold scores of the extractor on ``items``."""
    index = np.arange(len(items))
    train_idx, test_idx = train_test_split(index, test_size=test_size, random_state=seed, stratify=_strata(items))
    held = [items[i] for i in test_idx]
    extractor = fit_extractor([items[i] for i in train_idx], lexicon_texts, seed=seed)
    held_out = score(held, predict(extractor, held))
    say(f"held out ({len(held)} articles): {_summary(held_out)}")
    oof: list[ArticleEntities | None] = [None] * len(items)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(index, _strata(items)), 1):
        fold_model = fit_extractor([items[i] for i in train], lexicon_texts, seed=seed)
        for i, p in zip(test, predict(fold_model, [items[i] for i in test]), strict=True):
            oof[i] = p
        say(f"fold {k}/{folds} done")
    cross = score(items, [p for p in oof if p is not None])
    say(f"out of fold ({len(items)} articles): {_summary(cross)}")
    return {
        "held_out": held_out,
        "out_of_fold": cross,
        "split": {"seed": seed, "test_size": test_size, "n_train": len(train_idx), "n_test": len(test_idx)},
        "folds": folds,
        "thresholds": {
            "organisation": extractor.org_threshold_,
            "event": extractor.event_threshold_,
            "market": extractor.market_threshold_,
        },
    }


def _summary(result: dict) -> str:
    e, m, a = result["companies_per_event"], result["markets"], result["article_companies"]
    return (
        f"companies per event P {e['precision']:.3f} R {e['recall']:.3f}; "
        f"markets P {m['precision']:.3f} R {m['recall']:.3f}; "
        f"article companies P {a['precision']:.3f} R {a['recall']:.3f}"
    )


def lexicon_texts(corpus: Sequence[Path] = (DEFAULT_CORPUS_DIR,)) -> list[str]:
    """Texts of the labelled corpus, for the ordinary-word lexicon (no labels used)."""
    return [f"{a.title}\n{a.text}" for a in load_labelled(corpus)]


def train_entities(
    model_dir: Path = DEFAULT_MODEL_DIR,
    report_dir: Path | None = None,
    *,
    corpus: Sequence[Path] = (DEFAULT_CORPUS_DIR,),
    seed: int = 13,
    evaluate_first: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> dict:
    """Evaluate (optionally), fit on every annotated article and save the
    extractor into ``model_dir`` beside the event model whose evidence it
    was trained with; write the report to ``report_dir``. Returns the report."""
    classifier = load_artifact(model_dir).classifier
    annotated = load_annotated(corpus)
    items = examples(annotated, classifier)
    texts = lexicon_texts(corpus)
    say(f"{len(items)} annotated articles ({len(annotated) - len(items)} left out: no text or not English)")
    report: dict = {"n_articles": len(items), "seed": seed}
    if evaluate_first:
        report.update(evaluate(items, texts, seed=seed, say=say))
    final = fit_extractor(items, texts, seed=seed)
    thresholds = {
        "organisation": final.org_threshold_,
        "event": final.event_threshold_,
        "market": final.market_threshold_,
    }
    report["manifest"] = attach_entities(model_dir, final, metrics={"thresholds": thresholds})["files"]
    say(f"extractor saved in {model_dir}")
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "entities.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if evaluate_first:
            (report_dir / "entities.md").write_text(markdown(report), encoding="utf-8")
    return report


def _row(name: str, s: dict) -> str:
    return f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['annotated']} |"


def markdown(report: dict) -> str:
    """The evaluation as a short Markdown report."""
    lines = [
        "# Companies and markets: evaluation",
        "",
        f"{report['n_articles']} annotated articles; held-out split of {report['split']['n_test']} "
        f"(seed {report['seed']}), and every article scored out of fold ({report['folds']} folds).",
        "Events: the annotated labels, with the evidence sentences the default event model quotes.",
        "",
    ]
    for part, title in (("held_out", "Held-out split"), ("out_of_fold", "Out of fold, all articles")):
        r = report[part]
        lines += [
            f"## {title}",
            "",
            "| what | precision | recall | F1 | annotated |",
            "| --- | ---: | ---: | ---: | ---: |",
            _row("companies per event", r["companies_per_event"]),
            _row("markets (market_expansion)", r["markets"]),
            _row("article companies", r["article_companies"]),
            "",
            f"First company is the annotated main subject: {r['main_company_first']:.3f}",
            "",
            "| event type | precision | recall | F1 | annotated |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(_row(t, s) for t, s in r["companies_per_event_by_type"].items()),
            "",
        ]
    t = report["thresholds"]
    lines.append(
        f"Thresholds (tuned out of fold on the training part): organisation {t['organisation']}, "
        f"event involvement {t['event']}, market {t['market']}."
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m newsevents.training.entities",
        description="Evaluate the company and market extractor, fit it on all annotations and save it beside a model.",
    )
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL_DIR, help="artifact folder (default: the default model)"
    )
    parser.add_argument(
        "--report-dir", type=Path, default=package_dir("newsevents.training") / "report", help="where the report goes"
    )
    parser.add_argument("--corpus", type=Path, nargs="+", default=[DEFAULT_CORPUS_DIR])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-evaluate", action="store_true", help="only fit and save")
    args = parser.parse_args(argv)
    try:
        train_entities(
            args.model,
            args.report_dir,
            corpus=args.corpus,
            seed=args.seed,
            evaluate_first=not args.no_evaluate,
            say=lambda m: print(m, flush=True),
        )
    except (ArtifactError, CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

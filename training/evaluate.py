"""Score an artifact on labelled data: our files, the demo stream and the mapped external sets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from newsevents.model.article import Article, Document, prepare
from newsevents.model.artifact import LoadedModel
from newsevents.model.classifier import EventClassifier
from newsevents.model.taxonomy import DEFAULT_TAXONOMY
from newsevents.training.baseline import KeywordBaseline
from newsevents.training.corpus import LabelledArticle, label_matrix, load_labelled
from newsevents.training.external import ExternalSet, load_external
from newsevents.training.metrics import confused_pairs, score


def documents(articles: Sequence[LabelledArticle]) -> list[Document]:
    """Prepared documents (cleaned sentences and skip reason) for labelled articles."""
    return [prepare(Article(id=a.id, title=a.title, text=a.text)) for a in articles]


def predict_scores(classifier: EventClassifier, articles: Sequence[LabelledArticle]) -> np.ndarray:
    """Calibrated scores (n_articles, n_types), 0 for articles the service would skip."""
    return _scores(classifier, documents(articles))


def _scores(classifier: EventClassifier, docs: Sequence[Document]) -> np.ndarray:
    scores = np.zeros((len(docs), len(classifier.classes_)))
    ready = [i for i, d in enumerate(docs) if d.reason is None]
    if ready:
        scores[ready] = classifier.predict_proba([docs[i].sentences for i in ready])
    return scores


def evaluate_articles(
    model: LoadedModel, articles: Sequence[LabelledArticle], types: Sequence[str] | None = None
) -> dict:
    """Scores of ``model`` and of the keyword rules on ``articles``.

    ``types`` restricts scoring to the types a dataset can speak for.
    """
    classifier = model.classifier
    taxonomy = [str(t) for t in classifier.classes_]
    keep = [j for j, t in enumerate(taxonomy) if types is None or t in types]
    kept = [taxonomy[j] for j in keep]
    Y = label_matrix(articles, taxonomy)[:, keep]
    P = (predict_scores(classifier, articles) >= classifier.thresholds_)[:, keep]
    rules = KeywordBaseline(kept).predict([f"{a.title}\n{a.text}" for a in articles])
    return {
        "model": {"name": model.name, "version": model.version},
        "scores": score(Y, P, kept),
        "baseline": score(Y, rules, kept),
        "confused_pairs": confused_pairs(Y, P, kept),
    }


def evaluate_file(model: LoadedModel, paths: Sequence[Path]) -> dict:
    return {"dataset": ", ".join(map(str, paths)), **evaluate_articles(model, load_labelled(paths))}


def evaluate_external(model: LoadedModel, directory: Path) -> list[dict]:
    results = []
    for ext in load_external(directory):
        results.append(_external_result(model, ext))
    return results


def _external_result(model: LoadedModel, ext: ExternalSet) -> dict:
    return {
        "dataset": ext.name,
        "note": ext.note,
        "types": ext.types,
        **evaluate_articles(model, ext.articles, ext.types),
    }


def evaluate_samples(model: LoadedModel) -> dict | None:
    """The model on the annotated demo stream (``samples/``), which no model is trained on.

    Returns scores, and the events given to the articles annotated with none
    (statistics, a strike, a rumour, domestic openings: each one a hard case);
    None when the model's taxonomy is not the default one.
    """
    from newsevents.training.entity_data import SAMPLES_ANNOTATIONS, SAMPLES_STREAM, load_annotated

    classifier = model.classifier
    taxonomy = [str(t) for t in classifier.classes_]
    if taxonomy != list(DEFAULT_TAXONOMY) or not SAMPLES_STREAM.exists():
        return None
    samples = load_annotated((), (), samples=(SAMPLES_STREAM, SAMPLES_ANNOTATIONS))
    P = (_scores(classifier, [prepare(s.article) for s in samples]) >= classifier.thresholds_).astype(np.int8)
    Y = np.array([[t in s.labels for t in taxonomy] for s in samples], dtype=np.int8)
    no_event = [i for i, s in enumerate(samples) if not s.labels]
    false_events = [
        {"id": samples[i].id, "types": [taxonomy[j] for j in np.flatnonzero(P[i])]} for i in no_event if P[i].any()
    ]
    return {
        "scores": score(Y, P, taxonomy),
        "no_event_articles": len(no_event),
        "false_events_on_no_event_articles": sum(len(f["types"]) for f in false_events),
        "false_events": false_events,
    }

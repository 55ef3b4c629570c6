"""``newsevents train``: fit, select, tune, evaluate and write an artifact.

Deterministic for a given corpus and seed:

1. Load and validate labelled JSON Lines; the taxonomy is the labels found.
2. Hold out ``test_size`` of the articles (seeded, stratified on each
   article's first label or "none").
3. Choose the regularisation of both stages by k-fold cross-validation on
   the training split: mean macro-F1, at each candidate's own thresholds, on
   each fold's held-out articles plus diluted copies made from them only
   (validation that looks like real news: long, several events).
4. Fit the chosen configuration on the training split (interaction stage and
   thresholds come from out-of-fold scores inside ``fit``); score it and the
   keyword-rule baseline on the held-out split, on its long articles, and
   on it with diluted copies.
5. Refit on all articles (unless ``refit_all=False``) and write the artifact
   and the report (JSON, Markdown, precision-recall PNG).

Augmented copies only ever mix articles of one fold of the classifier's
internal cross-validation, and that fold split is passed to ``fit`` as
groups, so no out-of-fold score comes from a model that saw any of the text.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from newsevents.model.artifact import LoadedModel, load_artifact, save_artifact
from newsevents.model.classifier import EventClassifier
from newsevents.model.taxonomy import taxonomy_from_labels
from newsevents.training.augment import dilute, dilute_by_group
from newsevents.training.baseline import KeywordBaseline
from newsevents.training.corpus import LabelledArticle, fingerprint, label_matrix, load_labelled
from newsevents.training.evaluate import documents, evaluate_external, evaluate_samples
from newsevents.training.external import find_datasets_dir
from newsevents.training.metrics import confused_pairs, score
from newsevents.training.report import markdown, plot_precision_recall, write_json

# Word pairs always beat words alone by 0.02-0.03 macro-F1 in earlier
# searches, and the interaction stage picks its own regularisation per type
# (out-of-fold log-loss, cheap), so only the base models' is searched here.
DEFAULT_GRID: tuple[dict, ...] = tuple({"C": c} for c in (2.0, 4.0, 8.0))

# Real stories are long: an augmented example mixes in up to this many other articles.
AUGMENT_MAX_DONORS = 5
# Validation copies per held-out article in model selection.
VALIDATION_COPIES = 1.0
# Thresholds maximise F1 on the out-of-fold scores of documents at least this
# long (the long articles and the diluted copies): real stories are long and
# mention other events in passing, and thresholds tuned on short focused
# articles were too low for them.
THRESHOLD_BETA = 1.0
REALISTIC_MIN_SENTENCES = 10
# Folds of the classifier's own cross-validation: the final model's, and a
# cheaper one for the candidates of the search.
FIT_CV, SEARCH_CV = 5, 3

Step = Callable[[str, int], Callable[[], None]]


@dataclass
class TrainingResult:
    model: LoadedModel
    report: dict
    report_paths: list[Path]


def stratify_keys(Y: np.ndarray, taxonomy: Sequence[str], minimum: int) -> list[str]:
    """A stratum per article: its rarest label, or "none"; strata with fewer
    than ``minimum`` members are pooled so every stratum can be split."""
    frequency = Y.sum(axis=0)
    keys: list[str] = [
        taxonomy[int(min(np.flatnonzero(row), key=lambda j: frequency[j]))] if row.any() else "none" for row in Y
    ]
    counts = Counter(keys)
    keys = [k if counts[k] >= minimum else "rare" for k in keys]
    if 0 < keys.count("rare") < minimum:
        common = Counter(keys).most_common(1)[0][0]
        keys = [common if k == "rare" else k for k in keys]
    return keys


def _quiet_step(label: str, total: int) -> Callable[[], None]:
    return lambda: None


def _classifier(taxonomy: Sequence[str], seed: int, cv: int, params: dict) -> EventClassifier:
    return EventClassifier(
        taxonomy=taxonomy,
        random_state=seed,
        cv=cv,
        threshold_beta=THRESHOLD_BETA,
        threshold_min_sentences=REALISTIC_MIN_SENTENCES,
        **params,
    )


def _with_augmentation(
    articles: Sequence[LabelledArticle], taxonomy: Sequence[str], ratio: float, seed: int, folds: int
) -> tuple[list, np.ndarray, np.ndarray]:
    """Documents, labels and fold groups of ``articles`` plus their diluted copies.

    The articles are split into ``folds`` stratified groups and each copy
    mixes articles of one group, so the classifier's cross-validation (which
    keeps groups together) never scores a copy with a model that saw its text.
    """
    Y = label_matrix(articles, taxonomy)
    groups = np.zeros(len(articles), dtype=int)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for g, (_, members) in enumerate(splitter.split(np.zeros(len(articles)), stratify_keys(Y, taxonomy, folds))):
        groups[members] = g
    copies, copy_groups = dilute_by_group(
        articles, groups.tolist(), ratio=ratio, max_donors=AUGMENT_MAX_DONORS, seed=seed
    )
    extended = list(articles) + copies
    return (
        [d.sentences for d in documents(extended)],
        label_matrix(extended, taxonomy),
        np.concatenate([groups, np.asarray(copy_groups, dtype=int)]),
    )


def realistic_validation(
    articles: Sequence[LabelledArticle], taxonomy: Sequence[str], seed: int
) -> tuple[list, np.ndarray]:
    """Held-out articles plus diluted copies made from them only: documents and labels."""
    extended = list(articles) + dilute(articles, ratio=VALIDATION_COPIES, max_donors=AUGMENT_MAX_DONORS, seed=seed)
    return [d.sentences for d in documents(extended)], label_matrix(extended, taxonomy)


def select_params(
    articles: Sequence[LabelledArticle],
    Y: np.ndarray,
    taxonomy: Sequence[str],
    grid: Sequence[dict],
    *,
    folds: int,
    seed: int,
    augment: float = 0.0,
    step: Step = _quiet_step,
) -> tuple[dict, list[dict]]:
    """Mean macro-F1 of each grid candidate over ``folds`` folds; returns (best, all).

    Each fold's model is trained on the other folds (augmented) and scored on
    the fold's articles plus diluted copies of them (see :func:`realistic_validation`).
    """
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(len(articles)), stratify_keys(Y, taxonomy, folds)))
    advance = step("cross-validating candidates", len(grid) * folds)
    fold_training = [
        _with_augmentation([articles[i] for i in train], taxonomy, augment, seed, SEARCH_CV) for train, _ in splits
    ]
    fold_validation = [realistic_validation([articles[i] for i in test], taxonomy, seed) for _, test in splits]
    candidates: list[dict[str, Any]] = []
    for params in grid:
        f1s = []
        for (train_docs, train_Y, groups), (valid_docs, valid_Y) in zip(fold_training, fold_validation, strict=True):
            clf = _classifier(taxonomy, seed, SEARCH_CV, params).fit(train_docs, train_Y, groups)
            f1s.append(score(valid_Y, clf.predict(valid_docs), taxonomy)["macro_f1"])
            advance()
        candidates.append({"params": _jsonable(params), "macro_f1": round(float(np.mean(f1s)), 4)})
    best = max(candidates, key=lambda c: c["macro_f1"])
    return best, candidates


def threshold_tradeoff(model: EventClassifier, lengths: np.ndarray, Y: np.ndarray, delta: float = 0.1) -> dict:
    """Precision and recall of each type on the out-of-fold scores the thresholds were tuned on.

    ``lengths`` (sentences per training document) and ``Y`` are the fit's; the
    rows are those the model tuned each threshold on (:meth:`EventClassifier.threshold_rows`).
    Figures at the chosen threshold and ``delta`` below and above it.
    """
    tuned_on = model.threshold_rows(lengths, Y)
    out = {}
    for j, t in enumerate(str(c) for c in model.classes_):
        rows = tuned_on[:, j]
        y, p = Y[rows, j].astype(bool), model.oof_scores_[rows, j]
        at = {}
        for name, threshold in (
            ("lower", model.thresholds_[j] - delta),
            ("chosen", model.thresholds_[j]),
            ("higher", model.thresholds_[j] + delta),
        ):
            pred = p >= threshold
            tp = int((pred & y).sum())
            at[name] = {
                "threshold": round(float(threshold), 2),
                "precision": round(tp / pred.sum(), 4) if pred.sum() else 0.0,
                "recall": round(tp / y.sum(), 4) if y.sum() else 0.0,
            }
        out[t] = {"documents": int(rows.sum()), "positives": int(y.sum()), **at}
    return out


def _jsonable(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def train(
    paths: Sequence[Path],
    model_dir: Path,
    report_dir: Path,
    *,
    name: str = "newsevents-default",
    seed: int = 13,
    test_size: float = 0.2,
    folds: int = 4,
    grid: Sequence[dict] = DEFAULT_GRID,
    refit_all: bool = True,
    augment: float = 2.0,
    datasets_dir: Path | None = None,
    step: Step = _quiet_step,
    say: Callable[[str], None] = lambda _: None,
) -> TrainingResult:
    """Train, evaluate and write an artifact to ``model_dir`` and a report to ``report_dir``."""
    articles = load_labelled(paths)
    taxonomy = taxonomy_from_labels(a.labels for a in articles)
    Y_all = label_matrix(articles, taxonomy)
    say(
        f"{len(articles)} labelled articles, {len(taxonomy)} event types, "
        f"{int((Y_all.sum(axis=1) == 0).sum())} with no type"
    )
    index = np.arange(len(articles))
    train_idx, test_idx = train_test_split(
        index, test_size=test_size, random_state=seed, stratify=stratify_keys(Y_all, taxonomy, 2)
    )
    train_articles = [articles[i] for i in train_idx]
    test_articles = [articles[i] for i in test_idx]
    docs_test = [d.sentences for d in documents(test_articles)]
    Y_train, Y_test = Y_all[train_idx], Y_all[test_idx]

    best, candidates = select_params(
        train_articles, Y_train, taxonomy, grid, folds=folds, seed=seed, augment=augment, step=step
    )
    params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in best["params"].items()}
    say(f"chosen: {best['params']} (cross-validated macro-F1 {best['macro_f1']:.3f})")

    advance = step("fitting and evaluating", 2 if refit_all else 1)
    split_docs, split_Y, split_groups = _with_augmentation(train_articles, taxonomy, augment, seed, FIT_CV)
    split_model = _classifier(taxonomy, seed, FIT_CV, params).fit(split_docs, split_Y, split_groups)
    tradeoff = threshold_tradeoff(split_model, np.array([len(d) for d in split_docs]), split_Y)
    advance()
    test_scores = split_model.predict_proba(docs_test)
    test_pred = (test_scores >= split_model.thresholds_).astype(np.int8)
    held_out = score(Y_test, test_pred, taxonomy)
    rules = KeywordBaseline(taxonomy).predict([f"{a.title}\n{a.text}" for a in test_articles])
    baseline = score(Y_test, rules, taxonomy)
    say(f"held-out macro-F1 {held_out['macro_f1']:.3f} (keyword rules {baseline['macro_f1']:.3f})")
    long_rows = np.array([len(d) >= REALISTIC_MIN_SENTENCES for d in docs_test])
    held_out_long = score(Y_test[long_rows], test_pred[long_rows], taxonomy)
    realistic_docs, realistic_Y = realistic_validation(test_articles, taxonomy, seed)
    held_out_realistic = score(realistic_Y, split_model.predict(realistic_docs), taxonomy)
    say(
        f"held-out long articles macro-F1 {held_out_long['macro_f1']:.3f}, "
        f"with diluted copies {held_out_realistic['macro_f1']:.3f}"
    )

    final = split_model
    if refit_all:
        final = _classifier(taxonomy, seed, FIT_CV, params).fit(
            *_with_augmentation(articles, taxonomy, augment, seed, FIT_CV)
        )
        advance()

    data_fp = fingerprint(articles)
    metrics = {
        "held_out": {k: held_out[k] for k in ("micro_f1", "macro_f1", "exact_match")},
        "held_out_per_type_f1": {t: s["f1"] for t, s in held_out["per_type"].items()},
        "baseline_held_out_macro_f1": baseline["macro_f1"],
    }
    manifest = save_artifact(final, model_dir, name=name, data_fingerprint=data_fp, metrics=metrics)
    loaded = load_artifact(model_dir)

    report_dir.mkdir(parents=True, exist_ok=True)
    plot_path = report_dir / "precision_recall.png"
    plot_precision_recall(Y_test, test_scores, taxonomy, plot_path)
    report = {
        "model": {"name": manifest["name"], "version": manifest["version"], "path": str(model_dir)},
        "data": {
            "files": [str(p) for p in paths],
            "n_articles": len(articles),
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "seed": seed,
            "fingerprint": data_fp,
            "augmentation_ratio": augment,
        },
        "taxonomy": list(taxonomy),
        "selection": {
            "folds": folds,
            "best": best["params"],
            "best_macro_f1": best["macro_f1"],
            "candidates": candidates,
        },
        "held_out": held_out,
        "baseline": baseline,
        "held_out_long": {"min_sentences": REALISTIC_MIN_SENTENCES, **held_out_long},
        "held_out_realistic": {"copies_per_article": VALIDATION_COPIES, **held_out_realistic},
        "confused_pairs": confused_pairs(Y_test, test_pred, taxonomy),
        "thresholds": manifest["thresholds"],
        "interaction_C": {str(t): float(c) for t, c in zip(final.classes_, final.stack_C_, strict=True)},
        "threshold_tradeoff": tradeoff,
        "final_fit": {"n_articles": len(articles)} if refit_all else None,
        "plot": plot_path.name,
    }
    demo = evaluate_samples(loaded)
    if demo is not None:
        report["demo_stream"] = demo
    datasets_dir = find_datasets_dir(datasets_dir)
    if datasets_dir is not None:
        say(f"scoring the external datasets in {datasets_dir}")
        report["external"] = [
            {"name": r["dataset"], "note": r["note"], "scores": r["scores"], "baseline": r["baseline"]}
            for r in evaluate_external(loaded, datasets_dir)
        ]
    json_path, md_path = report_dir / "report.json", report_dir / "report.md"
    write_json(report, json_path)
    md_path.write_text(markdown(report), encoding="utf-8")
    return TrainingResult(loaded, report, [json_path, md_path, plot_path])


def summary_line(report: dict) -> str:
    """A one-line summary for the command line."""
    return json.dumps(
        {
            "model": report["model"]["version"],
            "held_out_macro_f1": report["held_out"]["macro_f1"],
            "baseline_macro_f1": report["baseline"]["macro_f1"],
        }
    )

"""Multi-label scores: per-type precision/recall/F1, micro and macro F1, confusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def score(Y_true: np.ndarray, Y_pred: np.ndarray, taxonomy: Sequence[str]) -> dict:
    """Precision, recall, F1 and support per type, plus micro and macro F1.

    ``Y_true`` and ``Y_pred`` are binary arrays of shape (n_samples, n_types).
    Types with no positives in ``Y_true`` are left out of the macro average
    (their F1 is undefined) and marked ``"support": 0``.
    """
    Y_true = np.asarray(Y_true, dtype=bool).reshape(-1, len(taxonomy))
    Y_pred = np.asarray(Y_pred, dtype=bool).reshape(-1, len(taxonomy))
    if not len(Y_true):
        zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}
        per_type = {t: dict(zero) for t in taxonomy}
        return {"n_articles": 0, "micro_f1": 0.0, "macro_f1": 0.0, "exact_match": 0.0, "per_type": per_type}
    precision, recall, f1, support = precision_recall_fscore_support(Y_true, Y_pred, average=None, zero_division=0.0)
    predicted = Y_pred.sum(axis=0)
    per_type = {
        t: {
            "precision": round(float(precision[j]), 4),
            "recall": round(float(recall[j]), 4),
            "f1": round(float(f1[j]), 4),
            "support": int(support[j]),
            "predicted": int(predicted[j]),
        }
        for j, t in enumerate(taxonomy)
    }
    supported = support > 0
    return {
        "n_articles": len(Y_true),
        "micro_f1": round(float(f1_score(Y_true, Y_pred, average="micro", zero_division=0.0)), 4),
        "macro_f1": round(float(np.mean(f1[supported])) if supported.any() else 0.0, 4),
        "exact_match": round(float(accuracy_score(Y_true, Y_pred)), 4),
        "per_type": per_type,
    }


def confused_pairs(Y_true: np.ndarray, Y_pred: np.ndarray, taxonomy: Sequence[str], top: int = 8) -> list[dict]:
    """The most frequent (true type, wrongly predicted type) pairs.

    A pair counts once per article that truly has ``true`` and was given
    ``predicted`` although it does not have it. ``"none"`` stands for an
    article with no type.
    """
    Y_true = np.asarray(Y_true, dtype=bool)
    Y_pred = np.asarray(Y_pred, dtype=bool)
    pairs: Counter = Counter()
    for yt, yp in zip(Y_true, Y_pred, strict=True):
        truths = [taxonomy[int(j)] for j in np.flatnonzero(yt)] or ["none"]
        for j in np.flatnonzero(yp & ~yt):
            for t in truths:
                pairs[(t, taxonomy[int(j)])] += 1
        if yt.any() and not yp.any():
            for t in truths:
                pairs[(t, "none")] += 1
    return [{"true": a, "predicted": b, "count": n} for (a, b), n in pairs.most_common(top)]

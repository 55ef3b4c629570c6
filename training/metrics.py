"""Multi-label scores: per-type precision/recall/F1, micro and macro F1, confusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def score(Y_true: np.ndarray, Y_pred: np.ndarray, taxonomy: Sequence[str]) -> dict:
    """Precision, recall, F1 and support per type, plus micro and macro F1.

    ``Y_true`` and ``Y_pred`` are binary arrays of shape (n_samples, n_types).
    Types with no positives in ``Y_true`` are left out of the macro average
    (their F1 is undefined) and marked ``"support": 0``.
    """
    Y_true = np.asarray(Y_true, dtype=bool)
    Y_pred = np.asarray(Y_pred, dtype=bool)
    per_type = {}
    f1s = []
    for j, t in enumerate(taxonomy):
        tp = int(np.sum(Y_true[:, j] & Y_pred[:, j]))
        fp = int(np.sum(~Y_true[:, j] & Y_pred[:, j]))
        fn = int(np.sum(Y_true[:, j] & ~Y_pred[:, j]))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_type[t] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
                       "support": tp + fn, "predicted": tp + fp}
        if tp + fn:
            f1s.append(f1)
    tp = int(np.sum(Y_true & Y_pred))
    fp = int(np.sum(~Y_true & Y_pred))
    fn = int(np.sum(Y_true & ~Y_pred))
    micro = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    exact = float(np.mean(np.all(Y_true == Y_pred, axis=1))) if len(Y_true) else 0.0
    return {
        "n_articles": int(len(Y_true)),
        "micro_f1": round(micro, 4),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 4),
        "exact_match": round(exact, 4),
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
    for yt, yp in zip(Y_true, Y_pred):
        truths = [taxonomy[j] for j in np.flatnonzero(yt)] or ["none"]
        for j in np.flatnonzero(yp & ~yt):
            for t in truths:
                pairs[(t, taxonomy[j])] += 1
        if yt.any() and not yp.any():
            for t in truths:
                pairs[(t, "none")] += 1
    return [{"true": a, "predicted": b, "count": n} for (a, b), n in pairs.most_common(top)]

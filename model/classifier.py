"""The multi-label event classifier.

:class:`EventClassifier` is a scikit-learn estimator. Its input is a sequence
of documents, each a list of sentences (see :func:`model.article.prepare`);
a plain string is accepted too and split on the fly.

How it works, and why:

* Words and word pairs are counted **per sentence** with one vectoriser pass;
  article counts are the sum of their sentences' counts.
* One L2-regularised logistic regression per type scores the article's
  sublinear TF-IDF vector. The same weights also score every passage of two
  consecutive sentences: an event is usually told in one or two sentences,
  and in a long story the article vector dilutes them. The best passage's
  score is a second signal.
* The two signals are combined and calibrated by a small logistic regression
  fitted on out-of-fold scores, so the result behaves like a probability; each
  type's threshold is the one that maximises F1 on those same out-of-fold
  scores. (Vocabulary and IDF are fitted once on all training data; only the
  per-type weights are refitted per fold.)
* Evidence: the sentences with the highest score for the type on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from newsevents.model.features import SentenceNgramCounter
from newsevents.model.sentences import split_sentences

Documents = Sequence["list[str] | str"]

#: Sentences per passage scored on their own (see the module docs).
PASSAGE_SENTENCES = 2


@dataclass(frozen=True, slots=True)
class EventPrediction:
    """One predicted event type: calibrated score in [0, 1] and 1-3 evidence sentences."""

    type: str
    score: float
    evidence: list[str]


@dataclass(frozen=True, slots=True)
class Prediction:
    """The classifier's answer for one document.

    ``events`` holds the types over their thresholds, highest score first;
    ``scores`` has every type of the taxonomy.
    """

    events: list[EventPrediction]
    scores: dict[str, float]


def _as_sentences(doc: list[str] | str) -> list[str]:
    if isinstance(doc, str):
        return split_sentences(doc)
    return list(doc)


def _best_threshold(y: np.ndarray, p: np.ndarray, lo: float, hi: float, beta: float = 1.0) -> float:
    """Threshold in [lo, hi] maximising F-beta of ``p >= t``; ties go to the one nearest 0.5."""
    grid = np.round(np.arange(lo, hi + 1e-9, 0.01), 2)
    positives = y.sum()
    b2 = beta * beta
    best_t, best_f = 0.5, -1.0
    for t in grid:
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        denominator = b2 * positives + pred.sum()
        f = (1 + b2) * tp / denominator if denominator else 0.0
        if f > best_f + 1e-12 or (abs(f - best_f) <= 1e-12 and abs(t - 0.5) < abs(best_t - 0.5)):
            best_t, best_f = float(t), f
    return best_t


class EventClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label event-type classifier with calibrated scores and evidence.

    Parameters
    ----------
    taxonomy : sequence of str
        Event type ids, in output order. Column ``j`` of ``Y`` is ``taxonomy[j]``.
    ngram_range : (int, int)
        Word n-gram sizes counted within a sentence.
    min_df : int
        Minimum number of sentences a term must appear in to be kept.
    C : float
        Inverse L2 regularisation strength of each per-type logistic regression.
    cv : int
        Folds used to produce out-of-fold scores for calibration and thresholds.
    threshold_range : (float, float)
        Bounds for the tuned per-type thresholds (guards against extreme
        thresholds when a type has few positives).
    threshold_beta : float
        Thresholds maximise F-beta on out-of-fold scores; beta > 1 weighs
        recall more than precision.
    random_state : int
        Seed for the fold split.
    """

    def __init__(
        self,
        taxonomy: Sequence[str] = (),
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 2,
        C: float = 8.0,
        cv: int = 5,
        threshold_range: tuple[float, float] = (0.2, 0.8),
        threshold_beta: float = 1.0,
        random_state: int = 0,
    ) -> None:
        self.taxonomy = taxonomy
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.C = C
        self.cv = cv
        self.threshold_range = threshold_range
        self.threshold_beta = threshold_beta
        self.random_state = random_state

    # -- features -----------------------------------------------------------
    def _sentence_counts(self, docs: Documents) -> tuple[sp.csr_matrix, np.ndarray]:
        """Sentence count matrix (n_sentences, n_features) and per-document offsets (n_docs + 1,)."""
        sentences: list[str] = []
        offsets = [0]
        for doc in docs:
            sentences.extend(_as_sentences(doc))
            offsets.append(len(sentences))
        return self.vectorizer_.transform(sentences), np.asarray(offsets)

    @staticmethod
    def _sum_by_document(counts: sp.csr_matrix, offsets: np.ndarray) -> sp.csr_matrix:
        n_docs = len(offsets) - 1
        rows = np.repeat(np.arange(n_docs), np.diff(offsets))
        membership = sp.csr_matrix(
            (np.ones(len(rows), dtype=counts.dtype), (rows, np.arange(len(rows)))),
            shape=(n_docs, counts.shape[0]),
        )
        return (membership @ counts).tocsr()

    @staticmethod
    def _passages(counts: sp.csr_matrix, offsets: np.ndarray, width: int = PASSAGE_SENTENCES) -> sp.csr_matrix:
        """Counts of each sentence plus the next ``width - 1`` in the same document (n_sentences, F).

        An event is often told over a few sentences ("X and Y signed a deal.
        It will take Y into Brazil."); row i is the passage starting at sentence i.
        """
        n = counts.shape[0]
        if n == 0:
            return counts
        doc_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        total = counts.copy()
        for shift in range(1, width):
            same_doc = np.zeros(n, dtype=counts.dtype)
            same_doc[:-shift] = doc_of[:-shift] == doc_of[shift:]
            following = sp.vstack([counts[shift:], sp.csr_matrix((shift, counts.shape[1]), dtype=counts.dtype)])
            total = total + sp.diags(same_doc) @ following
        return total.tocsr()

    def _features(self, docs: Documents) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        """Article TF-IDF, passage TF-IDF, sentence counts and document offsets.

        Shapes (n_docs, F), (n_sentences, F), (n_sentences, F), (n_docs + 1,).
        """
        counts, offsets = self._sentence_counts(docs)
        X = self.tfidf_.transform(self._sum_by_document(counts, offsets))
        P = self.tfidf_.transform(self._passages(counts, offsets))
        return X, P, counts, offsets

    @staticmethod
    def _best_passage(passage_decision: np.ndarray, offsets: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Per document and type, the highest passage decision (``fallback`` for empty documents)."""
        lengths = np.diff(offsets)
        out = fallback.copy()
        nonempty = lengths > 0
        if nonempty.any() and len(passage_decision):
            out[nonempty] = np.maximum.reduceat(passage_decision, offsets[:-1][nonempty], axis=0)
        return out

    def _signals(self, X, P, offsets, coef, intercept) -> np.ndarray:
        """Article and best-passage decisions, shape (2, n_docs, n_types)."""
        article = np.asarray(X @ coef.T) + intercept
        passage = self._best_passage(np.asarray(P @ coef.T) + intercept, offsets, article)
        return np.stack([article, passage])

    # -- fitting ------------------------------------------------------------
    def fit(self, docs: Documents, Y) -> EventClassifier:
        """Fit on documents and a binary label matrix.

        Parameters
        ----------
        docs : sequence of (list of str or str), length n_samples
        Y : array-like of shape (n_samples, n_types), values 0/1

        Returns
        -------
        self
        """
        taxonomy = tuple(self.taxonomy)
        Y = np.asarray(Y, dtype=np.int8)
        if not taxonomy:
            raise ValueError("taxonomy must name at least one event type")
        if Y.ndim != 2 or Y.shape != (len(docs), len(taxonomy)):
            raise ValueError(f"Y must have shape ({len(docs)}, {len(taxonomy)}), got {Y.shape}")
        missing = [t for t, n in zip(taxonomy, Y.sum(axis=0), strict=True) if n < self.cv]
        if missing:
            raise ValueError(f"each type needs at least {self.cv} positive examples; too few for: {', '.join(missing)}")
        self.classes_ = np.asarray(taxonomy)
        sentence_docs = [_as_sentences(d) for d in docs]
        low, high = self.ngram_range
        self.vectorizer_ = SentenceNgramCounter(ngram_range=(low, high), min_df=self.min_df)
        # Distinct sentences only: min_df counts independent uses of a term, and
        # augmented training data repeats sentences.
        self.vectorizer_.fit(list(dict.fromkeys(s for doc in sentence_docs for s in doc)))
        counts, offsets = self._sentence_counts(sentence_docs)
        doc_counts = self._sum_by_document(counts, offsets)
        self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(doc_counts)
        X = self.tfidf_.transform(doc_counts)
        P = self.tfidf_.transform(self._passages(counts, offsets))

        n_types = len(taxonomy)
        self.coef_ = np.zeros((n_types, X.shape[1]), dtype=np.float64)
        self.intercept_ = np.zeros(n_types)
        self.calibration_ = np.zeros((n_types, 3))  # weights of (article, best passage) and offset
        self.thresholds_ = np.zeros(n_types)
        self.oof_scores_ = np.zeros(Y.shape, dtype=np.float64)
        for j in range(n_types):
            y = Y[:, j]
            signals = self._out_of_fold_signals(X, P, offsets, y)  # (n_docs, 2)
            platt = LogisticRegression(C=1e4).fit(signals, y)
            self.calibration_[j] = (*platt.coef_[0], platt.intercept_[0])
            self.oof_scores_[:, j] = self._calibrate(signals.T[:, :, None], j)[:, 0]
            self.thresholds_[j] = _best_threshold(
                y, self.oof_scores_[:, j], *self.threshold_range, beta=self.threshold_beta
            )
            full = self._new_lr().fit(X, y)
            self.coef_[j] = full.coef_[0]
            self.intercept_[j] = full.intercept_[0]
        return self

    def _new_lr(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight="balanced", solver="liblinear", max_iter=1000)

    def _out_of_fold_signals(self, X, P, offsets, y) -> np.ndarray:
        """The decisions of models that did not see the document, shape (n_docs, 2)."""
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        signals = np.zeros((X.shape[0], 2))
        for train, test in folds.split(np.zeros(len(y)), y):
            lr = self._new_lr().fit(X[train], y[train])
            rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in test])
            test_offsets = np.concatenate([[0], np.cumsum(np.diff(offsets)[test])])
            signals[test] = self._signals(X[test], P[rows], test_offsets, lr.coef_, lr.intercept_)[:, :, 0].T
        return signals

    def _calibrate(self, signals: np.ndarray, j: int | slice = slice(None)) -> np.ndarray:
        """Probability from the (2, n_docs, n_types) decisions, for type(s) ``j``."""
        weights = self.calibration_[j].T  # (3, n_types) or (3,)
        z = signals[0] * weights[0] + signals[1] * weights[1] + weights[2]
        return 1.0 / (1.0 + np.exp(-z))

    # -- prediction ---------------------------------------------------------
    def decision_function(self, docs: Documents) -> np.ndarray:
        """Calibrated log-odds, shape (n_samples, n_types)."""
        p = np.clip(self.predict_proba(docs), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    def predict_proba(self, docs: Documents) -> np.ndarray:
        """Calibrated scores in [0, 1], shape (n_samples, n_types)."""
        check_is_fitted(self, "coef_")
        X, P, _, offsets = self._features(docs)
        return self._calibrate(self._signals(X, P, offsets, self.coef_, self.intercept_))

    def predict(self, docs: Documents) -> np.ndarray:
        """Binary predictions at the tuned thresholds, shape (n_samples, n_types)."""
        return (self.predict_proba(docs) >= self.thresholds_).astype(np.int8)

    def classify(self, docs: Documents, *, max_evidence: int = 3) -> list[Prediction]:
        """Scores, events over threshold and evidence sentences for each document.

        One vectoriser pass serves both the scores and the evidence: a
        sentence's support for a type is the type's linear score of that
        sentence alone.
        """
        check_is_fitted(self, "coef_")
        sentence_docs = [_as_sentences(d) for d in docs]
        X, P, counts, offsets = self._features(sentence_docs)
        article = np.asarray(X @ self.coef_.T) + self.intercept_
        passage = self._best_passage(np.asarray(P @ self.coef_.T) + self.intercept_, offsets, article)
        proba = self._calibrate(np.stack([article, passage]))
        # Evidence ranking: each sentence scored alone, (n_sentences, n_types).
        support = np.asarray(self.tfidf_.transform(counts) @ self.coef_.T)
        taxonomy = [str(t) for t in self.classes_]
        results: list[Prediction] = []
        for i, doc in enumerate(sentence_docs):
            row = proba[i]
            scores = {t: round(float(p), 4) for t, p in zip(taxonomy, row, strict=True)}
            over = [j for j in np.argsort(-row, kind="stable") if row[j] >= self.thresholds_[j]]
            events = [
                EventPrediction(
                    taxonomy[j],
                    scores[taxonomy[j]],
                    _evidence(doc, support[offsets[i] : offsets[i + 1], j], max_evidence),
                )
                for j in over
            ]
            results.append(Prediction(events, scores))
        return results

    def evidence(
        self, docs: Documents, types: Sequence[Sequence[str]], *, max_evidence: int = 3
    ) -> list[dict[str, list[str]]]:
        """Evidence sentences for given types, whatever their scores.

        ``types[i]`` names the types wanted for ``docs[i]``; the sentences are
        the ones :meth:`classify` would quote if the type were predicted (used
        to train and evaluate what is read from the evidence, on annotated types).
        """
        check_is_fitted(self, "coef_")
        sentence_docs = [_as_sentences(d) for d in docs]
        counts, offsets = self._sentence_counts(sentence_docs)
        support = np.asarray(self.tfidf_.transform(counts) @ self.coef_.T)
        column = {str(t): j for j, t in enumerate(self.classes_)}
        return [
            {
                t: _evidence(doc, support[offsets[i] : offsets[i + 1], column[t]], max_evidence)
                for t in wanted
                if t in column
            }
            for i, (doc, wanted) in enumerate(zip(sentence_docs, types, strict=True))
        ]


def _evidence(sentences: list[str], support: np.ndarray, k: int) -> list[str]:
    """The best-supporting sentence, plus up to k-1 more with at least half its support."""
    if not sentences:
        return []
    order = np.argsort(-support, kind="stable")[:k]
    best = support[order[0]]
    chosen = [order[0]] + [i for i in order[1:] if support[i] > 0 and support[i] >= 0.5 * best]
    return [sentences[i] for i in chosen]

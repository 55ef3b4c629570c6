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
  and in a long story the article vector dilutes them. Four signals per
  type come out: the article's decision, the best passage's, the best
  passage of the lead (headline and first sentences, where news states its
  main event), and the best passage with no hedging word in it ("analysts
  expect", "talks", "two years ago"): the guide counts no event that is
  only speculated about, floated or recalled, and an earnings preview's
  figures otherwise read like results.
* A second look per type: another logistic regression rescores the type's
  best passage. It is trained only on the documents whose best passage looks
  like the type, so it learns what sets the reported event apart from the
  look-alikes (a domestic opening, a strike, a rumour, a sector statistic,
  an event recalled as background) instead of what sets the type apart from
  everything else.
* An interaction stage turns these signals for **every** type, plus the
  document's length, into each type's probability (one small logistic
  regression per type, fitted on out-of-fold signals). It reads the other
  types on the passage that makes the case for a type, which is how the
  labelling guide's "not this type" is learnt (a counterfeiting judgment is
  not also ``legal_regulatory``; a stake purchase is ``acquisition``, not
  ``partnership``), and it learns that the best of many passages in a long
  story is weaker evidence than the best of a few.
* Each type's threshold maximises F-beta on out-of-fold probabilities of the
  documents that look like real news (at least ``threshold_min_sentences``
  sentences: long articles and diluted copies), so they are set for long,
  multi-event stories rather than for short focused ones.
* Evidence: sentences ranked by the type's weights applied to their TF-IDF
  terms without length normalisation, so a sentence that names the parties
  and the deal outranks a short aside that only shares a keyword with it;
  among the strongest, the earliest is quoted first (news states the event,
  then adds details).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.utils.validation import check_is_fitted

from newsevents.model.features import SentenceNgramCounter, stem
from newsevents.model.sentences import split_sentences

Documents = Sequence["list[str] | str"]

#: Sentences per passage scored on their own (see the module docs).
PASSAGE_SENTENCES = 2
#: Passages at the start of a document that make up its lead (headline and first sentences).
LEAD_PASSAGES = 3
#: Signals per type fed to the interaction stage: article, best passage, best lead passage,
#: best passage without a hedging word.
N_SIGNALS = 4
#: Words that present an event as expected, floated or recalled rather than reported (the
#: guide's "speculated about by analysts ... floated as a vague intention", and background);
#: fit looks up their stems in the vocabulary.
HEDGE_WORDS = tuple(
    """expect expected expects expectations forecast forecasts estimate estimates analyst analysts
    could would might speculation rumour rumours rumor preview considering weighing exploring talks
    ago previously earlier""".split()
)
#: A type's second look (see the module docs) learns from the documents whose best passage
#: decision for it is above this: the ones that look like the type.
SECOND_LOOK_FLOOR = -1.0
#: The second look's decision where a document has no passage.
NO_PASSAGE = -10.0


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


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


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
        Folds used to produce out-of-fold signals for the interaction stage
        and out-of-fold probabilities for the thresholds.
    interactions : bool
        When True, each type's probability sees the signals of every type;
        when False, only its own (and the document length).
    second_look : bool
        When True, each type has a second model that rescores its best
        passage, trained only on the documents that look like the type.
    stack_C : float or sequence of float
        Inverse L2 regularisation strength of the interaction stage; given
        several, each type takes the one with the lowest out-of-fold log-loss
        (``stack_C_``).
    threshold_range : (float, float)
        Bounds for the tuned per-type thresholds (guards against extreme
        thresholds when a type has few positives).
    threshold_beta : float
        Thresholds maximise F-beta on out-of-fold probabilities; beta > 1
        weighs recall more than precision.
    threshold_min_sentences : int
        Only documents with at least this many sentences choose the
        thresholds (all documents when fewer than ``cv`` of a type's
        positives are that long).
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
        interactions: bool = True,
        second_look: bool = True,
        stack_C: float | Sequence[float] = (0.3, 1.0, 3.0, 10.0, 30.0),
        threshold_range: tuple[float, float] = (0.2, 0.8),
        threshold_beta: float = 1.0,
        threshold_min_sentences: int = 0,
        random_state: int = 0,
    ) -> None:
        self.taxonomy = taxonomy
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.C = C
        self.cv = cv
        self.interactions = interactions
        self.second_look = second_look
        self.stack_C = stack_C
        self.threshold_range = threshold_range
        self.threshold_beta = threshold_beta
        self.threshold_min_sentences = threshold_min_sentences
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
    def _max_by_document(values: np.ndarray, offsets: np.ndarray, fallback: np.ndarray, limit: int = 0) -> np.ndarray:
        """Per document and column, the highest row among its rows (its first ``limit`` when > 0).

        ``values`` is (n_rows, n_columns) with rows grouped by ``offsets``;
        documents with no rows get ``fallback`` (n_docs, n_columns).
        """
        lengths = np.diff(offsets)
        best = fallback.copy()
        nonempty = lengths > 0
        if not (nonempty.any() and len(values)):
            return best
        if limit > 0:
            # Rows past each document's limit are masked by its first row, which never wins a max it is part of.
            start = np.repeat(offsets[:-1], lengths)
            values = np.where(((np.arange(len(values)) - start) < limit)[:, None], values, values[start])
        best[nonempty] = np.maximum.reduceat(values, offsets[:-1][nonempty], axis=0)
        return best

    @staticmethod
    def _first_row_at(values: np.ndarray, maxima: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Per document and column, the first row holding its maximum (-1 for documents with no rows)."""
        lengths = np.diff(offsets)
        where = np.full(maxima.shape, -1)
        nonempty = lengths > 0
        if not (nonempty.any() and len(values)):
            return where
        index = np.arange(len(values))
        at_max = values == maxima[np.repeat(np.arange(len(lengths)), lengths)]
        where[nonempty] = np.minimum.reduceat(
            np.where(at_max, index[:, None], len(values)), offsets[:-1][nonempty], axis=0
        )
        return where

    def _signals(self, X, P, offsets, coef, intercept) -> tuple[np.ndarray, np.ndarray]:
        """What the interaction stage reads, and where each type's best passage is.

        Returns signals (n_docs, n_types, N_SIGNALS + 2 * n_types) and the
        row of P holding each type's best passage (n_docs, n_types; -1 for
        empty documents). For type j: its article, best-passage and
        best-lead-passage decisions and its best passage among those with no
        hedging word (the weakest when all have one); then, for every type k, k's
        probability-like score (sigmoid of its decision) on j's best passage;
        then j's best passage among those where k is not indicated. Reading
        the other types passage by passage is how a counterfeiting judgment
        stops counting as a lawsuit, or a stake purchase as a partnership (the
        labelling guide's "not this type"), while a long story that reports
        both events in different paragraphs keeps both.
        """
        article = np.asarray(X @ coef.T) + intercept
        passages = np.asarray(P @ coef.T) + intercept
        best = self._max_by_document(passages, offsets, article)
        where = self._first_row_at(passages, best, offsets)
        lead = self._max_by_document(passages, offsets, article, limit=LEAD_PASSAGES)
        weakest = -self._max_by_document(-passages, offsets, -article)
        hedged = P[:, self.hedge_columns_].getnnz(axis=1) > 0
        plain = self._max_by_document(np.where(hedged[:, None], -np.inf, passages), offsets, article)
        plain = np.where(np.isfinite(plain), plain, weakest)
        n_docs, n_types = article.shape
        aligned = np.zeros((n_docs, n_types, n_types))
        found = where >= 0
        aligned[found] = _sigmoid(passages[where[found]])
        # exclusive[d, j, k]: j's best passage among those where k is not indicated
        # (its weakest passage when there is none); all (j, k) in one pass.
        masked = np.where((passages <= 0)[:, None, :], passages[:, :, None], -np.inf).reshape(len(passages), -1)
        top = self._max_by_document(masked, offsets, np.repeat(article, n_types, axis=1)).reshape(
            n_docs, n_types, n_types
        )
        exclusive = np.where(np.isfinite(top), top, weakest[:, :, None])
        return np.concatenate([np.stack([article, best, lead, plain], axis=2), aligned, exclusive], axis=2), where

    @staticmethod
    def _second_look(P, where, coef, intercept) -> np.ndarray:
        """Each type's second-look decision on its best passage, (n_docs, n_types)."""
        out = np.full(where.shape, NO_PASSAGE)
        for j in range(where.shape[1]):
            found = where[:, j] >= 0
            if found.any():
                out[found, j] = np.asarray(P[where[found, j]] @ coef[j]).ravel() + intercept[j]
        return out

    def _all_signals(self, X, P, offsets) -> np.ndarray:
        """The fitted model's interaction-stage inputs for new documents (see :meth:`_signals`)."""
        signals, where = self._signals(X, P, offsets, self.coef_, self.intercept_)
        if not self.second_look:
            return signals
        looks = self._second_look(P, where, self.second_coef_, self.second_intercept_)
        return self._with_second_look(signals, looks)

    @staticmethod
    def _with_second_look(signals: np.ndarray, looks: np.ndarray) -> np.ndarray:
        """The second look goes after a type's own decisions (see :meth:`_own_columns`)."""
        return np.concatenate([signals[:, :, :N_SIGNALS], looks[:, :, None], signals[:, :, N_SIGNALS:]], axis=2)

    @staticmethod
    def _stack_features(signals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Interaction-stage inputs: the signals and log(1 + sentences), (n_docs, n_types, n_features)."""
        n_docs, n_types, _ = signals.shape
        length = np.broadcast_to(np.log1p(np.diff(offsets)).reshape(-1, 1, 1), (n_docs, n_types, 1))
        return np.concatenate([signals, length], axis=2)

    def _own_columns(self, n_features: int) -> np.ndarray:
        """Interaction-stage columns a type may use: all, or only its own decisions and the length."""
        if self.interactions:
            return np.arange(n_features)
        return np.r_[np.arange(N_SIGNALS + int(self.second_look)), n_features - 1]

    # -- fitting ------------------------------------------------------------
    def fit(self, docs: Documents, Y, groups=None) -> EventClassifier:
        """Fit on documents and a binary label matrix.

        Parameters
        ----------
        docs : sequence of (list of str or str), length n_samples
        Y : array-like of shape (n_samples, n_types), values 0/1
        groups : array-like of shape (n_samples,), optional
            Documents sharing a group stay in the same fold of the internal
            cross-validation (augmented copies made from the same articles,
            so out-of-fold scores never come from a model that saw their text).

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
        if groups is not None and len(groups) != len(docs):
            raise ValueError(f"groups must have one entry per document ({len(docs)}), got {len(groups)}")
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
        vocabulary = self.vectorizer_.vocabulary_
        self.hedge_columns_ = np.array(
            sorted({vocabulary[w] for w in map(stem, HEDGE_WORDS) if w in vocabulary}), dtype=int
        )
        counts, offsets = self._sentence_counts(sentence_docs)
        doc_counts = self._sum_by_document(counts, offsets)
        self.tfidf_ = TfidfTransformer(sublinear_tf=True).fit(doc_counts)
        passage_counts = self._passages(counts, offsets)
        X = self.tfidf_.transform(doc_counts)

        folds = self._folds(Y, groups)
        signals = self._out_of_fold_signals(X, doc_counts, passage_counts, offsets, Y, folds)
        features = self._stack_features(signals, offsets)
        n_types = len(taxonomy)
        columns = self._own_columns(features.shape[2])
        self.stack_coef_ = np.zeros((n_types, features.shape[2]))
        self.stack_intercept_ = np.zeros(n_types)
        self.stack_C_ = np.zeros(n_types)
        self.oof_scores_ = np.zeros(Y.shape, dtype=np.float64)
        candidates = np.atleast_1d(np.asarray(self.stack_C, dtype=np.float64))
        for j in range(n_types):
            F, y = features[:, j][:, columns], Y[:, j]
            best_loss = np.inf
            for c in candidates:
                oof = np.zeros(len(y))
                for train, test in folds:
                    oof[test] = self._new_stack(c).fit(F[train], y[train]).predict_proba(F[test])[:, 1]
                loss = log_loss(y, oof, labels=[0, 1])
                if loss < best_loss - 1e-9:
                    best_loss, self.stack_C_[j], self.oof_scores_[:, j] = loss, c, oof
            stage = self._new_stack(self.stack_C_[j]).fit(F, y)
            self.stack_coef_[j, columns] = stage.coef_[0]
            self.stack_intercept_[j] = stage.intercept_[0]

        rows = self.threshold_rows(np.diff(offsets), Y)
        self.thresholds_ = np.zeros(n_types)
        for j in range(n_types):
            self.thresholds_[j] = _best_threshold(
                Y[rows[:, j], j], self.oof_scores_[rows[:, j], j], *self.threshold_range, beta=self.threshold_beta
            )

        return self

    def threshold_rows(self, lengths: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The training documents each type's threshold is tuned on, shape (n_docs, n_types):
        those of at least ``threshold_min_sentences`` sentences (``lengths``), or all of
        them for a type with fewer than ``cv`` positives that long."""
        long_enough = np.asarray(lengths) >= self.threshold_min_sentences
        rows = np.repeat(long_enough[:, None], Y.shape[1], axis=1)
        rows[:, Y[long_enough].sum(axis=0) < self.cv] = True
        return rows

    def _new_lr(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight="balanced", solver="liblinear", max_iter=1000)

    @staticmethod
    def _new_stack(C: float) -> LogisticRegression:
        return LogisticRegression(C=float(C), max_iter=2000)

    def _folds(self, Y: np.ndarray, groups) -> list[tuple[np.ndarray, np.ndarray]]:
        """One split for all types, stratified on each document's rarest type (or none)."""
        frequency = Y.sum(axis=0)
        rarest = np.where(Y.any(axis=1), np.argmin(np.where(Y == 1, frequency, np.inf), axis=1), -1)
        groups = np.arange(len(Y)) if groups is None else np.asarray(groups)
        splitter = StratifiedGroupKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(len(Y)), rarest, groups))

    def _out_of_fold_signals(self, X, doc_counts, passage_counts, offsets, Y, folds) -> np.ndarray:
        """Signals of fold models on the documents they did not see; sets the final weights.

        Returns the interaction stage's inputs for every document (see
        :meth:`_signals`, plus the second look). The final weights (``coef_``,
        ``second_coef_``...) are the mean of the fold models': the interaction
        stage and the thresholds are then fitted on signals from models exactly
        as strong as the one that scores new text (a refit on all documents is
        more confident than its folds, and its thresholds come out too low).

        A held-out document is scored as a new one would be: the terms that
        only it (or its fold) uses are dropped before normalising, as words
        outside the vocabulary are at prediction time. Otherwise its own
        names, which the vocabulary keeps but no fold model has weights for,
        dilute its vector and its scores come out lower than on new text.
        """
        n_docs, n_types, n_features = X.shape[0], Y.shape[1], X.shape[1]
        signals = np.zeros((n_docs, n_types, N_SIGNALS + 2 * n_types))
        where = np.full((n_docs, n_types), -1)  # rows of the best passages, in the full passage matrix
        lengths = np.diff(offsets)
        self.coef_, self.intercept_ = np.zeros((n_types, n_features)), np.zeros(n_types)
        held_out = []
        for train, test in folds:
            coef, intercept = np.zeros((n_types, n_features)), np.zeros(n_types)
            for j in range(n_types):
                lr = self._new_lr().fit(X[train], Y[train, j])
                coef[j], intercept[j] = lr.coef_[0], lr.intercept_[0]
            self.coef_ += coef / len(folds)
            self.intercept_ += intercept / len(folds)
            known = sp.diags((doc_counts[train].getnnz(axis=0) > 0).astype(doc_counts.dtype))
            rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in test])
            test_offsets = np.concatenate([[0], np.cumsum(lengths[test])])
            X_test = self.tfidf_.transform(doc_counts[test] @ known)
            P_test = self.tfidf_.transform(passage_counts[rows] @ known)
            signals[test], local = self._signals(X_test, P_test, test_offsets, coef, intercept)
            where[test] = np.where(local >= 0, rows[np.maximum(local, 0)], -1)
            held_out.append((P_test, local))
        if not self.second_look:
            return signals
        # The second look of type j learns, from the best passages of the
        # training documents that look like j, which of them report the event:
        # the cues that set a domestic opening, a strike or a rumour apart.
        P = self.tfidf_.transform(passage_counts)
        looks = np.full((n_docs, n_types), NO_PASSAGE)
        self.second_coef_, self.second_intercept_ = np.zeros((n_types, n_features)), np.zeros(n_types)
        for (train, test), (P_test, local) in zip(folds, held_out, strict=True):
            for j in range(n_types):
                candidates = train[(signals[train, j, 1] > SECOND_LOOK_FLOOR) & (where[train, j] >= 0)]
                y = Y[candidates, j]
                if y.min(initial=1) == y.max(initial=0):
                    continue  # nothing to tell apart in this fold
                lr = self._new_lr().fit(P[where[candidates, j]], y)
                self.second_coef_[j] += lr.coef_[0] / len(folds)
                self.second_intercept_[j] += lr.intercept_[0] / len(folds)
                found = local[:, j] >= 0  # the held-out best passages, as rows of P_test
                looks[test[found], j] = np.asarray(P_test[local[found, j]] @ lr.coef_[0]).ravel() + lr.intercept_[0]
        return self._with_second_look(signals, looks)

    # -- prediction ---------------------------------------------------------
    def _proba(self, signals: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        features = self._stack_features(signals, offsets)
        return _sigmoid(np.einsum("dtf,tf->dt", features, self.stack_coef_) + self.stack_intercept_)

    def decision_function(self, docs: Documents) -> np.ndarray:
        """Calibrated log-odds, shape (n_samples, n_types)."""
        p = np.clip(self.predict_proba(docs), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    def predict_proba(self, docs: Documents) -> np.ndarray:
        """Calibrated scores in [0, 1], shape (n_samples, n_types)."""
        check_is_fitted(self, "coef_")
        X, P, _, offsets = self._features(docs)
        return self._proba(self._all_signals(X, P, offsets), offsets)

    def predict(self, docs: Documents) -> np.ndarray:
        """Binary predictions at the tuned thresholds, shape (n_samples, n_types)."""
        return (self.predict_proba(docs) >= self.thresholds_).astype(np.int8)

    def _support(self, counts: sp.csr_matrix) -> np.ndarray:
        """Each sentence's evidence for each type, (n_sentences, n_types).

        The type's weights applied to the sentence's sublinear TF-IDF terms,
        not length-normalised: under L2 normalisation a short aside that
        shares one keyword with the event ("The deal is subject to approval")
        outranks the sentence that tells it with names and terms.
        """
        weighted = counts.astype(np.float64)  # a copy: the counts also serve the scores
        weighted.data = (1.0 + np.log(weighted.data)) * self.tfidf_.idf_[weighted.indices]
        return np.asarray(weighted @ self.coef_.T)

    def classify(self, docs: Documents, *, max_evidence: int = 3) -> list[Prediction]:
        """Scores, events over threshold and evidence sentences for each document.

        One vectoriser pass serves both the scores and the evidence: a
        sentence's support for a type is the type's linear score of that
        sentence alone.
        """
        check_is_fitted(self, "coef_")
        sentence_docs = [_as_sentences(d) for d in docs]
        X, P, counts, offsets = self._features(sentence_docs)
        proba = self._proba(self._all_signals(X, P, offsets), offsets)
        support = self._support(counts)
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
        support = self._support(counts)
        column = {str(t): j for j, t in enumerate(self.classes_)}
        return [
            {
                t: _evidence(doc, support[offsets[i] : offsets[i + 1], column[t]], max_evidence)
                for t in wanted
                if t in column
            }
            for i, (doc, wanted) in enumerate(zip(sentence_docs, types, strict=True))
        ]


#: A sentence this close to the best support, earlier in the article, is quoted first.
EARLIER_SHARE = 0.8


def _evidence(sentences: list[str], support: np.ndarray, k: int) -> list[str]:
    """Up to k sentences: the one that states the event, then others with at least half the best support.

    The first is the earliest sentence with at least ``EARLIER_SHARE`` of the
    best support: news states an event first and adds details after ("The
    deal is subject to approval..."), which can score as high.
    """
    if not sentences:
        return []
    order = np.argsort(-support, kind="stable")
    best = support[order[0]]
    first = int(np.flatnonzero(support >= EARLIER_SHARE * best)[0]) if best > 0 else int(order[0])
    rest = [int(i) for i in order[:k] if i != first and support[i] > 0 and support[i] >= 0.5 * best]
    return [sentences[i] for i in [first, *rest][:k]]

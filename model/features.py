"""Word and word-pair counts per sentence, fast.

Words are reduced to a crude stem (``acquired``, ``acquires`` and ``acquire``
all count as ``acquir``; ``counterfeiters`` and ``counterfeiting`` as
``counterfeit``), so the few hundred examples of a type teach every form of
its words.

scikit-learn's ``CountVectorizer`` builds every n-gram as a Python string and
looks it up in a dict, which is most of the classifier's cost. Here only words
are looked up (one dict access per token); a word pair is encoded as
``first_id * n_words + second_id`` and matched against the sorted codes of the
kept pairs with NumPy, so pairs cost no Python work per token.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise, repeat

import numpy as np
import scipy.sparse as sp

_TOKEN = re.compile(r"\w+")
_TOKEN_OR_BREAK = re.compile(r"\w+|\n")
# The id of a sentence break in the flat token stream of transform().
_BREAK = -3
_DIGITS = re.compile(r"\d+")
_SUFFIXES = ("ingly", "edly", "ments", "ment", "ings", "ing", "ers", "ies", "ied", "er", "ed", "es", "s")
_SIBILANT_ES = ("ches", "shes", "sses", "xes", "zes")


# Month and weekday names are one term each, as numbers are: "in April" and
# "in October" both date an event (often a recalled one), "on Monday" and "on
# Thursday" both place it in this week's news, and the corpus cannot teach
# every name separately. "may" and "march" are left alone: mostly not dates.
_WORD_CLASS = dict.fromkeys(
    ("january", "february", "april", "june", "july", "august", "september", "october", "november", "december"),
    "month_",
) | dict.fromkeys(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), "weekday_")


def stem(word: str) -> str:
    """Strip one common English suffix, then a final e, keeping 4+ letters.

    ``store``, ``stores`` and ``stored`` all become ``stor``; ``launches`` and
    ``launched`` become ``launch``; ``companies`` becomes ``company``. Month
    and weekday names become ``month_`` and ``weekday_``.
    """
    if word in _WORD_CLASS:
        return _WORD_CLASS[word]
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if not word.endswith(suffix) or len(word) - len(suffix) < 4:
            continue
        if suffix == "es" and not word.endswith(_SIBILANT_ES):
            suffix = "s"  # "stores" -> "store", not "stor" + "es"
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            break
        word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
        break
    return word[:-1] if word.endswith("e") and len(word) >= 5 else word


def _batch_text(sentences: Sequence[str]) -> str:
    # One lower() and one digit substitution serve the whole batch, sentences
    # joined by newlines (a newline inside one becomes a space). Numbers
    # become "0": amounts and years vary endlessly, their presence is the signal.
    return _DIGITS.sub("0", "\n".join(s.replace("\n", " ") for s in sentences).lower())


def _token_lists(sentences: Sequence[str]) -> list[list[str]]:
    if not sentences:
        return []
    findall = _TOKEN.findall
    return [findall(part) for part in _batch_text(sentences).split("\n")]


class SentenceNgramCounter:
    """Counts of words (and word pairs) in each sentence.

    Parameters
    ----------
    ngram_range : (1, 1) or (1, 2)
        Words only, or words and adjacent word pairs.
    min_df : int
        A word or pair is kept when it occurs in at least this many sentences.
    """

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), min_df: int = 2) -> None:
        if tuple(ngram_range) not in ((1, 1), (1, 2)):
            raise ValueError(f"ngram_range must be (1, 1) or (1, 2), got {ngram_range}")
        self.ngram_range = tuple(ngram_range)
        self.min_df = min_df

    def fit(self, sentences: Sequence[str]) -> SentenceNgramCounter:
        tokens = [[stem(t) for t in toks] for toks in _token_lists(sentences)]
        word_df = Counter(w for toks in tokens for w in set(toks))
        words = sorted(w for w, n in word_df.items() if n >= self.min_df)
        self.vocabulary_ = {w: i for i, w in enumerate(words)}
        # Surface forms seen in training map straight to their stem's id, so
        # the common case costs one dict lookup and no stemming.
        self.surface_: dict[str, int] = {}
        for toks in _token_lists(sentences):
            for t in toks:
                if t not in self.surface_:
                    self.surface_[t] = self.vocabulary_.get(stem(t), -1)
        self.surface_["\n"] = _BREAK
        n_words = len(words)
        pair_codes = np.zeros(0, dtype=np.int64)
        if self.ngram_range == (1, 2):
            pair_df: Counter = Counter()
            for toks in tokens:
                ids = [self.vocabulary_.get(t, -1) for t in toks]
                pair_df.update({a * n_words + b for a, b in pairwise(ids) if a >= 0 and b >= 0})
            pair_codes = np.array(sorted(c for c, n in pair_df.items() if n >= self.min_df), dtype=np.int64)
        self.pair_codes_ = pair_codes
        self.n_words_ = n_words
        return self

    @property
    def n_features(self) -> int:
        return self.n_words_ + len(self.pair_codes_)

    def transform(self, sentences: Sequence[str]) -> sp.csr_matrix:
        """Count matrix of shape (n_sentences, n_features), float32."""
        n_rows = len(sentences)
        # One flat token stream with the sentence breaks in it: no list per sentence.
        flat = _TOKEN_OR_BREAK.findall(_batch_text(sentences)) if n_rows else []
        ids = np.fromiter(map(self.surface_.get, flat, repeat(-2)), dtype=np.int64, count=len(flat))
        for k in np.flatnonzero(ids == -2):  # forms never seen in training: stem them
            ids[k] = self.vocabulary_.get(stem(flat[k]), -1)
        breaks = ids == _BREAK
        rows = np.cumsum(breaks)[~breaks]
        ids = ids[~breaks]
        cols_parts, rows_parts = [ids[ids >= 0]], [rows[ids >= 0]]
        if len(self.pair_codes_) and len(ids) > 1:
            first, second = ids[:-1], ids[1:]
            same_sentence = rows[:-1] == rows[1:]
            ok = same_sentence & (first >= 0) & (second >= 0)
            codes = first[ok] * self.n_words_ + second[ok]
            pos = np.searchsorted(self.pair_codes_, codes)
            pos[pos == len(self.pair_codes_)] = 0
            found = self.pair_codes_[pos] == codes
            cols_parts.append(self.n_words_ + pos[found])
            rows_parts.append(rows[:-1][ok][found])
        cols = np.concatenate(cols_parts)
        rows = np.concatenate(rows_parts)
        matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(n_rows, self.n_features))
        matrix.sum_duplicates()
        return matrix

"""Companies and markets: who an article names, who takes part in each event, and where.

:class:`CompanyExtractor` is a scikit-learn style estimator in three stages,
each a gradient-boosted tree model over features of candidates found in the
text, trained on annotated articles:

1. **Organisations.** Every capitalised sequence of a sentence (connectors
   such as "&", "of", "de" may join words), its parts split at "and" and at
   possessives ("Alibaba's Tmall platform" gives "Alibaba's Tmall", "Alibaba"
   and "Tmall"), and those parts without leading or trailing ordinary words
   ("Chairman", "Launches") are candidate names. Only the first sentences and
   the evidence sentences are read (``max_sentences``). A candidate is one
   distinct name per article; its features
   summarise all its mentions: counts, position, sentence starts, possessives,
   legal suffixes, acronyms, how many of its words are ordinary lower-case
   words, whether it is a country, city or demonym, whether its first or last
   word also stands alone (short forms of companies keep the first word,
   people the last), and the words around it (target-encoded: "said" after a
   person, "in" before a place, "with" before a partner). Names judged to be
   organisations are grouped (a name containing a more probable one is
   dropped; a short form joins the full name written before it; an acronym
   joins the name it abbreviates) and ranked by salience.
2. **Event involvement.** Each (event, organisation) pair is scored from the
   event's evidence sentences: whether and where the organisation appears
   there, the words around it for this event type ("acquisition|buy"), and its
   salience in the article. The event lists those over the threshold, most
   likely first.
3. **Markets** (``market_expansion`` only). Countries and regions mentioned
   by name, demonym ("its first Japanese store") or city are scored the same
   way; the words around them tell a destination ("into Mexico") from a home
   country ("Madrid-based", "Spain's"). The most specific places win: a
   region goes when a country in it is chosen.

The fitted state is plain scikit-learn estimators, numpy arrays, dicts, lists
and numbers, so it is stored with ``skops`` inside the model artifact
(:mod:`newsevents.model.artifact`).
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import gc
import itertools
import math
import operator
import re
import threading
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import TargetEncoder
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import ThreadpoolController, threadpool_limits

from newsevents.model.places import CITY, DEMONYM, NAME, Place, place_index, region_members

#: Most companies listed for an article, and for one event.
MAX_COMPANIES = 10
MAX_EVENT_COMPANIES = 5
#: Documents processed together inside one ``extract`` call.
EXTRACT_CHUNK = 512
#: The event type whose events carry markets.
MARKET_EVENT = "market_expansion"


# -- names ----------------------------------------------------------------

#: Legal-form suffixes dropped from names ("Velkamp Logistics Ltd" -> "Velkamp Logistics").
LEGAL_SUFFIXES = frozenset(
    """
    inc incorporated corp ltd limited llc plc gmbh ag sa s.a nv n.v bv b.v co spa s.p.a srl sas
    ab asa oyj as a/s pty pte bhd tbk kk k.k sab cv de lp llp pvt jsc pjsc sae
    """.split()
)
_LEGAL_TAIL = re.compile(
    r"(?:[\s,]+(?:" + "|".join(re.escape(s) for s in sorted(LEGAL_SUFFIXES, key=len, reverse=True)) + r")\.?)+$",
    re.IGNORECASE,
)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'"})


def name_key(name: str) -> str:
    """A name as compared: case-folded, without possessive ``'s``, legal suffix or leading "the".

    >>> name_key("Velkamp Logistics Ltd.'s")
    'velkamp logistics'
    """
    last = name[name.rfind(" ") + 1 :]
    if (
        "'" not in name
        and "’" not in name
        and "  " not in name
        and name[:1].isalnum()
        and name[-1:].isalnum()
        and last.lower() not in LEGAL_SUFFIXES
        and name[:4].lower() != "the "
    ):
        return name.casefold()  # the common case, without the steps below
    key = " ".join(name.translate(_APOSTROPHES).split()).strip(" .,;:")
    if key.endswith("'s"):
        key = key[:-2]
    stripped = _LEGAL_TAIL.sub("", key)
    key = stripped if stripped.strip() else key
    key = key.casefold().strip(" .,;:")
    return key[4:] if key.startswith("the ") else key


# -- scanning text ----------------------------------------------------------

_UPPER = "".join(
    chr(c) for c in range(0x41, 0x2000) if chr(c).isupper() or chr(c).istitle()
)  # every capital of the Latin, Greek and Cyrillic blocks
_TOKEN = re.compile(
    # The lookaheads let the engine skip lower-case words at once.
    rf"(?<!\w)(?=[{_UPPER}\d]|[a-z]+[{_UPPER}])"
    rf"(?:[{_UPPER}](?:\.[{_UPPER}])+\.?"  # U.S., U.A.E.
    rf"|\d+-?[{_UPPER}]\w*"  # 7-Eleven
    rf"|[a-z]+[{_UPPER}]\w*"  # eBay
    rf"|[{_UPPER}]\w*)"
    rf"(?:[-.+&/][{_UPPER}0-9]\w*|['’](?![sS]\b)\w+)*"  # Coca-Cola, H&M, O'Neill, not a possessive 's
)
_CONNECTORS = frozenset("& and of for de del della di da du des la le el y van von der den".split())
# A capitalised sequence: words joined by spaces, a connector, or a possessive
# ("Hartley's Bakeries", "Alibaba's Tmall": the parts are candidates too).
_RUN = re.compile(rf"{_TOKEN.pattern}(?:(?:['’]s)? +(?:(?:{'|'.join(sorted(_CONNECTORS))}) +)?{_TOKEN.pattern})*")
# Where a sequence also splits into candidates: "Coach and Kate Spade", "Alibaba's Tmall".
_SPLIT = re.compile(r"['’]s +| +and +")
# Role abbreviations written inside a capitalised sequence ("Heinemark CEO Stefan Albrecht").
_ROLES = frozenset("CEO CFO COO CTO CMO CIO MD".split())
_OPENERS = " \"'“‘("
_DIGIT = re.compile(r"\d")
_PUNCTUATION = ".,;:!?()[]\"'“”‘’«»—–"
# Days and months are capitalised but never organisations; neither are
# countries, regions and their demonyms (cities can be: "Albacete").
_CALENDAR = frozenset(
    [*calendar.day_name, *calendar.day_abbr, *calendar.month_name[1:], *calendar.month_abbr[1:], "Sept"]
)


@dataclass(slots=True)
class _Name:
    """One surface form of a name and what depends on its text alone: its key,
    whether it can be an organisation at all, and (once it is scored, see
    :meth:`_Reader.describe`) its text features."""

    key: str
    text: str
    words: tuple[str, ...]  # lower-cased
    skip: bool  # never an organisation (a country, a month): no row
    legal: bool  # written with a legal suffix
    ordinary: bool = False  # a single ordinary word: no candidate when it only starts sentences
    head: str = ""  # first and last words, connectors aside
    tail: str = ""
    multi: bool = False  # more than one word, connectors aside
    static: tuple[float, ...] = ()  # text features; empty until described
    display: str = ""  # as output (see _display); empty until needed


# One mention of a name: sentence, start, previous word, next word, whether it
# is a whole capitalised sequence, whether it starts the sentence, the form
# written. A candidate is one distinct name of a document (its key) with its
# mentions in order; the first mention's form names it.
_Mention = tuple[int, int, str, str, bool, bool, "_Name"]


@dataclass(slots=True)
class _PlaceMention:
    place: Place
    sentence: int
    start: int
    prev: str
    next: str


@dataclass(slots=True)
class _Scan:
    n_sentences: int
    candidates: dict[str, list[_Mention]]  # names that can be organisations -> their mentions
    skipped: dict[str, int]  # names that cannot -> mentions as a whole capitalised sequence
    places: list[_PlaceMention]
    titlecase: list[bool]  # per sentence: most words capitalised (a headline), so capitals say little


# One candidate inside a capitalised sequence: its offset in the sequence; the
# previous and next words when the sequence fixes them ("and", "'s"; None: the
# words around the sequence); whole sequence or part; whether it starts where
# the sequence starts; the place it mentions; its name (None: not a name).
_Part = tuple[int, str | None, str | None, bool, bool, Place | None, _Name | None]
# A capitalised sequence: its number of words, whether it is a single
# ordinary word, its parts.
_RunInfo = tuple[int, bool, tuple[_Part, ...]]


class _Reader:
    """Capitalised sequences and names, each worked out once per distinct text
    (:meth:`run`, :meth:`name`): they recur from article to article ("The",
    "Tuesday", "China", the companies of the day); only the words around them
    are read anew. Each memo holds at most ``size`` texts and starts again when full.
    """

    def __init__(self, lexicon: Mapping[str, int], size: int = 20_000) -> None:
        self.lexicon = lexicon
        self.size = size
        self.runs: dict[str, _RunInfo] = {}
        self.names: dict[str, _Name | None] = {}

    def run(self, text: str) -> _RunInfo:
        """The candidates of a capitalised sequence: the sequence; its parts
        split at "and" and at possessives; and those parts without leading
        ordinary words ("Currently", "Chairman") or trailing ones ("Launches")."""
        if len(self.runs) >= self.size:
            self.runs.clear()
        common = self.lexicon.get
        index = place_index()
        spaces = text.count(" ")
        # (offset, text, prev, next, whole, starts where the sequence starts)
        spans: list[tuple[int, str, str | None, str | None, bool, bool]] = [(0, text, None, None, True, True)]
        if spaces and (" and " in text or "s " in text):
            offset, joined = 0, None
            for sep in _SPLIT.finditer(text):
                joiner = "and" if sep.group().strip() == "and" else "'s"
                spans.append((offset, text[offset : sep.start()], joined, joiner, False, not offset))
                offset, joined = sep.end(), joiner
            if offset:
                spans.append((offset, text[offset:], joined, None, False, False))
        parts: list[_Part] = [
            (offset, prev, nxt, whole, first, index.get(_place_form(part)), self.name(part))
            for offset, part, prev, nxt, whole, first in spans
        ]
        for offset, part, prev, nxt, _, first in spans if spaces else ():
            # "Netherlands" in "The Netherlands" is a place; "Jersey" in "New Jersey" is not.
            in_place = part in index
            variants: list[tuple[int, str, str | None, str | None, bool]] = []
            last = part[part.rfind(" ") + 1 :]
            if common(last.lower(), 0) >= COMMON and " " in part:
                words = part.split(" ")
                k = len(words) - 1
                while k > 1 and common(words[k - 1].lower(), 0) >= COMMON:
                    k -= 1
                variants.append((offset, " ".join(words[:k]), prev, words[k].lower(), first))
            lead = part.split(" ", 1)[0]
            if lead in _ROLES or common(lead.lower(), 0) >= COMMON:
                words = part.split(" ")
                k = 1
                while k < len(words) - 1 and (words[k] in _ROLES or common(words[k].lower(), 0) >= COMMON):
                    k += 1
                if k < len(words):
                    rest = " ".join(words[k:])
                    variants.append((offset + len(part) - len(rest), rest, words[k - 1].lower(), nxt, False))
            for v_offset, v_text, v_prev, v_next, v_first in variants:
                place = None if in_place else index.get(_place_form(v_text))
                parts.append((v_offset, v_prev, v_next, False, v_first, place, self.name(v_text)))
        info = (spaces + 1, not spaces and common(text.lower(), 0) >= COMMON, tuple(parts))
        self.runs[text] = info
        return info

    def name(self, text: str) -> _Name | None:
        """What ``text`` is as a name, or None when it is none (a legal suffix or connector alone)."""
        if text in self.names:
            return self.names[text]
        if len(self.names) >= self.size:
            self.names.clear()
        key = name_key(text)
        name = None
        if key and key not in LEGAL_SUFFIXES and key not in _CONNECTORS:
            place = place_index().get(_place_form(text))
            name = _Name(
                key,
                text,
                tuple(key.split()),
                skip=len(key) == 1 or text in _CALENDAR or (place is not None and place.kind != CITY),
                legal=len(key) < len(text.rstrip(" .")) - 2,
            )
        self.names[text] = name
        return name

    def describe(self, name: _Name) -> tuple[float, ...]:
        """The text features of a name about to be scored (worked out once per name)."""
        if name.static:
            return name.static
        lexicon, index, text, words = self.lexicon, place_index(), name.text, name.words
        content = [w for w in words if w not in _CONNECTORS] or list(words) if len(words) > 1 else words
        head, tail = content[0], content[-1]
        common_head, common_tail = lexicon.get(head, 0), lexicon.get(tail, 0)
        place = index.get(text)
        if len(content) == 1:
            share = float(common_head >= COMMON)
            placed = place is not None
        else:
            share = sum(lexicon.get(w, 0) >= COMMON for w in content) / len(content)
            placed = place is not None or any(w.title() in index for w in content)
        name.ordinary = len(words) == 1 and common_head >= COMMON
        name.head, name.tail, name.multi = head, tail, len(content) > 1
        name.static = (
            len(content),
            len(name.key),
            float("'s " in text or "’s " in text),
            float(len(text) <= 8 and text.replace(".", "").replace("&", "").isupper()),
            share,
            math.log1p(common_head),
            math.log1p(common_tail),
            _PLACE_KIND[place.kind] if place is not None else -1.0,
            float(placed),
            float(_DIGIT.search(text) is not None),
            float(len(content) < len(words)),
        )
        return name.static


def _word(text: str) -> str:
    if "’" in text:
        text = text.replace("’", "'")
    return text.lower().strip(_PUNCTUATION)


def _scan(
    sentences: Sequence[str], reader: _Reader, read: Sequence[int] | None = None, *, places: bool = True
) -> _Scan:
    """Candidate names and, when ``places``, place mentions of one document
    (the sentences ``read``, default all, in order)."""
    candidates: dict[str, list[_Mention]] = {}
    skipped: dict[str, int] = {}
    found: list[_PlaceMention] = []
    titlecase = [False] * len(sentences)
    runs = reader.runs
    for s in range(len(sentences)) if read is None else read:
        sentence = sentences[s]
        capitalised = 0
        for run in _RUN.finditer(sentence):
            text = run.group()
            n_words, ordinary, parts = runs.get(text) or reader.run(text)
            capitalised += n_words
            start, end = run.span()
            at_start = start == 0 or (start < 4 and not sentence[:start].strip(_OPENERS))
            if at_start and ordinary:
                continue  # an ordinary word that starts the sentence ("The", "Currently")
            around = None  # the words before and after the sequence, read when needed
            for offset, p_prev, p_next, whole, first, place, name in parts:
                if place is not None and places:
                    around = around or _around(sentence, start, end)
                    found.append(
                        _PlaceMention(
                            place,
                            s,
                            start + offset,
                            around[0] if p_prev is None else p_prev,
                            around[1] if p_next is None else p_next,
                        )
                    )
                if name is None:
                    continue
                key = name.key
                mentions = candidates.get(key)
                if mentions is None:
                    if key in skipped or name.skip:
                        skipped[key] = skipped.get(key, 0) + whole
                        continue
                    mentions = candidates[key] = []
                around = around or _around(sentence, start, end)
                mentions.append(
                    (
                        s,
                        start + offset,
                        around[0] if p_prev is None else p_prev,
                        around[1] if p_next is None else p_next,
                        whole,
                        at_start and first,
                        name,
                    )
                )
        words_in_sentence = sentence.count(" ") + 1
        titlecase[s] = words_in_sentence >= 4 and capitalised >= 0.6 * words_in_sentence
    return _Scan(len(sentences), candidates, skipped, found, titlecase)


def _around(sentence: str, start: int, end: int) -> tuple[str, str]:
    """The words before ``start`` and after ``end``: "<s>" at the start of the
    sentence, "</s>" at its end, "'s" for a possessive, "-based" for a hyphenated tail."""
    head = sentence[max(0, start - 30) : start].rstrip()
    prev = _word(head[head.rfind(" ") + 1 :]) if head else "<s>"
    tail = sentence[end : end + 30]
    if tail[:2] in ("'s", "’s"):
        return prev, "'s"
    if tail[:1] == "-":
        return prev, _word(tail.split(" ", 1)[0])
    word = tail.lstrip(_PUNCTUATION + " ").split(" ", 1)[0]
    return prev, _word(word) if word else "</s>"


def _place_form(text: str) -> str:
    """How a place is looked up: "LONDON" (a dateline) as "London", "UK" as is."""
    return text if len(text) <= 3 or not text.isupper() else text.title()


def _display(text: str) -> str:
    """A name for output: single spaces, no leading "The", no legal suffix."""
    text = " ".join(text.split())
    if text.startswith("The ") and len(text) > 4:
        text = text[4:]
    stripped = _LEGAL_TAIL.sub("", text).rstrip(" ,")
    return stripped or text


# -- features -------------------------------------------------------------

_LOWER_WORD = re.compile(r"(?<![\w'’-])[a-z][a-z'’-]*[a-z]\b")
_PLACE_KIND = {NAME: 0.0, DEMONYM: 1.0, CITY: 2.0}
#: A word written in lower case at least this often is an ordinary word.
COMMON = 5
_LOG2 = math.log(2)  # log1p(1): one sentence
# math.log1p of small counts. numpy's log1p can differ from math.log1p in the
# last bit, and the fitted trees were trained on math.log1p's values.
_LOG1P = np.array([math.log1p(i) for i in range(1024)])


def _log1p_counts(counts: np.ndarray) -> np.ndarray:
    """``math.log1p`` of each count (non-negative whole numbers), bit for bit."""
    if not counts.size or counts.max() < len(_LOG1P):
        return _LOG1P[counts.astype(np.intp)]
    return np.fromiter(map(math.log1p, counts.ravel().tolist()), np.float64, counts.size).reshape(counts.shape)


def common_words(texts: Sequence[str], *, min_count: int = 2) -> dict[str, int]:
    """Words written in lower case in ``texts`` -> how often (at least ``min_count``).

    A capitalised word that is usually lower case ("Currently", "Retail") is
    weak evidence of a name on its own.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w.replace("’", "'") for w in _LOWER_WORD.findall(text))
    return {w: c for w, c in counts.items() if c >= min_count}


def _org_rows(scan: _Scan, reader: _Reader, rows: _Rows, group: int) -> list[list[_Mention]]:
    """Add the candidates of one document worth scoring to ``rows`` and
    return their mentions, in the same order.

    Each row holds the counts :func:`_org_features` turns into features;
    each mention adds its context (previous word, next word, first word,
    last word). A single ordinary word found only at sentence starts
    ("Currently") is no candidate.
    """
    candidates, skipped = scan.candidates, scan.skipped

    def full(key: str) -> int:  # mentions of a name as a whole capitalised sequence
        ms = candidates.get(key)
        return sum(m[4] for m in ms) if ms is not None else skipped.get(key, 0)

    last = max(1, scan.n_sentences - 1)
    titlecase = scan.titlecase
    cands: list[list[_Mention]] = []
    numeric, contexts, owners = rows.numeric, rows.contexts, rows.owners
    assert isinstance(numeric, list)  # rows are added before they become an array
    describe = reader.describe
    for ms in candidates.values():
        first, _, prev, after, n_full, n_start, name = ms[0]
        static = name.static or describe(name)
        n = len(ms)
        if n == 1:  # most names: counts from the one mention
            if n_start and name.ordinary:
                continue
            counts: tuple[float, ...] = (
                first,
                1,
                n_full,
                n_start,
                after == "'s",
                name.legal,
                1,
                titlecase[first],
                first == 0,
            )
        else:
            starts = sum(m[5] for m in ms)
            if starts == n and name.ordinary:
                continue
            sentences = [m[0] for m in ms]
            counts = (
                first,
                n,
                sum(m[4] for m in ms),
                starts,
                sum(m[3] == "'s" for m in ms),
                any(m[6].legal for m in ms),
                len(set(sentences)),
                sum(titlecase[i] for i in sentences),
                sentences.count(0),
            )
        row = len(numeric)
        head, tail = name.head, name.tail
        if name.multi:
            numeric.append((*static, *counts, full(head), full(tail), last))
        else:
            numeric.append((*static, *counts, 0, 0, last))
        if n == 1:
            contexts.append((prev, after, head, tail))
            owners.append(row)
        else:
            contexts.extend([(m[2], m[3], head, tail) for m in ms])
            owners.extend([row] * n)
        cands.append(ms)
    rows.groups.extend([group] * len(cands))
    return cands


#: Values per row that :func:`_org_rows` adds: 11 text features, 11 counts, the last sentence read.
_ORG_COUNTS = 23


def _org_features(raw: np.ndarray) -> np.ndarray:
    """Features of organisation candidates from their :func:`_org_rows` counts, shape (n_rows, 25).

    Text features, mentions (log), whole-sequence mentions (log, share),
    first sentence (relative, headline, opening), sentences (log), shares of
    sentence starts and possessives, legal suffix, more text features,
    whole-sequence mentions of the first and last words alone (log), share of
    mentions in capitalised (headline-like) sentences, more text features,
    share of mentions in the headline.
    """
    static, first, n, n_full = raw[:, :11], raw[:, 11], raw[:, 12], raw[:, 13]
    out = np.empty((len(raw), 25))
    out[:, :2] = static[:, :2]
    out[:, 2] = _log1p_counts(n)
    out[:, 3] = _log1p_counts(n_full)
    out[:, 4] = n_full / n
    out[:, 5] = first / raw[:, 22]
    out[:, 6] = first == 0
    out[:, 7] = first < 3
    out[:, 8] = np.where(n == 1, _LOG2, _log1p_counts(raw[:, 17]))
    out[:, 9] = raw[:, 14] / n
    out[:, 10] = raw[:, 15] / n
    out[:, 11] = raw[:, 16]
    out[:, 12:19] = static[:, 2:9]
    out[:, 19:21] = _log1p_counts(raw[:, 20:22])
    out[:, 21] = raw[:, 18] / n
    out[:, 22:24] = static[:, 9:11]
    out[:, 24] = raw[:, 19] / n
    return out


@dataclass(slots=True)
class _Cluster:
    """One organisation of an article: its names (longest first), organisation
    probability of its best name, mentions ``(sentence, start, prev, next, ...)``."""

    name: str
    keys: list[str]
    score: float
    mentions: list[_Mention]
    first: tuple[int, int]
    root: list[str]  # words of the first name, without possessives
    salience: float = 0.0
    sentences: frozenset[int] = frozenset()  # where it is mentioned
    features: tuple[float, ...] = ()  # its features for every event (see _involvement_rows)


def _initials(words: Sequence[str]) -> str:
    return "".join(w[0] for w in words if w not in _CONNECTORS and w[:1].isalpha())


def _clusters(
    cands: Sequence[list[_Mention]], proba: Sequence[float], threshold: float, n_sentences: int
) -> list[_Cluster]:
    """Group the candidates judged organisations, most salient first.

    A name that contains a more probable one is not a name ("Perfumer Maison
    Ilan", "Tellwave and Brightline Mobile"). A short form joins the full name
    written before it in the story ("Northfield Roasters" ... "Northfield"),
    or anywhere when it is used before only in the headline; an acronym
    joins the name it abbreviates. Salience: named early (the headline or first
    sentence above all), often, and confidently.
    """
    chosen = [
        (ms[0][6], ms, p, min((m[0], m[1]) for m in ms) if len(ms) > 1 else ms[0][:2])
        for ms, p in zip(cands, proba, strict=True)
        if p >= threshold
    ]
    if len(chosen) > 1:
        padded = [(f" {name.key} ", p) for name, _, p, _ in chosen]
        chosen = [
            item
            for item, (outer, p) in zip(chosen, padded, strict=True)
            if not any(q >= p and inner != outer and inner in outer for inner, q in padded)
        ]
        chosen.sort(key=lambda item: (-len(item[0].words), item[3]))
    clusters: list[_Cluster] = []
    for name, ms, p, first in chosen:
        home = None
        words = list(name.words)
        n = len(words)
        # Headlines use short forms before the story gives the full name; elsewhere
        # a short form written before the full name is a name of its own.
        if len(ms) == 1:
            first_in_body = first if first[0] > 0 else (1 << 30, 0)
        else:
            first_in_body = min(((m[0], m[1]) for m in ms if m[0] > 0), default=(1 << 30, 0))
        for cluster in clusters:
            # Compared without possessives: "Pellham" is the short form of "Pellham's Market".
            root = cluster.root
            if len(root) <= n:
                continue
            if (root[:n] == words or root[-n:] == words) and cluster.first <= first_in_body:
                home = cluster
                break
            if n == 1 and name.text.isupper() and len(name.key) >= 2 and _initials(root) == name.key:
                home = cluster
                break
        if home is None:
            root = [w[:-2] if w.endswith("'s") else w for w in name.key.split(" ")]
            name.display = name.display or _display(name.text)
            clusters.append(_Cluster(name.display, [name.key], p, list(ms), first, root))
        else:
            home.keys.append(name.key)
            home.mentions.extend(ms)
            home.score = max(home.score, p)
    for cluster in clusters:
        if len(cluster.keys) > 1:  # a part of a longer name's mention is not a mention of its own
            unique: dict[tuple[int, int], _Mention] = {}
            for m in sorted(cluster.mentions, key=lambda m: (m[0], m[1], not m[4])):
                unique.setdefault((m[0], m[1]), m)
            cluster.mentions = list(unique.values())
        head = any(m[0] == 0 for m in cluster.mentions)
        cluster.salience = (
            cluster.score * (1.0 + 1.5 * head + 0.5 * (cluster.first[0] <= 1)) * math.log(2 + len(cluster.mentions))
        )
    clusters.sort(key=lambda c: -c.salience)
    last = max(1, n_sentences - 1)
    for k, cluster in enumerate(clusters):
        cluster.sentences = frozenset(m[0] for m in cluster.mentions)
        cluster.features = (
            cluster.score,
            float(k),
            float(len(clusters)),
            math.log1p(len(cluster.mentions)),
            float(0 in cluster.sentences),
            cluster.first[0] / last,
        )
    return clusters


class EventLike(Protocol):
    """An event as the classifier gives it (:class:`~newsevents.model.classifier.EventPrediction`)."""

    @property
    def type(self) -> str: ...

    @property
    def evidence(self) -> list[str]: ...


def _evidence_index(sentences: Sequence[str], evidence: Sequence[str]) -> list[int]:
    found = []
    for e in evidence:
        try:
            found.append(sentences.index(e))
        except ValueError:
            continue  # evidence from another text: nothing to locate
    return found


def _involvement_rows(
    event_type: str, evidence: list[int], clusters: Sequence[_Cluster], type_code: float
) -> tuple[list[list[float]], list[tuple[str, ...]], list[int]]:
    """Features of each (event, organisation) pair (organisations by salience),
    the context of its mentions in the evidence ("type|previous word",
    "type|next word"), and each context's pair row.

    Features: event type; the organisation's probability, rank, the number of
    organisations, its mentions (log), whether the headline names it; whether
    the first evidence sentence names it, its place among the organisations
    named there (9: absent), how many are named there; its mentions in the
    evidence (log), the share of evidence sentences naming it, whether the
    first of those starts a sentence; its first sentence (relative).
    """
    rows: list[list[float]] = []
    contexts: list[tuple[str, ...]] = []
    owners: list[int] = []
    lead = evidence[0] if evidence else -1
    named = set(evidence)
    in_lead = sorted(
        (min(m[1] for m in c.mentions if m[0] == lead), k) for k, c in enumerate(clusters) if lead in c.sentences
    )
    lead_rank = {k: float(r) for r, (_, k) in enumerate(in_lead)}
    n_lead = float(len(in_lead))
    spread = max(1, len(evidence))
    prefix = event_type + "|"
    absent = (prefix + "-", prefix + "-")
    for k, c in enumerate(clusters):
        score, rank, n, mentions, headline, position = c.features
        if named.isdisjoint(c.sentences):
            rows.append([type_code, score, rank, n, mentions, headline, 0.0, 9.0, n_lead, 0.0, 0.0, 0.0, position])
            contexts.append(absent)
            owners.append(k)
            continue
        found = [m for m in c.mentions if m[0] in named]
        rows.append(
            [
                type_code,
                score,
                rank,
                n,
                mentions,
                headline,
                float(k in lead_rank),
                lead_rank.get(k, 9.0),
                n_lead,
                math.log1p(len(found)),
                len({m[0] for m in found}) / spread,
                float(found[0][5]),
                position,
            ]
        )
        contexts.extend([(prefix + m[2], prefix + m[3]) for m in found])
        owners.extend([k] * len(found))
    return rows, contexts, owners


def _market_rows(
    evidence: list[int], places: Sequence[_PlaceMention], n_sentences: int
) -> tuple[list[str], list[list[float]], list[tuple[str, ...]], list[int]]:
    """Candidate markets of one market_expansion event, their features, the
    context of each mention (previous word, next word, kind|next word) and
    each context's candidate row."""
    by_name: dict[str, list[_PlaceMention]] = {}
    for p in places:
        by_name.setdefault(p.place.name, []).append(p)
    names = list(by_name)  # in order of first mention
    lead = evidence[0] if evidence else -1
    rows: list[list[float]] = []
    contexts: list[tuple[str, ...]] = []
    owners: list[int] = []
    for r, name in enumerate(names):
        ms = by_name[name]
        kinds = {p.place.kind for p in ms}
        in_ev = sum(p.sentence in evidence for p in ms)
        rows.append(
            [
                math.log1p(len(ms)),
                math.log1p(in_ev),
                float(any(p.sentence == lead for p in ms)),
                float(any(p.sentence == 0 for p in ms)),
                float(NAME in kinds),
                float(DEMONYM in kinds),
                float(CITY in kinds),
                float(ms[0].place.is_region),
                ms[0].sentence / max(1, n_sentences - 1),
                float(r),
                float(len(names)),
                # Where a company comes from: "Madrid-based", "Spain's", a dateline or a headline's first word.
                float(sum(p.next[:1] == "-" or p.next == "'s" for p in ms)),
                float(sum(p.prev == "<s>" for p in ms)),
            ]
        )
        for p in ms:
            contexts.append((p.prev, p.next, f"{p.place.kind}|{p.next}"))
            owners.append(r)
    return names, rows, contexts, owners


def _coordinated(chosen: Sequence[str], places: Sequence[_PlaceMention]) -> list[str]:
    """Places listed next to a chosen market in one sentence ("Germany and Austria"):
    one list usually names one set of destinations, though the model scores the
    first of a list far above the rest."""
    picked = set(chosen)
    added: list[str] = []
    listed = [p for p in places if p.place.kind != CITY]
    for a, b in itertools.pairwise(listed):
        if a.sentence != b.sentence or b.start - a.start > 40 or b.prev not in ("and", "or", ","):
            continue
        for first, second in ((a, b), (b, a)):
            name = second.place.name
            if first.place.name in picked and name not in picked and not second.place.is_region:
                picked.add(name)
                added.append(name)
    return added


# -- context encodings ------------------------------------------------------


def _fit_encodings(contexts: Sequence[Sequence[str]], labels: np.ndarray) -> tuple[list[dict[str, float]], float]:
    """Smoothed positive rate of each context word, per column (scikit-learn's
    TargetEncoder), as plain dicts for fast look-up; and the overall rate."""
    encoder = TargetEncoder(target_type="binary", smooth="auto").fit(np.asarray(contexts, dtype=object), labels)
    tables = [
        {str(c): float(v) for c, v in zip(cats, values, strict=True)}
        for cats, values in zip(encoder.categories_, encoder.encodings_, strict=True)
    ]
    return tables, float(encoder.target_mean_)


def _encode(
    contexts: Sequence[Sequence[str]],
    owners: Sequence[int],
    n_rows: int,
    tables: Sequence[Mapping[str, float]],
    prior: float,
) -> np.ndarray:
    """Mean encoding of each row's mention contexts, shape (n_rows, n_columns)."""
    out = np.full((n_rows, len(tables)), prior)
    if not contexts or not n_rows:
        return out
    own = np.asarray(owners, dtype=np.intp)
    counts = np.maximum(np.bincount(own, minlength=n_rows), 1)
    for j, table in enumerate(tables):
        column = map(operator.itemgetter(j), contexts)
        values = np.fromiter(map(table.get, column, itertools.repeat(prior)), dtype=np.float64, count=len(contexts))
        out[:, j] = np.bincount(own, weights=values, minlength=n_rows) / counts
    return out


# -- the estimator --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoldCompany:
    """An annotated organisation: its name and every form the article writes it in."""

    name: str
    forms: tuple[str, ...]

    def match_keys(self) -> set[str]:
        return {name_key(f) for f in (self.name, *self.forms)}


@dataclass(frozen=True, slots=True)
class EntityAnnotation:
    """Annotated entities of one article (see ``training/data/entities``).

    ``companies`` by salience; ``events`` maps an event type to its companies
    (names from ``companies``, most central first) and markets.
    """

    companies: tuple[GoldCompany, ...]
    events: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]

    def company(self, name: str) -> GoldCompany:
        for c in self.companies:
            if c.name == name:
                return c
        return GoldCompany(name, (name,))


@dataclass(frozen=True, slots=True)
class EventEntities:
    """Companies of one event, most central first; markets for market_expansion (else None)."""

    companies: list[str]
    markets: list[str] | None = None


@dataclass(frozen=True, slots=True)
class ArticleEntities:
    """Companies an article names, by salience, and one :class:`EventEntities` per event, in order."""

    companies: list[str]
    events: list[EventEntities]


def _best_threshold(y: np.ndarray, p: np.ndarray, beta: float = 1.0) -> float:
    """The probability cut in [0.1, 0.8] with the best F-beta on out-of-fold scores."""
    best_t, best_f = 0.5, -1.0
    positives = float(y.sum())
    b2 = beta * beta
    for t in np.round(np.arange(0.1, 0.801, 0.02), 2):
        pred = p >= t
        tp = float(np.sum(pred & (y == 1)))
        denominator = b2 * positives + pred.sum()
        f = (1 + b2) * tp / denominator if denominator else 0.0
        if f > best_f + 1e-9:
            best_t, best_f = float(t), f
    return best_t


@dataclass(slots=True)
class _Rows:
    """Feature rows of one stage: numeric features (one row per candidate;
    a list while rows are added, or an array), contexts (one per mention)
    with the row each belongs to, labels and the document of each row."""

    numeric: list[Sequence[float]] | np.ndarray = field(default_factory=list)
    contexts: list[tuple[str, ...]] = field(default_factory=list)
    owners: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    categorical: list[int] | None = None  # numeric columns that are category codes

    def extend(
        self, numeric: list[list[float]], contexts: list[tuple[str, ...]], owners: list[int], group: int
    ) -> None:
        assert isinstance(self.numeric, list)
        offset = len(self.numeric)
        self.numeric.extend(numeric)
        self.contexts.extend(contexts)
        self.owners.extend([o + offset for o in owners])
        self.groups.extend([group] * len(numeric))

    def subset(self, keep: np.ndarray) -> _Rows:
        """The rows ``keep`` with their contexts, renumbered."""
        position = np.full(len(self.numeric), -1)
        position[keep] = np.arange(len(keep))
        owners = position[np.asarray(self.owners, dtype=np.intp)]
        mask = owners >= 0
        numeric = self.numeric
        return _Rows(
            numeric[keep] if isinstance(numeric, np.ndarray) else [numeric[i] for i in keep],
            [c for c, m in zip(self.contexts, mask, strict=True) if m],
            owners[mask].tolist(),
            [self.labels[i] for i in keep] if self.labels else [],
            [self.groups[i] for i in keep],
            self.categorical,
        )

    def matrix(self) -> np.ndarray:
        if isinstance(self.numeric, np.ndarray):
            return self.numeric
        return np.asarray(self.numeric, dtype=np.float64).reshape(len(self.numeric), -1)


class CompanyExtractor(BaseEstimator):
    """Organisations named in an article, those involved in each event, and markets entered.

    Parameters
    ----------
    max_companies : int
        Most organisations listed for an article.
    max_event_companies : int
        Most organisations listed for one event.
    candidate_threshold : float
        Organisation probability from which a name may take part in an event.
    max_sentences : int or None
        Sentences read for names: the first ``max_sentences`` (the headline
        and the opening, where the main subjects are named) plus every
        evidence sentence; None reads all. Bounds the cost of long articles.
    threshold_beta : float
        The event and market thresholds maximise F-beta on out-of-fold
        scores; below 1 favours precision (a wrong company is worse than a
        missing one).
    market_floor : float
        The least probability at which a place is a plausible market: a
        market_expansion event gets its most probable market even under the
        market threshold when it is plausible, and so does a place listed
        next to a chosen market ("Germany and Austria").
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization
        Settings of each stage's :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.
    cv : int
        Folds (grouped by article) for the out-of-fold scores that encode
        context words, feed the later stages and tune the thresholds.
    random_state : int
        Seed of the tree models.
    """

    def __init__(
        self,
        max_companies: int = MAX_COMPANIES,
        max_event_companies: int = MAX_EVENT_COMPANIES,
        candidate_threshold: float = 0.3,
        max_sentences: int | None = 6,
        threshold_beta: float = 1.0,
        market_floor: float = 0.05,
        max_iter: int = 60,
        learning_rate: float = 0.15,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 10,
        l2_regularization: float = 1.0,
        cv: int = 5,
        random_state: int = 0,
    ) -> None:
        self.max_companies = max_companies
        self.max_event_companies = max_event_companies
        self.candidate_threshold = candidate_threshold
        self.max_sentences = max_sentences
        self.threshold_beta = threshold_beta
        self.market_floor = market_floor
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.cv = cv
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------
    def fit(
        self,
        documents: Sequence[Sequence[str]],
        events: Sequence[Sequence[EventLike]],
        annotations: Sequence[EntityAnnotation],
        *,
        lexicon_texts: Sequence[str] | None = None,
    ) -> CompanyExtractor:
        """Fit the three stages on annotated documents.

        Parameters
        ----------
        documents : sequence of list of str, length n_documents
            Prepared sentences of each article (title first).
        events : sequence of sequence of events, length n_documents
            Each article's events (``type`` and ``evidence`` sentences): the
            annotated types with the evidence the event classifier gives.
        annotations : sequence of EntityAnnotation, length n_documents
        lexicon_texts : sequence of str, optional
            Texts whose lower-case words make the ordinary-word lexicon
            (default: the documents); unlabelled text is fine.

        Returns
        -------
        self
        """
        if not (len(documents) == len(events) == len(annotations)):
            raise ValueError("documents, events and annotations must have the same length")
        with threadpool_limits(limits=1):  # small trees: threads cost more than they save
            return self._fit(documents, events, annotations, lexicon_texts)

    def _fit(self, documents, events, annotations, lexicon_texts) -> CompanyExtractor:
        texts = lexicon_texts if lexicon_texts is not None else [" ".join(d) for d in documents]
        self.lexicon_ = common_words(texts)
        self.event_types_ = sorted({e.type for evs in events for e in evs} | {t for a in annotations for t in a.events})
        types = {t: float(i) for i, t in enumerate(self.event_types_)}
        scans = [self._scan(d, evs) for d, evs in zip(documents, events, strict=True)]

        # Stage 1: organisations.
        org = _Rows()
        cands_of: list[list[list[_Mention]]] = []
        for g, (scan, gold) in enumerate(zip(scans, annotations, strict=True)):
            cands = _org_rows(scan, self._reader(), org, g)
            keys = set().union(*(c.match_keys() for c in gold.companies))
            org.labels.extend(int(ms[0][6].key in keys) for ms in cands)
            cands_of.append(cands)
        org.numeric = _org_features(np.asarray(org.numeric, dtype=np.float64).reshape(-1, _ORG_COUNTS))
        org_oof = self._out_of_fold(org)
        self.org_threshold_ = _best_threshold(np.asarray(org.labels), org_oof)
        self.org_stage_ = self._fit_stage(org)

        # Stages 2 and 3 learn from the organisations stage 1 finds out of fold.
        involvement, market = _Rows(categorical=[0]), _Rows()
        start = 0
        for g, (scan, evs, gold) in enumerate(zip(scans, events, annotations, strict=True)):
            stop = start + len(cands_of[g])
            clusters = _clusters(cands_of[g], org_oof[start:stop].tolist(), self.candidate_threshold, scan.n_sentences)
            start = stop
            for event in evs:
                evidence = _evidence_index(documents[g], event.evidence)
                gold_names, gold_markets = gold.events.get(event.type, ((), ()))
                gold_keys = set().union(*(gold.company(n).match_keys() for n in gold_names))
                code = types.get(event.type, float(len(types)))
                involvement.extend(*_involvement_rows(event.type, evidence, clusters, code), g)
                involvement.labels.extend(int(any(k in gold_keys for k in c.keys)) for c in clusters)
                if event.type == MARKET_EVENT:
                    names, numeric, contexts, owners = _market_rows(evidence, scan.places, scan.n_sentences)
                    market.extend(numeric, contexts, owners, g)
                    wanted = {m.casefold() for m in gold_markets}
                    market.labels.extend(int(n.casefold() in wanted) for n in names)
        self.event_threshold_ = _best_threshold(
            np.asarray(involvement.labels), self._out_of_fold(involvement), self.threshold_beta
        )
        self.event_stage_ = self._fit_stage(involvement)
        self.market_threshold_ = _best_threshold(
            np.asarray(market.labels), self._out_of_fold(market), self.threshold_beta
        )
        self.market_stage_ = self._fit_stage(market)
        return self

    def _splits(self, groups: Sequence[int] | np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        labels = np.asarray(groups)
        n_groups = len(np.unique(labels))
        if n_groups < 2:
            raise ValueError("need annotated candidates from at least two articles to fit")
        return list(GroupKFold(n_splits=min(self.cv, n_groups)).split(labels, groups=labels))

    def _fit_stage(self, rows: _Rows) -> dict[str, Any]:
        """Context encodings and tree model of one stage, as a plain dict.

        The tree model learns from encodings computed out of fold (grouped by
        article), so it learns how much an encoding from *other* articles is
        worth; the stored encodings are fitted on all rows.
        """
        labels = np.asarray(rows.labels)
        if len(labels) == 0 or len(np.unique(labels)) < 2:
            return {"constant": float(labels.mean()) if len(labels) else 0.0}
        mention_labels = labels[np.asarray(rows.owners, dtype=np.intp)]
        mention_groups = np.asarray(rows.groups)[np.asarray(rows.owners, dtype=np.intp)]
        encoded = np.zeros((len(rows.numeric), len(rows.contexts[0])))
        for train, test in self._splits(mention_groups):
            train_rows = np.unique(np.asarray(rows.owners)[train])
            test_rows = np.setdiff1d(np.unique(np.asarray(rows.owners)[test]), train_rows)
            if len(np.unique(mention_labels[train])) < 2 or not len(test_rows):
                continue
            tables, prior = _fit_encodings([rows.contexts[i] for i in train], mention_labels[train])
            part = rows.subset(test_rows)
            encoded[test_rows] = _encode(part.contexts, part.owners, len(test_rows), tables, prior)
        model = HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            categorical_features=rows.categorical,
            early_stopping=False,
            random_state=self.random_state,
        ).fit(np.hstack([rows.matrix(), encoded]), labels)
        tables, prior = _fit_encodings(rows.contexts, mention_labels)
        return {"model": model, "encodings": tables, "prior": prior}

    def _out_of_fold(self, rows: _Rows) -> np.ndarray:
        """Probabilities from stages that did not see the row's article, shape (n_rows,)."""
        out = np.zeros(len(rows.numeric))
        if not len(rows.numeric):
            return out
        for train, test in self._splits(rows.groups):
            stage = self._fit_stage(rows.subset(train))
            out[test] = _stage_proba(stage, rows.subset(test))
        return out

    def _reader(self) -> _Reader:
        """The memo of capitalised sequences for this lexicon: kept beside the
        extractor, not in it, so it is no part of the fitted (stored) state."""
        reader = _READERS.get(self)
        if reader is None or reader.lexicon is not self.lexicon_:
            reader = _READERS[self] = _Reader(self.lexicon_)
        return reader

    def _scan(self, sentences: Sequence[str], events: Sequence[EventLike]) -> _Scan:
        """What one document names, in the sentences read; places only when an event enters markets."""
        return _scan(
            sentences,
            self._reader(),
            self._read(sentences, events),
            places=any(e.type == MARKET_EVENT for e in events),
        )

    def _read(self, sentences: Sequence[str], events: Sequence[EventLike]) -> list[int] | None:
        """The sentences read: the first ``max_sentences`` and every evidence sentence."""
        if self.max_sentences is None or len(sentences) <= self.max_sentences:
            return None
        evidence = {i for e in events for i in _evidence_index(sentences, e.evidence)}
        return sorted(evidence.union(range(self.max_sentences)))

    # -- prediction ---------------------------------------------------------
    def extract(
        self, documents: Sequence[Sequence[str]], events: Sequence[Sequence[EventLike]]
    ) -> list[ArticleEntities]:
        """Companies, and per event companies and markets, for a batch of documents.

        Parameters
        ----------
        documents : sequence of list of str, length n_documents
            Prepared sentences of each article (``Document.sentences``).
        events : sequence of sequence of events, length n_documents
            Each article's predicted events, each with ``type`` and ``evidence``
            (sentences of the document, as the classifier quotes them).

        Returns
        -------
        list of ArticleEntities, length n_documents
            ``events[i]`` of the result answers ``events[i]`` of the input.
        """
        check_is_fitted(self, "org_stage_")
        if len(documents) != len(events):
            raise ValueError("documents and events must have the same length")
        # One thread: on a few thousand rows, the trees' OpenMP threads cost
        # more than they save (2.3x the CPU time on two cores). No cycle
        # collection: the intermediate objects hold no cycles and are freed at
        # the end of each chunk, but while they live they set off collections
        # over the whole process (a quarter of the time).
        results: list[ArticleEntities] = []
        with _openmp().limit(limits=1, user_api="openmp"), _cycle_collection_paused():
            for i in range(0, len(documents), EXTRACT_CHUNK):
                results.extend(self._extract(documents[i : i + EXTRACT_CHUNK], events[i : i + EXTRACT_CHUNK]))
        return results

    def _extract(
        self, documents: Sequence[Sequence[str]], events: Sequence[Sequence[EventLike]]
    ) -> list[ArticleEntities]:
        scans = [self._scan(d, evs) for d, evs in zip(documents, events, strict=True)]
        org = _Rows()
        reader = self._reader()
        cands_of = [_org_rows(scan, reader, org, g) for g, scan in enumerate(scans)]
        org.numeric = _org_features(np.asarray(org.numeric, dtype=np.float64).reshape(-1, _ORG_COUNTS))
        proba = _stage_proba(self.org_stage_, org).tolist()
        types = {t: float(i) for i, t in enumerate(self.event_types_)}

        clusters_of: list[list[_Cluster]] = []
        involvement, market = _Rows(categorical=[0]), _Rows()
        pair_slots: list[tuple[int, int, int]] = []  # (document, event, first row)
        market_slots: list[tuple[int, int, int, list[str]]] = []
        start = 0
        for g, scan in enumerate(scans):
            stop = start + len(cands_of[g])
            clusters = _clusters(cands_of[g], proba[start:stop], self.candidate_threshold, scan.n_sentences)
            start = stop
            clusters_of.append(clusters)
            for e, event in enumerate(events[g]):
                evidence = _evidence_index(documents[g], event.evidence)
                if clusters:
                    pair_slots.append((g, e, len(involvement.numeric)))
                    code = types.get(event.type, float(len(types)))
                    involvement.extend(*_involvement_rows(event.type, evidence, clusters, code), g)
                if event.type == MARKET_EVENT and scan.places:
                    names, numeric, contexts, owners = _market_rows(evidence, scan.places, scan.n_sentences)
                    market_slots.append((g, e, len(market.numeric), names))
                    market.extend(numeric, contexts, owners, g)
        p_involved = _stage_proba(self.event_stage_, involvement)
        p_market = _stage_proba(self.market_stage_, market)

        event_companies: dict[tuple[int, int], list[_Cluster]] = {}
        for g, e, row in pair_slots:
            clusters = clusters_of[g]
            scores = p_involved[row : row + len(clusters)]
            ranked = sorted(
                (-float(p), k) for k, p in enumerate(scores) if p >= self.event_threshold_
            )  # ties: the more salient first
            event_companies[(g, e)] = [clusters[k] for _, k in ranked[: self.max_event_companies]]
        event_markets: dict[tuple[int, int], list[str]] = {}
        for g, e, row, names in market_slots:
            scores = p_market[row : row + len(names)]
            ranked_names = sorted((-float(p), r) for r, p in enumerate(scores))
            # An expansion always enters somewhere: the best place counts when it is plausible at all.
            chosen = [
                names[r]
                for i, (p, r) in enumerate(ranked_names)
                if -p >= self.market_threshold_ or (i == 0 and -p >= self.market_floor)
            ]
            # Out of fold, a floor of 0.2 here instead lost 0.007 market recall at the same precision.
            plausible = {names[r] for p, r in ranked_names if -p >= self.market_floor}
            chosen += [n for n in _coordinated(chosen, scans[g].places) if n in plausible]
            # The most specific places: a region goes when a country in it is there too.
            members = region_members()
            event_markets[(g, e)] = [m for m in chosen if not any(other in members.get(m, ()) for other in chosen)]

        results = []
        for g, clusters in enumerate(clusters_of):
            involved = {id(c) for e in range(len(events[g])) for c in event_companies.get((g, e), [])}
            named = [c.name for c in clusters if c.score >= self.org_threshold_ or id(c) in involved]
            results.append(
                ArticleEntities(
                    companies=named[: self.max_companies],
                    events=[
                        EventEntities(
                            [c.name for c in event_companies.get((g, e), [])],
                            event_markets.get((g, e), []) if event.type == MARKET_EVENT else None,
                        )
                        for e, event in enumerate(events[g])
                    ],
                )
            )
        return results


#: Each extractor's memo (see CompanyExtractor._reader), gone with the extractor.
_READERS: weakref.WeakKeyDictionary[CompanyExtractor, _Reader] = weakref.WeakKeyDictionary()

_gc_lock = threading.Lock()
_gc_pauses = 0  # calls inside _cycle_collection_paused, in any thread
_gc_was_enabled = False


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause the cycle collector (``gc``) while the block runs, in any number of threads at once."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


@functools.cache
def _openmp() -> ThreadpoolController:
    """The process's thread pools, inspected once (about 1 ms) rather than per call."""
    return ThreadpoolController()


def _stage_proba(stage: Mapping[str, Any], rows: _Rows) -> np.ndarray:
    """Positive-class probabilities of one stage's rows, shape (n_rows,)."""
    n = len(rows.numeric)
    if "model" not in stage or n == 0:
        return np.full(n, stage.get("constant", 0.0))
    encoded = _encode(rows.contexts, rows.owners, n, stage["encodings"], stage["prior"])
    return stage["model"].predict_proba(np.hstack([rows.matrix(), encoded]))[:, 1]


# -- storage --------------------------------------------------------------

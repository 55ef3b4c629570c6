"""Stories: near-duplicate articles grouped under the id of the first one.

A story is one piece of news re-published: syndicated copies, the same text
with another page's boilerplate, truncated or lightly edited versions, a new
headline, updates of a running story. Different news about the same
companies, or from the same template (a press-release layout, a site's page
furniture, a company's results for another quarter), is another story.

:func:`story_signature` turns a prepared article (the cleaned sentences of
:func:`newsevents.model.article.prepare`, title first) into a compact
:class:`StorySignature`:

* a MinHash (``datasketch``'s ``affine32`` scheme, 64 permutations) of the
  set of word bigrams: copies share most of it whatever surrounds the shared
  text;
* the number of distinct bigrams, so that the overlap also reads as
  containment (a truncated copy lies inside the full text even when their
  Jaccard similarity is low);
* hashes of the article's figures (numbers, months, quarters): two articles
  from one template differ mostly there, as a results release for another
  quarter repeats the wording and changes the figures;
* hashes of the headline's words: containment alone can come from shared
  page furniture, and a truncated copy keeps the headline.

:class:`StoryIndex` keeps the signatures of the articles seen within a time
window in a ``datasketch`` :class:`~datasketch.MinHashLSH` index, checks every
candidate the index returns, and gives each article the story id of its best
match, or its own id when nothing matches. It is plain Python with no Kafka
import: the stream layer persists :meth:`StoryIndex.export` bytes under the
article id and rebuilds the index with :meth:`StoryIndex.restore`.
"""

from __future__ import annotations

import heapq
import math
import string
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

#: MinHash values in a signature (4 bytes each).
NUM_PERM = 64
#: At most this many figure hashes are kept (the smallest: a consistent sample).
MAX_FACTS = 24
#: At most this many headline word hashes are kept (the smallest).
MAX_TITLE_WORDS = 16
#: Default story window: 72 hours, in seconds.
DEFAULT_WINDOW = 72 * 3600.0

_SIGNATURE_VERSION = 1
_ENTRY_VERSION = 1
_SEED = 1
_SCHEME = "affine32"
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=_SEED, scheme=_SCHEME).permutations
_SIGNATURE_HEAD = struct.Struct("<BHIBB")  # version, permutations, bigrams, facts, title words
_ENTRY_HEAD = struct.Struct("<BdH")  # version, time in seconds, story id length
_EMPTY = 0xFFFFFFFF  # datasketch's value for an empty set

# Stripped from both ends of a word; "%" stays on figures ("9%" is not "9").
_PUNCTUATION = string.punctuation.replace("%", "") + "“”‘’«»–—…•·"
_MONTHS = frozenset(
    "january february march april june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_PERIODS = frozenset(f"{n}-{p}" for n in ("first", "second", "third", "fourth") for p in ("quarter", "half"))
# Headline words that say nothing about which story it tells.
_STOP_WORDS = frozenset(
    zlib.crc32(w.encode())
    for w in "a an the of in on at to for from by with and or as its it is are was be after over into new".split()
)
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
# Token -> CRC-32 of the word << 1 | is-a-figure, or 0 for punctuation. News
# vocabulary is small, figures are not: the cache is emptied when full.
_TOKEN_CACHE: dict[str, int] = {}
_TOKEN_CACHE_MAX = 1 << 18


class StoryError(ValueError):
    """Bytes that are not a signature or entry of this version, or a bad argument."""


@dataclass(frozen=True, slots=True)
class StorySignature:
    """What the story index knows of one article.

    ``minhash`` holds ``NUM_PERM`` little-endian uint32 MinHash values of the
    article's word bigrams; ``size`` is the number of distinct bigrams (0 for
    an article without words); ``facts`` and ``title`` are sorted 32-bit
    hashes of its figures (at most ``MAX_FACTS``) and headline words (at most
    ``MAX_TITLE_WORDS``).
    """

    minhash: bytes = field(repr=False)
    size: int
    facts: tuple[int, ...]
    title: tuple[int, ...]

    def to_bytes(self) -> bytes:
        """Little-endian: ``<BHIBB`` head (version 1, number of MinHash values,
        size, number of facts, number of title words), then the MinHash
        values, the facts and the title words as uint32. 290-420 bytes."""
        head = _SIGNATURE_HEAD.pack(_SIGNATURE_VERSION, NUM_PERM, self.size, len(self.facts), len(self.title))
        return head + self.minhash + struct.pack(f"<{len(self.facts) + len(self.title)}I", *self.facts, *self.title)

    @classmethod
    def from_bytes(cls, data: bytes) -> StorySignature:
        """Parse :meth:`to_bytes` output; raises :class:`StoryError` on anything else."""
        if len(data) < _SIGNATURE_HEAD.size:
            raise StoryError(f"story signature too short ({len(data)} bytes)")
        version, num_perm, size, n_facts, n_title = _SIGNATURE_HEAD.unpack_from(data)
        if version != _SIGNATURE_VERSION or num_perm != NUM_PERM:
            raise StoryError(f"story signature version {version} with {num_perm} values is not supported")
        start = _SIGNATURE_HEAD.size
        end = start + 4 * NUM_PERM
        if len(data) != end + 4 * (n_facts + n_title):
            raise StoryError(f"story signature has {len(data)} bytes, expected {end + 4 * (n_facts + n_title)}")
        words = struct.unpack_from(f"<{n_facts + n_title}I", data, end)
        return cls(bytes(data[start:end]), size, words[:n_facts], words[n_facts:])


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """The story of one article: the id of the story's first article (the
    article's own id when it is the first), and whether an earlier article of
    the story was already seen."""

    story_id: str
    duplicate: bool


def _token_code(token: str) -> int:
    word = token.strip(_PUNCTUATION).replace("’", "'")
    if any(c.isdigit() for c in word):
        # "1,200" and "1200" are one figure; a lone digit is more often a
        # count or page furniture ("page 2", "4 min read") than a fact.
        word = word.replace(",", "")
        figure = len(word) > 1
    else:
        word = word.strip("%")
        figure = word in _MONTHS or word in _PERIODS
    code = ((zlib.crc32(word.encode("utf-8", "surrogatepass")) << 1 | figure) or 2) if word else 0
    if len(_TOKEN_CACHE) >= _TOKEN_CACHE_MAX:
        _TOKEN_CACHE.clear()
    _TOKEN_CACHE[token] = code
    return code


def _minhash(values: np.ndarray) -> np.ndarray:
    """``datasketch.MinHash(scheme="affine32")`` of 32-bit values, vectorised.

    The same values as ``MinHash.update_batch`` with an identity hash (a unit
    test holds them equal) at about a third of its cost: the library calls
    the hash function in a Python loop, which is most of the time on an
    article's few hundred bigrams. MurmurHash3's finaliser mixes each value,
    then permutation k maps it to ``a[k] * h + b[k]`` modulo 2**32.
    """
    if not len(values):
        return np.full(NUM_PERM, _EMPTY, dtype=np.uint32)
    h = values.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    a, b = _PERMUTATIONS
    return (h[:, None] * a + b).min(axis=0)


def story_signature(sentences: Sequence[str]) -> StorySignature:
    """The signature of a prepared article.

    Parameters
    ----------
    sentences : sequence of str
        The cleaned sentences, title first (``prepare(article).sentences``).

    Returns
    -------
    StorySignature
        Deterministic across processes and machines: it depends only on the
        text (CRC-32 of lower-cased words, fixed MinHash permutations).
    """
    tokens = " ".join(sentences).lower().split()
    cached = list(map(_TOKEN_CACHE.get, tokens))  # the fast path: most words are known
    if None in cached:
        codes = [_token_code(t) if code is None else code for code, t in zip(cached, tokens, strict=True)]
    else:
        codes = cast(list[int], cached)
    words = np.array(codes, dtype=np.uint64)
    words = words[words > 1]
    facts = sorted(set((words[(words & np.uint64(1)) == 1] >> np.uint64(1)).tolist()))[:MAX_FACTS]
    # Bigrams, or the one word of a one-word article.
    mixed = words[:-1] * _MIX[0] + words[1:] * _MIX[1] if len(words) > 1 else words * _MIX[0]
    shingles = np.sort((mixed >> np.uint64(32)).astype(np.uint32))
    size = int(np.count_nonzero(shingles[1:] != shingles[:-1])) + 1 if len(shingles) else 0
    # The title is the first sentence, so its words are the first codes.
    head = codes[: len(sentences[0].split())] if sentences else []
    title = sorted({code >> 1 for code in head if code > 1} - _STOP_WORDS)[:MAX_TITLE_WORDS]
    return StorySignature(_minhash(shingles).astype("<u4").tobytes(), size, tuple(facts), tuple(title))


def _agree(a: Sequence[int], b: Sequence[int], share: float, *, capped: int = 0, spare: int = 0) -> bool:
    """Whether two sorted hash sets agree: at least ``share`` of the smaller
    one is in the other, or at most ``spare`` of it is missing. Samples capped
    at ``capped`` values are compared below the smaller of their largest."""
    if capped and (len(a) >= capped or len(b) >= capped):
        limit = min(a[-1] if len(a) >= capped else _EMPTY, b[-1] if len(b) >= capped else _EMPTY)
        a = [x for x in a if x <= limit]
        b = [x for x in b if x <= limit]
    fewer = min(len(a), len(b))
    shared = len(set(a).intersection(b))
    return fewer - shared <= spare or shared >= share * fewer


@dataclass(slots=True)
class _Entry:
    story_id: str
    at: float
    signature: bytes  # StorySignature.to_bytes(): a third of the parsed form's memory


class StoryIndex:
    """Story ids for a stream of articles, within a time window.

    Two articles are copies when their figures agree and their bigram sets
    are nearly the same, or are alike (Jaccard) or the smaller lies inside
    the larger (containment) and their headlines agree. An article joins the
    story of its closest copy seen within the window, so chains of updates
    stay one story; it starts a story when it has no copy.

    Parameters
    ----------
    window : float
        Seconds an article stays matchable (72 h by default). Entries older
        than ``window`` before the newest time seen are dropped, so memory is
        bounded by the number of articles in one window.
    same_text : float
        Estimated Jaccard similarity of the bigram sets at or above which two
        articles are copies whatever their headlines.
    jaccard : float
        Jaccard similarity at or above which two articles are copies if their
        headlines agree (below ``same_text``, shared page furniture can make
        up much of two short articles).
    containment : float
        Share of the smaller article's bigrams found in the larger at or
        above which two articles are copies (truncated versions, another
        page's boilerplate), if their Jaccard similarity is at least
        ``min_jaccard`` and their headlines agree.
    min_jaccard : float
        Lower bound on the Jaccard similarity of a containment match.
    facts : float
        Share of the figures of the article with fewer that the other must
        have; one missing figure is always tolerated.
    title : float
        Share of the words of the shorter headline that the other must have,
        when the Jaccard similarity is below ``same_text``.
    bands, rows : int
        LSH banding (``bands * rows <= NUM_PERM``): candidates share all
        ``rows`` values of at least one band. 16 bands of 2 find pairs of
        Jaccard similarity 0.3 with probability 0.78, 0.45 with 0.97.

    Examples
    --------
    >>> index = StoryIndex()
    >>> signature = story_signature(["Acme buys Widgets", "Acme said on Monday it would buy Widgets."])
    >>> index.assign("a1", signature, at=0.0)
    StoryAssignment(story_id='a1', duplicate=False)
    >>> index.assign("a2", signature, at=60.0)
    StoryAssignment(story_id='a1', duplicate=True)
    """

    def __init__(
        self,
        window: float = DEFAULT_WINDOW,
        *,
        same_text: float = 0.6,
        jaccard: float = 0.45,
        containment: float = 0.6,
        min_jaccard: float = 0.2,
        facts: float = 0.5,
        title: float = 0.5,
        bands: int = 16,
        rows: int = 2,
    ) -> None:
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window < math.inf:
            raise StoryError(f"window must be a positive number of seconds, got {window!r}")
        if bands < 2 or rows < 1 or bands * rows > NUM_PERM:
            raise StoryError(f"bands={bands}, rows={rows}: need bands >= 2, rows >= 1, bands * rows <= {NUM_PERM}")
        self.window = window
        self.same_text = same_text
        self.jaccard = jaccard
        self.containment = containment
        self.min_jaccard = min_jaccard
        self.facts = facts
        self.title = title
        self.bands = bands
        self.rows = rows
        self._lsh = MinHashLSH(num_perm=NUM_PERM, params=(bands, rows))
        self._entries: dict[str, _Entry] = {}
        self._expiry: list[tuple[float, str]] = []
        self._newest = -math.inf

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._entries

    def assign(self, article_id: str, signature: StorySignature | None, at: float) -> StoryAssignment:
        """The story of one article, remembered for the window.

        Parameters
        ----------
        article_id : str
            The article's id. Another call with the same id while the article
            is kept (a redelivery) returns the first answer.
        signature : StorySignature or None
            From :func:`story_signature`; None for an article with too little
            text to match, which is its own story and is not kept.
        at : float
            The article's time in seconds (the record's timestamp). An article
            older than the window before the newest time seen is answered but
            not kept.

        Returns
        -------
        StoryAssignment
            ``story_id`` is the id of the first article seen of the story, the
            article's own id when nothing within the window matches.
        """
        _check_id(article_id)
        if signature is None:
            return StoryAssignment(article_id, False)
        at = _check_time(at)
        if not isinstance(signature, StorySignature) or len(signature.minhash) != 4 * NUM_PERM:
            raise StoryError(f"not a story signature of {NUM_PERM} values: {signature!r}")
        self._advance(at)
        known = self._entries.get(article_id)
        if known is not None:
            return StoryAssignment(known.story_id, known.story_id != article_id)
        story_id = self._match(signature, at) or article_id
        self._add(article_id, _Entry(story_id, at, signature.to_bytes()))
        return StoryAssignment(story_id, story_id != article_id)

    def export(self, article_id: str) -> bytes | None:
        """The entry of a kept article as bytes, to persist under its id;
        None when the index does not keep the article.

        Little-endian: ``B`` version (1), ``d`` time in seconds, ``H`` length
        of the story id, the story id (UTF-8), then the signature
        (:meth:`StorySignature.to_bytes`) to the end.
        """
        entry = self._entries.get(article_id)
        if entry is None:
            return None
        story = entry.story_id.encode("utf-8", "surrogatepass")
        return _ENTRY_HEAD.pack(_ENTRY_VERSION, entry.at, len(story)) + story + entry.signature

    def restore(self, article_id: str, data: bytes) -> bool:
        """Put back an entry of :meth:`export`, to rebuild the index after a
        restart or a takeover. Order does not matter.

        Returns False when the entry is past the window or the article is
        already kept (the kept answer stands). Raises :class:`StoryError` for
        bytes that are not an entry.
        """
        _check_id(article_id)
        if len(data) < _ENTRY_HEAD.size:
            raise StoryError(f"story entry too short ({len(data)} bytes)")
        version, at, length = _ENTRY_HEAD.unpack_from(data)
        if version != _ENTRY_VERSION:
            raise StoryError(f"story entry version {version} is not supported")
        at = _check_time(at)
        end = _ENTRY_HEAD.size + length
        if not length or len(data) < end:
            raise StoryError("story entry has no story id")
        try:
            story_id = bytes(data[_ENTRY_HEAD.size : end]).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise StoryError("story entry has a story id that is not UTF-8") from None
        signature = bytes(data[end:])
        StorySignature.from_bytes(signature)  # checked before it is kept
        self._advance(at)
        if article_id in self._entries:
            return False
        return self._add(article_id, _Entry(story_id, at, signature))

    def expire(self, now: float) -> list[str]:
        """Drop the articles older than ``window`` before ``now``; their ids.

        :meth:`assign` and :meth:`restore` call it as time advances, so memory
        stays bounded without it; call it to expire on a clock instead.
        """
        cutoff = _check_time(now) - self.window
        gone: list[str] = []
        while self._expiry and self._expiry[0][0] < cutoff:
            _, article_id = heapq.heappop(self._expiry)
            del self._entries[article_id]
            if article_id in self._lsh:
                self._lsh.remove(article_id)
            gone.append(article_id)
        return gone

    def _advance(self, at: float) -> None:
        if at > self._newest:
            self._newest = at
            self.expire(at)

    def _add(self, article_id: str, entry: _Entry) -> bool:
        if entry.at < self._newest - self.window:
            return False
        self._entries[article_id] = entry
        heapq.heappush(self._expiry, (entry.at, article_id))
        if _SIGNATURE_HEAD.unpack_from(entry.signature)[2]:
            values = np.frombuffer(entry.signature, dtype="<u4", count=NUM_PERM, offset=_SIGNATURE_HEAD.size)
            minhash = LeanMinHash(seed=_SEED, hashvalues=values, scheme=_SCHEME)
            self._lsh.insert(article_id, minhash, check_duplication=False)
        return True

    def _match(self, signature: StorySignature, at: float) -> str | None:
        """The story of the closest copy, ties to the earliest (then the
        smallest story id, so the answer does not depend on set order)."""
        if not signature.size:
            return None
        values = np.frombuffer(signature.minhash, dtype="<u4")
        best: tuple[float, float, str] | None = None
        for key in self._lsh.query(LeanMinHash(seed=_SEED, hashvalues=values, scheme=_SCHEME)):
            entry = self._entries[key]
            if abs(entry.at - at) > self.window:
                continue
            score = self._score(signature, values, entry.signature)
            if score is not None:
                candidate = (-score, entry.at, entry.story_id)
                best = candidate if best is None else min(best, candidate)
        return best[2] if best else None

    def _score(self, a: StorySignature, values: np.ndarray, other: bytes) -> float | None:
        """How alike two articles are (the larger of Jaccard similarity and
        containment), or None when they are not copies."""
        size = _SIGNATURE_HEAD.unpack_from(other)[2]
        theirs = np.frombuffer(other, dtype="<u4", count=NUM_PERM, offset=_SIGNATURE_HEAD.size)
        j = np.count_nonzero(values == theirs) / NUM_PERM
        c = min(1.0, j * (a.size + size) / (1.0 + j) / min(a.size, size))
        if j < self.jaccard and (c < self.containment or j < self.min_jaccard):
            return None
        b = StorySignature.from_bytes(other)
        if j < self.same_text and not _agree(a.title, b.title, self.title, capped=MAX_TITLE_WORDS):
            return None
        if not _agree(a.facts, b.facts, self.facts, capped=MAX_FACTS, spare=1):
            return None
        return max(j, c)


def _check_id(article_id: object) -> None:
    if not isinstance(article_id, str) or not article_id:
        raise StoryError(f"article id must be a non-empty string, got {article_id!r}")


def _check_time(at: object) -> float:
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
        raise StoryError(f"time must be a finite number of seconds, got {at!r}")
    return float(at)

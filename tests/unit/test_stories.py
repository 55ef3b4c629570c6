"""Stories: signatures, the story index, its persistence and its window."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from newsevents.model.article import Article, article_from_mapping, prepare
from newsevents.model.stories import (
    _PERMUTATIONS,
    NUM_PERM,
    StoryAssignment,
    StoryError,
    StoryIndex,
    StorySignature,
    _minhash,
    story_signature,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "stream.jsonl"
HOUR = 3600.0


@pytest.fixture(scope="module")
def seed_article() -> dict:
    """The project's worked example: the Tapestry / Tmall alliance, with a scraped tail."""
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        if '"demo-tapestry-tmall"' in line:
            return json.loads(line)
    raise AssertionError("the seed article is missing from samples/stream.jsonl")


def sign(title: str = "", text: str = "", html: str = "") -> StorySignature:
    return story_signature(prepare(Article(id="x", title=title, text=text, html=html)).sentences)


def body(article: dict) -> str:
    return article["text"].split("\n\nComments")[0]


OTHER_TAPESTRY = (
    "Tapestry shares jump as Coach sales beat forecasts",
    "Tapestry said on Thursday that quarterly revenue rose 6% to $1.6 billion, lifted by handbag sales at "
    "Coach in North America, and raised its full-year earnings forecast.\n\nThe New York-based company "
    "now expects earnings of $4.50 a share, up from $4.35. Kate Spade sales fell 3%, and the group said "
    "it would close 20 of the brand's stores. Shares rose 8% in early trading.",
)


# --- signatures ---------------------------------------------------------------


def test_signature_is_the_same_in_another_process(seed_article):
    """Signatures are persisted and compared between workers: no per-process hashing."""
    here = sign(seed_article["title"], seed_article["text"]).to_bytes()
    code = (
        "import json, sys; from newsevents.model.article import Article, prepare; "
        "from newsevents.model.stories import story_signature; a = json.loads(sys.stdin.read()); "
        "s = story_signature(prepare(Article(id='x', title=a['title'], text=a['text'])).sentences); "
        "sys.stdout.write(s.to_bytes().hex())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(seed_article),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert bytes.fromhex(there) == here


def test_signature_minhash_is_datasketch_minhash():
    """The vectorised MinHash gives exactly the library's values (same scheme and permutations)."""
    values = np.random.default_rng(3).integers(0, 2**32, size=500, dtype=np.uint64).astype(np.uint32)
    reference = MinHash(num_perm=NUM_PERM, seed=1, hashfunc=int, permutations=_PERMUTATIONS, scheme="affine32")
    reference.update_batch(values.tolist())
    assert np.array_equal(_minhash(values), reference.hashvalues)


def test_signature_bytes_round_trip(seed_article):
    signature = sign(seed_article["title"], seed_article["text"])
    data = signature.to_bytes()
    assert StorySignature.from_bytes(data) == signature
    assert len(data) < 450
    assert signature.size > 100 and signature.facts and signature.title


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01", b"\x02" + bytes(300), b"\x01\x40\x00" + bytes(7)],
    ids=["empty", "head-only", "other-version", "truncated"],
)
def test_signature_from_bad_bytes_is_a_clear_error(data):
    with pytest.raises(StoryError, match="story signature"):
        StorySignature.from_bytes(data)


def test_an_article_without_words_stands_alone():
    index = StoryIndex()
    empty = story_signature([])
    assert empty.size == 0
    assert index.assign("e1", empty, 0.0) == StoryAssignment("e1", False)
    assert index.assign("e2", empty, 1.0) == StoryAssignment("e2", False)


# --- what counts as a copy ----------------------------------------------------


def test_seed_copy_with_other_boilerplate_and_edits_joins_the_story(seed_article):
    """The issue's check: the seed and an edited copy on another page are one story."""
    index = StoryIndex()
    original = article_from_mapping(seed_article)
    copy_text = (
        body(seed_article)
        .replace("announced last week", "unveiled last week")
        .replace("Currently, less than", "At present, under")
    )
    page = (
        "<html><body><nav><a>Home</a><a>Retail</a></nav><article><h1>Tapestry teams up with Tmall</h1>"
        + "".join(f"<p>{p}</p>" for p in copy_text.split("\n\n"))
        + "<p>Reporting by Ana Ruiz; Editing by Tom Hale</p></article>"
        "<aside class='related'><li>Retail sales slow in March</li></aside><footer>© 2025 Shop News</footer>"
        "</body></html>"
    )
    copy = article_from_mapping({"id": "copy-1", "title": seed_article["title"], "html": page})
    first = index.assign(original.id, story_signature(prepare(original).sentences), 0.0)
    second = index.assign(copy.id, story_signature(prepare(copy).sentences), HOUR)
    assert first == StoryAssignment("demo-tapestry-tmall", False)
    assert second == StoryAssignment("demo-tapestry-tmall", True)


def test_other_news_about_the_same_company_is_another_story(seed_article):
    index = StoryIndex()
    index.assign("seed", sign(seed_article["title"], seed_article["text"]), 0.0)
    assert index.assign("other", sign(*OTHER_TAPESTRY), HOUR) == StoryAssignment("other", False)


@pytest.mark.parametrize(
    ("title", "edit"),
    [
        ("Coach, Kate Spade parent strikes strategic alliance with Tmall", lambda t: t[: len(t) // 2] + "..."),
        ("UPDATE 1-Tapestry teams up with Alibaba's Tmall in China push", lambda t: t),
        (
            "Coach, Kate Spade parent strikes strategic alliance with Tmall",
            lambda t: " ".join(w for i, w in enumerate(t.split(" ")) if i % 8 != 3),  # 12% of words gone
        ),
    ],
    ids=["truncated", "new-headline", "light-edit"],
)
def test_near_duplicates_join_the_story(seed_article, title, edit):
    index = StoryIndex()
    index.assign("seed", sign(seed_article["title"], seed_article["text"]), 0.0)
    assert index.assign("copy", sign(title, edit(body(seed_article))), HOUR) == StoryAssignment("seed", True)


def test_results_for_another_quarter_are_another_story():
    """Same company, same template, other figures: not a copy."""
    template = (
        "Norrland Foods reports {q} results",
        "STOCKHOLM - Norrland Foods said on Tuesday that {q} sales rose {a}% to {b} million crowns and operating "
        "profit reached {c} million crowns, as price increases offset lower volumes in its dairy business. "
        "The company kept its outlook for the year and said it expected to open {d} new stores.",
    )
    index = StoryIndex()
    q2 = [part.format(q="second-quarter", a=4, b=2310, c=188, d=12) for part in template]
    q3 = [part.format(q="third-quarter", a=7, b=2475, c=203, d=15) for part in template]
    index.assign("q2", sign(*q2), 0.0)
    assert index.assign("q3", sign(*q3), HOUR) == StoryAssignment("q3", False)


def test_two_briefs_on_one_site_are_two_stories():
    """Same template, different news: a site's byline, disclaimer and footer
    survive cleaning and make up about half of two short articles."""
    furniture = (
        "By Priya Nand | Updated 2 hours ago\n\nOur coverage is independent. We may earn a commission from links on "
        "this page.\n\n{}\n\nWant more stories like this? Join 12,000 readers who get Bourse Watch every morning."
    )
    a = sign(
        "Seoul Semitech buys chip designer Gwangmyeong Devices",
        furniture.format(
            "Seoul Semitech has acquired power-semiconductor designer Gwangmyeong Devices for 410 "
            "billion won in cash, the chipmaker said on Thursday."
        ),
    )
    b = sign(
        "Pamukkale Ev opens shop on Allegro",
        furniture.format(
            "Bursa-based towel maker Pamukkale Ev has opened an official shop on Allegro, its first "
            "step into Polish retail."
        ),
    )
    index = StoryIndex()
    index.assign("a", a, 0.0)
    assert index.assign("b", b, HOUR) == StoryAssignment("b", False)
    # The same page again with a new headline is still a copy.
    copy = sign(
        "Seoul Semitech snaps up Gwangmyeong Devices for 410 bln won",
        furniture.format(
            "Seoul Semitech has acquired power-semiconductor designer Gwangmyeong Devices for 410 "
            "billion won in cash, the chipmaker said on Thursday."
        ),
    )
    assert index.assign("c", copy, HOUR) == StoryAssignment("a", True)


# --- the index ------------------------------------------------------------------


def test_first_seen_wins_and_redelivery_gets_the_same_answer(seed_article):
    """A truncated copy that arrives first names the story; the original then joins it."""
    index = StoryIndex()
    short = sign(seed_article["title"], body(seed_article)[:700])
    full = sign(seed_article["title"], seed_article["text"])
    assert index.assign("short", short, 0.0) == StoryAssignment("short", False)
    assert index.assign("full", full, 60.0) == StoryAssignment("short", True)
    index.assign("other", sign(*OTHER_TAPESTRY), 120.0)
    assert index.assign("full", full, 999.0) == StoryAssignment("short", True)
    assert index.assign("short", sign(*OTHER_TAPESTRY), 999.0) == StoryAssignment("short", False)


def test_chain_of_updates_stays_one_story(seed_article):
    """Each update matches the previous one, not the original: still one story."""
    paragraphs = body(seed_article).split("\n\n")
    extra = [
        "Alibaba said the Tmall flagships would open on the same day across its Taobao and Tmall apps and "
        "would carry limited editions made for Singles Day.",
        "Analysts at a Hong Kong brokerage said the deal could add two percentage points to Tapestry's "
        "growth in China next year, as rivals expand their own flagships.",
        "Tapestry's shares closed 2% higher in New York after the announcement, while Alibaba's were flat.",
        "A Tmall spokeswoman said more American fashion houses were in talks to open similar stores.",
    ]
    v1 = paragraphs
    v2 = [*extra[:2], *paragraphs[:4]]
    v3 = [*extra, *paragraphs[:2]]
    index = StoryIndex()
    signatures = [sign(seed_article["title"], "\n\n".join(v)) for v in (v1, v2, v3)]
    assert index.assign("v1", signatures[0], 0.0).story_id == "v1"
    assert index.assign("v2", signatures[1], HOUR) == StoryAssignment("v1", True)
    assert index.assign("v3", signatures[2], 2 * HOUR) == StoryAssignment("v1", True)
    # v3 alone would not have matched v1: the chain carried it.
    alone = StoryIndex()
    alone.assign("v1", signatures[0], 0.0)
    assert alone.assign("v3", signatures[2], 2 * HOUR).story_id == "v3"


def test_window_expires_entries_and_frees_them(seed_article):
    index = StoryIndex(window=10 * HOUR)
    signature = sign(seed_article["title"], seed_article["text"])
    index.assign("a", signature, 0.0)
    index.assign("b", sign(*OTHER_TAPESTRY), 5 * HOUR)
    assert index.assign("c", signature, 9 * HOUR).story_id == "a"
    assert index.expire(12 * HOUR) == ["a"]
    assert "a" not in index and len(index) == 2
    # "c" is still kept and carries the story past the expiry of its first article.
    assert index.assign("d", signature, 12 * HOUR).story_id == "a"
    index.expire(30 * HOUR)
    assert len(index) == 0
    assert index.assign("e", signature, 30 * HOUR) == StoryAssignment("e", False)


def test_assign_expires_as_time_advances(seed_article):
    index = StoryIndex(window=HOUR)
    for i in range(50):
        index.assign(f"a{i}", sign(f"Item {i} of a long feed", f"Story number {i} says {i * 7} things."), i * 600.0)
    assert len(index) <= 7


def test_an_article_older_than_the_window_is_answered_but_not_kept(seed_article):
    index = StoryIndex(window=HOUR)
    signature = sign(seed_article["title"], seed_article["text"])
    index.assign("new", sign(*OTHER_TAPESTRY), 10 * HOUR)
    assert index.assign("old", signature, 0.0) == StoryAssignment("old", False)
    assert "old" not in index
    assert index.export("old") is None


def test_rebuild_from_exported_entries_gives_the_same_answers(seed_article):
    """A worker that takes over restores the persisted entries and answers as the first would."""
    first = StoryIndex()
    seed = sign(seed_article["title"], seed_article["text"])
    first.assign("seed", seed, 0.0)
    first.assign("copy", sign("Tapestry, Tmall in alliance", body(seed_article)), HOUR)
    first.assign("other", sign(*OTHER_TAPESTRY), 2 * HOUR)
    entries = {i: first.export(i) for i in ("seed", "copy", "other")}
    assert all(isinstance(e, bytes) and len(e) < 500 for e in entries.values())

    second = StoryIndex()
    for article_id in reversed(entries):  # order does not matter
        assert second.restore(article_id, entries[article_id])
    assert len(second) == 3
    assert second.assign("copy", sign(*OTHER_TAPESTRY), 3 * HOUR) == StoryAssignment("seed", True)
    assert second.assign("copy-2", seed, 3 * HOUR) == first.assign("copy-2", seed, 3 * HOUR)
    assert second.assign("copy-2", seed, 3 * HOUR) == StoryAssignment("seed", True)
    assert second.export("copy") == first.export("copy")
    assert not second.restore("seed", entries["seed"])  # already kept


def test_restore_skips_entries_past_the_window(seed_article):
    old = StoryIndex()
    old.assign("a", sign(seed_article["title"], seed_article["text"]), 0.0)
    index = StoryIndex(window=HOUR)
    index.assign("b", sign(*OTHER_TAPESTRY), 5 * HOUR)
    assert not index.restore("a", old.export("a") or b"")
    assert "a" not in index


@pytest.mark.parametrize(
    "data",
    [b"", b"\x09" + bytes(20), b"\x01" + bytes(8) + b"\x00\x00", b"\x01" + bytes(8) + b"\x03\x00ab"],
    ids=["empty", "other-version", "no-story-id", "cut-short"],
)
def test_restore_of_bad_bytes_is_a_clear_error(data):
    with pytest.raises(StoryError, match="story"):
        StoryIndex().restore("a", data)


@pytest.mark.parametrize(
    ("article_id", "at", "signature"),
    [
        ("", 0.0, None),
        (None, 0.0, None),
        ("a", math.nan, None),
        ("a", math.inf, None),
        ("a", "yesterday", None),
        ("a", 0.0, "not a signature"),
    ],
)
def test_bad_arguments_are_clear_errors(article_id, at, signature):
    with pytest.raises(StoryError):
        StoryIndex().assign(article_id, signature or sign("A title", "Some text."), at)


def test_bad_index_parameters_are_clear_errors():
    with pytest.raises(StoryError, match="window"):
        StoryIndex(window=0)
    with pytest.raises(StoryError, match="bands"):
        StoryIndex(bands=40, rows=2)


# --- properties -------------------------------------------------------------------

_TEXTS = [
    ("Acme buys Widgets for $2.1 billion", "Acme Corp agreed on Monday to buy Widgets Inc for $2.1 billion in cash."),
    ("Acme buys Widgets for $2.1 billion", "Acme Corp agreed on Monday to buy Widgets Inc for $2.1 billion."),
    ("Widgets names new chief executive", "Widgets Inc named Jane Roe chief executive, effective in March 2026."),
    ("Acme results beat forecasts", "Acme Corp said third-quarter profit rose 12% to $310 million on strong demand."),
    ("Acme results beat forecasts", "Acme Corp said fourth-quarter profit rose 9% to $355 million on strong demand."),
]
_SIGNATURES = [sign(title, text) for title, text in _TEXTS]

_steps = st.lists(
    st.tuples(
        st.sampled_from([f"id{i}" for i in range(8)]),
        st.integers(0, len(_TEXTS) - 1),
        st.floats(0, 5 * HOUR),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(steps=_steps)
def test_properties_idempotence_first_seen_and_window(steps):
    window = 2 * HOUR
    index = StoryIndex(window=window)
    kept: dict[str, tuple[StoryAssignment, float]] = {}
    starters: set[str] = set()
    newest = -math.inf
    for article_id, text, at in steps:
        still_kept = article_id in index and kept[article_id][1] >= max(newest, at) - window
        answer = index.assign(article_id, _SIGNATURES[text], at)
        # Idempotent: while an article is kept, it gets its first answer again.
        if still_kept:
            assert answer == kept[article_id][0]
        elif article_id in index:
            kept[article_id] = (answer, at)
        # First seen wins: a story is named after the article that started it.
        assert answer.duplicate == (answer.story_id != article_id)
        assert answer.story_id == article_id or answer.story_id in starters
        if not answer.duplicate:
            starters.add(article_id)
        # Window: nothing older than the window before the newest time is kept.
        newest = max(newest, at)
        times = [struct.unpack_from("<Bd", index.export(i) or b"")[1] for i in kept if i in index]
        assert all(t >= newest - window for t in times)
        assert len(index) == len(times)

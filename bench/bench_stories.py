"""Stories: pairwise precision and recall of near-duplicate grouping, and cost.

Generates an evaluation stream from the project's own corpus
(``training/data/corpus``): every article with copies of the kinds a news
feed carries (another site's page as plain text or HTML, with furniture the
cleaner keeps; the first 40-80% of the words; headline edits; 5-15% of the
words deleted, replaced, inserted or swapped; combinations; two-step update
chains) and hard non-copies (another article rewritten about its companies;
its press-release template with other news; its results release with the
next quarter's figures; another article on the page of a site that carries a
copy). Everything falls within one 72 h window and goes through
:class:`StoryIndex` in time order. Prints pairwise precision and recall
against the truth and per-kind rates for the index, the index with 32 bands,
Jaccard alone and exact-text dedup (the baseline); the cost of a signature
and of an assignment on ~2 KB articles against exact-text dedup; and the
memory kept per article.

The corpus is split in two halves by article id: the thresholds were chosen
on ``--split tune`` (seed 11); the figures are reported on ``--split report``
(seed 29, the default).

    python bench/bench_stories.py [--split report|tune] [--seed N] [--kept 20000]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import re
import statistics
import sys
import time
import tracemalloc
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.articles import bench_articles
from bench.processes import pin_one_core
from newsevents.model.article import article_from_mapping, prepare
from newsevents.model.cleaning import clean_text
from newsevents.model.stories import StoryIndex, story_signature
from newsevents.training.corpus import DEFAULT_CORPUS_DIR

SEEDS = {"tune": 11, "report": 29}
HOUR = 3600.0

COPY_KINDS = (
    "boilerplate",
    "boilerplate_html",
    "truncated",
    "headline",
    "edit",
    "boilerplate+headline",
    "truncated+boilerplate",
    "edit+headline",
    "truncated+headline",
)
SHORT_COPY_KINDS = ("boilerplate", "boilerplate_html", "headline")
HARD_KINDS = ("same_companies", "same_template", "other_quarter", "same_site", "same_site_brief")


@dataclass(frozen=True, slots=True)
class Item:
    """One generated article: ``story`` is the true story (its base's id)."""

    id: str
    story: str
    kind: str
    raw: dict
    at: float


# --- corpus -------------------------------------------------------------------


def load_corpus() -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(DEFAULT_CORPUS_DIR.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def in_split(article_id: str, split: str) -> bool:
    return zlib.crc32(article_id.encode()) % 2 == (0 if split == "tune" else 1)


_STOP_NAMES = frozenset(
    "the a an in on at for of and or but to with from by as after before under over new its their his her "
    "this that these those what why how when where who it is are was were be has have had will would "
    "first second third fourth q1 q2 q3 q4 chief ceo cfo update exclusive breaking brief report".split()
)
_ADJECTIVE = re.compile(r"^[A-Z][a-z]+(?:ese|ish|ian|ean|ic|i)$")
_NAME = re.compile(r"\b[A-Z][\w&'.-]*[\w](?:\s+(?:[A-Z][\w&'.-]*[\w]|&))*")


def company_names(article: dict, limit: int = 3) -> list[str]:
    """Capitalised runs of the title that the text repeats, most repeated
    first: a rough list of the organisations an article is about."""
    text = article["text"]
    found: Counter[str] = Counter()
    for run in _NAME.findall(re.sub(r"^[A-Z0-9 ]+-(?=[A-Z])", "", article["title"])):
        words = run.split()
        while words and (words[0].lower() in _STOP_NAMES or words[0].endswith("'s")):
            words = words[1:]
        name = re.sub(r"'s$", "", " ".join(words))
        if len(name) >= 3 and name.lower() not in _STOP_NAMES and not _ADJECTIVE.search(name):
            found[name] = text.count(name)
    return [name for name, count in found.most_common(limit) if count]


def transplant(article: dict, names_from: list[str], names_to: list[str]) -> dict:
    """``article`` rewritten about other companies: its names become ``names_to``."""
    pairs: list[tuple[str, str]] = []
    for i, old in enumerate(names_from):
        new = names_to[i % len(names_to)]
        pairs.append((old, new))
        first_old, first_new = old.split()[0], new.split()[0]
        if " " in old and len(first_old) >= 4 and first_old.lower() not in _STOP_NAMES:
            pairs.append((first_old, first_new))
    title, text = article["title"], article["text"]
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):
        pattern = re.compile(r"\b" + re.escape(old) + r"\b")
        title, text = pattern.sub(new, title), pattern.sub(new, text)
    return {**article, "title": title, "text": text}


# --- copies -------------------------------------------------------------------

_SITES = (
    ("The Retail Ledger", "Home | Retail | Brands | Markets | Opinion | Subscribe"),
    ("Cargo & Commerce Daily", "News > Logistics > Companies"),
    ("Bourse Watch", "Markets | Companies | Funds | Currencies | Podcasts"),
    ("Style Business Review", "Fashion | Beauty | Luxury | Retail | Events | Jobs"),
    ("Fintech Courier", "Payments | Lending | Crypto | Regulation | Newsletters"),
    ("Metro Business Journal", "Local News | Business | Real Estate | Tech | People on the Move"),
    ("Asia Consumer Wire", "China | India | Southeast Asia | Japan | Korea | Deals"),
    ("Grocery Insight", "Suppliers | Stores | Category | Data | Awards"),
)
_BYLINES = ("By Mara Lind", "By Tomasz Wren and Eva Kolb", "Staff reporter", "By Priya Nand | Updated 2 hours ago")
# Furniture the cleaner keeps: it reads like prose.
_UNSTRIPPED = (
    "Reporting by Lena Ortiz; Editing by Sam Hale",
    "This article first appeared in {site}.",
    "Want more stories like this? Join 12,000 readers who get {site} in their inbox every morning.",
    "Our coverage is independent. We may earn a commission from links on this page.",
    "Listen to this article (4 min)",
    "Additional reporting by our correspondents in London and Singapore.",
    "{site} is part of the Meridian Media Group, which publishes 14 business titles.",
)
_TAIL = (
    "Share: Facebook | X | LinkedIn | Email",
    "ADVERTISEMENT",
    "Sign up for our free daily newsletter",
    "We use cookies to improve your experience. Accept all cookies",
    "© 2025 {site}. All rights reserved. | Privacy | Terms",
)


def _paragraphs(text: str) -> list[str]:
    return [p for p in text.split("\n\n") if p.strip()]


@dataclass(frozen=True, slots=True)
class Site:
    """A site's page furniture: the same on every page but the related links."""

    name: str
    menu: str
    byline: str
    head: str
    tail: str


def make_sites(rng: random.Random) -> list[Site]:
    sites = []
    for name, menu in _SITES:
        head, tail = (line.format(site=name) for line in rng.sample(_UNSTRIPPED, 2))
        sites.append(Site(name, menu, rng.choice(_BYLINES), head, tail))
    return sites


def with_boilerplate(title: str, body: str, site: Site, related: list[str], *, html: bool) -> dict:
    """The article on a site's page: menus, bylines, related links, prompts
    and footers around it, some of which the cleaner keeps."""
    tail = [line.format(site=site.name) for line in _TAIL]
    paragraphs = _paragraphs(body)
    if html:
        page = (
            f"<html><head><title>{title} | {site.name}</title></head><body>"
            f"<nav>{''.join(f'<a>{m}</a>' for m in site.menu.split(' | '))}</nav>"
            f"<div class='site-header'>{site.name}</div><article><h1>{title}</h1>"
            f"<p class='byline'>{site.byline}</p><p>{site.head}</p>"
            + "".join(f"<p>{p}</p>" for p in paragraphs)
            + f"<p>{site.tail}</p></article>"
            f"<aside class='related'><h3>Related articles</h3>{''.join(f'<li>{t}</li>' for t in related)}</aside>"
            f"<div class='newsletter-signup'>{tail[2]}</div><footer>{tail[4]}</footer></body></html>"
        )
        return {"title": title, "html": page}
    lines = [site.menu, title, site.byline, site.head, *paragraphs, site.tail, tail[0], tail[1]]
    lines += ["Related articles", *(f"- {t}" for t in related), tail[2], tail[4]]
    return {"title": title, "text": "\n\n".join(lines)}


def truncated(body: str, rng: random.Random) -> str:
    """The first 40-80% of the words, cut mid-sentence as feeds do."""
    words = body.replace("\n\n", " \n\n ").split(" ")
    real = [i for i, w in enumerate(words) if w.strip()]
    keep = real[max(1, int(len(real) * rng.uniform(0.4, 0.8))) - 1]
    head = " ".join(words[: keep + 1]).replace(" \n\n ", "\n\n").strip()
    return head + rng.choice(("...", " …", "\n\nRead more", " [+1,204 chars]", "\n\n(Continued on page 2)"))


def headline_edit(title: str, body: str, rng: random.Random, vocab: list[str]) -> str:
    """Another site's headline for the same story."""
    op = rng.randrange(6)
    words = title.split()
    if op == 0:
        return rng.choice(("UPDATE 1-", "UPDATE 2-", "EXCLUSIVE-", "BRIEF-", "Breaking: ")) + title
    if op == 1:
        return title + rng.choice((" - sources", " (updated)", " | Markets", ": report", " - statement"))
    if op == 2 and len(words) > 4:
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(words))
            if rng.random() < 0.5 and len(words) > 4:
                del words[i]
            else:
                words[i] = rng.choice(vocab)
        return " ".join(words)
    if op == 3:
        return title.upper()
    if op == 4:
        return " ".join(w[:1].upper() + w[1:] for w in words)
    lead = body.split(". ")[0].split()
    return " ".join(lead[: rng.randint(8, 14)]) if len(lead) >= 6 else title.upper()


def light_edit(text: str, rng: random.Random, vocab: list[str], rate: float) -> str:
    """``rate`` of the words deleted, replaced, inserted next to or swapped."""
    paragraphs = [p.split() for p in _paragraphs(text)]
    positions = [(i, j) for i, p in enumerate(paragraphs) for j in range(len(p))]
    for i, j in sorted(rng.sample(positions, max(1, round(rate * len(positions)))), reverse=True):
        words, op = paragraphs[i], rng.random()
        if op < 0.35:
            del words[j]
        elif op < 0.75:
            words[j] = rng.choice(vocab)
        elif op < 0.95:
            words.insert(j, rng.choice(vocab))
        elif j + 1 < len(words):
            words[j], words[j + 1] = words[j + 1], words[j]
        else:
            words[j] = rng.choice(vocab)
    return "\n\n".join(" ".join(p) for p in paragraphs if p)


@dataclass(frozen=True, slots=True)
class Materials:
    """What copies are made of: words for edits, titles for related links, sites."""

    vocab: list[str]
    titles: list[str]
    sites: list[Site]


def make_copy(kind: str, base: dict, body: str, rng: random.Random, m: Materials) -> tuple[dict, Site | None]:
    """A copy of one kind (``+`` joins kinds), and the site whose page it is on."""
    title = base["title"]
    parts = kind.split("+")
    if "edit" in parts:
        body = light_edit(body, rng, m.vocab, rng.uniform(0.05, 0.15))
    if "truncated" in parts:
        body = truncated(body, rng)
    if "headline" in parts:
        title = headline_edit(title, body, rng, m.vocab)
    if "boilerplate" in parts or "boilerplate_html" in parts:
        site = rng.choice(m.sites)
        html = "boilerplate_html" in parts or rng.random() < 0.3
        return with_boilerplate(title, body, site, rng.sample(m.titles, 3), html=html), site
    return {"title": title, "text": body}, None


def update_chain(base: dict, body: str, additions: list[str]) -> list[dict]:
    """Two updates of a running story: each adds a paragraph (``additions``,
    new facts about the same companies) to the previous version and marks
    the headline."""
    versions = []
    paragraphs = _paragraphs(body)
    for n, addition in enumerate(additions, 1):
        paragraphs = [*paragraphs[:1], addition, *paragraphs[1:]] if n == 1 else [*paragraphs, addition]
        versions.append({"title": f"UPDATE {n}-{base['title']}", "text": "\n\n".join(paragraphs)})
    return versions


# --- hard non-copies ----------------------------------------------------------

_DATELINE = re.compile(r"^[A-Z][A-Za-z .,'-]{2,40}?(?:,|\s)\s*(?:\(\w+\)\s*)?[-–—]{1,2}\s")
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_QUARTERS = {"first": "second", "second": "third", "third": "fourth", "fourth": "first"}
_QUARTER_WORD = re.compile(r"\b(first|second|third|fourth)(?=[- ](?:quarter|half))", re.IGNORECASE)
_Q_CODE = re.compile(r"\b([QH])([1-4])\b")
_MONTH_NAMES = "January February March April May June July August September October November December".split()
_MONTH = re.compile(r"\b(" + "|".join(_MONTH_NAMES) + r")\b")


def _other_number(match: re.Match[str], rng: random.Random) -> str:
    text = match.group(0)
    if re.fullmatch(r"(19|20)\d\d", text):
        return text  # years stay: the same company, the same year
    digits = text.replace(",", "")
    value = float(digits)
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    for _ in range(10):
        new = round(value * rng.uniform(0.6, 1.5) + rng.choice((-1, 1)) * 10**-decimals, decimals)
        shown = f"{new:.{decimals}f}" if decimals else str(int(new))
        if shown != digits and new >= 0:
            return f"{int(new):,}" if "," in text and not decimals else shown
    return str(int(value) + 1)


def other_quarter(article: dict, rng: random.Random) -> dict:
    """The same results release for the next quarter: the company, the
    wording and the layout stay, the period and the figures change."""

    def shift(text: str) -> str:
        text = _QUARTER_WORD.sub(lambda m: _match_case(_QUARTERS[m.group(1).lower()], m.group(1)), text)
        text = _Q_CODE.sub(lambda m: m.group(1) + str(int(m.group(2)) % (4 if m.group(1) == "Q" else 2) + 1), text)
        text = _MONTH.sub(lambda m: _MONTH_NAMES[(_MONTH_NAMES.index(m.group(1)) + 3) % 12], text)
        return _NUMBER.sub(lambda m: _other_number(m, rng), text)

    return {**article, "title": shift(article["title"]), "text": shift(article["text"])}


def _match_case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def same_template(base: dict, donor: dict, names: list[str]) -> dict | None:
    """A press release of the base's company on the base's template (release
    line, dateline, "About" sections, contacts) with the donor's news."""
    paragraphs = _paragraphs(base["text"])
    about = next((i for i, p in enumerate(paragraphs) if p.startswith("About ")), None)
    news = next((i for i, p in enumerate(paragraphs) if _DATELINE.match(p)), None)
    if about is None or news is None or news >= about:
        return None
    other = transplant(donor, company_names(donor), names)
    body = _paragraphs(other["text"])
    dateline = _DATELINE.match(paragraphs[news])
    assert dateline is not None
    body[0] = dateline.group(0) + _DATELINE.sub("", body[0], count=1)
    text = "\n\n".join([*paragraphs[:news], *body, *paragraphs[about:]])
    return {"title": other["title"], "text": text}


# --- the evaluation set -------------------------------------------------------


def hard_non_copies(base: dict, sites: list[Site], donors, m: Materials, rng: random.Random) -> list:
    """Non-copies of a long article: its companies in other news, its press
    release template with other news, its results for another quarter, and
    another article on the page of a site that carries a copy."""
    names = company_names(base)
    hard: list[tuple[str, dict | None]] = []
    if names and rng.random() < 0.5 and (donor := next(donors, None)):
        hard.append(("same_companies", transplant(donor, company_names(donor), names)))
    if names and "FOR IMMEDIATE RELEASE" in base["text"] and (donor := next(donors, None)):
        hard.append(("same_template", same_template(base, donor, names)))
    if "earnings" in base["labels"]:
        hard.append(("other_quarter", other_quarter(base, rng)))
    if sites and rng.random() < 0.5 and (donor := next(donors, None)):
        page = with_boilerplate(
            donor["title"], clean_text(donor["text"]), sites[0], rng.sample(m.titles, 3), html=False
        )
        hard.append(("same_site", page))
    return hard


def evaluation_set(split: str, seed: int) -> list[Item]:
    """The articles of one half of the corpus with their copies and hard
    non-copies, in time order. Articles of 40 words or more get two copies,
    shorter ones (briefs) one, headline-only ones none."""
    rng = random.Random(seed)
    corpus = load_corpus()
    m = Materials([w for a in corpus for w in a["text"].split()], [a["title"] for a in corpus], make_sites(rng))
    donors = [a for a in corpus if len(a["text"].split()) >= 40 and not in_split(a["id"], split)]
    briefs = [a for a in corpus if 0 < len(a["text"].split()) < 40 and not in_split(a["id"], split)]
    unused_briefs = iter(rng.sample(briefs, len(briefs)))
    # Donors are used once: two rewrites of one donor would be copies of each
    # other. A fifth of them give the paragraphs that updates add, the rest
    # the hard non-copies.
    donors = rng.sample(donors, len(donors))
    spare = [
        (p, company_names(d))
        for d in donors[: len(donors) // 5]
        for p in _paragraphs(d["text"])
        if len(p.split()) >= 15
    ]
    unused = iter(donors[len(donors) // 5 :])
    items: list[Item] = []
    for base in (a for a in corpus if in_split(a["id"], split)):
        start = rng.uniform(0, 48 * HOUR)
        items.append(Item(base["id"], base["id"], "original", base, start))
        words = len(base["text"].split())
        if not words:
            continue
        body = clean_text(base["text"])
        kinds = rng.sample(COPY_KINDS, 2) if words >= 40 else ["brief+" + rng.choice(SHORT_COPY_KINDS)]
        sites = []
        for n, kind in enumerate(kinds):
            raw, site = make_copy(kind, base, body, rng, m)
            sites += [site] if site else []
            items.append(Item(f"{base['id']}~{kind}~{n}", base["id"], kind, raw, start + rng.uniform(-HOUR, 12 * HOUR)))
        hard: list[tuple[str, dict | None]] = []
        if words < 40:
            # Another brief on the same site: the furniture is much of both.
            if sites and (donor := next(unused_briefs, None)):
                page = with_boilerplate(donor["title"], donor["text"], sites[0], rng.sample(m.titles, 3), html=False)
                hard.append(("same_site_brief", page))
        else:
            hard += hard_non_copies(base, sites, unused, m, rng)
        for kind, raw in hard:
            if raw is not None:
                at = start + rng.uniform(-24 * HOUR, 24 * HOUR)
                items.append(Item(f"{base['id']}~{kind}", f"{base['id']}~{kind}", kind, raw, at))
        if words < 40:
            continue
        names = company_names(base)
        if rng.random() < 0.25 and len(spare) >= 2:
            additions = [
                transplant({"title": "", "text": text}, theirs, names)["text"] if names and theirs else text
                for text, theirs in (spare.pop(), spare.pop())
            ]
            at = start
            for n, raw in enumerate(update_chain(base, body, additions), 1):
                at += rng.uniform(HOUR, 6 * HOUR)
                items.append(Item(f"{base['id']}~update~{n}", base["id"], "update", raw, at))
    items.sort(key=lambda item: item.at)
    return [Item(i.id, i.story, i.kind, {**i.raw, "id": i.id}, i.at) for i in items]


# --- scoring ------------------------------------------------------------------


def _pairs(counts: Counter) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def pairwise(truth: list[str], predicted: list[str]) -> tuple[float, float]:
    """Pairwise precision and recall of a clustering against the truth."""
    together = _pairs(Counter(zip(truth, predicted, strict=True)))
    said, real = _pairs(Counter(predicted)), _pairs(Counter(truth))
    return (together / said if said else 1.0), (together / real if real else 1.0)


def per_kind(items: list[Item], predicted: list[str]) -> dict[str, float]:
    """Share of each kind given its base's story: copies should be (recall),
    hard non-copies should not (false joins)."""
    story_of = {item.id: story for item, story in zip(items, predicted, strict=True)}
    base_of = {item.id: item.id.split("~")[0] for item in items}
    joined: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        if item.kind != "original":
            joined[item.kind].append(story_of[item.id] == story_of[base_of[item.id]])
    return {kind: sum(v) / len(v) for kind, v in joined.items()}


def run_index(index: StoryIndex, items: list[Item], signatures: list) -> list[str]:
    return [index.assign(item.id, sig, item.at).story_id for item, sig in zip(items, signatures, strict=True)]


def exact_dedup(docs: list[list[str]], items: list[Item]) -> list[str]:
    """Baseline: the same cleaned text (case and spacing aside) is the same story."""
    first: dict[str, str] = {}
    out = []
    for item, sentences in zip(items, docs, strict=True):
        key = hashlib.sha1(" ".join(" ".join(sentences).lower().split()).encode()).hexdigest()
        out.append(first.setdefault(key, item.id))
    return out


# --- cost ---------------------------------------------------------------------


def per_article_us(fn, inputs: list, repeats: int) -> list[float]:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for x in inputs:
            fn(x)
        runs.append((time.perf_counter() - start) / len(inputs) * 1e6)
    return runs


def fill(signatures: list, bands: int = 16) -> tuple[StoryIndex, float]:
    """An index holding ``signatures`` (one a second, all within the window),
    and the mean cost of an assignment while it grew, in microseconds."""
    index = StoryIndex(window=float(len(signatures)), bands=bands)
    start = time.perf_counter()
    for i, sig in enumerate(signatures):
        index.assign(f"kept-{i:07d}", sig, float(i))
    return index, (time.perf_counter() - start) / len(signatures) * 1e6


def exact_fill(docs: list[list[str]]) -> float:
    """The baseline's cost per article: hash the text, look it up, keep it."""
    seen: dict[bytes, str] = {}
    start = time.perf_counter()
    for i, sentences in enumerate(docs):
        key = hashlib.sha1(" ".join(" ".join(sentences).lower().split()).encode()).digest()
        seen.setdefault(key, f"kept-{i:07d}")
    return (time.perf_counter() - start) / len(docs) * 1e6


def memory_per_article(signatures: list, bands: int = 16) -> float:
    """Bytes the index holds per kept article, measured with tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index, _ = fill(signatures, bands)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / len(index)


def show(runs: list[float]) -> str:
    return f"median {statistics.median(runs):6.1f} us  (runs: {', '.join(f'{x:.1f}' for x in runs)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SEEDS), default="report")
    parser.add_argument("--seed", type=int, help="generator seed (default: the split's pinned seed)")
    parser.add_argument("--kept", type=int, default=20000, help="articles in the index for cost and memory")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seed = SEEDS[args.split] if args.seed is None else args.seed
    where = pin_one_core()

    items = evaluation_set(args.split, seed)
    docs = [prepare(article_from_mapping(item.raw)).sentences for item in items]
    signatures = [story_signature(d) for d in docs]
    truth = [item.story for item in items]
    print(f"evaluation set: split {args.split}, seed {seed}; {len(items)} articles, {len(set(truth))} stories")
    print("  " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(item.kind for item in items).items())))
    runs = {
        "story index": run_index(StoryIndex(), items, signatures),
        "story index, 32 bands": run_index(StoryIndex(bands=32), items, signatures),
        "jaccard only": run_index(StoryIndex(containment=2.0, facts=0.0, title=0.0), items, signatures),
        "exact text (baseline)": exact_dedup(docs, items),
    }
    print(f"\n{'method':<23}{'precision':>10}{'recall':>8}   share joined to its base's story, per kind")
    for name, predicted in runs.items():
        p, r = pairwise(truth, predicted)
        shares = per_kind(items, predicted)
        kinds = (*COPY_KINDS, "update", *(f"brief+{k}" for k in SHORT_COPY_KINDS))
        copies = " ".join(f"{k}={shares[k]:.2f}" for k in kinds if k in shares)
        hard = " ".join(f"{k}={shares[k]:.2f}" for k in HARD_KINDS if k in shares)
        print(f"{name:<23}{p:>10.3f}{r:>8.3f}   copies:     {copies}")
        print(f"{'':<44}non-copies: {hard}")

    bench = [article_from_mapping(a) for a in bench_articles(args.kept)]
    bench_docs = [prepare(a).sentences for a in bench]
    sample = bench_docs[:2000]
    mean_bytes = statistics.mean(len(a.text.encode()) for a in bench[:2000])
    sig_us = per_article_us(story_signature, sample, args.repeats)
    hash_us = per_article_us(
        lambda d: hashlib.sha1(" ".join(" ".join(d).lower().split()).encode()).digest(), sample, args.repeats
    )
    prep_us = per_article_us(prepare, bench[:500], args.repeats)
    kept = [story_signature(d) for d in bench_docs]
    index, assign_us = fill(kept)
    exact_us = exact_fill(bench_docs)
    per_article = memory_per_article(kept)
    per_article_32 = memory_per_article(kept, bands=32)
    entry = statistics.mean(len(index.export(f"kept-{i:07d}") or b"") for i in range(len(kept)))
    stories = len({index.assign(f"kept-{i:07d}", s, 0.0).story_id for i, s in enumerate(kept)})

    sig, prep = statistics.median(sig_us), statistics.median(prep_us)
    print(f"\ncost per ~2 KB article (mean {mean_bytes:.0f} bytes of text), {where}:")
    print(f"  signature:                  {show(sig_us)}")
    print(f"  exact-text hash (baseline): {show(hash_us)}")
    print(f"  prepare (for scale):        {show(prep_us)}")
    print(f"  signature / prepare: {sig / prep:.2f}")
    print(
        f"  assign, index growing to {len(kept):,} kept ({stories:,} stories): {assign_us:.1f} us; "
        f"signature + assign {sig + assign_us:.0f} us ({1e6 / (sig + assign_us):,.0f}/s), "
        f"{(sig + assign_us) / exact_us:.0f}x exact-text dedup ({exact_us:.1f} us)"
    )
    print(
        f"memory: {per_article:,.0f} bytes per kept article ({per_article_32:,.0f} with 32 bands); "
        f"persisted entry {entry:.0f} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The live dashboard: a Kafka tail of the workers' outputs, fanned out to browsers.

The worker's web server serves the page (``/`` and ``/dashboard``), its assets
and a server-sent events stream (``/dashboard/events``). Behind the stream is
one :class:`DashboardFeed` per worker process: an aiokafka consumer *without* a
consumer group (so it never takes partitions from the Faust agents) that tails
``<prefix>.articles.classified``, ``<prefix>.events.stats`` and
``<prefix>.articles.deadletter``. It starts with the first browser and stops
shortly after the last one leaves.

Counting and throttling are kept apart on purpose: every classified record
advances :class:`EventCounts` (exact), while each browser's
:class:`ClientOutbox` forwards at most ``rate`` articles a second and keeps
only the newest few, so a benchmark flood cannot overwhelm a page.

The page counts stories, not copies: a record flagged ``duplicate`` (an
earlier article of its story was already published) adds nothing to the
per-type counts or to :class:`TopCompanies`, and is listed under its story's
card instead of getting a card of its own.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from newsevents.config import Settings
from newsevents.model.taxonomy import is_type_id

log = logging.getLogger("newsevents.dashboard")

STATIC_DIR = Path(__file__).resolve().parent / "static"
TIMELINE_MINUTES = 60  # the chart's window, as in the worker's /stats timeline
RECENT_ARTICLES = 30  # what a page keeps; also the newest-kept per browser queue
BACKFILL_PER_PARTITION = 20  # classified records re-read on start so the page is not empty
STATS_BACKFILL_PER_PARTITION = 50
COMPANY_BACKFILL_PER_PARTITION = 2000  # the last hour re-read for the top companies, at most this much
MAX_EVENTS = 20  # events read per article (a taxonomy has about ten types)
MAX_TYPES = 64  # event types the chart follows; more can only be junk
MAX_EVIDENCE = 3  # evidence sentences forwarded per event
MAX_SENTENCE_CHARS = 400
MAX_COMPANIES = 10  # organisations named per article, as in the contract
MAX_EVENT_COMPANIES = 5  # organisations involved per event, as in the contract
MAX_MARKETS = 5
MAX_NAME_CHARS = 120
MAX_COPIES_LISTED = 5  # copies named under a story's card; their count stays exact
TOP_COMPANIES = 10
COMPANIES_PER_MINUTE = 300  # distinct companies a minute of the panel keeps under a flood
ARTICLE_RATE = 10.0  # articles per second per browser
COUNTS_INTERVAL = 1.0  # seconds between count updates to a browser
KEEPALIVE_INTERVAL = 15.0  # a browser reconnects when it hears nothing for a while
IDLE_GRACE = 3.0  # keep the consumer through a page reload

StatsSource = Callable[[], dict]


def _text(value: Any, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _score(value: Any) -> float:
    try:
        return round(float(value), 4)
    except (TypeError, ValueError):
        return 0.0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _names(value: Any, limit: int) -> list[str]:
    """Distinct names from a list on the wire: strings only, whitespace collapsed, bounded."""
    names: list[str] = []
    seen: set[str] = set()
    for item in _list(value):
        if not isinstance(item, str):
            continue
        name = " ".join(item[: 2 * MAX_NAME_CHARS].split())[:MAX_NAME_CHARS]
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
            if len(names) == limit:
                break
    return names


def article_card(message: dict) -> dict:
    """What a page shows of a classified article: no score table, bounded evidence and names.

    Fields added after the first schema (companies, markets, ``story_id``,
    ``duplicate``) are optional: an older message is its own story and not a copy.
    """
    events = []
    for event in _list(message.get("events"))[:MAX_EVENTS]:
        if not isinstance(event, dict) or not is_type_id(event.get("type")):
            continue
        evidence = [_text(s, MAX_SENTENCE_CHARS) for s in _list(event.get("evidence"))[:MAX_EVIDENCE]]
        item: dict[str, Any] = {
            "type": event["type"],
            "score": _score(event.get("score")),
            "evidence": [s for s in evidence if s],
            "companies": _names(event.get("companies"), MAX_EVENT_COMPANIES),
        }
        if event["type"] == "market_expansion":  # the contract gives markets to this type only
            item["markets"] = _names(event.get("markets"), MAX_MARKETS)
        events.append(item)
    card: dict[str, Any] = {
        key: _text(message.get(key)) for key in ("id", "title", "url", "source", "published_at", "processed_at")
    }
    card["events"] = events
    card["companies"] = _names(message.get("companies"), MAX_COMPANIES)
    card["story"] = _text(message.get("story_id")) or card["id"]
    card["duplicate"] = message.get("duplicate") is True
    if message.get("reason"):
        card["reason"] = _text(message["reason"], 100)
    return card


def _copy_line(card: dict) -> dict:
    """A copy as listed under its story: where it appeared, not what it says again."""
    return {
        "id": card["id"],
        "title": card["title"][:300],
        "source": card["source"][:200],
        "url": card["url"],
        "processed_at": card["processed_at"],
    }


def with_copy(story: dict, copy: dict) -> dict:
    """``story`` (a page card) with one more copy listed under it; a copy seen before is not counted twice."""
    listed = [c for c in story["latest_copies"] if c["id"] != copy["id"]]
    again = len(listed) < len(story["latest_copies"])
    listed.append(_copy_line(copy))
    listed.sort(key=lambda c: c["processed_at"])
    return {**story, "copies": story["copies"] + (0 if again else 1), "latest_copies": listed[-MAX_COPIES_LISTED:]}


class RateMeter:
    """Records per second, averaged over the last ``window`` whole seconds."""

    def __init__(self, window: int = 10) -> None:
        self.window = window
        self._buckets: dict[int, int] = {}

    def add(self, n: int, now: float) -> None:
        second = int(now)
        self._buckets[second] = self._buckets.get(second, 0) + n
        if len(self._buckets) > self.window + 2:
            oldest = second - self.window - 1
            self._buckets = {s: c for s, c in self._buckets.items() if s >= oldest}

    def rate(self, now: float) -> float:
        second = int(now)
        total = sum(c for s, c in self._buckets.items() if second - self.window <= s < second)
        return round(total / self.window, 1)


class EventCounts:
    """Exact counts per event type: a per-minute timeline for the chart plus totals.

    Seeded from the worker's own stats (the table behind ``/stats``), then
    advanced by every classified record that arrived after the seed. The 24 h
    and all-time totals are re-based on each ``events.stats`` message, which
    come from whichever worker owns a type's counts, so they stay right with
    several workers.
    """

    def __init__(self, minutes: int = TIMELINE_MINUTES) -> None:
        self.minutes = minutes
        self.types: list[str] = []
        self.articles = 0  # classified records in the topic (seeded from offsets)
        self.deadletters = 0  # dead letters in the topic (seeded from offsets)
        self.version = 0  # bumps on every change, so idle browsers get no updates
        self.rate = RateMeter()
        self._buckets: dict[str, dict[int, int]] = {}  # type -> minute -> count
        self._base: dict[str, tuple[int, int]] = {}  # type -> (last_24h, total) at _base_at
        self._base_at: dict[str, float] = {}
        self._since: dict[str, int] = {}  # type -> counted since the base

    def _know(self, event_type: str) -> bool:
        """Follow a type from now on; False past ``MAX_TYPES`` (a flood of junk types stays bounded)."""
        if event_type not in self._buckets:
            if len(self.types) >= MAX_TYPES:
                return False
            self.types.append(event_type)
            self._buckets[event_type] = {}
        return True

    def seed(self, stats: dict, *, now_minute: int, at: float) -> None:
        """Start from a ``/stats`` document (``timeline`` and ``types`` per type)."""
        timeline = stats.get("timeline") or {}
        summaries = stats.get("types") or {}
        for event_type in [*timeline, *summaries]:
            self._know(event_type)
        for event_type, series in timeline.items():
            if event_type in self._buckets:
                first = now_minute - len(series) + 1
                self._buckets[event_type] = {first + i: int(n) for i, n in enumerate(series) if n}
        for event_type, summary in summaries.items():
            if event_type not in self._buckets:
                continue
            self._base[event_type] = (int(summary.get("last_24h", 0)), int(summary.get("total", 0)))
            self._base_at[event_type] = at
        self.version += 1

    def add_article(self, event_types: Iterable[str], *, minute: int, now: float) -> None:
        """Count one classified article (and each event type it carries; none for a copy)."""
        self.articles += 1
        self.rate.add(1, now)
        for event_type in event_types:
            if not self._know(event_type):
                continue
            bucket = self._buckets[event_type]
            bucket[minute] = bucket.get(minute, 0) + 1
            self._since[event_type] = self._since.get(event_type, 0) + 1
        self.version += 1

    def add_deadletter(self) -> None:
        self.deadletters += 1
        self.version += 1

    def apply_stats(self, message: dict, *, at: float) -> None:
        """Re-base a type's 24 h and total counts on a worker's ``events.stats`` message.

        Messages older than the base we hold (re-read history) are ignored.
        """
        event_type = message.get("type")
        if not isinstance(event_type, str) or at < self._base_at.get(event_type, 0.0):
            return
        if not is_type_id(event_type) or not self._know(event_type):
            return
        self._base[event_type] = (_count(message.get("last_24h")), _count(message.get("total")))
        self._base_at[event_type] = at
        self._since[event_type] = 0
        self.version += 1

    def snapshot(self, *, now_minute: int, now: float) -> dict:
        """JSON for the page: timeline (oldest minute first) and totals per type."""
        first = now_minute - self.minutes + 1
        timeline: dict[str, list[int]] = {}
        totals: dict[str, dict[str, int]] = {}
        for event_type in self.types:
            bucket = self._buckets[event_type]
            # Old minutes are dropped here rather than on every add: adds are the hot path.
            for minute in [m for m in bucket if m < first]:
                del bucket[minute]
            series = [bucket.get(m, 0) for m in range(first, now_minute + 1)]
            last_24h, total = self._base.get(event_type, (0, 0))
            since = self._since.get(event_type, 0)
            last_hour = sum(series)
            timeline[event_type] = series
            totals[event_type] = {
                "last_hour": last_hour,
                "last_24h": max(last_24h + since, last_hour),
                "total": max(total + since, last_hour),
            }
        return {
            "minute": now_minute,
            "types": list(self.types),
            "timeline": timeline,
            "totals": totals,
            "articles": self.articles,
            "deadletters": self.deadletters,
            "rate": self.rate.rate(now),
        }


@dataclass(slots=True)
class _Tally:
    name: str  # as last written
    stories: int = 0
    types: dict[str, int] = field(default_factory=dict)  # stories per event type


class TopCompanies:
    """Stories per company over the last ``minutes``: the page's "top companies" panel.

    A story counts for the organisations *involved in its events*
    (``events[].companies``), each once however many of its events name it;
    callers pass first articles only, so copies never count. Organisations an
    article merely names (a competitor, an analyst's bank) do not count: the
    panel answers "who is in the news for these events", and the involvement
    model is also the more precise of the two (see ``docs/entities.md``).

    Per-minute buckets roll off like the chart's, and names match ignoring
    case. A minute keeps at most ``per_minute`` companies: past that its least
    counted half is dropped and the panel says its counts are approximate, so
    memory stays bounded under a flood of distinct names.
    """

    def __init__(
        self,
        *,
        minutes: int = TIMELINE_MINUTES,
        per_minute: int = COMPANIES_PER_MINUTE,
        top: int = TOP_COMPANIES,
        since: float = 0.0,
    ) -> None:
        self.minutes = minutes
        self.per_minute = per_minute
        self.top = top
        self.since = since  # counts are complete for stories from this time (epoch seconds) on
        self.version = 0
        self._buckets: dict[int, dict[str, _Tally]] = {}  # minute -> company key -> tally
        self._totals: dict[str, int] = {}  # company key -> stories over the buckets kept
        self._trimmed: set[int] = set()  # minutes that dropped companies

    def cover_from(self, at: float) -> None:
        """Counts before ``at`` are incomplete (history was re-read only from there)."""
        if at > self.since:
            self.since = at
            self.version += 1

    def add(self, events: list[dict], *, minute: int, now_minute: int) -> None:
        """Count one story (a page card's ``events``) at ``minute``."""
        first = now_minute - self.minutes + 1
        if minute < first:
            return
        involved: dict[str, tuple[str, set[str]]] = {}
        for event in events:
            for name in event["companies"]:
                involved.setdefault(name.casefold(), (name, set()))[1].add(event["type"])
        if not involved:
            return
        bucket = self._buckets.get(minute)
        if bucket is None:
            self._drop_before(first)  # once a minute: old buckets go even if no page asks
            bucket = self._buckets[minute] = {}
        for key, (name, types) in involved.items():
            tally = bucket.get(key)
            if tally is None:
                tally = bucket[key] = _Tally(name)
            tally.name = name
            tally.stories += 1
            for event_type in types:
                tally.types[event_type] = tally.types.get(event_type, 0) + 1
            self._totals[key] = self._totals.get(key, 0) + 1
        if len(bucket) > self.per_minute:
            ranked = sorted(bucket.items(), key=lambda item: item[1].stories, reverse=True)
            for key, tally in ranked[self.per_minute // 2 :]:
                self._uncount(key, tally.stories)
            self._buckets[minute] = dict(ranked[: self.per_minute // 2])
            self._trimmed.add(minute)
        self.version += 1

    def _uncount(self, key: str, stories: int) -> None:
        left = self._totals[key] - stories
        if left:
            self._totals[key] = left
        else:
            del self._totals[key]

    def _drop_before(self, first: int) -> None:
        for minute in [m for m in self._buckets if m < first]:
            for key, tally in self._buckets.pop(minute).items():
                self._uncount(key, tally.stories)
            self._trimmed.discard(minute)

    def snapshot(self, *, now_minute: int) -> dict:
        """JSON for the page: the ``top`` companies, most stories first, with stories per type."""
        self._drop_before(now_minute - self.minutes + 1)
        # Running totals rank the companies; only the top few are looked up minute by minute.
        ranked = heapq.nsmallest(self.top, self._totals.items(), key=lambda item: (-item[1], item[0]))
        minutes = sorted(self._buckets)  # oldest first, so the latest spelling wins
        top = []
        for key, stories in ranked:
            total = _Tally("", stories)
            for minute in minutes:
                tally = self._buckets[minute].get(key)
                if tally is not None:
                    total.name = tally.name
                    for event_type, n in tally.types.items():
                        total.types[event_type] = total.types.get(event_type, 0) + n
            top.append(total)
        return {
            "minutes": self.minutes,
            "since": self.since,
            "approximate": bool(self._trimmed),
            "top": [
                {"name": t.name, "stories": t.stories, "types": dict(sorted(t.types.items(), key=lambda i: -i[1]))}
                for t in top
            ],
        }


class ClientOutbox:
    """One browser's queue of story cards: newest kept, at most ``rate`` released a second.

    A token bucket (``burst`` tokens, refilled at ``rate``) paces releases; the
    bounded queue drops the oldest waiting card when a new story arrives, so
    under a flood a page sees a steady sample of the newest articles. A newer
    version of a waiting story (one more copy) replaces it in its place, so a
    flood of copies of one story costs one release.
    """

    def __init__(
        self,
        *,
        rate: float = ARTICLE_RATE,
        burst: int | None = None,
        keep: int = RECENT_ARTICLES,
        now: float | None = None,
    ) -> None:
        self.rate = rate
        self.burst = float(burst if burst is not None else max(1, int(rate)))
        self.keep = keep
        self.pending: OrderedDict[str, dict] = OrderedDict()  # story key -> its newest card
        self.skipped = 0  # story cards never forwarded to this browser
        self.wake = asyncio.Event()
        self._tokens = self.burst
        self._refilled = time.monotonic() if now is None else now

    def offer(self, card: dict) -> None:
        key = card["story"]
        if key not in self.pending and len(self.pending) >= self.keep:
            self.pending.popitem(last=False)
            self.skipped += 1
        self.pending[key] = card
        self.wake.set()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._refilled) * self.rate)
        self._refilled = now

    def take(self, now: float) -> list[dict]:
        """The cards that may go out now, oldest first."""
        self._refill(now)
        n = min(int(self._tokens), len(self.pending))
        self._tokens -= n
        return [self.pending.popitem(last=False)[1] for _ in range(n)]

    def delay(self, now: float) -> float | None:
        """Seconds until the next waiting article may go out; None when none waits."""
        if not self.pending:
            return None
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)


class FeedState:
    """Everything the feed knows, fed one Kafka record at a time (no I/O: testable)."""

    def __init__(self, settings: Settings) -> None:
        topics = settings.topics
        self.kinds = {topics.classified: "classified", topics.stats: "stats", topics.deadletter: "deadletter"}
        self.counts = EventCounts()
        self.companies = TopCompanies()
        self.recent: list[dict] = []  # story cards, newest last, by their first article's processed_at
        self.clients: set[ClientOutbox] = set()
        self.live_from: dict[tuple[str, int], int] = {}  # offsets below these were counted by the seed
        self.backfilling: set[tuple[str, int]] = set()  # classified partitions still being re-read
        self.capped: set[tuple[str, int]] = set()  # partitions whose last hour was re-read only in part
        self.seeded = False
        self._snapshot: tuple[tuple, dict] | None = None

    @property
    def version(self) -> tuple[int, int]:
        """Changes whenever a snapshot would."""
        return self.counts.version, self.companies.version

    def start(
        self,
        stats: dict | None,
        *,
        live_from: dict[tuple[str, int], int],
        articles: int,
        deadletters: int,
        now: float,
        backfill: Iterable[tuple[str, int]] = (),
        capped: Iterable[tuple[str, int]] = (),
    ) -> None:
        """Reset to a fresh seed: worker stats plus topic sizes at ``live_from``.

        ``backfill`` names the partitions re-read from below ``live_from``;
        ``capped`` those whose re-read starts later than an hour ago, so the
        top companies are complete only from their first record re-read.
        """
        self.counts = EventCounts()
        self.counts.seed(stats or {}, now_minute=int(now // 60), at=now)
        self.counts.articles = articles
        self.counts.deadletters = deadletters
        self.companies = TopCompanies(since=now - TIMELINE_MINUTES * 60)
        self.live_from = dict(live_from)
        self.backfilling = set(backfill)
        self.capped = set(capped)
        self.recent = []
        self._snapshot = None
        self.seeded = True

    def handle_record(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        value: bytes | None,
        *,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        kind = self.kinds.get(topic)
        live = offset >= self.live_from.get((topic, partition), 0)
        if kind == "deadletter":
            if live:
                self.counts.add_deadletter()
            return
        try:
            message = json.loads(value) if value else None
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        at = timestamp_ms / 1000 if timestamp_ms and timestamp_ms > 0 else now
        if kind == "stats":
            self.counts.apply_stats(message, at=at)
        elif kind == "classified":
            card = article_card(message)
            card["story"] = card["story"] or f"{topic}:{partition}:{offset}"  # no id at all: its own story
            # A clock ahead of ours counts now, not in a minute the chart has not reached.
            minute = min(int(at // 60), int(now // 60))
            if (topic, partition) in self.capped:
                self.capped.discard((topic, partition))
                self.companies.cover_from(at)
            story = self._remember(card)
            if not card["duplicate"]:
                self.companies.add(card["events"], minute=minute, now_minute=int(now // 60))
            if live:
                types = [] if card["duplicate"] else [e["type"] for e in card["events"]]
                self.counts.add_article(types, minute=minute, now=now)
                for client in self.clients:
                    client.offer(story)
            elif self.backfilling:
                # Re-read history goes out once, as the newest few across all
                # partitions, rather than in whatever order partitions arrive.
                if offset >= self.live_from.get((topic, partition), 0) - 1:
                    self.backfilling.discard((topic, partition))
                if not self.backfilling:
                    for client in self.clients:
                        for old in self.recent:
                            client.offer(old)

    def _remember(self, card: dict) -> dict:
        """Add an article to the story cards; returns its story's card as it now stands."""
        at = next((i for i, c in enumerate(self.recent) if c["story"] == card["story"]), None)
        if at is None:
            story = {**card, "copies": 0, "latest_copies": []}
        else:
            known = self.recent.pop(at)
            carried = {**card, "copies": known["copies"], "latest_copies": known["latest_copies"]}
            if card["id"] == known["id"]:
                story = carried  # the same article again (re-delivered): its newest version, same copies
            elif known["duplicate"] and not card["duplicate"]:
                # The first article after one of its copies (partitions are read in any order).
                story = with_copy(carried, known)
            else:
                story = with_copy(known, card)
        # Partitions are re-read one after another, so keep the list ordered by time.
        bisect.insort(self.recent, story, key=lambda c: c["processed_at"])
        del self.recent[:-RECENT_ARTICLES]
        return story

    def snapshot(self, now: float | None = None) -> dict:
        """Counts and top companies for the page (computed once a second at most, for every browser)."""
        now = time.time() if now is None else now
        key = (*self.version, int(now))
        if self._snapshot is None or self._snapshot[0] != key:
            minute = int(now // 60)
            snap = self.counts.snapshot(now_minute=minute, now=now)
            snap["companies"] = self.companies.snapshot(now_minute=minute)
            self._snapshot = (key, snap)
        return self._snapshot[1]


class DashboardFeed:
    """The Kafka tail behind the SSE stream; runs only while browsers are connected."""

    def __init__(
        self,
        settings: Settings,
        *,
        stats: StatsSource | None = None,
        rate: float = ARTICLE_RATE,
        idle_grace: float = IDLE_GRACE,
    ) -> None:
        self.settings = settings
        self.state = FeedState(settings)
        self.status = "idle"
        self.closing = False
        self._stats = stats
        self._rate = rate
        self._idle_grace = idle_grace
        self._task: asyncio.Task | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self) -> ClientOutbox:
        """A queue for a new browser; starts the consumer for the first one."""
        client = ClientOutbox(rate=self._rate)
        self.state.clients.add(client)
        if self._idle_timer:
            self._idle_timer.cancel()
            self._idle_timer = None
        # A task already cancelled (idle) may still be closing its consumer: start afresh after it.
        if not self.closing and (self._task is None or self._task.done() or self._task.cancelling()):
            self.status = "starting"
            self._task = asyncio.create_task(self._run(after=self._task), name="dashboard-feed")
        return client

    def unsubscribe(self, client: ClientOutbox) -> None:
        self.state.clients.discard(client)
        if not self.state.clients and self.running and not self.closing:
            self._idle_timer = asyncio.get_running_loop().call_later(self._idle_grace, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle_timer = None
        if not self.state.clients and self._task:
            self._task.cancel()

    async def close(self) -> None:
        """Stop for good (worker shutdown): end every stream, stop the consumer."""
        self.closing = True
        for client in self.state.clients:
            client.wake.set()
        if self._idle_timer:
            self._idle_timer.cancel()
        if self._task:
            self._task.cancel()
            await asyncio.wait([self._task])

    def _seed_stats(self) -> dict | None:
        try:
            return self._stats() if self._stats else None
        except Exception:  # the chart then starts empty; not a reason to stop the feed
            log.exception("dashboard feed: could not read the worker's stats")
            return None

    def hello(self) -> dict:
        """First message of a stream: what a page needs before live updates."""
        return {
            "status": self.status,
            "recent": list(self.state.recent),
            "counts": self.state.snapshot() if self.state.seeded else None,
        }

    async def _run(self, after: asyncio.Task | None = None) -> None:
        if after is not None:
            await asyncio.wait([after])  # one consumer at a time
        delay = 1.0
        try:
            while not self.closing:
                try:
                    await self._tail()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Kafka down or topics missing: say so, then retry
                    if self.status == "live":
                        delay = 1.0  # it had been working: retry soon
                    self.status = "kafka unavailable"
                    log.warning("dashboard feed: %s; retrying in %.0fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
        finally:
            self.status = "idle"

    async def _tail(self) -> None:
        from aiokafka import AIOKafkaConsumer

        from newsevents.streams.clients import client_args

        topics = self.settings.topics
        # Subscribing without a group makes aiokafka assign every partition of
        # these topics to us at start (and follow new ones), with no group to join.
        consumer = AIOKafkaConsumer(
            topics.classified,
            topics.stats,
            topics.deadletter,
            **client_args(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id=f"{self.settings.app_id}-dashboard",
        )
        try:
            await consumer.start()  # inside the try: a failed start still has connections to close
            tps = sorted(consumer.assignment())
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            # Seed right after reading the end offsets: the stats then cover
            # about what lies below them, and we count only what comes after.
            now = time.time()
            stats = self._seed_stats()
            size = {
                kind: sum(end[tp] - begin[tp] for tp in tps if tp.topic == topic)
                for kind, topic in (("classified", topics.classified), ("deadletter", topics.deadletter))
            }
            back = {
                topics.classified: BACKFILL_PER_PARTITION,
                topics.stats: STATS_BACKFILL_PER_PARTITION,
                topics.deadletter: 0,
            }
            seek = {tp: max(begin[tp], end[tp] - back[tp.topic]) for tp in tps}
            # The top companies have no seed but history: re-read the last
            # hour of classified records, up to a bound per partition.
            classified = [tp for tp in tps if tp.topic == topics.classified]
            hour_ago = int((now - TIMELINE_MINUTES * 60) * 1000)
            found = await consumer.offsets_for_times(dict.fromkeys(classified, hour_ago)) if classified else {}
            capped = []
            for tp in classified:
                hour = found[tp].offset if found.get(tp) is not None else end[tp]
                floor = max(begin[tp], end[tp] - COMPANY_BACKFILL_PER_PARTITION)
                seek[tp] = max(floor, min(seek[tp], hour))
                if hour < floor:
                    capped.append((tp.topic, tp.partition))
            self.state.start(
                stats,
                live_from={(tp.topic, tp.partition): end[tp] for tp in tps},
                articles=size["classified"],
                deadletters=size["deadletter"],
                now=now,
                backfill=[(tp.topic, tp.partition) for tp in classified if seek[tp] < end[tp]],
                capped=capped,
            )
            for tp, offset in seek.items():
                consumer.seek(tp, offset)
            self.status = "live"
            log.info("dashboard feed tailing %d partitions", len(tps))
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for tp, records in batch.items():
                    for record in records:
                        self.state.handle_record(tp.topic, tp.partition, record.offset, record.timestamp, record.value)
        finally:
            try:
                await consumer.stop()
            except asyncio.CancelledError:
                # aiokafka re-raises the cancellation of its own helper task when
                # stopped right after start; only a cancellation of ours counts.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
            log.info("dashboard feed stopped")


def _sse(event: str, data: Any) -> bytes:
    # json.dumps escapes newlines, so one data line always holds the whole message.
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _gone(request: web.Request) -> bool:
    # aiohttp does not cancel handlers when a client leaves; look at the socket.
    transport = request.transport
    return transport is None or transport.is_closing()


async def _pump(feed: DashboardFeed, client: ClientOutbox, request: web.Request, response: web.StreamResponse) -> None:
    """Write articles (paced by the outbox) and count updates until the browser leaves."""
    sent_counts: tuple = ()
    next_counts = 0.0
    last_write = time.monotonic()
    while not feed.closing and not _gone(request):
        now = time.monotonic()
        chunk = b"".join(_sse("article", a) for a in client.take(now))
        if now >= next_counts:
            next_counts = now + COUNTS_INTERVAL
            wall = time.time()
            key = (feed.state.version, int(wall // 60), feed.status, client.skipped)
            if key != sent_counts and feed.state.seeded:
                sent_counts = key
                chunk += _sse("counts", {**feed.state.snapshot(wall), "status": feed.status, "skipped": client.skipped})
            elif now - last_write >= KEEPALIVE_INTERVAL:
                chunk += _sse("ping", {"status": feed.status})
        if chunk:
            await response.write(chunk)
            last_write = now
        client.wake.clear()
        wait = max(0.01, next_counts - time.monotonic())
        delay = client.delay(time.monotonic())
        if delay is not None:
            await asyncio.sleep(min(wait, max(delay, 0.01)))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.wake.wait(), timeout=wait)


def install_dashboard(app: Any, settings: Settings, stats: StatsSource) -> DashboardFeed:
    """Add the dashboard routes to a Faust app's aiohttp web server (before it starts).

    ``stats`` returns the worker's current counts (the ``/stats`` document),
    which seed the page's chart.
    """
    web_app: web.Application | None = getattr(app.web, "web_app", None)
    if web_app is None:
        raise RuntimeError("the dashboard needs Faust's aiohttp web driver")
    feed = DashboardFeed(settings, stats=stats)

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "dashboard.html", headers={"Cache-Control": "no-cache"})

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        client = feed.subscribe()
        try:
            await response.write(b"retry: 2000\n\n" + _sse("hello", feed.hello()))
            await _pump(feed, client, request, response)
        except ConnectionResetError:
            pass  # the browser went away mid-write
        finally:
            feed.unsubscribe(client)
        return response

    async def feed_status(request: web.Request) -> web.Response:
        return web.json_response({"running": feed.running, "status": feed.status, "clients": len(feed.state.clients)})

    async def on_shutdown(_: web.Application) -> None:
        await feed.close()

    # Registered before Faust's own index blueprint, which also mounts "/":
    # aiohttp resolves same-path resources in registration order, so ours wins.
    router = web_app.router
    router.add_get("/", page)
    router.add_get("/dashboard", page)
    router.add_get("/dashboard/events", events)
    router.add_get("/dashboard/feed", feed_status)
    router.add_static("/dashboard/static", STATIC_DIR)
    # on_shutdown runs before aiohttp waits for open requests, so streams end promptly.
    web_app.on_shutdown.append(on_shutdown)
    app.dashboard_feed = feed
    return feed

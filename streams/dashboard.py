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
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from newsevents.config import Settings

log = logging.getLogger("newsevents.dashboard")

STATIC_DIR = Path(__file__).resolve().parent / "static"
TIMELINE_MINUTES = 60  # the chart's window, as in the worker's /stats timeline
RECENT_ARTICLES = 30  # what a page keeps; also the newest-kept per browser queue
BACKFILL_PER_PARTITION = 20  # classified records re-read on start so the page is not empty
STATS_BACKFILL_PER_PARTITION = 50
MAX_EVIDENCE = 3  # evidence sentences forwarded per event
MAX_SENTENCE_CHARS = 400
ARTICLE_RATE = 10.0  # articles per second per browser
COUNTS_INTERVAL = 1.0  # seconds between count updates to a browser
KEEPALIVE_INTERVAL = 15.0  # a browser reconnects when it hears nothing for a while
IDLE_GRACE = 3.0  # keep the consumer through a page reload

StatsSource = Callable[[], dict]


def _text(value: Any, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _score(value: Any) -> float:
    try:
        return round(float(value), 4)
    except (TypeError, ValueError):
        return 0.0


def article_card(message: dict) -> dict:
    """What a page shows of a classified article: no score table, bounded evidence."""
    events = []
    for event in message.get("events") or []:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            continue
        evidence = [_text(s, MAX_SENTENCE_CHARS) for s in (event.get("evidence") or [])[:MAX_EVIDENCE]]
        events.append(
            {"type": event["type"], "score": _score(event.get("score")), "evidence": [s for s in evidence if s]}
        )
    card: dict[str, Any] = {
        key: _text(message.get(key)) for key in ("id", "title", "url", "source", "published_at", "processed_at")
    }
    card["events"] = events
    if message.get("reason"):
        card["reason"] = _text(message["reason"], 100)
    return card


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

    def _know(self, event_type: str) -> None:
        if event_type not in self._buckets:
            self.types.append(event_type)
            self._buckets[event_type] = {}

    def seed(self, stats: dict, *, now_minute: int, at: float) -> None:
        """Start from a ``/stats`` document (``timeline`` and ``types`` per type)."""
        timeline = stats.get("timeline") or {}
        summaries = stats.get("types") or {}
        for event_type in [*timeline, *summaries]:
            self._know(event_type)
        for event_type, series in timeline.items():
            first = now_minute - len(series) + 1
            self._buckets[event_type] = {first + i: int(n) for i, n in enumerate(series) if n}
        for event_type, summary in summaries.items():
            self._base[event_type] = (int(summary.get("last_24h", 0)), int(summary.get("total", 0)))
            self._base_at[event_type] = at
        self.version += 1

    def add_article(self, event_types: Iterable[str], *, minute: int, now: float) -> None:
        """Count one classified article (and each event type it carries)."""
        self.articles += 1
        self.rate.add(1, now)
        for event_type in event_types:
            self._know(event_type)
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
        self._know(event_type)
        self._base[event_type] = (int(message.get("last_24h") or 0), int(message.get("total") or 0))
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


class ClientOutbox:
    """One browser's queue of articles: newest kept, at most ``rate`` released a second.

    A token bucket (``burst`` tokens, refilled at ``rate``) paces releases; the
    bounded deque drops the oldest waiting article when a newer one arrives, so
    under a flood a page sees a steady sample of the newest articles.
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
        self.pending: deque[dict] = deque(maxlen=keep)
        self.skipped = 0  # articles never forwarded to this browser
        self.wake = asyncio.Event()
        self._tokens = self.burst
        self._refilled = time.monotonic() if now is None else now

    def offer(self, article: dict) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.skipped += 1
        self.pending.append(article)
        self.wake.set()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._refilled) * self.rate)
        self._refilled = now

    def take(self, now: float) -> list[dict]:
        """The articles that may go out now, oldest first."""
        self._refill(now)
        n = min(int(self._tokens), len(self.pending))
        self._tokens -= n
        return [self.pending.popleft() for _ in range(n)]

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
        self.recent: list[dict] = []  # newest last, by processed_at
        self.clients: set[ClientOutbox] = set()
        self.live_from: dict[tuple[str, int], int] = {}  # offsets below these were counted by the seed
        self.backfilling: set[tuple[str, int]] = set()  # classified partitions still being re-read
        self.seeded = False

    def start(
        self,
        stats: dict | None,
        *,
        live_from: dict[tuple[str, int], int],
        articles: int,
        deadletters: int,
        now: float,
        backfill: Iterable[tuple[str, int]] = (),
    ) -> None:
        """Reset to a fresh seed: worker stats plus topic sizes at ``live_from``.

        ``backfill`` names the partitions re-read from below ``live_from``.
        """
        self.counts = EventCounts()
        self.counts.seed(stats or {}, now_minute=int(now // 60), at=now)
        self.counts.articles = articles
        self.counts.deadletters = deadletters
        self.live_from = dict(live_from)
        self.backfilling = set(backfill)
        self.recent = []
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
            self._remember(card)
            if live:
                self.counts.add_article([e["type"] for e in card["events"]], minute=int(at // 60), now=now)
                for client in self.clients:
                    client.offer(card)
            elif self.backfilling:
                # Re-read history goes out once, as the newest few across all
                # partitions, rather than in whatever order partitions arrive.
                if offset >= self.live_from.get((topic, partition), 0) - 1:
                    self.backfilling.discard((topic, partition))
                if not self.backfilling:
                    for client in self.clients:
                        for old in self.recent:
                            client.offer(old)

    def _remember(self, card: dict) -> None:
        # Partitions are re-read one after another, so keep the list ordered by time.
        bisect.insort(self.recent, card, key=lambda c: c["processed_at"])
        del self.recent[:-RECENT_ARTICLES]

    def snapshot(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        return self.counts.snapshot(now_minute=int(now // 60), now=now)


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
            self.state.start(
                stats,
                live_from={(tp.topic, tp.partition): end[tp] for tp in tps},
                articles=size["classified"],
                deadletters=size["deadletter"],
                now=now,
                backfill=[
                    (tp.topic, tp.partition) for tp in tps if tp.topic == topics.classified and seek[tp] < end[tp]
                ],
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
            key = (feed.state.counts.version, int(wall // 60), feed.status, client.skipped)
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

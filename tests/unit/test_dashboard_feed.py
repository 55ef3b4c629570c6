"""The dashboard feed without a broker: throttling, exact counting, SSE framing."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from newsevents.config import Settings
from newsevents.streams.dashboard import (
    ClientOutbox,
    DashboardFeed,
    EventCounts,
    FeedState,
    article_card,
    install_dashboard,
)

SETTINGS = Settings(topic_prefix="t")
CLASSIFIED = SETTINGS.topics.classified
NOW = 1_800_000_000.0  # a fixed wall clock, on a minute boundary
MINUTE = int(NOW // 60)


def classified(i: int, types: list[str], *, at: str | None = None) -> bytes:
    events = [{"type": t, "score": 0.9, "evidence": [f"Sentence {i} about {t}."]} for t in types]
    return json.dumps(
        {
            "schema": "newsevents.classified/v1",
            "id": f"a{i}",
            "title": f"Article {i}",
            "url": "",
            "source": "wire",
            "published_at": "",
            "events": events,
            "scores": {},
            "processed_at": at or f"2027-01-15T08:00:{i % 60:02d}.{i:06d}Z",
        }
    ).encode()


def fresh_state(live_from: int = 0, partitions: int = 1) -> FeedState:
    state = FeedState(SETTINGS)
    tps = [(CLASSIFIED, p) for p in range(partitions)]
    state.start(
        None,
        live_from=dict.fromkeys(tps, live_from),
        articles=0,
        deadletters=0,
        now=NOW,
        backfill=tps if live_from else (),
    )
    return state


def test_outbox_releases_at_most_the_rate_and_keeps_the_newest():
    box = ClientOutbox(rate=10, keep=30, now=0.0)
    for i in range(1000):
        box.offer({"id": i})
    first = box.take(0.0)
    assert [a["id"] for a in first] == list(range(970, 980))  # the burst, from the newest 30
    assert box.skipped == 970
    assert box.take(0.05) == []  # no token yet
    assert 0.04 < box.delay(0.05) <= 0.05
    assert len(box.take(0.5)) == 5
    released = len(first) + 5 + sum(len(box.take(t / 10)) for t in range(6, 31))
    assert released == 30  # nothing more was waiting
    assert box.delay(3.0) is None


def test_outbox_over_time_never_exceeds_burst_plus_rate():
    box = ClientOutbox(rate=10, now=0.0)
    released = 0
    for tick in range(1, 101):  # 10 s of a 1000/s flood, 100 ms ticks
        now = tick / 10
        for i in range(100):
            box.offer({"id": (tick, i)})
        released += len(box.take(now))
    assert released <= 10 + 10 * 10


def test_every_article_is_counted_even_when_few_are_forwarded():
    state = fresh_state()
    box = ClientOutbox(rate=10, now=0.0)
    state.clients.add(box)
    for i in range(5000):
        types = ["acquisition"] if i % 2 == 0 else (["funding", "earnings"] if i % 5 == 1 else [])
        state.handle_record(CLASSIFIED, 0, i, int(NOW * 1000), classified(i, types), now=NOW)
    snap = state.snapshot(NOW)
    assert snap["articles"] == 5000
    assert snap["totals"]["acquisition"]["last_hour"] == 2500
    assert snap["totals"]["funding"] == {"last_hour": 500, "last_24h": 500, "total": 500}
    assert snap["timeline"]["earnings"][-1] == 500  # all in the current minute
    assert len(box.take(0.0)) == 10 and box.skipped == 4970
    assert len(state.recent) == 30


def test_backfill_is_shown_once_complete_and_not_counted_twice():
    state = fresh_state(live_from=20, partitions=2)  # offsets < 20 were in the seed stats
    box = ClientOutbox(now=0.0)
    state.clients.add(box)
    for offset in range(20):
        state.handle_record(CLASSIFIED, 0, offset, None, classified(offset, ["partnership"]), now=NOW)
    assert not box.pending  # partition 1 is still being re-read
    for offset in range(20):
        state.handle_record(CLASSIFIED, 1, offset, None, classified(100 + offset, ["partnership"]), now=NOW)
    assert len(box.pending) == 30 and box.skipped == 0  # the newest 30 of both, in time order
    assert [a["processed_at"] for a in box.pending] == sorted(a["processed_at"] for a in box.pending)
    for offset in range(20, 25):
        state.handle_record(CLASSIFIED, 0, offset, int(NOW * 1000), classified(offset, ["partnership"]), now=NOW)
    assert state.snapshot(NOW)["totals"]["partnership"]["last_hour"] == 5
    assert box.pending[-1]["id"] == "a24"


def test_recent_articles_stay_in_time_order_across_partitions():
    state = fresh_state()
    for offset, second in enumerate([5, 1, 9, 3]):
        state.handle_record(
            CLASSIFIED, offset % 2, offset, None, classified(offset, [], at=f"2027-01-15T08:00:0{second}.000Z"), now=NOW
        )
    assert [c["processed_at"][17:19] for c in state.recent] == ["01", "03", "05", "09"]


def test_seed_timeline_rolls_with_the_clock():
    counts = EventCounts(minutes=5)
    counts.seed(
        {"timeline": {"funding": [1, 0, 0, 2, 3]}, "types": {"funding": {"last_24h": 9, "total": 40}}},
        now_minute=MINUTE,
        at=NOW,
    )
    counts.add_article(["funding"], minute=MINUTE + 1, now=NOW + 60)
    snap = counts.snapshot(now_minute=MINUTE + 1, now=NOW + 60)
    assert snap["timeline"]["funding"] == [0, 0, 2, 3, 1]
    assert snap["totals"]["funding"] == {"last_hour": 6, "last_24h": 10, "total": 41}


def test_stats_messages_rebase_totals_and_old_ones_are_ignored():
    counts = EventCounts()
    counts.seed({"types": {"funding": {"last_24h": 9, "total": 40}}}, now_minute=MINUTE, at=NOW)
    counts.apply_stats({"type": "funding", "last_24h": 1, "total": 1}, at=NOW - 5)  # re-read history
    counts.add_article(["funding"], minute=MINUTE, now=NOW)
    assert counts.snapshot(now_minute=MINUTE, now=NOW)["totals"]["funding"]["total"] == 41
    counts.apply_stats({"type": "funding", "last_24h": 12, "total": 45}, at=NOW + 2)
    counts.add_article(["funding"], minute=MINUTE, now=NOW + 3)
    assert counts.snapshot(now_minute=MINUTE, now=NOW)["totals"]["funding"]["last_24h"] == 13
    counts.apply_stats({"type": "legal_regulatory", "last_24h": 4, "total": 7}, at=NOW - 30)  # unknown type: taken
    assert counts.snapshot(now_minute=MINUTE, now=NOW)["totals"]["legal_regulatory"]["total"] == 7


def test_dead_letters_and_junk_records():
    state = FeedState(SETTINGS)
    dead = SETTINGS.topics.deadletter
    state.start(None, live_from={(dead, 0): 3}, articles=7, deadletters=3, now=NOW)
    for offset in range(5):
        state.handle_record(dead, 0, offset, None, b"{}", now=NOW)
    state.handle_record(CLASSIFIED, 0, 0, None, b"not json", now=NOW)
    state.handle_record(CLASSIFIED, 0, 1, None, b"[1, 2]", now=NOW)
    snap = state.snapshot(NOW)
    assert (snap["deadletters"], snap["articles"]) == (5, 7)


def test_article_card_bounds_what_goes_to_browsers():
    card = article_card(
        {
            "id": "x",
            "title": 5,
            "events": [{"type": "funding", "score": "0.5", "evidence": ["s" * 1000] * 9}, {"score": 1}, "junk"],
        }
    )
    assert card["title"] == ""
    assert len(card["events"]) == 1
    assert len(card["events"][0]["evidence"]) == 3 and len(card["events"][0]["evidence"][0]) == 400
    assert card["events"][0]["score"] == 0.5


def _stub_tail(feed: DashboardFeed, log: list[str]):
    """A stand-in for the Kafka tail: seeds the state, records start and stop."""

    async def tail() -> None:
        log.append("start")
        feed.state.start({"timeline": {"acquisition": [0] * 60}}, live_from={}, articles=0, deadletters=0, now=NOW)
        feed.status = "live"
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # stopping a consumer takes a moment
            log.append("stop")

    return tail


async def test_feed_runs_only_while_someone_watches(monkeypatch):
    feed, log = DashboardFeed(SETTINGS, idle_grace=0.05), []
    monkeypatch.setattr(feed, "_tail", _stub_tail(feed, log))
    a = feed.subscribe()
    b = feed.subscribe()
    await asyncio.sleep(0.01)
    assert log == ["start"] and feed.running
    feed.unsubscribe(a)
    await asyncio.sleep(0.1)
    assert feed.running  # b still watches
    feed.unsubscribe(b)
    c = feed.subscribe()  # a reload within the grace period
    await asyncio.sleep(0.1)
    assert log == ["start"]
    feed.unsubscribe(c)
    await asyncio.sleep(0.07)  # idle: cancelled, still stopping
    assert log == ["start"]
    feed.subscribe()  # a new browser meanwhile
    await asyncio.sleep(0.1)
    assert log == ["start", "stop", "start"] and feed.running
    await feed.close()
    assert log == ["start", "stop", "start", "stop"] and not feed.running


async def test_sse_stream_sends_hello_articles_and_counts(monkeypatch):
    web_app = web.Application()
    app = SimpleNamespace(web=SimpleNamespace(web_app=web_app))
    feed = install_dashboard(app, SETTINGS, stats=dict)
    log: list[str] = []
    monkeypatch.setattr(feed, "_tail", _stub_tail(feed, log))
    async with TestClient(TestServer(web_app)) as client:
        page = await client.get("/")
        assert "Events per minute" in await page.text()
        response = await client.get("/dashboard/events")
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = _read_events(response)
        name, hello = await anext(events)
        assert name == "hello" and hello["recent"] == []
        await asyncio.sleep(0.05)
        feed.state.handle_record(CLASSIFIED, 0, 0, int(NOW * 1000), classified(1, ["acquisition"]))
        seen = {}
        while not ({"article", "counts"} <= seen.keys()):
            name, data = await asyncio.wait_for(anext(events), 5)
            seen[name] = data
        assert seen["article"]["events"][0]["evidence"] == ["Sentence 1 about acquisition."]
        assert seen["counts"]["status"] == "live" and "acquisition" in seen["counts"]["timeline"]
        status = await (await client.get("/dashboard/feed")).json()
        assert status == {"running": True, "status": "live", "clients": 1}
        response.close()
    assert log == ["start", "stop"]  # shutdown stopped the consumer


async def _read_events(response):
    """Parse a text/event-stream body into (event, data) pairs."""
    name, data = "message", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield name, json.loads(data)
            name, data = "message", ""
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]

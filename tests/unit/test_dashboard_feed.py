"""The dashboard feed without a broker: throttling, exact counting, stories, top companies, SSE framing."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from newsevents.config import Settings
from newsevents.streams.dashboard import (
    MAX_TYPES,
    ClientOutbox,
    DashboardFeed,
    EventCounts,
    FeedState,
    TopCompanies,
    article_card,
    install_dashboard,
)

SETTINGS = Settings(topic_prefix="t")
CLASSIFIED = SETTINGS.topics.classified
NOW = 1_800_000_000.0  # a fixed wall clock, on a minute boundary
MINUTE = int(NOW // 60)


def classified(
    i: int,
    types: list[str],
    *,
    at: str | None = None,
    involved: dict[str, list[str]] | None = None,
    named: list[str] | None = None,
    story: str | None = None,
    source: str = "wire",
    **extra,
) -> bytes:
    """A classified value. ``involved`` maps event types to the companies in them, ``named``
    gives the article's companies, ``story`` adds the story fields (a copy unless it is ``a{i}``)."""
    events = [
        {
            "type": t,
            "score": 0.9,
            "evidence": [f"Sentence {i} about {t}."],
            **({"companies": involved[t]} if involved and t in involved else {}),
        }
        for t in types
    ]
    message = {
        "schema": "newsevents.classified/v1",
        "id": f"a{i}",
        "title": f"Article {i}",
        "url": "",
        "source": source,
        "published_at": "",
        "events": events,
        "scores": {},
        "processed_at": at or f"2027-01-15T08:00:{i % 60:02d}.{i:06d}Z",
    }
    if named is not None:
        message["companies"] = named
    if story is not None:
        message |= {"story_id": story, "duplicate": story != f"a{i}"}
    return json.dumps(message | extra).encode()


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
        box.offer({"story": f"s{i}", "id": i})
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
            box.offer({"story": f"{tick}-{i}"})
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
    pending = list(box.pending.values())
    assert len(pending) == 30 and box.skipped == 0  # the newest 30 of both, in time order
    assert [a["processed_at"] for a in pending] == sorted(a["processed_at"] for a in pending)
    for offset in range(20, 25):
        state.handle_record(CLASSIFIED, 0, offset, int(NOW * 1000), classified(offset, ["partnership"]), now=NOW)
    assert state.snapshot(NOW)["totals"]["partnership"]["last_hour"] == 5
    assert list(box.pending.values())[-1]["id"] == "a24"


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


def test_copies_are_listed_under_the_first_article_and_counted_once():
    state = fresh_state()
    box = ClientOutbox(rate=10, now=0.0)
    state.clients.add(box)
    state.handle_record(CLASSIFIED, 0, 0, int(NOW * 1000), classified(1, ["partnership"], story="a1"), now=NOW)
    assert box.take(0.0)[0]["copies"] == 0  # the first article went out on its own
    for n, source in enumerate(["Daily Post", "Biz Times", "Wire Two"]):
        copy = classified(10 + n, ["partnership"], story="a1", source=source)
        state.handle_record(CLASSIFIED, 1 + n % 2, n, int(NOW * 1000), copy, now=NOW)
    snap = state.snapshot(NOW)
    assert snap["totals"]["partnership"]["last_hour"] == 1
    assert snap["timeline"]["partnership"][-1] == 1
    assert snap["articles"] == 4  # every record still counts as classified
    [story] = state.recent
    assert story["id"] == "a1" and story["copies"] == 3
    assert [c["source"] for c in story["latest_copies"]] == ["Daily Post", "Biz Times", "Wire Two"]
    # The three updates of one story waited as one card, its newest version.
    assert [c["copies"] for c in box.pending.values()] == [3] and box.skipped == 0


def test_a_copy_read_before_its_first_article_ends_up_under_it():
    state = fresh_state(partitions=2)
    copy = classified(2, ["acquisition"], story="a1", source="Copycat", at="2027-01-15T08:00:05.000Z")
    state.handle_record(CLASSIFIED, 1, 0, int(NOW * 1000), copy, now=NOW)
    [alone] = state.recent
    assert alone["duplicate"] and alone["copies"] == 0  # shown, marked as a copy of an earlier story
    first = classified(1, ["acquisition"], story="a1", at="2027-01-15T08:00:01.000Z")
    state.handle_record(CLASSIFIED, 0, 0, int(NOW * 1000), first, now=NOW)
    [story] = state.recent
    assert (story["id"], story["duplicate"], story["copies"]) == ("a1", False, 1)
    assert story["latest_copies"][0]["source"] == "Copycat"
    assert state.snapshot(NOW)["totals"]["acquisition"]["last_hour"] == 1


def test_a_redelivered_copy_is_listed_once_and_copies_listed_are_bounded():
    state = fresh_state()
    state.handle_record(CLASSIFIED, 0, 0, None, classified(1, ["funding"], story="a1"), now=NOW)
    for offset in range(1, 9):
        state.handle_record(CLASSIFIED, 0, offset, None, classified(100 + offset, ["funding"], story="a1"), now=NOW)
    state.handle_record(CLASSIFIED, 0, 9, None, classified(108, ["funding"], story="a1"), now=NOW)  # again
    [story] = state.recent
    assert story["copies"] == 8
    assert [c["id"] for c in story["latest_copies"]] == ["a104", "a105", "a106", "a107", "a108"]


def test_articles_without_story_fields_are_each_their_own_story():
    state = fresh_state()
    state.handle_record(CLASSIFIED, 0, 0, None, classified(1, ["funding"]), now=NOW)
    state.handle_record(CLASSIFIED, 0, 1, None, classified(2, ["funding"]), now=NOW)
    nameless = json.dumps({"events": [], "processed_at": "2027-01-15T08:00:09Z"}).encode()
    state.handle_record(CLASSIFIED, 0, 2, None, nameless, now=NOW)
    state.handle_record(CLASSIFIED, 0, 3, None, nameless, now=NOW)
    assert len(state.recent) == 4 and not any(c["copies"] for c in state.recent)
    assert state.snapshot(NOW)["totals"]["funding"]["last_hour"] == 2


def test_story_cards_are_bounded_and_the_oldest_story_goes():
    state = fresh_state()
    for i in range(40):
        state.handle_record(CLASSIFIED, 0, i, None, classified(i, [], story=f"a{i}"), now=NOW)
    assert len(state.recent) == 30 and state.recent[0]["id"] == "a10"
    # A copy of a story no longer on the page starts a card of its own (marked as a copy).
    state.handle_record(CLASSIFIED, 0, 40, None, classified(99, [], story="a3", at="2027-01-15T08:01:00Z"), now=NOW)
    assert state.recent[-1]["story"] == "a3" and state.recent[-1]["duplicate"]
    assert len(state.recent) == 30


def test_top_companies_count_stories_by_the_companies_in_their_events():
    state = fresh_state()
    at = int(NOW * 1000)
    seed = {"partnership": ["Tapestry", "Tmall"], "market_expansion": ["Tapestry"]}
    state.handle_record(
        CLASSIFIED,
        0,
        0,
        at,
        classified(1, ["partnership", "market_expansion"], involved=seed, story="a1", named=["Coach"]),
        now=NOW,
    )
    copy = classified(2, ["partnership"], involved={"partnership": ["Tapestry", "Tmall"]}, story="a1")
    state.handle_record(CLASSIFIED, 1, 0, at, copy, now=NOW)
    other = classified(3, ["funding"], involved={"funding": ["TAPESTRY", "Lumen"]}, story="a3", named=["Coach"])
    state.handle_record(CLASSIFIED, 0, 1, at, other, now=NOW)
    top = state.snapshot(NOW)["companies"]["top"]
    assert [(t["name"], t["stories"]) for t in top] == [("TAPESTRY", 2), ("Lumen", 1), ("Tmall", 1)]
    assert top[0]["types"] == {"partnership": 1, "market_expansion": 1, "funding": 1}
    # "Coach" is only named, never involved in an event: not counted.
    assert "Coach" not in {t["name"] for t in top}


def test_top_companies_cover_the_last_hour_only():
    companies = TopCompanies(minutes=60)
    companies.add([{"type": "funding", "companies": ["Old Co"]}], minute=MINUTE - 60, now_minute=MINUTE)
    companies.add([{"type": "funding", "companies": ["Edge Co"]}], minute=MINUTE - 59, now_minute=MINUTE)
    assert [t["name"] for t in companies.snapshot(now_minute=MINUTE)["top"]] == ["Edge Co"]
    assert companies.snapshot(now_minute=MINUTE + 1)["top"] == []


def test_top_companies_stay_bounded_under_a_flood_of_names():
    companies = TopCompanies(per_minute=50, top=3)
    for i in range(5000):
        names = ["Heavy Industries"] if i % 10 == 0 else [f"Company {i}"]
        companies.add([{"type": "funding", "companies": names}], minute=MINUTE, now_minute=MINUTE)
    assert sum(len(b) for b in companies._buckets.values()) <= 50
    snap = companies.snapshot(now_minute=MINUTE)
    assert snap["top"][0] == {"name": "Heavy Industries", "stories": 500, "types": {"funding": 500}}
    assert snap["approximate"]


def test_backfill_seeds_the_top_companies_and_says_from_when():
    state = FeedState(SETTINGS)
    state.start(
        None,
        live_from={(CLASSIFIED, 0): 10, (CLASSIFIED, 1): 10},
        articles=20,
        deadletters=0,
        now=NOW,
        backfill=[(CLASSIFIED, 0), (CLASSIFIED, 1)],
        capped=[(CLASSIFIED, 1)],  # partition 1 was re-read from 20 minutes ago only
    )
    assert state.snapshot(NOW)["companies"]["since"] == NOW - 3600
    for partition, start in ((0, NOW - 3000), (1, NOW - 1200)):
        for offset in range(10):
            at = int((start + offset * 60) * 1000)
            value = classified(partition * 10 + offset, ["funding"], involved={"funding": ["Lumen Health"]})
            state.handle_record(CLASSIFIED, partition, offset, at, value, now=NOW)
    snap = state.snapshot(NOW)
    assert snap["companies"]["top"][0]["stories"] == 20
    assert snap["companies"]["since"] == NOW - 1200
    assert "funding" not in snap["totals"] or snap["totals"]["funding"]["last_hour"] == 0  # the seed's job


def test_new_fields_are_optional_and_untrusted():
    card = article_card(
        {
            "id": "x",
            "events": [
                {"type": "partnership", "score": 1, "companies": "Tapestry", "markets": ["China"]},
                {"type": "market_expansion", "companies": [1, None, {"n": 2}, "  Tapestry \n Inc ", "tapestry inc"]},
                {"type": "funding", "companies": [f"Co {i}" for i in range(50)], "evidence": {"a": 1}},
                {"type": "<script>", "score": 1},
            ],
            "companies": ["x" * 5000, *(f"Name {i}" for i in range(20))],
            "story_id": 42,
            "duplicate": "true",
        }
    )
    partnership, expansion, funding = card["events"]
    assert partnership["companies"] == [] and "markets" not in partnership  # markets belong to expansions
    assert expansion["companies"] == ["Tapestry Inc"] and expansion["markets"] == []
    assert funding["companies"] == [f"Co {i}" for i in range(5)] and funding["evidence"] == []
    assert len(card["companies"]) == 10 and len(card["companies"][0]) == 120
    assert card["story"] == "x" and card["duplicate"] is False
    assert article_card({"events": 5, "companies": {"a": 1}})["events"] == []


def test_junk_records_never_stop_the_feed_and_junk_types_stay_bounded():
    state = fresh_state()
    junk = [
        {"events": 7},
        {"events": [{"type": "funding", "evidence": 3, "companies": 9}]},
        {"id": ["x"], "story_id": {"a": 1}, "duplicate": 1, "processed_at": 5},
        *({"id": f"t{i}", "events": [{"type": f"type_{i}"}]} for i in range(200)),
    ]
    for offset, message in enumerate(junk):
        state.handle_record(CLASSIFIED, 0, offset, None, json.dumps(message).encode(), now=NOW)
    state.handle_record(SETTINGS.topics.stats, 0, 0, None, b'{"type": "funding", "last_24h": "many"}', now=NOW)
    snap = state.snapshot(NOW)
    assert snap["articles"] == len(junk)
    assert len(snap["types"]) == MAX_TYPES and snap["totals"]["funding"]["last_hour"] == 1


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
        assert seen["counts"]["companies"]["top"] == []  # the article names no companies
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

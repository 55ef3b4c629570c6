"""Dashboard feed: what one classified record costs the worker's event loop, and the panel's bounds.

The feed handles every classified record in the worker's own event loop, so
its cost per record is the figure that matters under a flood. Measured in the
same run, on the same generated values (``processed_at`` and ids as a worker
writes them, three evidence sentences per event, a score per type):

- ``parse only``: ``json.loads`` of each value, the floor any consumer pays;
- ``v1 values``: the feed on values without companies or story fields;
- ``with stories``: the same values with companies per event, the article's
  companies and story fields, a third of them copies of an earlier story.

Then the "top companies" panel at its bound (every minute of the hour full of
distinct names): the cost of one snapshot (shared by every browser, at most
once a second) and the memory it keeps.

    python bench/bench_dashboard.py [--records 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsevents.config import Settings
from newsevents.model.taxonomy import DEFAULT_TAXONOMY
from newsevents.streams.dashboard import TIMELINE_MINUTES, FeedState, TopCompanies

SETTINGS = Settings(topic_prefix="bench")
NOW = 1_800_000_000.0
SENTENCE = "Northwind Robotics said on Monday it has agreed to acquire Fabrikam Sensors in an all-cash deal. "


def values(n: int, *, stories: bool, seed: int = 3) -> list[bytes]:
    """``n`` classified values; with ``stories``, the fields of the companies and stories contract."""
    rng = random.Random(seed)
    companies = [f"Company {i} Holdings" for i in range(400)]
    heads: list[str] = []  # first articles of stories, which copies point to
    out = []
    for i in range(n):
        types = rng.sample(DEFAULT_TAXONOMY, rng.choice((0, 1, 1, 2)))
        events: list[dict] = [{"type": t, "score": 0.9, "evidence": [SENTENCE * 2] * 3} for t in types]
        message = {
            "schema": "newsevents.classified/v1",
            "id": f"a{i}",
            "title": f"Article {i} about a deal",
            "url": f"https://example.com/{i}",
            "source": "Wire",
            "published_at": "2027-01-15T08:00:00Z",
            "events": events,
            "scores": dict.fromkeys(DEFAULT_TAXONOMY, 0.1),
            "model": {"name": "newsevents-default", "version": "bench"},
            "processed_at": f"2027-01-15T08:{i // 1000 % 60:02d}:{i % 60:02d}.{i:06d}Z",
        }
        if stories:
            named = rng.sample(companies, 5)
            for event in events:
                event["companies"] = named[:3]
                if event["type"] == "market_expansion":
                    event["markets"] = ["China"]
            story = rng.choice(heads[-30:]) if heads and rng.random() < 1 / 3 else f"a{i}"
            if story == f"a{i}":
                heads.append(story)
            message |= {"companies": named, "story_id": story, "duplicate": story != f"a{i}"}
        out.append(json.dumps(message).encode())
    return out


def feed_cost(records: list[bytes], repeats: int) -> float:
    """Median microseconds per record through :meth:`FeedState.handle_record`, all live."""
    topic = SETTINGS.topics.classified
    runs = []
    for _ in range(repeats):
        state = FeedState(SETTINGS)
        state.start(None, live_from={}, articles=0, deadletters=0, now=NOW)
        start = time.perf_counter()
        for offset, value in enumerate(records):
            state.handle_record(topic, 0, offset, int(NOW * 1000), value, now=NOW)
        runs.append((time.perf_counter() - start) / len(records) * 1e6)
    return statistics.median(runs)


def parse_cost(records: list[bytes], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for value in records:
            json.loads(value)
        runs.append((time.perf_counter() - start) / len(records) * 1e6)
    return statistics.median(runs)


def full_panel() -> TopCompanies:
    """Every minute of the hour at its bound of distinct names."""
    panel = TopCompanies()
    now_minute = int(NOW // 60)
    for minute in range(now_minute - TIMELINE_MINUTES + 1, now_minute + 1):
        for i in range(panel.per_minute):
            name = f"Company {minute % 97}-{i} Holdings"  # names overlap across minutes, as real ones do
            panel.add([{"type": "partnership", "companies": [name]}], minute=minute, now_minute=now_minute)
    return panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    v1, v2 = values(args.records, stories=False), values(args.records, stories=True)
    parse = parse_cost(v2, args.repeats)
    old = feed_cost(v1, args.repeats)
    new = feed_cost(v2, args.repeats)
    size = statistics.median(len(v) for v in v2)
    print(f"per classified record, median of {args.repeats} runs over {args.records} values (~{size:.0f} bytes):")
    print(f"  parse only      {parse:7.1f} us")
    print(f"  v1 values       {old:7.1f} us   {old / parse:4.2f} x parse")
    print(f"  with stories    {new:7.1f} us   {new / parse:4.2f} x parse, {new / old:4.2f} x v1 values")

    now_minute = int(NOW // 60)
    tracemalloc.start()
    panel = full_panel()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    entries = sum(len(bucket) for bucket in panel._buckets.values())
    runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        panel.snapshot(now_minute=now_minute)
        runs.append((time.perf_counter() - start) * 1000)
    print(f"top companies at the bound ({entries} minute entries):")
    print(f"  memory          {kept / 1e6:7.1f} MB   {kept / entries:5.0f} bytes per entry")
    print(f"  snapshot        {statistics.median(runs):7.1f} ms   (median of {args.repeats})")


if __name__ == "__main__":
    main()

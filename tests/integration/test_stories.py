"""One story counted once, across workers: the seed and an edited copy sent to two workers."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from newsevents.streams.processes import stop_gracefully
from tests.conftest import SEED

from .conftest import start_worker
from .kafka_helpers import collect, produce

pytestmark = pytest.mark.integration


def _copy_of_seed(text: str) -> str:
    """The seed as another site would publish it: a new headline, its own furniture, light edits."""
    _, _, body = text.partition("\n")
    body = body.split("\nComments\n")[0]
    body = body.replace("announced last week", "unveiled last week").replace("later this month", "this month")
    return (
        "Home | Retail | Luxury | Asia\n\nTapestry teams up with Alibaba's Tmall to sell Coach and Kate Spade in China"
        f"\n\nBy Staff Reporter | 2 min read\n\n{body}\n\nRelated stories\n\n- Luxury sales slow in Europe\n"
        "- Five retail trends to watch\n\nSign up for our daily newsletter"
    )


def test_copies_on_two_workers_get_one_story_and_the_stats_count_it_once(kafka, tmp_path):
    if not SEED.exists():
        pytest.skip("../shared/seed is not present")
    seed = SEED.read_text(encoding="utf-8")
    first = start_worker(kafka.bootstrap, tmp_path / "a")
    second = start_worker(kafka.bootstrap, tmp_path / "b", prefix=first.topics.prefix, model_dir=first.model_dir)
    try:
        run = uuid.uuid4().hex[:6]
        topics = first.topics
        # Partitions 0 and 1 of three go to different members (round-robin assignment of two).
        produce(kafka.bootstrap, topics.raw, [(f"{run}-seed".encode(), seed.encode())], partition=0)
        collect(
            kafka.bootstrap,
            [topics.classified],
            timeout=30,
            until=lambda rs: any(r["key"] == f"{run}-seed" for r in rs),
        )
        copy = json.dumps({"id": f"{run}-copy", "text": _copy_of_seed(seed), "source": "retail-syndicate"})
        other = json.dumps(
            {
                "id": f"{run}-other",
                "title": "Tapestry names new finance chief",
                "text": "Tapestry, the owner of Coach and Kate Spade, appointed Maria Okafor as chief financial "
                "officer, effective next month. She succeeds Scott Roe, who is retiring after eight years.",
            }
        )
        produce(kafka.bootstrap, topics.raw, [(f"{run}-copy".encode(), copy.encode())], partition=1)
        produce(kafka.bootstrap, topics.raw, [(f"{run}-other".encode(), other.encode())], partition=2)
        keys = {f"{run}-seed", f"{run}-copy", f"{run}-other"}
        records = collect(
            kafka.bootstrap, [topics.classified], timeout=60, until=lambda rs: keys <= {r["key"] for r in rs}
        )
        stories = {r["key"]: (r["value"]["story_id"], r["value"]["duplicate"]) for r in records if r["key"] in keys}
        assert stories[f"{run}-seed"] == (f"{run}-seed", False)
        assert stories[f"{run}-copy"] == (f"{run}-seed", True)
        assert stories[f"{run}-other"] == (f"{run}-other", False)
        seed_message = next(r["value"] for r in records if r["key"] == f"{run}-seed")
        partnership = next(e for e in seed_message["events"] if e["type"] == "partnership")
        assert {"Tapestry", "Tmall"} <= set(partnership["companies"])
        expansion = next(e for e in seed_message["events"] if e["type"] == "market_expansion")
        assert expansion["markets"] == ["China"]

        # The per-type counts (news.events.stats, published by whichever worker holds the type) count the story once.
        deadline = time.monotonic() + 40
        latest: dict = {}
        while time.monotonic() < deadline and latest.get("partnership", {}).get("total") != 1:
            for r in collect(kafka.bootstrap, [topics.stats], timeout=3, until=lambda rs: False):
                latest[r["key"]] = r["value"]
        assert latest["partnership"]["total"] == 1 and latest["partnership"]["last_hour"] == 1
    finally:
        for w in (first, second):
            stop_gracefully(w.proc, timeout=30)

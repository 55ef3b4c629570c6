"""End to end on a real broker: producers in, classified/event/dead-letter topics out."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest

from newsevents.model.taxonomy import DEFAULT_TAXONOMY
from tests.conftest import SEED

from .kafka_helpers import collect, produce

pytestmark = pytest.mark.integration
EXPECTED_SEED_TYPES = {"partnership", "market_expansion", "anti_counterfeiting"}


def _event_topics(worker) -> list[str]:
    return [worker.topics.event(t) for t in DEFAULT_TAXONOMY]


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
def test_seed_article_pushed_by_kcat_reaches_exactly_its_event_topics(worker):
    if not SEED.exists():
        pytest.skip("../shared/seed is not present")
    key = f"seed-{uuid.uuid4().hex[:8]}"
    sent = time.monotonic()
    subprocess.run(
        ["kcat", "-b", worker.bootstrap, "-t", worker.topics.raw, "-P", "-k", key, str(SEED)], check=True, timeout=30
    )
    wanted = {worker.topics.event(t) for t in EXPECTED_SEED_TYPES}
    records = collect(
        worker.bootstrap,
        [*_event_topics(worker), worker.topics.classified],
        timeout=15,
        until=lambda rs: wanted <= {r["topic"] for r in rs if r["key"] == key},
    )
    mine = [r for r in records if r["key"] == key]
    arrived = {r["topic"] for r in mine}
    assert wanted <= arrived, f"missing {wanted - arrived}"
    assert max(r["received"] for r in mine if r["topic"] in wanted) - sent < 10
    # Anything else would have been sent in the same batch; read a moment longer to be sure.
    late = collect(worker.bootstrap, _event_topics(worker), timeout=2, until=lambda rs: False)
    event_topics = {r["topic"] for r in late if r["key"] == key}
    assert event_topics == wanted
    classified = next(r["value"] for r in mine if r["topic"] == worker.topics.classified)
    assert {e["type"] for e in classified["events"]} == EXPECTED_SEED_TYPES
    assert all(e["evidence"] for e in classified["events"])
    assert classified["model"]["version"]


def test_every_record_is_classified_or_deadlettered_once(worker):
    run = uuid.uuid4().hex[:8]
    good = [
        (
            f"{run}-good-{i}".encode(),
            json.dumps(
                {
                    "title": f"Harbor Foods opens its first store in Chile ({i})",
                    "text": "Harbor Foods, the Spanish grocer, opened its first store in Santiago on Monday, "
                    "its first step into Latin America.",
                }
            ).encode(),
        )
        for i in range(40)
    ]
    bad = [
        (f"{run}-bad-utf8".encode(), b"\xff\xfe\xfa not text"),
        (f"{run}-bad-empty".encode(), b""),
        (f"{run}-bad-array".encode(), b"[1, 2, 3]"),
        (f"{run}-bad-field".encode(), b'{"title": 42}'),
        (f"{run}-bad-big".encode(), b"x" * (300 * 1024)),
        (f"{run}-bad-nothing".encode(), b'{"title": " ", "text": ""}'),
    ]
    produce(worker.bootstrap, worker.topics.raw, good + bad)
    total = len(good) + len(bad)
    topics = [worker.topics.classified, worker.topics.deadletter]
    records = collect(
        worker.bootstrap,
        topics,
        timeout=30,
        until=lambda rs: len({r["key"] for r in rs if (r["key"] or "").startswith(run)}) >= total,
    )
    mine = [r for r in records if (r["key"] or "").startswith(run)]
    classified = [r for r in mine if r["topic"] == worker.topics.classified]
    dead = [r for r in mine if r["topic"] == worker.topics.deadletter]
    assert len(classified) + len(dead) == total
    assert len({r["key"] for r in mine}) == total  # none twice
    assert {r["key"] for r in classified} == {k.decode() for k, _ in good}
    reasons = {r["key"].split("-bad-")[1]: r["value"]["error"] for r in dead}
    assert reasons == {
        "utf8": "invalid_utf8",
        "empty": "no_text",
        "array": "not_an_article",
        "field": "invalid_field",
        "big": "oversized",
        "nothing": "no_text",
    }
    for r in dead:
        assert r["value"]["schema"] == "newsevents.deadletter/v1"
        assert r["value"]["topic"] == worker.topics.raw and r["value"]["offset"] >= 0
    utf8 = next(r["value"] for r in dead if r["key"].endswith("bad-utf8"))
    assert utf8["payload_encoding"] == "base64"


def test_records_on_every_partition_are_processed(worker):
    run = uuid.uuid4().hex[:8]
    for partition in range(3):
        produce(
            worker.bootstrap,
            worker.topics.raw,
            [(f"{run}-p{partition}-{i}".encode(), b"[]") for i in range(5)],
            partition=partition,
        )
    records = collect(
        worker.bootstrap,
        [worker.topics.deadletter],
        timeout=30,
        until=lambda rs: len([r for r in rs if (r["key"] or "").startswith(run)]) >= 15,
    )
    mine = [r for r in records if (r["key"] or "").startswith(run)]
    assert len(mine) == 15
    assert {r["value"]["partition"] for r in mine} == {0, 1, 2}


def test_web_endpoints_report_health_stats_and_metrics(worker):
    key = f"stats-{uuid.uuid4().hex[:8]}"
    produce(
        worker.bootstrap,
        worker.topics.raw,
        [
            (
                key.encode(),
                json.dumps(
                    {
                        "title": "Kestrel Bank names Maria Duarte chief executive",
                        "text": "Kestrel Bank appointed Maria Duarte as chief executive officer, effective 1 March. "
                        "She succeeds John Pike, who is retiring after 12 years in the role.",
                    }
                ).encode(),
            )
        ],
    )
    collect(worker.bootstrap, [worker.topics.classified], timeout=20, until=lambda rs: any(r["key"] == key for r in rs))
    health = worker.get("/health")
    assert health["status"] == "ok" and health["model"]["version"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stats = worker.get("/stats")
        if stats["types"].get("leadership_change", {}).get("last_hour", 0) >= 1:
            break
        time.sleep(1)
    assert stats["types"]["leadership_change"]["last_hour"] >= 1
    assert stats["types"]["leadership_change"]["last_24h"] >= stats["types"]["leadership_change"]["last_hour"]
    metrics = worker.get("/metrics")
    assert "newsevents_classified_total" in metrics and "newsevents_end_to_end_latency_seconds_bucket" in metrics
    assert "process_resident_memory_bytes" in metrics  # the standard process collector
    published = collect(
        worker.bootstrap,
        [worker.topics.stats],
        timeout=15,
        until=lambda rs: any(r["key"] == "leadership_change" for r in rs),
    )
    assert any(r["key"] == "leadership_change" and r["value"]["last_hour"] >= 1 for r in published)

"""Nothing lost, whatever arrives: poison records, a killed worker, a restarted broker.

Each test sends uniquely keyed records and reads the classified and dead-letter
topics until every key has its output: a record with none is lost, a record
with two was processed twice (allowed after a crash: delivery is at least once).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer

from bench.articles import bench_articles
from newsevents.streams.broker import LocalBroker, default_cache_dir, ensure_kafka_jars
from newsevents.streams.processes import stop_gracefully

from .conftest import start_worker
from .kafka_helpers import collect, produce

pytestmark = pytest.mark.integration


def good_articles(run: str, n: int) -> list[tuple[bytes, bytes]]:
    """``n`` realistic ~2 KB articles keyed ``<run>-good-<i>``."""
    return [
        (f"{run}-good-{i}".encode(), json.dumps({**article, "id": f"{run}-good-{i}"}).encode())
        for i, article in enumerate(bench_articles(n))
    ]


def primary_outputs(worker, run: str, expected: int, timeout: float) -> Counter:
    """How many primary outputs (classified or dead letter) each key of the run got."""
    topics = [worker.topics.classified, worker.topics.deadletter]

    def mine(records):
        return [r for r in records if (r["key"] or "").startswith(run)]

    records = collect(
        worker.bootstrap, topics, timeout=timeout, until=lambda rs: len({r["key"] for r in mine(rs)}) >= expected
    )
    return Counter(r["key"] for r in mine(records))


def test_poison_records_among_two_thousand_good_ones_lose_nothing(worker):
    run = f"poison-{uuid.uuid4().hex[:6]}"
    deep = b"[" * 5000 + b"]" * 5000
    poisons = {
        "deep-json": deep,
        "deep-field": b'{"title": "Deep", "text": ' + deep + b"}",
        "surrogate": b'{"title": "Acme \\ud800 opens", "text": "Acme opens a store in Lima. \\udfff"}',
        "control": b"\x1c" * 200_000,
    }
    good = good_articles(run, 2000)
    middle = len(good) // 2
    records = good[:middle] + [(f"{run}-poison-{k}".encode(), v) for k, v in poisons.items()] + good[middle:]
    produce(worker.bootstrap, worker.topics.raw, records)
    counts = primary_outputs(worker, run, len(records), timeout=120)
    lost = [k.decode() for k, _ in records if counts[k.decode()] == 0]
    assert not lost, f"{len(lost)} records lost, e.g. {lost[:5]}"
    assert max(counts.values()) == 1  # nothing was redelivered: the worker never crashed
    assert worker.get("/health")["status"] == "ok"


def test_a_gzip_batch_of_control_characters_over_a_mebibyte_gets_a_dead_letter_that_fits(worker):
    key = f"gzip-{uuid.uuid4().hex[:6]}"

    async def send():
        producer = AIOKafkaProducer(
            bootstrap_servers=worker.bootstrap, compression_type="gzip", max_request_size=4 << 20
        )
        await producer.start()
        try:
            await producer.send_and_wait(worker.topics.raw, b"\x01" * (1100 * 1024), key=key.encode())
        finally:
            await producer.stop()

    asyncio.run(send())
    records = collect(
        worker.bootstrap, [worker.topics.deadletter], timeout=30, until=lambda rs: any(r["key"] == key for r in rs)
    )
    [dead] = [r["value"] for r in records if r["key"] == key]
    assert dead["error"] == "oversized" and dead["payload_truncated"] is True
    assert len(json.dumps(dead).encode()) < 1_000_000


def test_a_worker_killed_mid_stream_loses_nothing_after_restart(kafka, tmp_path):
    first = start_worker(kafka.bootstrap, tmp_path / "a", NEWSEVENTS_BATCH_SIZE="100")
    second = None
    try:
        run = f"kill-{uuid.uuid4().hex[:6]}"
        records = good_articles(run, 3000)
        produce(kafka.bootstrap, first.topics.raw, records)
        # Kill it once it is well into the stream.
        collect(
            kafka.bootstrap,
            [first.topics.classified],
            timeout=60,
            until=lambda rs: sum((r["key"] or "").startswith(run) for r in rs) >= 500,
        )
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
        killed_at = time.monotonic()
        second = start_worker(
            kafka.bootstrap,
            tmp_path / "b",
            prefix=first.topics.prefix,
            model_dir=first.model_dir,
            NEWSEVENTS_BATCH_SIZE="100",
        )
        counts = primary_outputs(first, run, len(records), timeout=180)
        lost = [k.decode() for k, _ in records if counts[k.decode()] == 0]
        assert not lost, f"{len(lost)} of {len(records)} lost after SIGKILL"
        print(
            f"SIGKILL: {sum(n - 1 for n in counts.values())} duplicates, "
            f"caught up {time.monotonic() - killed_at:.0f} s after the kill"
        )
    finally:
        for w in (first, second):
            if w is not None:
                stop_gracefully(w.proc, timeout=30)


def test_a_broker_restart_mid_stream_loses_nothing(tmp_path):
    libs = ensure_kafka_jars(default_cache_dir())
    broker = LocalBroker(tmp_path / "kafka", port=0, jars_dir=libs)
    broker.start()
    worker = None
    try:
        broker.wait_ready(timeout=120)
        worker = start_worker(broker.bootstrap, tmp_path / "w", NEWSEVENTS_BATCH_SIZE="100")
        run = f"restart-{uuid.uuid4().hex[:6]}"
        records = good_articles(run, 3000)
        produce(broker.bootstrap, worker.topics.raw, records[:1500])
        collect(
            broker.bootstrap,
            [worker.topics.classified],
            timeout=60,
            until=lambda rs: sum((r["key"] or "").startswith(run) for r in rs) >= 300,
        )
        broker.stop()  # SIGTERM: a controlled shutdown, as an operator restart would do
        time.sleep(3)
        broker.start()
        broker.wait_ready(timeout=120)
        produce(broker.bootstrap, worker.topics.raw, records[1500:])
        counts = primary_outputs(worker, run, len(records), timeout=180)
        lost = [k.decode() for k, _ in records if counts[k.decode()] == 0]
        assert not lost, f"{len(lost)} of {len(records)} lost across a broker restart"
        assert worker.proc.poll() is None  # the worker rode out the outage
    finally:
        if worker is not None:
            stop_gracefully(worker.proc, timeout=30)
        broker.stop()

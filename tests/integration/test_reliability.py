"""Nothing lost, whatever arrives: poison records, a killed worker, a restarted broker.

Each test sends uniquely keyed records and reads the classified and dead-letter
topics until every key has its output: a record with none is lost, a record
with two was processed twice (allowed after a crash: delivery is at least once).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaProducer

from bench.articles import bench_articles
from newsevents.streams.broker import LocalBroker, default_cache_dir, ensure_kafka_jars
from newsevents.streams.processes import stop_gracefully

from .conftest import RunningWorker, start_worker
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


@dataclass
class Outage:
    """What a worker did while its broker was stopped mid-stream and started again."""

    worker: RunningWorker
    records: list[tuple[bytes, bytes]]
    counts: Counter
    unhealthy: dict  # the first 503 /health body seen while the broker was down
    recovered_health: dict  # the first 200 after it came back
    log_lines: list[str]  # the worker's log records from the stop until its outage lines ended
    survived: bool


def _log_records(text: str) -> list[str]:
    """One entry per log record (Faust starts each with ``[date time]``)."""
    return [line for line in text.splitlines() if line.startswith("[")]


def _level(line: str) -> str:
    match = re.match(r"\[[^\]]*\] \[\d+\] \[(\w+)\]", line)
    return match.group(1) if match else ""


def _health(worker: RunningWorker) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(worker.url + "/health", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_for_health(worker: RunningWorker, code: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = _health(worker)
        if status == code:
            return body
        time.sleep(0.5)
    raise AssertionError(f"/health did not answer {code} within {timeout:.0f} s (last: {status} {body})")


@pytest.fixture(scope="module")
def broker_outage(tmp_path_factory) -> Iterator[Outage]:
    """A broker of its own, stopped (SIGTERM, as an operator restart does) while thousands of
    records wait, kept down past the worker's stall limit, then started again."""
    base = tmp_path_factory.mktemp("outage")
    broker = LocalBroker(base / "kafka", port=0, jars_dir=ensure_kafka_jars(default_cache_dir()))
    broker.start()
    worker = None
    try:
        broker.wait_ready(timeout=120)
        worker = start_worker(broker.bootstrap, base / "w", NEWSEVENTS_BATCH_SIZE="100", NEWSEVENTS_STALL_SECONDS="5")
        run = f"restart-{uuid.uuid4().hex[:6]}"
        records = good_articles(run, 3000)
        produce(broker.bootstrap, worker.topics.raw, records[:2000])
        collect(
            broker.bootstrap,
            [worker.topics.classified],
            timeout=60,
            until=lambda rs: sum((r["key"] or "").startswith(run) for r in rs) >= 300,
        )
        mark = worker.log_path.stat().st_size
        broker.stop()
        unhealthy = _wait_for_health(worker, 503, timeout=60)
        time.sleep(3)  # down a while longer: the client libraries keep failing all along
        broker.start()
        broker.wait_ready(timeout=120)
        produce(broker.bootstrap, worker.topics.raw, records[2000:])
        recovered = _wait_for_health(worker, 200, timeout=120)
        counts = primary_outputs(worker, run, len(records), timeout=180)
        # The outage's last line comes once the client has been quiet for a while.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "kafka: recovered" not in worker.log_path.read_text(errors="replace"):
            time.sleep(1)
        with open(worker.log_path, "rb") as log:
            log.seek(mark)
            lines = _log_records(log.read().decode(errors="replace"))
        yield Outage(worker, records, counts, unhealthy, recovered, lines, worker.proc.poll() is None)
    finally:
        if worker is not None:
            stop_gracefully(worker.proc, timeout=30)
        broker.stop()


def test_a_broker_restart_mid_stream_loses_nothing(broker_outage):
    lost = [k.decode() for k, _ in broker_outage.records if broker_outage.counts[k.decode()] == 0]
    assert not lost, f"{len(lost)} of {len(broker_outage.records)} lost across a broker restart"
    assert broker_outage.survived  # the worker rode out the outage


def test_health_is_503_with_a_reason_while_the_broker_is_down_and_200_after(broker_outage):
    down = broker_outage.unhealthy
    assert down["status"] == "unhealthy" and down["waiting"] > 0
    stalled = r"no batch published for \d+ s while [\d,]+ records wait \((classify|stories)\)"
    assert re.fullmatch(stalled, down["reason"]), down["reason"]
    assert broker_outage.recovered_health["status"] == "ok" and "reason" not in broker_outage.recovered_health


def test_the_outage_is_logged_in_a_few_lines_not_one_per_retry(broker_outage):
    lines = broker_outage.log_lines
    problems = [line for line in lines if _level(line) in ("WARNING", "ERROR", "CRITICAL")]
    started = [line for line in problems if "kafka: failing" in line]
    ended = [line for line in problems if "kafka: recovered after" in line]
    assert len(started) == 1 and len(ended) == 1, "\n".join(problems)
    # Besides our lines (one when each kind of failure starts, one when it ends), a handful at most:
    # the client libraries fail about 100 times a second while the broker is down.
    assert len(problems) <= 12, f"{len(problems)} warning and error lines:\n" + "\n".join(problems)
    print(f"broker outage: {len(lines)} log records, {len(problems)} warnings or errors:", *problems, sep="\n")
    assert "Traceback" not in broker_outage.worker.log_path.read_text(errors="replace")

"""Offsets move only past published records, and a failed commit does not strand them (no Kafka)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from newsevents.streams.consume import Batch, BatchSource, OffsetTracker
from newsevents.streams.logs import OutageLog
from newsevents.streams.pipeline import RawRecord

TP = TopicPartition("news.articles.raw", 0)


def batch(first: int, last: int, tp: TopicPartition = TP) -> Batch:
    records = [RawRecord(value=b"x", topic=tp.topic, partition=tp.partition, offset=o) for o in range(first, last + 1)]
    return Batch(records, {tp: (first, last)})


class FakeConsumer:
    """Commits go to ``commits``; the first ``failures`` commits raise a connection error."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
        self.commits.append(dict(offsets))


def source(consumer: FakeConsumer, outage: OutageLog | None = None) -> BatchSource:
    async def nothing(*_: object) -> None:
        return None

    return BatchSource(consumer, [TP.topic], batch_size=10, room=nothing, handle=nothing, outage=outage)


def test_only_the_done_prefix_is_committable():
    tracker = OffsetTracker()
    first, second, third = batch(0, 9), batch(10, 19), batch(20, 29)
    for b in (first, second, third):
        tracker.fetched(b)
    second.done = third.done = True
    assert tracker.committable() == {}  # offsets 0-9 are not published yet
    first.done = True
    assert tracker.committable() == {TP: 30}
    tracker.committed({TP: 30})
    assert tracker.committable() == {} and not tracker.busy([TP])


async def test_a_failed_commit_is_retried_without_waiting_for_another_batch(caplog):
    consumer = FakeConsumer(failures=1)
    outage = OutageLog(logging.getLogger("test.outage"))
    src = source(consumer, outage)
    done = batch(0, 99)
    src.tracker.fetched(done)
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        await src.finished(done)  # the broker is away: the commit fails
        assert consumer.commits == [] and outage.active("committing")
        src.retry_commit()  # what the worker's one-second timer does
        await asyncio.sleep(0.01)
    assert consumer.commits == [{TP: 100}]
    assert src.tracker.last_committed(TP) == 100
    assert not outage.active("committing")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "committing: failing" in lines[0] and "recovered" in lines[1]


async def test_nothing_is_retried_when_everything_is_committed():
    consumer = FakeConsumer()
    src = source(consumer)
    done = batch(0, 9)
    src.tracker.fetched(done)
    await src.finished(done)
    src.retry_commit()
    await asyncio.sleep(0.01)
    assert consumer.commits == [{TP: 10}]


async def test_revoked_partitions_are_committed_after_their_batches_finish():
    consumer = FakeConsumer()
    revoked: list[set] = []

    async def on_revoked(tps: set) -> None:
        revoked.append(tps)

    async def nothing(*_: object) -> None:
        return None

    src = BatchSource(consumer, [TP.topic], batch_size=10, room=nothing, handle=nothing, on_revoked=on_revoked)
    in_flight = batch(0, 49)
    src.tracker.fetched(in_flight)

    async def publish_later() -> None:
        await asyncio.sleep(0.05)
        await src.finished(in_flight)

    publisher = asyncio.create_task(publish_later())
    await src.hand_over({TP})
    await publisher
    assert consumer.commits[-1] == {TP: 50}  # committed before the partition moved
    assert revoked == [{TP}]

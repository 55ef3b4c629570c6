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


class FakeLog:
    """A consumer over an in-memory partition: fetches from its position, like aiokafka's."""

    def __init__(self, records: int) -> None:
        self.values = [f"r{i}".encode() for i in range(records)]
        self.position = 0
        self.assigned: set[TopicPartition] = set()
        self.paused: set[TopicPartition] = set()
        self.listener = None
        self.fetched = asyncio.Event()

    def subscribe(self, topics, listener) -> None:
        self.listener = listener

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def committed(self, tp: TopicPartition) -> int | None:
        return None

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        return None

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict:
        await asyncio.sleep(0.001)
        if TP not in self.assigned or TP in self.paused or self.position >= len(self.values):
            return {}
        start, self.position = self.position, min(len(self.values), self.position + max_records)
        self.fetched.set()

        class Message:
            def __init__(self, offset: int, value: bytes) -> None:
                self.offset, self.value, self.key, self.timestamp = offset, value, None, None

        return {TP: [Message(o, self.values[o]) for o in range(start, self.position)]}


async def test_records_wait_until_the_partition_is_ready():
    """aiokafka fetches a new partition before its on_assigned callback finishes (the story stage
    rebuilds its index there): nothing of that partition may be handed out before it has."""
    consumer = FakeLog(25)
    handed: list[list[int]] = []
    rebuilding = asyncio.Event()

    async def rebuild(assigned: set) -> None:
        await rebuilding.wait()

    async def room() -> None:
        return None

    async def handle(b: Batch) -> None:
        handed.append([r.offset for r in b.records])
        await src.finished(b)

    src = BatchSource(consumer, [TP.topic], batch_size=10, room=room, handle=handle, on_assigned=rebuild)
    loop = asyncio.create_task(src.run())
    await asyncio.sleep(0)  # the loop subscribes
    consumer.assigned.add(TP)  # aiokafka assigns, then calls the listener
    assigning = asyncio.create_task(consumer.listener.on_partitions_assigned({TP}))
    await asyncio.wait_for(consumer.fetched.wait(), 5)  # records came in while the index is rebuilt
    await asyncio.sleep(0.05)
    assert handed == [] and TP in consumer.paused and consumer.position == 0  # given back, paused
    rebuilding.set()
    await assigning
    for _ in range(200):
        if sum(len(h) for h in handed) == 25:
            break
        await asyncio.sleep(0.01)
    src.stop()
    await loop
    assert [o for h in handed for o in h] == list(range(25))  # all of them, once, in order
    assert src.tracker.last_committed(TP) == 25

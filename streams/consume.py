"""Reading a topic in batches, with offsets that move only past what was published.

The worker reads its input topics with aiokafka's group consumer, inside the
Faust app, rather than through a Faust stream. Faust's stream layer clears its
queues when it resumes after a rebalance and moves its read offsets past what
it fetched, and a record caught in that window never reaches the agent; with
acks under our control this showed up as records that were never processed
(see docs/reliability.md). Here the offset protocol is ours and short:

* :class:`OffsetTracker` remembers, per partition, the offset ranges handed
  out and which are done; the committable offset is the end of the longest
  done prefix. Plain Python, no Kafka.
* :class:`BatchSource` fetches what is buffered (up to a batch) whenever the
  consumer of its batches has room, and commits a partition only up to the
  records whose outputs are acknowledged. When partitions are revoked it
  waits for their batches to finish and commits before giving them away, so
  a rebalance costs no duplicates; a crash costs at most the batches in
  flight, which the group redelivers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from newsevents.streams.logs import OutageLog
from newsevents.streams.pipeline import RawRecord

log = logging.getLogger("newsevents.worker")


@dataclass
class Batch:
    """Records fetched together, and the offset ranges they cover."""

    records: list[RawRecord]
    ranges: dict[TopicPartition, tuple[int, int]] = field(default_factory=dict)  # tp -> (first, last)
    done: bool = False


class OffsetTracker:
    """Which fetched offsets are finished, per partition; what may be committed."""

    def __init__(self) -> None:
        self._queues: dict[TopicPartition, deque[tuple[int, int, Batch]]] = {}
        self._done_to: dict[TopicPartition, int] = {}  # one past the done prefix, committed or not
        self._committed: dict[TopicPartition, int] = {}

    def fetched(self, batch: Batch) -> None:
        for tp, (first, last) in batch.ranges.items():
            self._queues.setdefault(tp, deque()).append((first, last, batch))

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition, the offset to commit (one past the last record of the done prefix), when it moved.

        An offset stays committable until :meth:`committed` is told it was: a commit
        that failed is retried by the next call, even if no other batch finishes."""
        for tp, queue in self._queues.items():
            while queue and queue[0][2].done:
                self._done_to[tp] = queue.popleft()[1] + 1
        return {tp: end for tp, end in self._done_to.items() if end > self._committed.get(tp, -1)}

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        self._committed.update(offsets)

    def last_committed(self, tp: TopicPartition) -> int:
        return self._committed.get(tp, 0)

    def busy(self, tps: Iterable[TopicPartition]) -> bool:
        """Whether any record of these partitions is fetched and not yet done."""
        return any(any(not b.done for *_, b in self._queues.get(tp, ())) for tp in tps)

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._queues.pop(tp, None)
            self._done_to.pop(tp, None)
            self._committed.pop(tp, None)


def records_of(messages: dict[TopicPartition, list[Any]]) -> Batch:
    """A batch from aiokafka's ``getmany`` result."""
    batch = Batch([])
    for tp, items in messages.items():
        if not items:
            continue
        batch.ranges[tp] = (items[0].offset, items[-1].offset)
        batch.records += [
            RawRecord(
                value=m.value,
                key=m.key,
                topic=tp.topic,
                partition=tp.partition,
                offset=m.offset,
                timestamp=m.timestamp / 1000 if m.timestamp and m.timestamp > 0 else None,
            )
            for m in items
        ]
    return batch


class _Listener(ConsumerRebalanceListener):
    def __init__(self, source: BatchSource) -> None:
        self._source = source

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._source.hand_over(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._source.taken(set(assigned))


class BatchSource:
    """Feeds batches of one topic to ``handle`` and commits what ``handle`` finished.

    ``room`` is awaited before each fetch (the batch consumer's back-pressure);
    ``handle(batch)`` starts work on a batch and returns; :meth:`finished` is
    called when the batch's outputs are acknowledged. ``on_assigned`` runs
    (awaited) when the consumer takes partitions, before any of their records
    are handed out; ``on_revoked`` after partitions are handed over. Commit
    failures go to ``outage`` under ``commit_source`` (one line when they start
    and when they end; each consumer group needs its own name).
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        *,
        batch_size: int,
        room: Callable[[], Awaitable[None]],
        handle: Callable[[Batch], Awaitable[None]],
        on_assigned: Callable[[set[TopicPartition]], Awaitable[None]] | None = None,
        on_revoked: Callable[[set[TopicPartition]], Awaitable[None]] | None = None,
        hand_over_timeout: float = 8.0,
        outage: OutageLog | None = None,
        commit_source: str = "committing",
    ) -> None:
        self.consumer = consumer
        self._topics = list(topics)
        self._batch_size = batch_size
        self._room = room
        self._handle = handle
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._hand_over_timeout = hand_over_timeout
        self.tracker = OffsetTracker()
        self._progress = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._retry: asyncio.Task | None = None
        self._ready: set[TopicPartition] = set()  # assigned, and on_assigned has finished
        self._outage = outage or OutageLog(log)
        self._commit_source = commit_source
        self.stopping = False

    async def run(self) -> None:
        """Fetch and hand out batches until :meth:`stop`."""
        self.consumer.subscribe(self._topics, listener=_Listener(self))
        while not self.stopping:
            await self._room()
            if self.stopping:
                break
            messages = await self.consumer.getmany(timeout_ms=200, max_records=self._batch_size)
            batch = records_of(self._ready_only(messages))
            if not batch.records or self.stopping:
                continue
            self.tracker.fetched(batch)
            await self._handle(batch)

    def _ready_only(self, messages: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """The records of partitions whose ``on_assigned`` has finished.

        aiokafka starts fetching newly assigned partitions before it calls the
        listener, so records can arrive while ``on_assigned`` still runs (the
        story stage rebuilds its index there). Those are given back: the
        partition is rewound to them and paused until :meth:`taken` is done.
        """
        ready: dict[TopicPartition, list[Any]] = {}
        for tp, items in messages.items():
            if tp in self._ready:
                ready[tp] = items
            elif items and tp in self.consumer.assignment():
                self.consumer.seek(tp, items[0].offset)
                self.consumer.pause(tp)
        return ready

    async def finished(self, batch: Batch) -> None:
        """The batch's outputs are acknowledged: commit what became contiguous."""
        batch.done = True
        self._progress.set()
        await self.commit()

    async def commit(self) -> None:
        async with self._commit_lock:
            offsets = self.tracker.committable()
            if not offsets:
                return
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # A rebalance meanwhile. Partitions that moved are forgotten when handed
                # over (their new owner starts from the last commit: duplicates, never
                # losses); the ones kept are committed by the next call.
                log.info("commit of %d partitions skipped (%s)", len(offsets), type(exc).__name__)
                return
            except KafkaError as exc:
                self._outage.failing(self._commit_source, exc, expires=False)
                return
            self._outage.recovered(self._commit_source)
            self.tracker.committed(offsets)

    def retry_commit(self) -> None:
        """Commit, in the background, what is done but not committed yet (called every second):
        a failed commit is retried without waiting for the next batch of its partition."""
        if self._retry is not None and not self._retry.done():
            return
        if not self._commit_lock.locked() and self.tracker.committable():
            self._retry = asyncio.create_task(self.commit(), name="newsevents-commit-retry")

    async def hand_over(self, revoked: set[TopicPartition]) -> None:
        """Before partitions go to another worker: finish their batches and commit them."""
        self._ready -= revoked
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._hand_over_timeout
        while self.tracker.busy(revoked) and loop.time() < deadline:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), deadline - loop.time())
            except TimeoutError:
                break
        await self.commit()
        if self.tracker.busy(revoked):
            log.warning(
                "handing over %d partitions with batches still in flight: they will be redelivered", len(revoked)
            )
        self.tracker.forget(revoked)
        if self._on_revoked is not None:
            await self._on_revoked(revoked)

    async def taken(self, assigned: set[TopicPartition]) -> None:
        try:
            for tp in assigned:
                committed = await self.consumer.committed(tp)
                if committed is not None:
                    self.tracker.committed({tp: committed})
            if self._on_assigned is not None:
                await self._on_assigned(assigned)
        except Exception:
            # Records must flow whatever went wrong here (the story index, say): a
            # worker that stops reading is worse than one that groups a few copies apart.
            log.exception("preparing %d assigned partitions failed; reading them anyway", len(assigned))
        finally:
            self._ready |= assigned
            self.consumer.resume(*(assigned & self.consumer.assignment()))

    def stop(self) -> None:
        self.stopping = True

    def lag(self) -> dict[TopicPartition, int]:
        """Records after the committed offset, per assigned partition (fetched or not)."""
        out: dict[TopicPartition, int] = {}
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                out[tp] = max(0, highwater - self.tracker.last_committed(tp))
        return out

"""Getting a batch's outputs to Kafka, and only then letting its offsets go.

:class:`Publisher` sends outputs with aiokafka's batch API (one record batch
per topic partition, no per-message future) and returns only when the broker
has acknowledged every one of them, retrying what failed.

:class:`BatchFlow` runs batches through the model runners and the publisher
with bounded overlap: while batch N is published, batch N+1 is classified.
A batch's input events are acked (which is what lets Faust commit their
offsets) only after all of its outputs are acknowledged. An exception that
escapes a batch is never swallowed: it is handed to ``on_failure``, which stops
the worker without acking, so the consumer group redelivers the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from newsevents.streams.executor import ModelRunner
from newsevents.streams.logs import OutageLog
from newsevents.streams.pipeline import BatchResult, Output, RawRecord

log = logging.getLogger("newsevents.worker")


class PublishError(Exception):
    """The broker refused outputs for a reason retrying cannot fix (authorisation, configuration)."""

    retriable = False


class Publisher:
    """Publishes outputs and waits for the broker's acknowledgement of each.

    Retriable failures (broker down, leader moving, timeouts) are retried with
    backoff until they succeed or ``stop`` is set: a retry may publish an output
    twice, never lose one. A failure that retrying cannot fix raises
    :class:`PublishError`.
    """

    def __init__(self, producer: Any, *, outage: OutageLog | None = None, max_backoff: float = 10.0) -> None:
        self._producer = producer
        self._partitioner = DefaultPartitioner()
        self._outage = outage or OutageLog(log)
        self._max_backoff = max_backoff

    async def _grouped(self, outputs: Sequence[Output]) -> dict[tuple[str, int], list[Output]]:
        groups: dict[tuple[str, int], list[Output]] = defaultdict(list)
        partitions: dict[str, list[int]] = {}
        for output in outputs:
            ids = partitions.get(output.topic)
            if ids is None:
                ids = partitions[output.topic] = sorted(await self._producer.partitions_for(output.topic))
            partition = self._partitioner(output.key, ids, ids)
            groups[(output.topic, partition)].append(output)
        return groups

    async def _send(self, topic: str, partition: int, outputs: list[Output]) -> list[tuple[Any, list[Output]]]:
        """Queue ``outputs`` as record batches; return (ack future, members) per batch."""
        sent: list[tuple[Any, list[Output]]] = []
        batch, members = self._producer.create_batch(), list[Output]()
        for output in outputs:
            if batch.append(key=output.key, value=output.value, timestamp=None) is None:
                sent.append((await self._producer.send_batch(batch, topic, partition=partition), members))
                batch, members = self._producer.create_batch(), list[Output]()
                if batch.append(key=output.key, value=output.value, timestamp=None) is None:
                    # aiokafka takes any record into an empty batch; if that ever changes, fail loudly
                    # rather than acknowledge an output that was never queued.
                    raise PublishError(f"an output of {len(output.value):,} bytes does not fit a record batch")
            members.append(output)
        sent.append((await self._producer.send_batch(batch, topic, partition=partition), members))
        return sent

    async def publish(self, outputs: Sequence[Output], *, stop: asyncio.Event | None = None) -> None:
        """Return once every output is acknowledged by the broker (or ``stop`` is set: then raise CancelledError)."""
        pending = list(outputs)
        attempt = 0
        while pending:
            failed: list[Output] = []
            error: BaseException | None = None
            try:
                sends = []
                for (topic, partition), group in (await self._grouped(pending)).items():
                    sends += await self._send(topic, partition, group)
                results = await asyncio.gather(*(future for future, _ in sends), return_exceptions=True)
                for (_, members), outcome in zip(sends, results, strict=True):
                    if isinstance(outcome, BaseException):
                        error = outcome
                        failed += members
            except Exception as exc:  # a send that could not even be queued: retry all of them
                error, failed = exc, pending
            if error is None:
                # Only a call that failed ends the outage: both stages share this publisher,
                # and one stage's first-try success says nothing of the other's retries.
                if attempt:
                    self._outage.recovered("publishing")
                return
            if isinstance(error, asyncio.CancelledError):
                raise error
            if not getattr(error, "retriable", True) and not _transient(error):
                raise PublishError(f"the broker refused {len(failed)} outputs: {type(error).__name__}: {error}")
            attempt += 1
            self._outage.failing("publishing", error, count=len(failed), expires=False)
            delay = min(self._max_backoff, 0.2 * 2**attempt)
            if stop is not None:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                except TimeoutError:
                    pass
                else:
                    raise asyncio.CancelledError("stopping with outputs unpublished")
            else:
                await asyncio.sleep(delay)
            pending = failed


def _transient(error: BaseException) -> bool:
    # Timeouts and lost connections carry no `retriable` flag in every client version.
    name = type(error).__name__
    return isinstance(error, (TimeoutError, ConnectionError, OSError)) or name in (
        "KafkaTimeoutError",
        "KafkaConnectionError",
        "RequestTimedOutError",
        "NotLeaderForPartitionError",
        "LeaderNotAvailableError",
    )


@dataclass
class BatchDone:
    """What one batch did, for metrics and health."""

    records: Sequence[RawRecord]
    result: BatchResult
    classify_seconds: float
    publish_seconds: float


class BatchFlow:
    """Classify batches on free runners and publish them, overlapping the two.

    ``submit`` waits for a free runner (this is the back-pressure that makes
    batches grow under load), then returns while the batch runs. At most
    ``max_publishing`` batches wait on the broker at once; ``ack`` is called with
    a batch's handle once all its outputs are acknowledged.
    """

    def __init__(
        self,
        runners: Sequence[ModelRunner],
        publisher: Publisher,
        *,
        ack: Callable[[Any], Awaitable[None]],
        on_done: Callable[[BatchDone], None],
        on_failure: Callable[[BaseException], Awaitable[None]],
        max_publishing: int = 2,
        stop: asyncio.Event | None = None,
        extra_outputs: Callable[[BatchResult], list[Output]] | None = None,
    ) -> None:
        self._free: list[ModelRunner] = list(runners)
        self._runner_freed = asyncio.Condition()
        self._publisher = publisher
        self._ack = ack
        self._on_done = on_done
        self._on_failure = on_failure
        self._publishing = asyncio.Semaphore(max_publishing)
        self._stop = stop
        self._extra_outputs = extra_outputs
        self._tasks: set[asyncio.Task] = set()
        self.in_flight = 0  # records submitted and not yet acked
        self.failure: BaseException | None = None

    async def room(self) -> None:
        """Wait until a runner is free (without taking it)."""
        async with self._runner_freed:
            await self._runner_freed.wait_for(lambda: bool(self._free))

    async def submit(self, handle: Any, records: Sequence[RawRecord]) -> None:
        """Start a batch on a free runner (waiting for one); ``ack(handle)`` follows its publication."""
        if self.failure is not None:
            raise RuntimeError("the batch flow has failed") from self.failure
        async with self._runner_freed:
            await self._runner_freed.wait_for(lambda: bool(self._free))
            runner = self._free.pop()
        self.in_flight += len(records)
        task = asyncio.create_task(self._run(runner, handle, records), name="newsevents-batch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, runner: ModelRunner) -> None:
        async with self._runner_freed:
            self._free.append(runner)
            self._runner_freed.notify_all()

    async def _run(self, runner: ModelRunner, handle: Any, records: Sequence[RawRecord]) -> None:
        try:
            started = time.perf_counter()
            try:
                result = await runner.process(records)
            finally:
                await self._release(runner)
            classified = time.perf_counter()
            outputs = result.outputs + (self._extra_outputs(result) if self._extra_outputs else [])
            async with self._publishing:
                await self._publisher.publish(outputs, stop=self._stop)
            published = time.perf_counter()
            await self._ack(handle)
            self.in_flight -= len(records)
            self._on_done(BatchDone(records, result, classified - started, published - classified))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.failure = exc
            log.critical(
                "a batch of %d records failed (%s: %s); stopping without acking it",
                len(records),
                type(exc).__name__,
                exc,
            )
            await self._on_failure(exc)

    async def drain(self) -> None:
        """Wait for every submitted batch to finish (or fail)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

"""Publishing and acking: nothing is acked before its outputs are acknowledged, nothing is dropped."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError
from aiokafka.producer.message_accumulator import BatchBuilder

from newsevents.streams.delivery import BatchFlow, Publisher, PublishError
from newsevents.streams.logs import OutageLog
from newsevents.streams.pipeline import BatchResult, Output, RawRecord


class RecordingProducer:
    """Stands in for AIOKafkaProducer's batch API (no broker: these are unit tests of our bookkeeping).

    ``failures`` lists, per send_batch call in order, an exception to fail that batch with (or None).
    """

    def __init__(self, partitions=(0, 1, 2), failures=()):
        self.partitions = set(partitions)
        self.failures = list(failures)
        self.delivered: list[tuple[str, int, bytes | None, bytes]] = []

    async def partitions_for(self, topic):
        return self.partitions

    def create_batch(self):
        return BatchBuilder(16384, 0, is_transactional=False, key_serializer=None, value_serializer=None)

    async def send_batch(self, batch, topic, *, partition):
        future = asyncio.get_running_loop().create_future()
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            future.set_exception(failure)
        else:
            records = batch._builder.build()  # the encoded record batch, as the broker would receive it
            assert records
            future.set_result(None)
            self.delivered += [(topic, partition, key, value) for key, value in batch.test_contents]
        return future


@pytest.fixture(autouse=True)
def _track_batch_contents(monkeypatch):
    """Let the fake producer see which records went into each batch."""
    real_append = BatchBuilder.append

    def append(self, *, timestamp, key, value, headers=()):
        metadata = real_append(self, timestamp=timestamp, key=key, value=value)
        if metadata is not None:
            self.__dict__.setdefault("test_contents", []).append((key, value))
        return metadata

    monkeypatch.setattr(BatchBuilder, "append", append)


def outputs(n, topic="t", size=10):
    return [Output(topic, f"key-{i}".encode(), bytes([65 + i % 26]) * size) for i in range(n)]


async def test_publish_sends_every_output_once_grouped_by_key_partition():
    producer = RecordingProducer()
    out = outputs(50, size=2000)  # several record batches per partition
    await Publisher(producer).publish(out)
    assert sorted((k, v) for _, _, k, v in producer.delivered) == sorted((o.key, o.value) for o in out)
    # The same key always lands on the same partition, as Kafka's own clients would put it.
    by_key = {}
    for _, partition, key, _ in producer.delivered:
        assert by_key.setdefault(key, partition) == partition
    again = RecordingProducer()
    await Publisher(again).publish(out)
    assert {k: p for _, p, k, _ in again.delivered} == by_key


async def test_retriable_failures_are_retried_until_acknowledged():
    producer = RecordingProducer(partitions=(0,), failures=[KafkaTimeoutError(), KafkaTimeoutError()])
    out = outputs(5)
    await Publisher(producer, max_backoff=0.01).publish(out)
    assert sorted(v for *_, v in producer.delivered) == sorted(o.value for o in out)


async def test_only_a_publish_that_failed_ends_the_publishing_outage():
    # Both stages share one publisher: one stage's first-try success must not end
    # the outage while the other stage's batch is still being retried.
    outage = OutageLog(logging.getLogger("test"))
    outage.failing("publishing", KafkaTimeoutError(), expires=False)  # the other stage, retrying
    await Publisher(RecordingProducer(), outage=outage).publish(outputs(2))
    assert outage.active("publishing")
    retried = RecordingProducer(partitions=(0,), failures=[KafkaTimeoutError()])
    await Publisher(retried, outage=outage, max_backoff=0.01).publish(outputs(2))
    assert not outage.active("publishing")


async def test_a_failure_retrying_cannot_fix_raises():
    producer = RecordingProducer(partitions=(0,), failures=[TopicAuthorizationFailedError()])
    with pytest.raises(PublishError, match="TopicAuthorizationFailedError"):
        await Publisher(producer).publish(outputs(3))


async def test_stop_interrupts_retrying_without_returning_success():
    producer = RecordingProducer(partitions=(0,), failures=[KafkaTimeoutError()] * 100)
    stop = asyncio.Event()
    stop.set()
    with pytest.raises(asyncio.CancelledError):
        await Publisher(producer, max_backoff=0.01).publish(outputs(3), stop=stop)


class Runner:
    def __init__(self, fail=False):
        self.fail = fail

    async def process(self, records):
        if self.fail:
            raise RuntimeError("model blew up")
        result = BatchResult(classified=len(records))
        result.outputs = [Output("out", r.key, r.value or b"") for r in records]
        return result


def records(n):
    return [RawRecord(value=b"v%d" % i, key=b"k%d" % i, topic="raw", partition=0, offset=i) for i in range(n)]


async def test_a_batch_is_acked_only_after_its_outputs_are_published():
    producer = RecordingProducer(partitions=(0,), failures=[KafkaTimeoutError()])
    acked, done, failed = [], [], []

    async def ack(events):
        # When acking, every output of the batch must already be with the broker.
        assert len(producer.delivered) == len(events)
        acked.extend(events)

    async def on_failure(exc):
        failed.append(exc)

    flow = BatchFlow(
        [Runner()], Publisher(producer, max_backoff=0.01), ack=ack, on_done=done.append, on_failure=on_failure
    )
    events = ["e0", "e1", "e2"]
    await flow.submit(events, records(3))
    await flow.drain()
    assert acked == events and not failed and flow.in_flight == 0
    assert done[0].result.classified == 3


async def test_an_escaping_exception_stops_without_acking():
    acked, failed = [], []

    async def ack(events):
        acked.extend(events)

    async def on_failure(exc):
        failed.append(exc)

    flow = BatchFlow(
        [Runner(fail=True)], Publisher(RecordingProducer()), ack=ack, on_done=lambda d: None, on_failure=on_failure
    )
    await flow.submit(["e0"], records(1))
    await flow.drain()
    assert acked == [] and isinstance(failed[0], RuntimeError)
    with pytest.raises(RuntimeError, match="failed"):
        await flow.submit(["e1"], records(1))


async def test_batches_overlap_but_in_flight_work_is_bounded():
    gate = asyncio.Event()
    publishing = []

    class SlowProducer(RecordingProducer):
        async def send_batch(self, batch, topic, *, partition):
            publishing.append(topic)
            await gate.wait()
            return await super().send_batch(batch, topic, partition=partition)

    async def ack(events):
        pass

    async def on_failure(exc):
        raise AssertionError(exc)

    flow = BatchFlow(
        [Runner()],
        Publisher(SlowProducer(partitions=(0,))),
        ack=ack,
        on_done=lambda d: None,
        on_failure=on_failure,
        max_publishing=2,
    )
    for i in range(3):  # the runner is free again as soon as a batch is classified
        await flow.submit([f"e{i}"], records(1))
    await asyncio.sleep(0.05)
    assert len(publishing) == 2  # two batches wait on the broker; the third waits for a publishing slot
    assert flow.in_flight == 3
    gate.set()
    await flow.drain()
    assert flow.in_flight == 0

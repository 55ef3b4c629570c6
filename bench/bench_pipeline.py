"""Full pipeline on a real broker: throughput and end-to-end latency, beside
the model-only batch throughput measured in the same run.

Starts a local Apache Kafka (from the cached Maven jars) and a real
`newsevents worker` subprocess, then:

1. model only: ``ArticleClassifier.classify`` in batches in this process, on
   the same articles (one process, like the worker's one model thread);
2. throughput: pushes N articles as fast as the producer can and measures
   from the first article sent to the last classified output received;
3. latency: pushes articles at a steady rate (a fraction of the throughput
   measured) and reports p50/p95/p99 of output timestamp - input timestamp
   (both Kafka CreateTime, set on this machine).

    python bench/bench_pipeline.py [--articles 20000] [--rate-fraction 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from bench.articles import bench_articles  # noqa: E402
from newsevents.config import DEFAULT_MODEL_DIR, Topics  # noqa: E402
from newsevents.model.article import article_from_mapping  # noqa: E402
from newsevents.model.artifact import load_artifact  # noqa: E402
from newsevents.model.service import ArticleClassifier  # noqa: E402
from newsevents.streams.broker import LocalBroker, default_cache_dir, ensure_kafka_jars, free_port  # noqa: E402
from newsevents.streams.processes import stop_gracefully, wait_for_http  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def model_only(raw: list[dict], batch: int) -> float:
    classifier = ArticleClassifier(load_artifact(DEFAULT_MODEL_DIR))
    articles = [article_from_mapping(a) for a in raw]
    classifier.classify(articles[:200])
    start = time.perf_counter()
    for i in range(0, len(articles), batch):
        classifier.classify(articles[i : i + batch])
    return len(articles) / (time.perf_counter() - start)


async def push(bootstrap: str, topic: str, articles: list[dict], prefix: str, rate: float | None) -> float:
    """Send the articles with ids ``<prefix>-<n>`` (the outputs are keyed by article id)."""
    payloads = [json.dumps({**a, "id": f"{prefix}-{i}"}).encode() for i, a in enumerate(articles)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        start = time.monotonic()
        pending = []
        for i, payload in enumerate(payloads):
            pending.append(await producer.send(topic, payload, key=f"{prefix}-{i}".encode()))
            if rate:
                delay = start + (i + 1) / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return start
    finally:
        await producer.stop()


async def drain(bootstrap: str, topics: Topics, prefix: str, expected: int, timeout: float) -> dict[str, tuple]:
    """key -> (output CreateTime ms, received monotonic) for the classified/dead-letter outputs of a run."""
    consumer = AIOKafkaConsumer(
        topics.classified,
        topics.deadletter,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="latest",
        fetch_max_bytes=16 << 20,
    )
    await consumer.start()
    seen: dict[str, tuple] = {}
    deadline = time.monotonic() + timeout
    try:
        await consumer.seek_to_end()
        while len(seen) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    key = r.key.decode() if r.key else ""
                    if key.startswith(prefix + "-"):
                        seen[key] = (r.timestamp, now)
    finally:
        await consumer.stop()
    return seen


async def input_times(bootstrap: str, topic: str, prefix: str, expected: int) -> dict[str, int]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", fetch_max_bytes=16 << 20
    )
    await consumer.start()
    out: dict[str, int] = {}
    deadline = time.monotonic() + 60
    try:
        while len(out) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for r in records:
                    key = r.key.decode() if r.key else ""
                    if key.startswith(prefix + "-"):
                        out[key] = r.timestamp
    finally:
        await consumer.stop()
    return out


async def run_phase(
    bootstrap: str, topics: Topics, payloads: list[dict], prefix: str, rate: float | None, timeout: float = 300
) -> tuple[float, list[float]]:
    drainer = asyncio.create_task(drain(bootstrap, topics, prefix, len(payloads), timeout=timeout))
    await asyncio.sleep(1.0)  # let the drain consumer reach the end of the topics
    start = await push(bootstrap, topics.raw, payloads, prefix, rate)
    outputs = await drainer
    if len(outputs) < len(payloads):
        raise RuntimeError(f"only {len(outputs)} of {len(payloads)} outputs arrived")
    elapsed = max(received for _, received in outputs.values()) - start
    inputs = await input_times(bootstrap, topics.raw, prefix, len(payloads))
    latencies = [(outputs[k][0] - inputs[k]) / 1000 for k in outputs if k in inputs]
    return len(payloads) / elapsed, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--latency-articles", type=int, default=5000)
    parser.add_argument(
        "--rate-fraction", type=float, default=0.5, help="latency phase rate as a fraction of the measured throughput"
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()

    payloads = bench_articles(args.articles)
    print(
        f"{len(payloads)} articles, mean {statistics.mean(len(json.dumps(a)) for a in payloads):.0f} bytes", flush=True
    )
    model_rate = model_only(payloads, args.batch)
    print(f"model only (batches of {args.batch}, this process): {model_rate:.0f} articles/s", flush=True)

    work = Path(tempfile.mkdtemp(prefix="newsevents-bench-"))
    broker = LocalBroker(work / "kafka", port=0, jars_dir=ensure_kafka_jars(default_cache_dir()))
    worker = None
    try:
        broker.start()
        broker.wait_ready(timeout=120)
        topics = Topics("bench")
        port = free_port()
        env = {
            **os.environ,
            "NEWSEVENTS_BROKER": broker.bootstrap,
            "NEWSEVENTS_TOPIC_PREFIX": "bench",
            "NEWSEVENTS_APP_ID": "bench-worker",
            "NEWSEVENTS_PARTITIONS": str(args.partitions),
            "NEWSEVENTS_BATCH_SIZE": str(args.batch),
            "NEWSEVENTS_WEB_PORT": str(port),
            "NEWSEVENTS_DATA_DIR": str(work / "worker"),
        }
        with open(work / "worker.log", "wb") as log:  # the child keeps its own descriptor
            worker = subprocess.Popen(
                [sys.executable, "-m", "newsevents.cli", "worker", "-l", "warn"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_http(f"http://127.0.0.1:{port}/health", worker)
        asyncio.run(run_phase(broker.bootstrap, topics, payloads[:200], "warmup", None, timeout=60))

        throughput, loaded = asyncio.run(run_phase(broker.bootstrap, topics, payloads, "tput", None))
        print(
            f"pipeline throughput: {throughput:.0f} articles/s "
            f"({throughput / model_rate:.0%} of model-only); latency under full load: "
            f"p50 {percentile(loaded, 0.5):.2f} s, p99 {percentile(loaded, 0.99):.2f} s",
            flush=True,
        )
        rate = throughput * args.rate_fraction
        n = min(args.latency_articles, len(payloads))
        _, latencies = asyncio.run(run_phase(broker.bootstrap, topics, payloads[:n], "lat", rate))
        print(
            f"latency at {rate:.0f} articles/s ({args.rate_fraction:.0%} of throughput), {n} articles: "
            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
        )
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        values = {
            line.split()[0]: float(line.split()[1])
            for line in metrics.splitlines()
            if line.startswith("newsevents_batch_") and ("_sum" in line or "_count" in line)
        }
        count = values["newsevents_batch_size_count"]
        print(
            f"worker batches: {count:.0f}, mean size {values['newsevents_batch_size_sum'] / max(count, 1):.0f}; "
            f"time per batch: classify {values['newsevents_batch_classify_seconds_sum'] / count * 1000:.0f} ms, "
            f"publish {values['newsevents_batch_publish_seconds_sum'] / count * 1000:.0f} ms"
        )
        return 0
    except BaseException:
        print("worker log tail:\n" + (work / "worker.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        if worker is not None:
            stop_gracefully(worker, timeout=30)
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""A real Kafka broker and a real worker, shared by the integration tests.

The broker is Apache Kafka from Maven Central jars (streams.broker), started
once per session on a free port; the worker is `newsevents worker` in a
subprocess, on its own topic prefix and a copy of the default model (so tests
can swap artifacts under it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from newsevents.config import DEFAULT_MODEL_DIR, Topics
from newsevents.streams.broker import free_port
from newsevents.streams.processes import stop_gracefully, wait_for_http

from .kafka_helpers import collect, produce


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    from newsevents.streams.broker import LocalBroker, default_cache_dir, ensure_kafka_jars

    libs = ensure_kafka_jars(default_cache_dir())
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=0, jars_dir=libs)
    broker.start()
    try:
        broker.wait_ready(timeout=120)
        yield broker
    finally:
        broker.stop()


@dataclass
class RunningWorker:
    proc: subprocess.Popen
    bootstrap: str
    url: str
    topics: Topics
    model_dir: Path
    log_path: Path

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            body = response.read().decode()
        return json.loads(body) if path != "/metrics" else body

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def start_worker(
    bootstrap: str, base: Path, *, prefix: str | None = None, model_dir: Path | None = None, **env: str
) -> RunningWorker:
    """Start `newsevents worker` in a subprocess on its own topic prefix; wait until it classifies."""
    base.mkdir(parents=True, exist_ok=True)
    if model_dir is None:
        model_dir = base / "model"
        shutil.copytree(DEFAULT_MODEL_DIR, model_dir)
    prefix = prefix or "it" + uuid.uuid4().hex[:6]
    port = free_port()
    full_env = {
        **os.environ,
        "NEWSEVENTS_BROKER": f"kafka://{bootstrap}",
        "NEWSEVENTS_MODEL": str(model_dir),
        "NEWSEVENTS_TOPIC_PREFIX": prefix,
        "NEWSEVENTS_APP_ID": f"{prefix}-worker",
        "NEWSEVENTS_PARTITIONS": "3",
        "NEWSEVENTS_WEB_PORT": str(port),
        "NEWSEVENTS_DATA_DIR": str(base / f"data-{port}"),
        "NEWSEVENTS_RELOAD_INTERVAL": "1",
        "NEWSEVENTS_STATS_INTERVAL": "2",
        "NEWSEVENTS_MAX_ARTICLE_BYTES": str(256 * 1024),
        **env,
    }
    log_path = base / f"worker-{port}.log"
    with open(log_path, "wb") as log_file:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsevents.cli", "worker", "-l", "info"],
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    running = RunningWorker(proc, bootstrap, f"http://127.0.0.1:{port}", Topics(prefix), model_dir, log_path)
    try:
        _wait_until_processing(running)
    except BaseException:
        stop_gracefully(proc, timeout=30)
        raise
    return running


@pytest.fixture(scope="session")
def worker(kafka, tmp_path_factory):
    running = start_worker(kafka.bootstrap, tmp_path_factory.mktemp("worker"))
    try:
        yield running
    finally:
        stop_gracefully(running.proc, timeout=30)


def _wait_until_processing(w: RunningWorker, timeout: float = 120) -> None:
    """Ready means a probe article has come out classified."""
    deadline = time.monotonic() + timeout
    try:
        wait_for_http(w.url + "/health", w.proc, timeout=timeout)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}:\n{w.log()}") from None
    key = f"probe-{uuid.uuid4().hex[:8]}"
    probe = json.dumps({"id": key, "title": "Probe", "text": "A probe article."}).encode()
    produce(w.bootstrap, w.topics.raw, [(key.encode(), probe)])
    records = collect(
        w.bootstrap,
        [w.topics.classified],
        timeout=max(1.0, deadline - time.monotonic()),
        until=lambda rs: any(r["key"] == key for r in rs),
    )
    if not any(r["key"] == key for r in records):
        raise RuntimeError(f"worker did not classify a probe article in time:\n{w.log()}")

"""The worker on a real broker against its baselines, every figure in one run.

Starts a local Apache Kafka (``LocalBroker``) and the systems compared, each as
its own process on its own topics, and measures them in turns (round r: the
model alone, then each system), so that load from other work on the machine
falls on all of them alike and the ratios are taken per round:

* the model alone: ``process_batch`` (parse, clean, split, score, evidence,
  companies, story signature, envelope) in batches, in this process, pinned to
  one core with one BLAS thread; also one article per call, and cleaning vs
  scoring on their own;
* ``newsevents worker`` as shipped (model in a child process), then with
  ``NEWSEVENTS_MODEL_PROCESSES=0`` (model in a thread);
* a plain aiokafka loop and a naive per-article Faust agent
  (``bench/baselines.py``), writing the same outputs as the worker;
* the worker of the last release before this one (``--before-rev``, run from
  its own source tree extracted with ``git archive``): "today's throughput"
  that the companies and stories may cost at most 30% of.

For each: throughput (median of ``--repeats`` pushes of ``--articles`` at full
speed: articles / (last classified output's CreateTime - first input's
CreateTime)), end-to-end latency at a steady rate (classified output CreateTime
- raw input CreateTime, both set on this machine), one article on an idle
system (median of 15). For the worker also: per-batch classify and publish
time from ``/metrics`` and whether they overlap, a load sweep charted to
``docs/performance.png``, and 1 vs 2 workers each pinned to one core with
``taskset``. ``--memory-articles 100000`` adds a long run that samples the
resident memory of a worker and its model child.

The broker, the systems and this load generator share the machine: on 2 cores
read the figures as ratios measured in the same run. CPU seconds per article,
by process (from /proc), are printed beside every throughput: they move much
less than wall-clock figures when other work shares the machine.

    python bench/bench_pipeline.py [--articles 2000] [--repeats 3] [--skip plain,naive,thread,scale,sweep]
    python bench/bench_pipeline.py --articles 10000 --repeats 5 --sweep-seconds 10      # a longer run
    python bench/bench_pipeline.py --memory-articles 100000 --skip plain,naive,thread,scale,sweep
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families
from threadpoolctl import threadpool_limits

from bench.articles import bench_articles
from bench.processes import children, cpu_seconds, model_children, rss_mb
from newsevents.config import Settings, Topics
from newsevents.model.article import article_from_mapping, prepare
from newsevents.model.artifact import load_artifact
from newsevents.model.service import ArticleClassifier
from newsevents.model.stories import story_signature
from newsevents.streams.broker import LocalBroker, default_cache_dir, ensure_kafka_jars, free_port
from newsevents.streams.pipeline import Output, RawRecord, process_batch
from newsevents.streams.processes import stop_gracefully, wait_for_http
from newsevents.streams.story_stage import StoryGrouper
from newsevents.streams.worker import ensure_worker_topics

ROOT = Path(__file__).resolve().parent.parent
SKIPPABLE = ("thread", "plain", "naive", "before", "scale", "sweep")
#: The release before companies, stories and the new worker (the base of issues 7-12).
BEFORE_REV = "6ea00fc"


# ----------------------------------------------------------------------------- figures


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def runs_text(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def say(text: str) -> None:
    print(text, flush=True)


@dataclass
class Run:
    """One load applied to one system."""

    n: int
    seconds: float  # first input CreateTime to last classified output CreateTime
    latencies: list[float]  # per article, output CreateTime - input CreateTime (s)
    output_seconds: float = 0.0  # first to last classified output CreateTime
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per article, by process
    classify_stage: list[float] = field(default_factory=list)  # worker: input to story envelope CreateTime (s)

    @property
    def throughput(self) -> float:
        return self.n / self.seconds

    @property
    def output_rate(self) -> float:
        """Outputs per second while they came out (what a steady load is served at)."""
        return (self.n - 1) / self.output_seconds if self.output_seconds > 0 else float("nan")

    def latency_text(self) -> str:
        lat = self.latencies
        return f"p50 {ms(pct(lat, 50))}, p95 {ms(pct(lat, 95))}, p99 {ms(pct(lat, 99))}"

    def stages_text(self) -> str:
        """The worker's two hops: raw to story envelope, envelope to classified output."""
        if not self.classify_stage:
            return ""
        story = [total - first for total, first in zip(self.latencies, self.classify_stage, strict=True)]
        return (
            f"classify stage p50 {ms(pct(self.classify_stage, 50))}, p99 {ms(pct(self.classify_stage, 99))}; "
            f"story stage p50 {ms(pct(story, 50))}, p99 {ms(pct(story, 99))}"
        )


@dataclass
class Result:
    """What was measured of one system."""

    name: str
    runs: list[Run] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)
    latency: Run | None = None
    idle: list[float] = field(default_factory=list)
    idle_stages: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s per article, medians over the throughput runs

    @property
    def median(self) -> float:
        return statistics.median(self.throughput) if self.throughput else float("nan")


# ----------------------------------------------------------------------------- model only


@dataclass
class ModelFigures:
    batched: list[float]
    batched_cpu: list[float]  # articles per CPU second
    single: list[float]
    cleaning: list[float]  # articles per CPU second (and so on below)
    scoring: float  # scoring and evidence, one pass
    entities: float  # companies and markets, one pass
    signatures: float  # story signatures, one pass
    stories: float  # the story stage's grouping of the envelopes
    where: str


def raw_records(payloads: Sequence[tuple[bytes, bytes]]) -> list[RawRecord]:
    now = time.time()
    return [RawRecord(v, k, "bench.articles.raw", 0, i, now) for i, (k, v) in enumerate(payloads)]


class ModelBench:
    """The worker's per-batch work (``process_batch``) in this process, pinned to one core, one BLAS thread."""

    def __init__(self, settings: Settings, payloads: Sequence[tuple[bytes, bytes]], batch: int) -> None:
        self.settings = settings
        self.topics = Topics("bench")
        self.classifier = ArticleClassifier(load_artifact(settings.model_path))
        self.payloads = payloads
        self.records = raw_records(payloads)
        self.batch = batch
        self.core = min(os.sched_getaffinity(0))
        nan = float("nan")
        self.figures = ModelFigures([], [], [], [], nan, nan, nan, nan, f"core {self.core}")
        with self._pinned():
            self._process(self.records[:200])  # warm-up

    @contextmanager
    def _pinned(self) -> Iterator[None]:
        saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.core})
        try:
            with threadpool_limits(limits=1):
                yield
        finally:
            os.sched_setaffinity(0, saved)

    def _process(self, records: Sequence[RawRecord]) -> list[Output]:
        return process_batch(records, self.classifier, self.topics, max_bytes=self.settings.max_article_bytes).outputs

    def _batches(self) -> Iterator[Sequence[RawRecord]]:
        for i in range(0, len(self.records), self.batch):
            yield self.records[i : i + self.batch]

    def batched(self) -> float:
        """One timed pass in batches; returns (and keeps) articles/s."""
        with self._pinned():
            start, cpu = time.perf_counter(), time.process_time()
            for records in self._batches():
                self._process(records)
            self.figures.batched.append(len(self.records) / (time.perf_counter() - start))
            self.figures.batched_cpu.append(len(self.records) / (time.process_time() - cpu))
        return self.figures.batched[-1]

    def stages(self, repeats: int) -> None:
        """One article per call, and each stage on its own (CPU time: other processes do not count)."""
        f, model, batch = self.figures, self.classifier.model, self.batch
        with self._pinned():
            single = self.records[:200]
            for _ in range(repeats):
                start = time.perf_counter()
                for record in single:
                    self._process([record])
                f.single.append(len(single) / (time.perf_counter() - start))
            articles = [article_from_mapping(json.loads(v)) for _, v in self.payloads]
            for _ in range(repeats):
                start = time.process_time()
                docs = [prepare(a) for a in articles]
                f.cleaning.append(len(articles) / (time.process_time() - start))
            sentences = [d.sentences for d in docs]
            start = time.process_time()
            events = []
            for i in range(0, len(sentences), batch):
                events += [p.events for p in model.classifier.classify(sentences[i : i + batch])]
            f.scoring = len(sentences) / (time.process_time() - start)
            if model.entities is not None:
                start = time.process_time()
                for i in range(0, len(sentences), batch):
                    model.entities.extract(sentences[i : i + batch], events[i : i + batch])
                f.entities = len(sentences) / (time.process_time() - start)
            start = time.process_time()
            for doc in docs:
                story_signature(doc.sentences)
            f.signatures = len(docs) / (time.process_time() - start)
            grouper = StoryGrouper(self.topics, window=self.settings.story_window_hours * 3600)
            stories = self.topics.stories
            envelopes = [
                [RawRecord(o.value, o.key, stories) for o in self._process(records) if o.topic == stories]
                for records in self._batches()
            ]
            start = time.process_time()
            for group in envelopes:
                grouper.group(group)
            f.stories = sum(len(g) for g in envelopes) / (time.process_time() - start)


# ----------------------------------------------------------------------------- processes


def pin(pid: int, core: int) -> None:
    """Limit a running process (all its threads) and its children to one core, with taskset."""
    for target in [pid, *children(pid)]:
        subprocess.run(["taskset", "-a", "-p", "-c", str(core), str(target)], check=True, stdout=subprocess.DEVNULL)


@dataclass
class System:
    """One system under test: a process reading ``<prefix>.articles.raw``."""

    name: str
    topics: Topics
    proc: subprocess.Popen
    log: Path
    port: int | None = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the system's main process and of its model children."""
        pid = self.proc.pid
        return {"main": cpu_seconds(pid), "model": sum(cpu_seconds(c) for c in model_children(pid))}

    def alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n{self.tail()}")

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def metrics(self) -> dict[str, float]:
        """The worker's unlabelled ``/metrics`` samples."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10).read().decode()
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


class Lab:
    """The broker, a work folder, and the systems started in it."""

    def __init__(self, work: Path, partitions: int, batch: int) -> None:
        self.work = work
        self.partitions = partitions
        self.batch = batch
        self.broker = LocalBroker(work / "kafka", port=0, jars_dir=ensure_kafka_jars(default_cache_dir()))
        self.systems: list[System] = []

    def env(self, prefix: str, app_id: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "NEWSEVENTS_BROKER": self.broker.bootstrap,
            "NEWSEVENTS_TOPIC_PREFIX": prefix,
            "NEWSEVENTS_APP_ID": app_id,
            "NEWSEVENTS_PARTITIONS": str(self.partitions),
            "NEWSEVENTS_BATCH_SIZE": str(self.batch),
            "NEWSEVENTS_WEB_PORT": str(port),
            "NEWSEVENTS_DATA_DIR": str(self.work / f"data-{app_id}-{port}"),
            **(extra or {}),
        }

    def settings(self, prefix: str) -> Settings:
        """The settings a system on ``prefix`` runs with (any web port)."""
        return Settings.from_env(self.env(prefix, f"{prefix}-app", 1))

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str], topics: Topics, port: int | None, cwd: Path | None = None
    ) -> System:
        log_path = self.work / f"{name}.log"
        with open(log_path, "wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        system = System(name, topics, proc, log_path, port)
        self.systems.append(system)
        return system

    def worker(
        self,
        name: str,
        prefix: str,
        *,
        extra: dict[str, str] | None = None,
        core: int | None = None,
        wait: bool = True,
    ) -> System:
        port = free_port()
        cmd = [sys.executable, "-m", "newsevents.cli", "worker", "-l", "warn"]
        if core is not None:
            cmd = ["taskset", "-c", str(core), *cmd]
        system = self._spawn(name, cmd, self.env(prefix, f"{prefix}-app", port, extra), Topics(prefix), port)
        if wait:
            self.ready(system)
        return system

    def ready(self, system: System) -> None:
        """Wait for a worker's web server."""
        try:
            wait_for_http(f"http://127.0.0.1:{system.port}/health", system.proc, timeout=180)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{system.tail()}") from exc

    def before(self, rev: str, prefix: str) -> System:
        """The worker of an earlier revision, from its own source tree (its imports shadow ours on PYTHONPATH)."""
        tree = self.work / f"rev-{rev}"
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        port = free_port()
        env = {**self.env(prefix, f"{prefix}-app", port), "PYTHONPATH": str(tree)}
        cmd = [sys.executable, "-m", "newsevents.cli", "worker", "-l", "warn"]
        return self._spawn("before", cmd, env, Topics(prefix), port, cwd=tree)

    def baseline(self, kind: str, prefix: str) -> System:
        cmd = [sys.executable, str(ROOT / "bench" / "baselines.py"), kind]
        return self._spawn(kind, cmd, self.env(prefix, f"{prefix}-app", free_port()), Topics(prefix), None)

    def stop(self, system: System) -> None:
        stop_gracefully(system.proc, timeout=30)
        self.systems.remove(system)

    def close(self) -> None:
        for system in list(self.systems):
            self.stop(system)
        self.broker.stop()


# ----------------------------------------------------------------------------- load and measurement


def keyed(articles: Sequence[dict], prefix: str) -> list[tuple[bytes, bytes]]:
    """(key, payload) pairs with ids ``<prefix>-<n>`` (the outputs are keyed by article id)."""
    out = []
    for i, a in enumerate(articles):
        article_id = f"{prefix}-{i}"
        out.append((article_id.encode(), json.dumps({**a, "id": article_id}, ensure_ascii=False).encode()))
    return out


class Load:
    """Pushes keyed articles to a system and times their classified outputs from Kafka's CreateTimes."""

    def __init__(self, bootstrap: str, partitions: int, broker_pid: int | None) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.broker_pid = broker_pid
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2, max_batch_size=1 << 20)
        self.reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_bytes=64 << 20,
            max_partition_fetch_bytes=16 << 20,
        )

    async def start(self) -> None:
        await self.producer.start()
        await self.reader.start()

    async def stop(self) -> None:
        await self.producer.stop()
        await self.reader.stop()

    def tps(self, *topics: str) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t in topics for p in range(self.partitions)]

    async def prepare(self, settings: Settings, taxonomy: Sequence[str], timeout: float = 60) -> None:
        """Create a system's topics and wait until the broker serves them.

        A consumer group that joins before its topics' metadata has reached the
        broker's cache is assigned nothing, and aiokafka looks again only after
        ``metadata_max_age_ms`` (5 minutes); seen here when four systems started
        at once on a busy machine. Creating the topics first avoids that.
        """
        await ensure_worker_topics(settings, list(taxonomy))
        topics = settings.topics
        serving = [*self.tps(topics.raw, topics.classified, topics.deadletter), TopicPartition(topics.stories, 0)]
        deadline = time.monotonic() + timeout
        while True:
            try:
                await asyncio.wait_for(self.reader.end_offsets(serving), 10)
                return
            except (KafkaError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def push(self, topic: str, payloads: Sequence[tuple[bytes, bytes]], rate: float | None) -> None:
        start = time.monotonic()
        pending = []
        for i, (key, value) in enumerate(payloads):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            pending.append(await self.producer.send(topic, value, key=key))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)

    async def read(self, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> dict[bytes, int]:
        """key -> CreateTime (ms) of the first record per key between two offset maps."""
        todo = [tp for tp in start if end[tp] > start[tp]]
        out: dict[bytes, int] = {}
        if not todo:
            return out
        self.reader.assign(todo)
        for tp in todo:
            self.reader.seek(tp, start[tp])
        deadline = time.monotonic() + 120
        while todo:
            fetched = await self.reader.getmany(*todo, timeout_ms=500, max_records=20000)
            for tp, records in fetched.items():
                for r in records:
                    if r.offset < end[tp] and r.key is not None:
                        out.setdefault(r.key, r.timestamp)
            todo = [tp for tp in todo if await self.reader.position(tp) < end[tp]]
            if time.monotonic() > deadline:
                raise RuntimeError("reading back outputs took over 120 s")
        return out

    async def run(
        self,
        system: System,
        payloads: Sequence[tuple[bytes, bytes]],
        *,
        rate: float | None = None,
        timeout: float = 300,
        poll: float = 0.05,
    ) -> Run:
        """Push ``payloads`` (at ``rate`` per second, or at once) and wait for every classified output."""
        topics = system.topics
        outs = self.tps(topics.classified, topics.deadletter)
        raws = self.tps(topics.raw)
        # A worker's classify stage hands each article to the story stage through this one-partition topic.
        mids = [TopicPartition(topics.stories, 0)] if system.port else []
        out_start = await self.reader.end_offsets(outs)
        raw_start = await self.reader.end_offsets(raws + mids)
        cpu_start = self.cpu(system)
        await self.push(topics.raw, payloads, rate)
        keys = [k for k, _ in payloads]
        deadline = time.monotonic() + timeout
        outputs: dict[bytes, int] = {}
        while True:
            ends = await self.reader.end_offsets(outs)
            if sum(ends[tp] - out_start[tp] for tp in outs) >= len(keys):
                cpu_end = self.cpu(system)  # before reading back, which costs the broker and us
                outputs = await self.read(out_start, ends)
                if all(k in outputs for k in keys):
                    break
            system.alive()
            if time.monotonic() > deadline:
                got = sum(k in outputs for k in keys)
                raise RuntimeError(f"{system.name}: {got} of {len(keys)} outputs within {timeout:.0f} s")
            await asyncio.sleep(poll)
        cpu = {k: (cpu_end[k] - cpu_start[k]) / len(keys) for k in cpu_start}
        inputs = await self.read({tp: raw_start[tp] for tp in raws}, await self.reader.end_offsets(raws))
        first_in = min(inputs[k] for k in keys)
        first_out, last_out = min(outputs[k] for k in keys), max(outputs[k] for k in keys)
        latencies = [(outputs[k] - inputs[k]) / 1000 for k in keys]
        run = Run(len(keys), max(last_out - first_in, 1) / 1000, latencies, (last_out - first_out) / 1000, cpu)
        if mids:
            envelopes = await self.read({tp: raw_start[tp] for tp in mids}, await self.reader.end_offsets(mids))
            if all(k in envelopes for k in keys):
                run.classify_stage = [(envelopes[k] - inputs[k]) / 1000 for k in keys]
        return run

    def cpu(self, system: System) -> dict[str, float]:
        """CPU seconds so far: the system's processes, the broker, and this load generator."""
        broker = cpu_seconds(self.broker_pid) if self.broker_pid else 0.0
        return {**system.cpu(), "broker": broker, "load": time.process_time()}

    async def idle(self, system: System, payloads: Sequence[tuple[bytes, bytes]], pause: float = 0.3) -> Run:
        """Articles one at a time on an otherwise idle system (after a pause), each waited for."""
        await asyncio.sleep(pause)
        return await self.run(system, payloads, timeout=60, poll=0.005)


# ----------------------------------------------------------------------------- phases


@dataclass
class Batches:
    """The worker's classify stage over the throughput runs, from ``/metrics`` deltas."""

    count: float
    size: float
    classify: float  # s per batch
    publish: float  # s per batch
    wall: float  # s per batch (run windows / batches)


def batch_figures(before: dict[str, float], after: dict[str, float], wall: float) -> Batches:
    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    count = max(delta("newsevents_batch_size_count"), 1.0)
    return Batches(
        count,
        delta("newsevents_batch_size_sum") / count,
        delta("newsevents_batch_classify_seconds_sum") / count,
        delta("newsevents_batch_publish_seconds_sum") / count,
        wall / count,
    )


def cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v * 1000:.2f}" for k, v in cpu.items() if v > 0) + " ms"


async def throughput(
    load: Load, system: System, articles: list[dict], tag: str, repeats: int, label: str = ""
) -> list[Run]:
    runs = []
    for r in range(repeats):
        run = await load.run(system, keyed(articles, f"{tag}-{r}"))
        runs.append(run)
        say(
            f"  {label or system.name} throughput run {r + 1}: {run.throughput:.0f} articles/s "
            f"({run.n} in {run.seconds:.1f} s); CPU per article: {cpu_text(run.cpu)}"
        )
    return runs


async def warm(load: Load, system: System, articles: list[dict]) -> None:
    await load.run(system, keyed(articles[:200], f"warm-{system.name}"), timeout=240)


async def sweep(load: Load, system: System, articles: list[dict], peak: float, args) -> list[tuple[float, Run]]:
    points = []
    for fraction in args.sweep:
        rate = peak * fraction
        n = min(len(articles), max(200, int(rate * args.sweep_seconds)))
        run = await load.run(system, keyed(articles[:n], f"sweep-{fraction}"), rate=rate)
        points.append((rate, run))
        say(f"  offered {rate:5.0f}/s ({fraction:.0%}): delivered {run.output_rate:5.0f}/s, {run.latency_text()}")
    return points


def chart(points: list[tuple[float, Run]], model_rate: float, path: Path) -> None:
    """Delivered throughput (top) and p50/p99 latency (bottom) against offered load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [rate for rate, _ in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    top.plot(offered, [run.output_rate for _, run in points], "o-", color="tab:blue", label="delivered")
    top.plot(offered, offered, ":", color="grey", label="delivered = offered")
    top.axhline(model_rate, color="tab:green", ls="--", label="model only, one core, same run")
    top.set_ylabel("throughput (articles/s)")
    top.set_ylim(bottom=0)
    top.legend(loc="upper left", fontsize=8)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    top.set_title(
        f"newsevents worker on a local broker; {os.cpu_count()} cores shared by broker, worker, load "
        f"and other work (load average {load})",
        fontsize=9,
    )
    bottom.plot(offered, [pct(r.latencies, 50) * 1000 for _, r in points], "s-", color="tab:orange", label="p50")
    bottom.plot(offered, [pct(r.latencies, 99) * 1000 for _, r in points], "^-", color="tab:red", label="p99")
    bottom.axhline(250, color="tab:red", ls="--", alpha=0.5, label="p99 goal, 250 ms")
    bottom.set_yscale("log")
    bottom.set_ylabel("end-to-end latency (ms, log)")
    bottom.set_xlabel("offered load (articles/s)")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


async def scale_out(lab: Lab, load: Load, first: System, articles: list[dict], args) -> tuple[list[float], list[float]]:
    """Throughput of the first worker pinned to one core, then with a second worker pinned to another."""
    cores = sorted(os.sched_getaffinity(0))
    pin(first.proc.pid, cores[0])
    one = [run.throughput for run in await throughput(load, first, articles, "scale1", args.repeats, "1 worker")]
    second = lab.worker("worker-2", first.topics.prefix, core=cores[1])
    # Joining rebalances the group: wait until both workers take records.
    deadline = time.monotonic() + 120
    base = second.metrics().get("newsevents_records_in_total", 0.0)
    while True:
        await load.run(second, keyed(articles[:200], f"join-{time.monotonic():.0f}"), timeout=120)
        if second.metrics().get("newsevents_records_in_total", 0.0) > base:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the second worker took no partitions within 120 s")
    before = second.cpu()
    runs = await throughput(load, first, articles, "scale2", args.repeats, "2 workers")
    after = second.cpu()
    total = sum(run.n for run in runs)
    own = statistics.median(run.cpu["main"] + run.cpu["model"] for run in runs)
    other = (after["main"] + after["model"] - before["main"] - before["model"]) / total
    say(
        f"  2 workers, CPU per article of the stream: first {own * 1000:.2f} ms + second {other * 1000:.2f} ms "
        f"= {(own + other) * 1000:.2f} ms"
    )
    lab.stop(second)
    return one, [run.throughput for run in runs]


async def memory(
    lab: Lab, load: Load, articles: list[dict], taxonomy: Sequence[str], args: argparse.Namespace
) -> list[tuple[int, float, float, float]]:
    """A worker fed ``--memory-articles`` in chunks at full speed; RSS of it and its model child after each."""
    await load.prepare(lab.settings("mem"), taxonomy)
    extra = {"NEWSEVENTS_STORY_WINDOW_HOURS": str(args.memory_window_hours)}
    system = lab.worker("worker-memory", "mem", extra=extra)
    try:
        await warm(load, system, articles)
        samples = []
        chunk = min(10_000, max(1000, args.memory_articles // 10))
        done = 0
        while done < args.memory_articles:
            n = min(chunk, args.memory_articles - done)
            # Distinct ids per chunk; the texts repeat every len(articles).
            batch = [(f"mem-{done + i}".encode(), articles[(done + i) % len(articles)]) for i in range(n)]
            payloads = [(k, json.dumps({**a, "id": k.decode()}).encode()) for k, a in batch]
            run = await load.run(system, payloads, timeout=600)
            done += n
            pid = system.proc.pid
            own, child = rss_mb(pid), sum(rss_mb(c) for c in model_children(pid))
            index = system.metrics().get("newsevents_story_index_articles", 0.0)
            samples.append((done, own, child, index))
            say(
                f"  {done:7d} articles: worker {own:5.0f} MB, model child {child:5.0f} MB, "
                f"story index {index:.0f} articles ({run.throughput:.0f}/s)"
            )
        return samples
    finally:
        lab.stop(system)


# ----------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


async def bench(args: argparse.Namespace, lab: Lab, articles: list[dict], model: ModelBench) -> int:
    load = Load(lab.broker.bootstrap, args.partitions, lab.broker.pid)
    await load.start()
    results: dict[str, Result] = {}
    batches: dict[str, Batches] = {}
    points: list[tuple[float, Run]] = []
    scale: tuple[list[float], list[float]] | None = None
    systems: dict[str, System] = {}
    try:
        say("\n== starting the systems (each on its own topics; idle while the others are measured)")
        for prefix in ("proc", "thread", "plain", "naive", "before"):
            await load.prepare(lab.settings(prefix), model.classifier.taxonomy)
        systems["worker"] = lab.worker("worker", "proc", wait=False)
        if "thread" not in args.skip:
            systems["thread"] = lab.worker(
                "worker-thread", "thread", extra={"NEWSEVENTS_MODEL_PROCESSES": "0"}, wait=False
            )
        if "plain" not in args.skip:
            systems["plain"] = lab.baseline("plain", "plain")
        if "naive" not in args.skip:
            systems["naive"] = lab.baseline("naive", "naive")
        if "before" not in args.skip:
            systems["before"] = lab.before(args.before_rev, "before")
        for system in systems.values():
            if system.port:
                lab.ready(system)
            await warm(load, system, articles)
        say(
            "  worker: newsevents worker, model in a child process (NEWSEVENTS_MODEL_PROCESSES=1, the default)\n"
            "  thread: newsevents worker, model in a thread (NEWSEVENTS_MODEL_PROCESSES=0)\n"
            "  plain: aiokafka getmany(500) -> process_batch + story grouping in a thread -> send all -> commit\n"
            "  naive: a Faust agent that classifies each article and awaits each send\n"
            f"  before: the worker of revision {args.before_rev} (the last release: no companies, no stories)"
        )

        say(f"\n== throughput: {args.repeats} rounds of model only, then each system in turn (paired ratios)")
        before = {name: s.metrics() for name, s in systems.items() if s.port}
        for name in systems:
            results[name] = Result(name)
        for r in range(args.repeats):
            say(f"  round {r + 1}: model only {model.batched():.0f} articles/s")
            for name, system in systems.items():
                load_articles = articles[: args.naive_articles] if name == "naive" else articles
                run = await load.run(system, keyed(load_articles, f"tput-{name}-{r}"))
                results[name].runs.append(run)
                say(
                    f"  round {r + 1}: {name} {run.throughput:.0f} articles/s ({run.n} in {run.seconds:.1f} s); "
                    f"CPU per article: {cpu_text(run.cpu)}"
                )
        for name, result in results.items():
            result.throughput = [run.throughput for run in result.runs]
            result.cpu = {k: statistics.median(run.cpu[k] for run in result.runs) for k in result.runs[0].cpu}
            if name in before:
                wall = sum(run.seconds for run in result.runs)
                batches[name] = batch_figures(before[name], systems[name].metrics(), wall)

        rate = results["worker"].median * args.rate_fraction
        n = max(200, int(rate * args.latency_seconds))
        say(f"\n== latency at {rate:.0f} articles/s ({args.rate_fraction:.0%} of the worker's median), {n} articles")
        for name, system in systems.items():
            if name == "naive":
                continue  # slower than the rate: its queue would only grow
            result = results[name]
            result.latency = await load.run(system, keyed(articles[:n], f"lat-{name}"), rate=rate)
            say(f"  {name}: {result.latency.latency_text()}")
            if result.latency.classify_stage:
                say(f"    {result.latency.stages_text()}")

        say(f"\n== one article on an idle system, {args.idle_tries} tries each, taking turns")
        idle_systems = {k: v for k, v in systems.items() if k != "naive"}
        idle_runs: dict[str, list[Run]] = {k: [] for k in idle_systems}
        for i in range(args.idle_tries):
            for name, system in idle_systems.items():
                idle_runs[name].append(await load.idle(system, keyed([articles[i]], f"idle-{name}-{i}")))
        for name, runs in idle_runs.items():
            joined = Run(
                len(runs),
                sum(r.seconds for r in runs),
                [r.latencies[0] for r in runs],
                classify_stage=[x for r in runs for x in r.classify_stage],
            )
            results[name].idle = joined.latencies
            results[name].idle_stages = joined.stages_text() if len(joined.classify_stage) == len(runs) else ""
            say(
                f"  {name}: median {ms(statistics.median(joined.latencies))} "
                f"({ms(min(joined.latencies))}-{ms(max(joined.latencies))})"
            )
        pid = systems["worker"].proc.pid
        say(
            f"  resident memory now: worker {rss_mb(pid):.0f} MB, "
            f"model child {sum(rss_mb(c) for c in model_children(pid)):.0f} MB"
        )
        for name in ("thread", "plain", "naive", "before"):
            if name in systems:
                lab.stop(systems.pop(name))

        worker = systems["worker"]
        if "sweep" not in args.skip:
            say("\n== load sweep on the worker (offered load as a share of its median throughput)")
            points = await sweep(load, worker, articles, results["worker"].median, args)
            chart(points, statistics.median(model.figures.batched), args.chart)
            say(f"  chart written to {args.chart}")
        if "scale" not in args.skip:
            if len(os.sched_getaffinity(0)) < 2:
                say("  scale-out skipped: this process may use only one core")
            else:
                say("\n== scale-out: 1 vs 2 workers, each pinned to one core with taskset (broker and load unpinned)")
                scale = await scale_out(lab, load, worker, articles, args)
        lab.stop(worker)
        mem = await memory(lab, load, articles, model.classifier.taxonomy, args) if args.memory_articles else None
    finally:
        await load.stop()

    report(args, model.figures, results, batches, points, scale, mem)
    return 0


def report(
    args: argparse.Namespace,
    model: ModelFigures,
    results: dict[str, Result],
    batches: dict[str, Batches],
    points: list[tuple[float, Run]],
    scale: tuple[list[float], list[float]] | None,
    mem: list[tuple[int, float, float, float]] | None,
) -> None:
    model_rate = statistics.median(model.batched)
    w = results["worker"]
    assert w.latency is not None
    say("\n== summary (medians; every baseline measured in this run; ratios are medians of per-round ratios)")
    say(
        f"model only ({model.where}, 1 BLAS thread, batches of {args.batch}): "
        f"median {model_rate:.0f} articles/s (rounds: {runs_text(model.batched)})"
    )

    def paired(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    ratio = paired(w.throughput, model.batched)
    say(
        f"pipeline (worker, 1 model process): median {w.median:.0f} articles/s (rounds: {runs_text(w.throughput)}); "
        f"pipeline / model only = {ratio:.2f}  [goal >= 0.85: {verdict(ratio >= 0.85)}]"
    )
    if "plain" in results:
        p = results["plain"]
        vs_plain = paired(w.throughput, p.throughput)
        say(
            f"plain aiokafka loop: median {p.median:.0f} articles/s (rounds: {runs_text(p.throughput)}); "
            f"plain / model only = {paired(p.throughput, model.batched):.2f}; worker / plain = {vs_plain:.2f}  "
            f"[goal >= 1: {verdict(vs_plain >= 1)}]"
        )
    if "naive" in results:
        nv = results["naive"]
        vs_naive = paired(w.throughput, nv.throughput)
        say(
            f"naive Faust agent (one article at a time): median {nv.median:.0f} articles/s "
            f"(rounds: {runs_text(nv.throughput)}); worker / naive = {vs_naive:.1f}x  "
            f"[goal >= 5x: {verdict(vs_naive >= 5)}]"
        )
    if "thread" in results:
        t = results["thread"]
        say(
            f"worker, model in a thread: median {t.median:.0f} articles/s (rounds: {runs_text(t.throughput)}); "
            f"process / thread = {paired(w.throughput, t.throughput):.2f}"
        )
    if "before" in results:
        bf = results["before"]
        vs_before = paired(w.throughput, bf.throughput)
        say(
            f"the last release's worker ({args.before_rev}): median {bf.median:.0f} articles/s "
            f"(rounds: {runs_text(bf.throughput)}); worker with companies and stories / last release = "
            f"{vs_before:.2f}  [issue 10 goal >= 0.70: {verdict(vs_before >= 0.70)}]"
        )
    p99 = pct(w.latency.latencies, 99)
    say(
        f"latency at {args.rate_fraction:.0%} of the worker's throughput ({len(w.latency.latencies)} articles): "
        f"{w.latency.latency_text()}  [p99 goal <= 250 ms: {verdict(p99 <= 0.25)}]"
    )
    if w.latency.classify_stage:
        say(f"  of which {w.latency.stages_text()}")
    for name in ("thread", "plain", "before"):
        other = results.get(name)
        if other and other.latency:
            say(f"  same offered load, {name}: {other.latency.latency_text()}")
    idle = statistics.median(w.idle)
    say(
        f"one article on an idle worker, produce to classified output: median {ms(idle)} "
        f"({len(w.idle)} tries, {ms(min(w.idle))}-{ms(max(w.idle))})  [goal <= 100 ms: {verdict(idle <= 0.1)}]"
    )
    if w.idle_stages:
        say(f"  of which {w.idle_stages}")
    for name in ("thread", "plain", "before"):
        other = results.get(name)
        if other and other.idle:
            say(f"  {name}: median {ms(statistics.median(other.idle))}")
    for name, b in batches.items():
        label = "model process" if name == "worker" else "model thread"
        concurrent = b.classify + b.publish - b.wall
        say(
            f"per batch, {label} (classify stage, throughput runs, {b.count:.0f} batches, mean {b.size:.0f} "
            f"records): classify {ms(b.classify)}, publish {ms(b.publish)}, wall {ms(b.wall)} per batch "
            f"(wall includes each run's fill and drain); "
            + (
                f"overlapped: classify+publish exceed the wall time by {ms(concurrent)} per batch"
                if concurrent > 0
                else f"no overlap visible (publish is {b.publish / b.classify:.0%} of classify)"
            )
            + f"; model busy {min(1.0, b.classify / b.wall):.0%} of the wall time"
        )
    model_cpu = 1 / statistics.median(model.batched_cpu)
    b = batches.get("worker")
    child = w.cpu.get("model", 0.0)
    if b and child:
        say(
            f"the same ratio per CPU second of the model's process (other load does not count): model only "
            f"{model_cpu * 1000:.2f} ms per article / worker's model process {child * 1000:.2f} ms = "
            f"{model_cpu / child:.2f}; while classifying, the model process got {child * b.size / b.classify:.0%} "
            f"of a core (model only got {model_rate * model_cpu:.0%} of its core)"
        )
    say(
        f"CPU per article (medians of the throughput runs; other load on the machine does not count): "
        f"model only {model_cpu * 1000:.2f} ms"
    )
    for name, r in results.items():
        own = r.cpu.get("main", 0.0) + r.cpu.get("model", 0.0)
        say(
            f"  {name}: {own * 1000:.2f} ms ({cpu_text({k: v for k, v in r.cpu.items() if k in ('main', 'model')})})"
            f" = {own / model_cpu:.2f}x model only; broker {r.cpu.get('broker', 0) * 1000:.2f} ms, "
            f"load generator {r.cpu.get('load', 0) * 1000:.2f} ms"
        )
    single = statistics.median(model.single)
    say(
        f"model, batched vs one at a time: {model_rate:.0f} vs {single:.0f} articles/s = {model_rate / single:.1f}x "
        f"(one at a time runs: {runs_text(model.single)})"
    )
    cleaning = statistics.median(model.cleaning)
    say(
        f"cleaning and splitting vs scoring: {cleaning:.0f} articles per CPU second vs {model.scoring:.0f}/s "
        f"(cleaning / scoring = {cleaning / model.scoring:.2f}; issue 12 measured 1,941 vs 2,463 = 0.79)"
    )
    parts = {
        "cleaning+splitting": cleaning,
        "scoring+evidence": model.scoring,
        "companies+markets": model.entities,
        "story signature": model.signatures,
    }
    known = sum(1000 / v for v in parts.values() if v == v)
    say(
        "where the model's time goes (CPU ms per article, one pass each): "
        + ", ".join(f"{k} {1000 / v:.2f}" for k, v in parts.items() if v == v)
        + f"; sum {known:.2f} of {model_cpu * 1000:.2f} for process_batch"
    )
    say(f"story stage grouping alone (in the worker's main process): {1000 / model.stories:.2f} CPU ms per article")
    if scale:
        one, two = statistics.median(scale[0]), statistics.median(scale[1])
        say(
            f"scale-out, each worker pinned to one core: 1 worker {one:.0f}/s (runs: {runs_text(scale[0])}), "
            f"2 workers {two:.0f}/s (runs: {runs_text(scale[1])}); 2 / 1 = {two / one:.2f}"
        )
    if points:
        peak = max(run.output_rate for _, run in points)
        say(f"load sweep: highest delivered {peak:.0f}/s; chart {args.chart}")
    if mem:
        first, last = mem[0], mem[-1]
        say(
            f"memory over {last[0]} articles (story window {args.memory_window_hours} h): worker "
            f"{first[1]:.0f} -> {last[1]:.0f} MB, model child {first[2]:.0f} -> {last[2]:.0f} MB "
            f"(after the first {first[0]} and after all)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000, help="articles per throughput run")
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per system (medians)")
    parser.add_argument("--model-articles", type=int, default=2000, help="articles per model-only run")
    parser.add_argument("--rate-fraction", type=float, default=0.5, help="latency load, share of worker throughput")
    parser.add_argument("--latency-seconds", type=float, default=6.0, help="length of the latency run")
    parser.add_argument("--idle-tries", type=int, default=15)
    parser.add_argument("--naive-articles", type=int, default=300, help="articles per naive-agent run")
    parser.add_argument(
        "--before-rev", default=BEFORE_REV, help=f"git revision of the last release's worker (default {BEFORE_REV})"
    )
    parser.add_argument(
        "--sweep",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.25, 0.5, 0.75, 1.0, 1.25],
        help="offered loads for the chart, as shares of the worker's throughput",
    )
    parser.add_argument("--sweep-seconds", type=float, default=3.0, help="length of each sweep level")
    parser.add_argument("--batch", type=int, default=Settings().batch_size, help="worker and model-only batch size")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--skip", type=lambda s: set(filter(None, s.split(","))), default=set(), help=f"any of {','.join(SKIPPABLE)}"
    )
    parser.add_argument("--memory-articles", type=int, default=0, help="long run sampling worker memory (0: none)")
    parser.add_argument(
        "--memory-window-hours",
        type=float,
        default=0.005,
        help="story window of the memory run: the index holds a window of articles by design (docs/stories.md)",
    )
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "performance.png")
    args = parser.parse_args()
    if args.skip - set(SKIPPABLE):
        parser.error(f"--skip takes {','.join(SKIPPABLE)}")

    started = time.monotonic()
    # The reader asks for topics before they exist; aiokafka logs each miss as an error.
    logging.getLogger("aiokafka.cluster").setLevel(logging.CRITICAL)
    settings = Settings.from_env()
    articles = bench_articles(max(args.articles, args.model_articles, 200))
    say(
        f"{len(articles)} articles, mean {statistics.mean(len(json.dumps(a)) for a in articles):.0f} bytes; "
        f"{os.cpu_count()} cores; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    say("\n== model only: one article per call, and the stages on their own")
    model = ModelBench(settings, keyed(articles[: args.model_articles], "model"), args.batch)
    model.stages(args.repeats)
    say(f"  one at a time: {runs_text(model.figures.single)} articles/s")

    work = Path(tempfile.mkdtemp(prefix="newsevents-bench-"))
    lab = Lab(work, args.partitions, args.batch)
    try:
        lab.broker.start()
        lab.broker.wait_ready(timeout=120)
        code = asyncio.run(bench(args, lab, articles, model))
    except BaseException:
        for system in lab.systems:
            print(f"--- {system.name} log tail:\n{system.tail()}", file=sys.stderr)
        raise
    finally:
        lab.close()
        shutil.rmtree(work, ignore_errors=True)
    say(f"\ntook {time.monotonic() - started:.0f} s; load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return code


if __name__ == "__main__":
    sys.exit(main())

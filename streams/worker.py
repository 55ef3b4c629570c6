"""``newsevents worker``: load the model, make sure topics exist, run Faust."""

from __future__ import annotations

import asyncio
import logging
import sys

from newsevents.config import Settings
from newsevents.model.artifact import ArtifactError
from newsevents.streams.clients import KafkaUnavailable
from newsevents.streams.executor import ModelInfo, ModelRunner, Processing, make_runners
from newsevents.streams.topics import TopicMismatch, TopicSpec, ensure_topics_async, quiet_client_logs


def story_topics(settings: Settings) -> dict[str, TopicSpec]:
    """The story stage's internal topics: one partition each (one owner at a time); the index compacted,
    and its records kept a day longer than the story window (older entries are of no use)."""
    retention_ms = int((settings.story_window_hours + 24) * 3600 * 1000)
    return {
        settings.topics.stories: TopicSpec(1),
        settings.topics.story_index: TopicSpec(
            1, {"cleanup.policy": "compact,delete", "retention.ms": str(retention_ms)}
        ),
    }


def worker_topics(settings: Settings, taxonomy: list[str]) -> list[str]:
    """Every topic the worker reads or writes (internal ones included)."""
    from newsevents.streams.app import increments_topic_name

    t = settings.topics
    return [
        t.raw,
        t.classified,
        t.deadletter,
        t.stats,
        increments_topic_name(settings),
        *(t.event(x) for x in taxonomy),
    ]


async def ensure_worker_topics(settings: Settings, taxonomy: list[str]) -> None:
    """Create what :func:`worker_topics` and :func:`story_topics` name, as the worker does on start
    (the benchmarks' baselines call it too, so every system writes where the worker writes)."""
    await ensure_topics_async(
        settings, worker_topics(settings, taxonomy), settings.partitions, special=story_topics(settings)
    )


def _start_runners(settings: Settings) -> tuple[ModelInfo, list[ModelRunner]]:
    """Start the model runners and load the model in each; raises ArtifactError."""
    processing = Processing(settings.topics, settings.max_article_bytes, settings.model_sha256)
    runners = make_runners(settings.model_processes, processing)

    async def load_all() -> ModelInfo:
        infos = [await runner.load(str(settings.model_path)) for runner in runners]
        return infos[0]

    try:
        return asyncio.run(load_all()), runners
    except BaseException:
        asyncio.run(_close(runners))
        raise


async def _close(runners: list[ModelRunner]) -> None:
    for runner in runners:
        await runner.close()


def run_worker(settings: Settings, *, loglevel: str = "info") -> int:
    """Run until interrupted; returns the exit code. Errors before start-up are one line."""
    try:
        model, runners = _start_runners(settings)
    except ArtifactError as exc:
        print(f"newsevents: error: cannot use model: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(settings, model, runners, loglevel)
    finally:
        asyncio.run(_close(runners))


def _run(settings: Settings, model: ModelInfo, runners: list[ModelRunner], loglevel: str) -> int:
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    quiet_client_logs()  # a broker that is down gets our one line, not the client's retries
    try:
        asyncio.run(ensure_worker_topics(settings, list(model.taxonomy)))
    except (KafkaUnavailable, TopicMismatch) as exc:
        print(f"newsevents: error: {exc}", file=sys.stderr)
        return 1
    finally:
        client_log.setLevel(level)

    import faust

    from newsevents.streams.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, model, runners)
    where = f"{len(runners)} model process(es)" if settings.model_processes else "a model thread"
    print(
        f"newsevents worker: model {model.version} in {where}, broker {settings.broker} "
        f"({settings.security.describe()}), "
        f"dashboard http://{settings.web_host}:{settings.web_port}/",
        file=sys.stderr,
        flush=True,
    )
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0

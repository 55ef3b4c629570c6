"""``newsevents worker``: load the model, make sure topics exist, run Faust."""

from __future__ import annotations

import logging
import sys

from newsevents.config import Settings
from newsevents.model.artifact import ArtifactError, load_artifact
from newsevents.model.service import ArticleClassifier
from newsevents.streams.topics import KafkaUnavailable, ensure_topics, quiet_client_logs


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


def run_worker(settings: Settings, *, loglevel: str = "info") -> int:
    """Run until interrupted; returns the exit code. Errors before start-up are one line."""
    try:
        classifier = ArticleClassifier(load_artifact(settings.model_path))
    except ArtifactError as exc:
        print(f"newsevents: error: cannot use model: {exc}", file=sys.stderr)
        return 2
    client_log = logging.getLogger("aiokafka")
    level = client_log.level
    quiet_client_logs()  # a broker that is down gets our one line, not the client's retries
    try:
        ensure_topics(settings, worker_topics(settings, classifier.taxonomy), settings.partitions)
    except KafkaUnavailable as exc:
        print(f"newsevents: error: {exc}", file=sys.stderr)
        return 1
    finally:
        client_log.setLevel(level)

    import faust

    from newsevents.streams.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, classifier)
    print(
        f"newsevents worker: model {classifier.version}, broker {settings.broker} "
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

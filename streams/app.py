"""The Faust application: agents, tables, timers and web views.

Thin on purpose: parsing, classifying and routing live in
:mod:`streams.pipeline` and :mod:`model`; this module moves bytes between
Kafka and that code.

Delivery is at-least-once. ``take_events`` disables Faust's automatic acks and
acks a batch's events only when the agent asks for the next batch, which it
does after every output of the batch has been acknowledged by the broker;
Faust commits only acked offsets. Outputs are keyed by article id, so a
re-delivered record overwrites its earlier output for compacting consumers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import faust

from newsevents.config import Settings
from newsevents.model.artifact import ArtifactError, load_artifact
from newsevents.model.messages import encode, stats_message, utc_now
from newsevents.model.service import ArticleClassifier
from newsevents.streams.clients import faust_credentials
from newsevents.streams.dashboard import install_dashboard
from newsevents.streams.metrics import CONTENT_TYPE, WorkerMetrics
from newsevents.streams.pipeline import RawRecord, process_batch
from newsevents.streams.reload import ModelWatcher
from newsevents.streams.stats import add_count, minute_of, summarise, timeline
from newsevents.streams.topics import ensure_topics_async

log = logging.getLogger("newsevents.worker")


@dataclass
class WorkerState:
    """What the agents share: the serving model, metrics and live feed."""

    classifier: ArticleClassifier
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    started_at: float = field(default_factory=time.time)

    def use(self, classifier: ArticleClassifier) -> None:
        self.classifier = classifier
        self.metrics.serving(classifier.model.name, classifier.version)


def increments_topic_name(settings: Settings) -> str:
    """Internal topic feeding the per-type counts table."""
    return f"{settings.topic_prefix}.internal.event-counts"


def create_app(settings: Settings, classifier: ArticleClassifier) -> faust.App:
    """Build the worker's Faust app around a loaded classifier."""
    topics = settings.topics
    state = WorkerState(classifier)
    state.use(classifier)
    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        store="memory://",
        datadir=str(settings.data_dir),
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        # A single worker on a fresh group should not wait long to start.
        broker_rebalance_timeout=10,
        # After an unclean stop the group waits out the session timeout
        # before partitions move; Faust's default is 60 s.
        broker_session_timeout=10,
        broker_heartbeat_interval=2,
        stream_wait_empty=False,
        # Outputs are sent in bursts of a whole batch: let them share requests.
        producer_max_batch_size=1 << 20,
        producer_linger=0.005,
        # TLS and SASL from NEWSEVENTS_SECURITY_PROTOCOL and friends (None: PLAINTEXT).
        broker_credentials=faust_credentials(settings),
    )

    raw_topic = app.topic(topics.raw, key_serializer="raw", value_serializer="raw")
    increments = app.topic(
        increments_topic_name(settings), key_type=str, value_serializer="json", partitions=settings.partitions
    )
    counts = app.Table("event-counts", default=dict, partitions=settings.partitions, key_type=str)
    watcher = ModelWatcher(settings.model_path)

    @app.agent(raw_topic, name="classify")
    async def classify(stream):
        async for events in stream.take_events(settings.batch_size, within=settings.batch_timeout):
            await handle_batch(events)

    async def handle_batch(events) -> None:
        records = [
            RawRecord(
                value=e.value if isinstance(e.value, (bytes, type(None))) else bytes(e.value),
                key=e.key,
                topic=e.message.topic,
                partition=e.message.partition,
                offset=e.message.offset,
                timestamp=e.message.timestamp,
            )
            for e in events
        ]
        current = state.classifier  # a reload swaps the reference between batches only
        # The model is CPU-bound: run it off the event loop so fetching and
        # heartbeats carry on meanwhile.
        started = time.perf_counter()
        result = await asyncio.to_thread(process_batch, records, current, topics, max_bytes=settings.max_article_bytes)
        classified_at = time.perf_counter()
        producer = app.producer
        pending = [await producer.send(o.topic, o.key, o.value, None, None, None) for o in result.outputs]
        minute = minute_of()
        pending += [
            await producer.send(
                increments.get_topic_name(),
                event_type.encode(),
                json.dumps({"minute": minute, "n": n}).encode(),
                None,
                None,
                None,
            )
            for event_type, n in result.events.items()
        ]
        await asyncio.gather(*pending)  # offsets are acked only after this returns
        now = time.time()
        m = state.metrics
        m.classify_seconds.observe(classified_at - started)
        m.publish_seconds.observe(time.perf_counter() - classified_at)
        m.count_batch(len(records), result.classified, result.deadlettered, result.events)
        for r in records:
            if r.timestamp:
                m.latency.observe(max(0.0, now - r.timestamp))

    @app.agent(increments, name="count-events")
    async def count_events(stream):
        async for event_type, increment in stream.items():
            counts[event_type] = add_count(
                counts[event_type], int(increment["minute"]), int(increment["n"]), now_minute=minute_of()
            )

    def current_stats() -> dict:
        now = minute_of()
        taxonomy = state.classifier.taxonomy
        known = dict(counts.items())
        return {
            "types": {t: summarise(known.get(t), now_minute=now) for t in sorted(set(taxonomy) | set(known))},
            "timeline": {t: timeline(known.get(t), minutes=60, now_minute=now) for t in taxonomy},
            "model": {"name": state.classifier.model.name, "version": state.classifier.version},
            "updated_at": utc_now(),
        }

    @app.timer(settings.stats_interval, name="publish-stats")
    async def publish_stats() -> None:
        # Each worker publishes the types whose table partitions it holds.
        now = minute_of()
        for event_type, value in list(counts.items()):
            message = stats_message(
                event_type, summarise(value, now_minute=now), model_version=state.classifier.version
            )
            await app.producer.send(topics.stats, event_type.encode(), encode(message), None, None, None)

    @app.timer(settings.reload_interval, name="reload-model")
    async def reload_model() -> None:
        if not watcher.changed():
            return
        try:
            loaded = await asyncio.to_thread(load_artifact, settings.model_path)
        except ArtifactError as exc:
            state.metrics.model_reload_failures.inc()
            log.error("refused new model artifact, still serving %s: %s", state.classifier.version, exc)
            return
        new = ArticleClassifier(loaded)
        added = [t for t in new.taxonomy if t not in state.classifier.taxonomy]
        if added:
            await ensure_topics_async(settings.bootstrap_servers, [topics.event(t) for t in added], settings.partitions)
        old = state.classifier.version
        state.use(new)
        state.metrics.model_reloads.inc()
        log.info("model reloaded: %s -> %s", old, new.version)

    @app.page("/stats")
    async def stats_view(web, request):
        return web.json(current_stats())

    @app.page("/health")
    async def health_view(web, request):
        return web.json(
            {
                "status": "ok",
                "model": {"name": state.classifier.model.name, "version": state.classifier.version},
                "uptime_seconds": round(time.time() - state.started_at, 1),
                "records_in": int(state.metrics.value("newsevents_records_in_total")),
            }
        )

    @app.page("/metrics")
    async def metrics_view(web, request):
        return web.bytes(state.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    install_dashboard(app, settings, current_stats)  # live page at / and /dashboard, fed over SSE
    return app

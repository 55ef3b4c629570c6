"""The worker: a Faust app with the classify loop, tables, timers and web views.

Thin on purpose: parsing, classifying and routing live in
:mod:`newsevents.streams.pipeline` and :mod:`newsevents.model` and run in the
model runners (:mod:`newsevents.streams.executor`); getting outputs to Kafka is
:mod:`newsevents.streams.delivery`; reading input with offsets that move only
past published records is :mod:`newsevents.streams.consume`. This module wires
them into one Faust app.

Delivery is at-least-once, by construction:

* the raw topic is read by a group consumer whose commits cover only records
  whose outputs the broker has acknowledged; on a rebalance, the batches of
  revoked partitions finish and are committed before the partitions move;
* a batch is what is buffered when a model runner is free, up to
  ``NEWSEVENTS_BATCH_SIZE``: one record on an idle worker, full batches
  under load, and no timeout to wait out;
* an exception that escapes the batch code stops the worker (exit code 1)
  without committing, so the group redelivers.

Faust keeps the rolling per-type counts (a table with its changelog), the
timers, and the web server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from aiohttp import web as aioweb

from newsevents.config import Settings
from newsevents.model.artifact import ArtifactError
from newsevents.model.messages import encode, stats_message, utc_now
from newsevents.streams.clients import client_args, faust_credentials
from newsevents.streams.consume import Batch, BatchSource
from newsevents.streams.dashboard import install_dashboard
from newsevents.streams.delivery import BatchDone, BatchFlow, Publisher
from newsevents.streams.executor import ModelInfo, ModelRunner
from newsevents.streams.health import Health
from newsevents.streams.logs import OutageLog, install_outage_filter
from newsevents.streams.metrics import CONTENT_TYPE, WorkerMetrics
from newsevents.streams.pipeline import BatchResult, Output, RawRecord
from newsevents.streams.reload import ModelWatcher
from newsevents.streams.stats import add_count, minute_of, summarise, timeline
from newsevents.streams.story_stage import StoryGrouper
from newsevents.streams.topics import ensure_topics_async

log = logging.getLogger("newsevents.worker")


@dataclass
class WorkerState:
    """What the loop, timers and pages share."""

    model: ModelInfo
    runners: list[ModelRunner]
    health: Health
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    outage: OutageLog = field(default_factory=lambda: OutageLog(log))
    started_at: float = field(default_factory=time.time)
    flow: BatchFlow | None = None
    source: BatchSource | None = None
    story_flow: BatchFlow | None = None
    story_source: BatchSource | None = None

    def use(self, model: ModelInfo) -> None:
        self.model = model
        self.metrics.serving(model.name, model.version)


def increments_topic_name(settings: Settings) -> str:
    """Internal topic feeding the per-type counts table."""
    return f"{settings.topic_prefix}.internal.event-counts"


def faust_app_id(settings: Settings) -> str:
    """Faust's own consumer group and topic prefix; the classify loop's group is ``settings.app_id``."""
    return f"{settings.app_id}-faust"


def faust_options(settings: Settings) -> dict[str, Any]:
    """The Faust app settings the worker shares with the benchmark's Faust baseline
    (everything but the app id and the web server)."""
    return {
        "broker": settings.broker,
        "store": "memory://",
        "datadir": str(settings.data_dir),
        "autodiscover": False,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": 1,
        "consumer_auto_offset_reset": "earliest",
        # A single worker on a fresh group should not wait long to start.
        "broker_rebalance_timeout": 10,
        # After an unclean stop the group waits out the session timeout
        # before partitions move; Faust's default is 60 s.
        "broker_session_timeout": 10,
        "broker_heartbeat_interval": 2,
        # TLS and SASL from NEWSEVENTS_SECURITY_PROTOCOL and friends (None: PLAINTEXT).
        "broker_credentials": faust_credentials(settings),
    }


class WorkerApp(faust.App):
    """A Faust app with start and stop hooks around its own start and stop."""

    before_start: list[Callable[[], Awaitable[None]]]
    before_stop: list[Callable[[], Awaitable[None]]]
    worker_state: WorkerState

    async def on_start(self) -> None:
        for hook in getattr(self, "before_start", []):
            await hook()
        await super().on_start()

    async def on_stop(self) -> None:
        for hook in getattr(self, "before_stop", []):
            await hook()
        await super().on_stop()


def _token_middleware(token: str) -> Any:
    """Require ``Authorization: Bearer <token>`` (or the cookie a ``?token=`` visit sets) on every path."""
    expected = token.encode()

    def matches(given: str) -> bool:
        # aiohttp hands undecodable header bytes over as surrogates: compare bytes, never raise.
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)

    @aioweb.middleware
    async def require_token(request: aioweb.Request, handler: Any) -> aioweb.StreamResponse:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else request.cookies.get("newsevents_token", "")
        query = request.query.get("token", "")
        if query and matches(query):
            # A browser cannot send a header with page loads and server-sent events: hand it a cookie.
            # The redirect is relative, so it stays under the path prefix a reverse proxy may add.
            response = aioweb.HTTPFound("./" + request.rel_url.path.rsplit("/", 1)[-1])
            response.set_cookie("newsevents_token", query, httponly=True, samesite="Strict", secure=request.secure)
            raise response
        if not given or not matches(given):
            return aioweb.json_response(
                {"error": "a bearer token is required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return require_token


def create_app(settings: Settings, model: ModelInfo, runners: Sequence[ModelRunner]) -> WorkerApp:
    """Build the worker's Faust app around runners that already serve ``model``."""
    topics = settings.topics
    state = WorkerState(model, list(runners), Health(stall_seconds=settings.stall_seconds))
    state.use(model)
    app = WorkerApp(
        faust_app_id(settings),
        **faust_options(settings),
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        # Faust's own pages (router, tables, graph, stats) expose internals; ours are enough.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
    )

    increments = app.topic(
        increments_topic_name(settings), key_type=str, value_serializer="json", partitions=settings.partitions
    )
    counts = app.Table("event-counts", default=dict, partitions=settings.partitions, key_type=str)
    watcher = ModelWatcher(settings.model_path)
    stopping = asyncio.Event()
    kafka: dict[str, Any] = {}  # the output producer, the input consumer and the loop's task

    def increment_outputs(done_events: dict[str, int]) -> list[Output]:
        minute = minute_of()
        name = increments_topic_name(settings)
        return [
            Output(name, event_type.encode(), json.dumps({"minute": minute, "n": n}).encode())
            for event_type, n in done_events.items()
        ]

    def on_done(done: BatchDone) -> None:
        m, result = state.metrics, done.result
        m.classify_seconds.observe(done.classify_seconds)
        m.publish_seconds.observe(done.publish_seconds)
        m.count_batch(len(done.records), result.classified, result.deadlettered, result.events)
        now = time.time()
        for r in done.records:
            if r.timestamp:
                m.latency.observe(max(0.0, now - r.timestamp))
        state.health.progressed("classify")

    def on_failure(loop_name: str) -> Callable[[BaseException], Awaitable[None]]:
        async def crashed(exc: BaseException) -> None:
            state.metrics.agent_crashes.labels(loop_name).inc()
            state.health.crash(f"{loop_name} loop crashed: {type(exc).__name__}: {exc}"[:300])
            for source in (state.source, state.story_source):
                if source is not None:
                    source.stop()
            await app.crash(exc)

        return crashed

    async def finished(batch: Batch) -> None:
        assert state.source is not None
        await state.source.finished(batch)

    async def story_finished(batch: Batch) -> None:
        assert state.story_source is not None
        await state.story_source.finished(batch)

    def on_story_done(done: BatchDone) -> None:
        m = state.metrics
        m.stories.inc(len(done.records) - done.result.duplicates)
        m.duplicates.inc(done.result.duplicates)
        m.story_index_articles.set(len(grouper.index))
        state.health.progressed("stories")

    async def run_loop(source: BatchSource, loop_name: str) -> None:
        try:
            await source.run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await on_failure(loop_name)(exc)

    class StoryRunner:
        """Runs the grouper on the story stage's batches, off the event loop (one batch at a time)."""

        async def process(self, records: Sequence[RawRecord]) -> BatchResult:
            async with index_lock:
                return await asyncio.to_thread(grouper.group, records)

        async def load(self, path: str) -> ModelInfo:
            return state.model

        async def close(self) -> None:
            return None

    async def rebuild_index(assigned: set[Any]) -> None:
        """Taking the story partition: rebuild the index from its persisted entries first."""
        if not any(tp.topic == topics.stories for tp in assigned):
            return
        async with index_lock:
            await read_index()

    async def read_index() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        started = time.monotonic()
        grouper.reset()
        reader = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **client_args(settings))
        await reader.start()
        try:
            tp = TopicPartition(topics.story_index, 0)
            reader.assign([tp])
            end = (await reader.end_offsets([tp]))[tp]
            await reader.seek_to_beginning(tp)
            restored = 0
            while await reader.position(tp) < end:
                fetched = await reader.getmany(tp, timeout_ms=1000, max_records=5000)
                records = fetched.get(tp, [])
                entries = [(m.key.decode("utf-8", "replace"), m.value) for m in records if m.key and m.value]
                # In a thread: a large index takes seconds, and heartbeats must go on.
                restored += await asyncio.to_thread(restore_all, entries)
        finally:
            await reader.stop()
        state.metrics.story_index_articles.set(len(grouper.index))
        log.info("story index rebuilt: %d articles in the window (%.1f s)", restored, time.monotonic() - started)

    def restore_all(entries: list[tuple[str, bytes]]) -> int:
        return sum(grouper.restore(key, entry) for key, entry in entries)

    async def drop_index(revoked: set[Any]) -> None:
        if any(tp.topic == topics.stories for tp in revoked):
            async with index_lock:  # a batch still grouping (the hand-over timed out) finishes first
                grouper.reset()
            state.metrics.story_index_articles.set(0)

    grouper = StoryGrouper(topics, window=settings.story_window_hours * 3600)
    # The index is used from threads (grouping, rebuilding): one user at a time.
    index_lock = asyncio.Lock()

    async def start_outputs() -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        options = client_args(settings)
        producer = AIOKafkaProducer(
            client_id=f"{settings.app_id}-outputs",
            acks="all",
            linger_ms=0,  # we batch ourselves
            max_batch_size=1 << 20,
            max_request_size=1 << 20,
            **options,
        )
        await producer.start()
        kafka["producer"] = producer
        publisher = Publisher(producer, outage=state.outage)
        flow = state.flow = BatchFlow(
            state.runners, publisher, ack=finished, on_done=on_done, on_failure=on_failure("classify"), stop=stopping
        )
        # Counts are sent by the story stage: each story once, by its first article.
        story_flow = state.story_flow = BatchFlow(
            [StoryRunner()],
            publisher,
            ack=story_finished,
            on_done=on_story_done,
            on_failure=on_failure("stories"),
            stop=stopping,
            extra_outputs=lambda result: increment_outputs(result.events),
        )

        def group_consumer(group: str) -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                group_id=group,
                client_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # After an unclean stop the group waits out the session timeout before partitions move.
                session_timeout_ms=10_000,
                heartbeat_interval_ms=2_000,
                **options,
            )

        consumer = kafka["consumer"] = group_consumer(settings.app_id)
        story_consumer = kafka["story_consumer"] = group_consumer(f"{settings.app_id}-stories")
        await consumer.start()
        await story_consumer.start()
        source = state.source = BatchSource(
            consumer,
            [topics.raw],
            batch_size=settings.batch_size,
            room=flow.room,
            handle=submit(flow),
            outage=state.outage,
            commit_source="committing (classify)",
        )
        story_source = state.story_source = BatchSource(
            story_consumer,
            [topics.stories],
            batch_size=settings.batch_size,
            room=story_flow.room,
            handle=submit(story_flow),
            on_assigned=rebuild_index,
            on_revoked=drop_index,
            outage=state.outage,
            commit_source="committing (stories)",
        )
        kafka["loops"] = [
            asyncio.create_task(run_loop(source, "classify"), name="newsevents-classify"),
            asyncio.create_task(run_loop(story_source, "stories"), name="newsevents-stories"),
        ]

    def submit(flow: BatchFlow) -> Callable[[Batch], Awaitable[None]]:
        async def start(batch: Batch) -> None:
            await flow.submit(batch, batch.records)

        return start

    async def close_outputs() -> None:
        # Stop fetching, let what is in flight be published and committed, then close.
        stopping.set()
        sources = [s for s in (state.source, state.story_source) if s is not None]
        for source in sources:
            source.stop()
        for loop_task in kafka.pop("loops", []):
            try:
                await asyncio.wait_for(asyncio.shield(loop_task), 5)
            except (TimeoutError, asyncio.CancelledError):
                loop_task.cancel()
        for flow in (state.flow, state.story_flow):
            if flow is not None:
                await flow.drain()
        for source in sources:
            await source.commit()
        for name in ("consumer", "story_consumer"):
            consumer = kafka.pop(name, None)
            if consumer is not None:
                await consumer.stop()
        producer = kafka.pop("producer", None)
        if producer is not None:
            await producer.stop()
        for runner in state.runners:
            await runner.close()

    @app.task
    async def quiet_outages() -> None:
        install_outage_filter(state.outage)  # Faust has set up logging by now

    @app.agent(increments, name="count-events")
    async def count_events(stream: Any) -> None:
        async for event_type, increment in stream.items():
            counts[event_type] = add_count(
                counts[event_type], int(increment["minute"]), int(increment["n"]), now_minute=minute_of()
            )

    def current_stats() -> dict:
        now = minute_of()
        taxonomy = list(state.model.taxonomy)
        known = dict(counts.items())
        return {
            "types": {t: summarise(known.get(t), now_minute=now) for t in sorted(set(taxonomy) | set(known))},
            "timeline": {t: timeline(known.get(t), minutes=60, now_minute=now) for t in taxonomy},
            "model": {"name": state.model.name, "version": state.model.version},
            "updated_at": utc_now(),
        }

    @app.timer(settings.stats_interval, name="publish-stats")
    async def publish_stats() -> None:
        # Each worker publishes the types whose table partitions it holds.
        now = minute_of()
        producer = kafka.get("producer")
        if producer is None:
            return
        outputs = [
            Output(
                topics.stats,
                event_type.encode(),
                encode(stats_message(event_type, summarise(value, now_minute=now), model_version=state.model.version)),
            )
            for event_type, value in list(counts.items())
        ]
        try:
            await asyncio.gather(*[await producer.send(o.topic, o.value, key=o.key) for o in outputs])
        except Exception as exc:  # stats are refreshed every interval: a failed round is not worth a crash
            state.outage.failing("stats", exc, expires=False)
        else:
            state.outage.recovered("stats")

    lag_labels: set[tuple[str, str]] = set()  # the consumer-lag series published last second

    @app.timer(1.0, name="watch-progress")
    async def watch_progress() -> None:
        state.outage.expire()
        held: set[tuple[str, str]] = set()
        loops = (("classify", state.source, state.flow), ("stories", state.story_source, state.story_flow))
        for name, source, flow in loops:
            lag = 0
            if source is not None:
                source.retry_commit()
                for tp, behind in source.lag().items():
                    labels = (tp.topic, str(tp.partition))
                    state.metrics.consumer_lag.labels(*labels).set(behind)
                    held.add(labels)
                    lag += behind
            state.health.note_waiting(max(lag, flow.in_flight if flow else 0), name)
        # Partitions handed to another worker drop out of the gauge instead of showing their last lag forever.
        for labels in lag_labels - held:
            state.metrics.consumer_lag.remove(*labels)
        lag_labels.clear()
        lag_labels.update(held)

    @app.timer(settings.reload_interval, name="reload-model")
    async def reload_model() -> None:
        if not watcher.changed():
            return
        path = str(settings.model_path)
        try:
            new = await state.runners[0].load(path)
        except ArtifactError as exc:
            state.metrics.model_reload_failures.inc()
            log.error("refused new model artifact, still serving %s: %s", state.model.version, exc)
            return
        for runner in state.runners[1:]:
            await runner.load(path)
        added = [t for t in new.taxonomy if t not in state.model.taxonomy]
        if added:
            await ensure_topics_async(settings, [topics.event(t) for t in added], settings.partitions)
        old = state.model.version
        state.use(new)
        state.metrics.model_reloads.inc()
        log.info("model reloaded: %s -> %s", old, new.version)

    @app.page("/stats")
    async def stats_view(web: Any, request: Any) -> Any:
        return web.json(current_stats())

    @app.page("/health")
    async def health_view(web: Any, request: Any) -> Any:
        healthy, reason = state.health.check()
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unhealthy",
            "model": {"name": state.model.name, "version": state.model.version},
            "uptime_seconds": round(time.time() - state.started_at, 1),
            "records_in": int(state.metrics.value("newsevents_records_in_total")),
            "waiting": state.health.waiting,
        }
        if reason:
            body["reason"] = reason
        if state.outage.sources:
            body["failing"] = state.outage.sources
        return web.json(body, status=200 if healthy else 503)

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(state.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app.before_start = [start_outputs]
    app.before_stop = [close_outputs]
    install_dashboard(app, settings, current_stats)  # live page at / and /dashboard, fed over SSE
    if settings.web_token:
        web_app = getattr(app.web, "web_app", None)
        if web_app is None:
            raise RuntimeError("the web token needs Faust's aiohttp web driver")
        web_app.middlewares.append(_token_middleware(settings.web_token))
    app.worker_state = state
    return app

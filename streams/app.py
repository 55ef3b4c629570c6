"""The Faust application: agents, tables, timers and web views.

Thin on purpose: parsing, classifying and routing live in
:mod:`newsevents.streams.pipeline` and :mod:`newsevents.model` and run in the
model runners (:mod:`newsevents.streams.executor`); getting outputs to Kafka
is :mod:`newsevents.streams.delivery`. This module moves records between
Kafka and that code.

Delivery is at-least-once, by construction:

* the classify agent reads with acks off (``stream.noack()``): Faust commits
  only offsets that we ack, and we ack a record only after its outputs are
  acknowledged by the broker;
* a batch is what is buffered when a model runner is free, up to
  ``NEWSEVENTS_BATCH_SIZE``: one record on an idle worker, full batches
  under load, with no timeout to wait out;
* an exception that escapes the batch code stops the worker (the agent runs
  under a crashing supervisor) without acking, so the group redelivers.
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
from mode import CrashingSupervisor

from newsevents.config import Settings
from newsevents.model.artifact import ArtifactError
from newsevents.model.messages import encode, stats_message, utc_now
from newsevents.streams.dashboard import install_dashboard
from newsevents.streams.delivery import BatchDone, BatchFlow, Publisher
from newsevents.streams.executor import ModelInfo, ModelRunner
from newsevents.streams.health import Health
from newsevents.streams.logs import OutageLog, install_outage_filter
from newsevents.streams.metrics import CONTENT_TYPE, WorkerMetrics
from newsevents.streams.pipeline import Output, RawRecord
from newsevents.streams.reload import ModelWatcher
from newsevents.streams.stats import add_count, minute_of, summarise, timeline
from newsevents.streams.topics import ensure_topics_async

log = logging.getLogger("newsevents.worker")


@dataclass
class WorkerState:
    """What the agents, timers and pages share."""

    model: ModelInfo
    runners: list[ModelRunner]
    health: Health
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    outage: OutageLog = field(default_factory=lambda: OutageLog(log))
    started_at: float = field(default_factory=time.time)
    flow: BatchFlow | None = None
    acked: dict[tuple[str, int], int] = field(default_factory=dict)  # highest acked offset per partition

    def use(self, model: ModelInfo) -> None:
        self.model = model
        self.metrics.serving(model.name, model.version)


def increments_topic_name(settings: Settings) -> str:
    """Internal topic feeding the per-type counts table."""
    return f"{settings.topic_prefix}.internal.event-counts"


def _record(event: Any) -> RawRecord:
    message = event.message
    value = event.value
    return RawRecord(
        value=value if value is None or isinstance(value, bytes) else bytes(value),
        key=event.key if event.key is None or isinstance(event.key, bytes) else bytes(event.key),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
    )


def _token_middleware(token: str) -> Any:
    """Require ``Authorization: Bearer <token>`` (or the cookie a ``?token=`` visit sets) on every path."""
    expected = token.encode()

    @aioweb.middleware
    async def require_token(request: aioweb.Request, handler: Any) -> aioweb.StreamResponse:
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.cookies.get("newsevents_token", "")
        query = request.query.get("token", "")
        if query and hmac.compare_digest(query.encode(), expected):
            # A browser cannot send a header with page loads and server-sent events: hand it a cookie.
            response = aioweb.HTTPFound(request.rel_url.with_query(None))
            response.set_cookie("newsevents_token", query, httponly=True, samesite="Strict")
            raise response
        if not hmac.compare_digest(given.encode(), expected):
            return aioweb.json_response(
                {"error": "a bearer token is required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return require_token


class WorkerApp(faust.App):
    """A Faust app that lets in-flight batches finish before its consumer stops."""

    before_stop: list[Callable[[], Awaitable[None]]]
    worker_state: WorkerState

    async def on_stop(self) -> None:
        # Acks made here are still committed by the consumer's final commit below.
        for hook in getattr(self, "before_stop", []):
            await hook()
        await super().on_stop()


def create_app(settings: Settings, model: ModelInfo, runners: Sequence[ModelRunner]) -> WorkerApp:
    """Build the worker's Faust app around runners that already serve ``model``."""
    topics = settings.topics
    state = WorkerState(model, list(runners), Health(stall_seconds=settings.stall_seconds))
    state.use(model)
    app = WorkerApp(
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
        # Faust's own pages (router, tables, graph, stats) expose internals; ours are enough.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        # A single worker on a fresh group should not wait long to start.
        broker_rebalance_timeout=10,
        # After an unclean stop the group waits out the session timeout
        # before partitions move; Faust's default is 60 s.
        broker_session_timeout=10,
        broker_heartbeat_interval=2,
        # Wait for in-flight batches to be published and acked before giving partitions away.
        stream_wait_empty=True,
    )

    raw_topic = app.topic(topics.raw, key_serializer="raw", value_serializer="raw")
    increments = app.topic(
        increments_topic_name(settings), key_type=str, value_serializer="json", partitions=settings.partitions
    )
    counts = app.Table("event-counts", default=dict, partitions=settings.partitions, key_type=str)
    watcher = ModelWatcher(settings.model_path)
    stopping = asyncio.Event()
    producer_holder: dict[str, Any] = {}

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
        state.health.progressed()

    async def on_failure(exc: BaseException) -> None:
        state.metrics.agent_crashes.labels("classify").inc()
        state.health.crash(f"classify agent crashed: {type(exc).__name__}: {exc}"[:300])
        await app.crash(exc)

    stream_holder: dict[str, Any] = {}

    async def ack(events: Sequence[Any]) -> None:
        stream = stream_holder["stream"]
        generation = app.consumer_generation_id
        for event in events:
            message = event.message
            # An event from before a rebalance is redelivered in the new generation: leave it.
            if message.generation_id == generation:
                await stream.ack(event)
                tp = (message.topic, message.partition)
                if message.offset > state.acked.get(tp, -1):
                    state.acked[tp] = message.offset

    @app.task
    async def start_publishing() -> None:
        from aiokafka import AIOKafkaProducer

        install_outage_filter(state.outage)  # Faust has set up logging by now
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-outputs",
            acks="all",
            linger_ms=0,  # we batch ourselves
            max_batch_size=1 << 20,
            max_request_size=1 << 20,
            **settings.kafka_client_options(),
        )
        await producer.start()
        producer_holder["producer"] = producer
        state.flow = BatchFlow(
            state.runners,
            Publisher(producer, outage=state.outage),
            ack=ack,
            on_done=on_done,
            on_failure=on_failure,
            stop=stopping,
            extra_outputs=lambda result: increment_outputs(result.events),
        )
        ready.set()

    ready = asyncio.Event()

    @app.agent(raw_topic, name="classify", supervisor_strategy=CrashingSupervisor)
    async def classify(stream: Any) -> None:
        await ready.wait()
        flow = state.flow
        assert flow is not None
        stream = stream_holder["stream"] = stream.noack()
        buffered = stream.channel.queue
        events: list[Any] = []
        async for event in stream.events():
            if stopping.is_set():
                break  # unacked: the group redelivers it
            events.append(event)
            # Take what is buffered now, up to the batch size: small batches
            # when idle (no timeout to wait out), full ones under load.
            if len(events) >= settings.batch_size or buffered.empty():
                await flow.submit(events, [_record(e) for e in events])
                events = []

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
        for event_type, value in list(counts.items()):
            message = stats_message(event_type, summarise(value, now_minute=now), model_version=state.model.version)
            await app.producer.send(topics.stats, event_type.encode(), encode(message), None, None, None)

    @app.timer(1.0, name="watch-progress")
    async def watch_progress() -> None:
        state.outage.expire()
        lag = 0
        consumer = app.consumer
        for tp in consumer.assignment():
            if tp.topic != topics.raw:
                continue
            highwater = consumer.highwater(tp)
            if highwater is None:  # not fetched from yet
                continue
            behind = max(0, highwater - state.acked.get((tp.topic, tp.partition), -1) - 1)
            state.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(behind)
            lag += behind
        flow = state.flow
        state.health.note_waiting((flow.in_flight if flow else 0) + lag)

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
            await ensure_topics_async(
                settings.bootstrap_servers,
                [topics.event(t) for t in added],
                settings.partitions,
                **settings.kafka_client_options(),
            )
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

    async def close_outputs() -> None:
        stopping.set()
        if state.flow is not None:
            await state.flow.drain()
        producer = producer_holder.pop("producer", None)
        if producer is not None:
            await producer.stop()
        for runner in state.runners:
            await runner.close()

    app.before_stop = [close_outputs]
    install_dashboard(app, settings, current_stats)  # live page at / and /dashboard, fed over SSE
    if settings.web_token:
        web_app = getattr(app.web, "web_app", None)
        if web_app is None:
            raise RuntimeError("the web token needs Faust's aiohttp web driver")
        web_app.middlewares.append(_token_middleware(settings.web_token))
    app.worker_state = state
    return app

"""Worker metrics for ``/metrics``, kept by the official Prometheus client.

Each worker has its own registry (so several apps can live in one process, as
in tests). Besides our own counters and histograms it carries the standard
process and platform collectors (resident memory, CPU seconds, open files,
start time) that Prometheus dashboards expect. Prometheus sums the counters
across workers.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

# The ``*_created`` series double every counter's output and no dashboard of ours reads them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

#: The ``Content-Type`` of :meth:`WorkerMetrics.render`.
CONTENT_TYPE = CONTENT_TYPE_LATEST


class WorkerMetrics:
    """Everything ``/metrics`` reports, in one registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.records_in = Counter("newsevents_records_in", "Raw records consumed.", registry=registry)
        self.classified = Counter("newsevents_classified", "Articles classified and published.", registry=registry)
        self.deadlettered = Counter(
            "newsevents_deadlettered",
            "Records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.events = Counter("newsevents_events", "Event tags published, by type.", ["type"], registry=registry)
        self.latency = Histogram(
            "newsevents_end_to_end_latency_seconds",
            "From the record's Kafka timestamp to outputs acknowledged.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "newsevents_batch_size", "Records per model batch.", buckets=BATCH_BUCKETS, registry=registry
        )
        self.classify_seconds = Histogram(
            "newsevents_batch_classify_seconds",
            "Time to parse, clean and classify one batch.",
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.publish_seconds = Histogram(
            "newsevents_batch_publish_seconds",
            "Time from the first send of a batch to the last ack.",
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.model_reloads = Counter("newsevents_model_reloads", "Models hot-reloaded successfully.", registry=registry)
        self.model_reload_failures = Counter(
            "newsevents_model_reload_failures",
            "New artifacts refused (the old model kept serving).",
            registry=registry,
        )
        self.model = Info("newsevents_model", "The model serving now.", registry=registry)
        self.agent_crashes = Counter(
            "newsevents_agent_crashes",
            "Stream loops that crashed (the worker then stops).",
            ["agent"],
            registry=registry,
        )
        self.stories = Counter(
            "newsevents_stories", "Classified articles that started a story (not copies).", registry=registry
        )
        self.duplicates = Counter(
            "newsevents_duplicates", "Classified articles that were copies of an earlier one.", registry=registry
        )
        self.story_index_articles = Gauge(
            "newsevents_story_index_articles",
            "Articles kept in this worker's story index (the window), 0 when another worker groups stories.",
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "newsevents_consumer_lag",
            "Raw records after the group's committed offset, by partition this worker holds.",
            ["topic", "partition"],
            registry=registry,
        )

    def count_batch(
        self, records: int, classified: int, deadlettered: Mapping[str, int], events: Mapping[str, int]
    ) -> None:
        """Add one batch's outcome."""
        self.records_in.inc(records)
        self.classified.inc(classified)
        for reason, n in deadlettered.items():
            self.deadlettered.labels(reason).inc(n)
        for event_type, n in events.items():
            self.events.labels(event_type).inc(n)
        self.batch_size.observe(records)

    def serving(self, name: str, version: str) -> None:
        """Record the model now serving."""
        self.model.info({"name": name, "version": version})

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """The current value of one sample (0 when it has not been set yet)."""
        return self.registry.get_sample_value(name, dict(labels or {})) or 0.0

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

"""Worker metrics, rendered as Prometheus text exposition format.

Counters and histograms live in memory in each worker; Prometheus sums them
across workers.
"""

from __future__ import annotations

import bisect
from collections import Counter

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """Cumulative-bucket histogram (Prometheus semantics)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # last slot: +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float, n: int = 1) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += n
        self.sum += value * n
        self.count += n

    def render(self, name: str) -> list[str]:
        lines, cumulative = [], 0
        for bound, n in zip(self.buckets, self.counts):
            cumulative += n
            lines.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
        lines.append(f'{name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum {self.sum:.6f}")
        lines.append(f"{name}_count {self.count}")
        return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class WorkerMetrics:
    """Everything /metrics reports."""

    def __init__(self) -> None:
        self.records_in = 0
        self.classified = 0
        self.deadlettered: Counter = Counter()
        self.events: Counter = Counter()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.classify_seconds = Histogram(STAGE_BUCKETS)
        self.publish_seconds = Histogram(STAGE_BUCKETS)
        self.model_reloads = 0
        self.model_reload_failures = 0
        self.model_name = ""
        self.model_version = ""

    def render(self) -> str:
        lines = [
            "# HELP newsevents_records_in_total Raw records consumed.",
            "# TYPE newsevents_records_in_total counter",
            f"newsevents_records_in_total {self.records_in}",
            "# HELP newsevents_classified_total Articles classified and published.",
            "# TYPE newsevents_classified_total counter",
            f"newsevents_classified_total {self.classified}",
            "# HELP newsevents_deadlettered_total Records sent to the dead-letter topic, by reason.",
            "# TYPE newsevents_deadlettered_total counter",
        ]
        lines += [f'newsevents_deadlettered_total{{reason="{_escape(r)}"}} {n}' for r, n in sorted(self.deadlettered.items())]
        lines += ["# HELP newsevents_events_total Event tags published, by type.",
                  "# TYPE newsevents_events_total counter"]
        lines += [f'newsevents_events_total{{type="{_escape(t)}"}} {n}' for t, n in sorted(self.events.items())]
        lines += ["# HELP newsevents_end_to_end_latency_seconds From the record's Kafka timestamp to outputs acknowledged.",
                  "# TYPE newsevents_end_to_end_latency_seconds histogram"]
        lines += self.latency.render("newsevents_end_to_end_latency_seconds")
        lines += ["# HELP newsevents_batch_size Records per model batch.", "# TYPE newsevents_batch_size histogram"]
        lines += self.batch_size.render("newsevents_batch_size")
        lines += ["# HELP newsevents_batch_classify_seconds Time to parse, clean and classify one batch.",
                  "# TYPE newsevents_batch_classify_seconds histogram"]
        lines += self.classify_seconds.render("newsevents_batch_classify_seconds")
        lines += ["# HELP newsevents_batch_publish_seconds Time from the first send of a batch to the last ack.",
                  "# TYPE newsevents_batch_publish_seconds histogram"]
        lines += self.publish_seconds.render("newsevents_batch_publish_seconds")
        lines += [
            "# HELP newsevents_model_reloads_total Models hot-reloaded successfully.",
            "# TYPE newsevents_model_reloads_total counter",
            f"newsevents_model_reloads_total {self.model_reloads}",
            "# HELP newsevents_model_reload_failures_total New artifacts refused (the old model kept serving).",
            "# TYPE newsevents_model_reload_failures_total counter",
            f"newsevents_model_reload_failures_total {self.model_reload_failures}",
            "# HELP newsevents_model_info The model serving now.",
            "# TYPE newsevents_model_info gauge",
            f'newsevents_model_info{{name="{_escape(self.model_name)}",version="{_escape(self.model_version)}"}} 1',
        ]
        return "\n".join(lines) + "\n"

from newsevents.streams.metrics import WorkerMetrics
from newsevents.streams.stats import add_count, summarise, timeline


def test_rolling_windows():
    now = 1_000_000
    state = None
    state = add_count(state, now - 2000, 5, now_minute=now)  # older than 24 h: counted in total only
    state = add_count(state, now - 120, 3, now_minute=now)  # within 24 h
    state = add_count(state, now - 5, 2, now_minute=now)  # within the hour
    state = add_count(state, now, 1, now_minute=now)
    assert summarise(state, now_minute=now) == {"last_hour": 3, "last_24h": 6, "total": 11}
    assert str(now - 2000) not in state["minutes"]  # pruned
    assert timeline(state, minutes=6, now_minute=now) == [2, 0, 0, 0, 0, 1]


def test_metrics_text_names_reasons_types_model_and_process():
    m = WorkerMetrics()
    m.serving("newsevents-default", "v1")
    m.count_batch(3, 2, {"invalid_utf8": 1}, {"partnership": 2})
    m.latency.observe(0.3)
    text = m.render().decode()
    assert "newsevents_records_in_total 3.0" in text
    assert 'newsevents_deadlettered_total{reason="invalid_utf8"} 1.0' in text
    assert 'newsevents_events_total{type="partnership"} 2.0' in text
    assert 'newsevents_model_info{name="newsevents-default",version="v1"} 1.0' in text
    assert 'newsevents_end_to_end_latency_seconds_bucket{le="0.5"} 1.0' in text
    assert "newsevents_batch_size_count 1.0" in text
    assert "process_resident_memory_bytes" in text  # the standard process collector
    assert m.value("newsevents_records_in_total") == 3


def test_each_worker_has_its_own_registry():
    a, b = WorkerMetrics(), WorkerMetrics()
    a.count_batch(5, 5, {}, {})
    assert b.value("newsevents_records_in_total") == 0

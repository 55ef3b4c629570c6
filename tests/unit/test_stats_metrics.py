from streams.metrics import Histogram, WorkerMetrics
from streams.stats import add_count, summarise, timeline


def test_rolling_windows():
    now = 1_000_000
    state = None
    state = add_count(state, now - 2000, 5, now_minute=now)   # older than 24 h: counted in total only
    state = add_count(state, now - 120, 3, now_minute=now)    # within 24 h
    state = add_count(state, now - 5, 2, now_minute=now)      # within the hour
    state = add_count(state, now, 1, now_minute=now)
    assert summarise(state, now_minute=now) == {"last_hour": 3, "last_24h": 6, "total": 11}
    assert str(now - 2000) not in state["minutes"]  # pruned
    assert timeline(state, minutes=6, now_minute=now) == [2, 0, 0, 0, 0, 1]


def test_histogram_is_cumulative_in_prometheus_text():
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.5, 0.5, 3.0):
        h.observe(v)
    lines = h.render("x")
    assert lines[:3] == ['x_bucket{le="0.1"} 1', 'x_bucket{le="1"} 3', 'x_bucket{le="+Inf"} 4']


def test_metrics_text_names_reasons_types_and_model():
    m = WorkerMetrics()
    m.records_in, m.model_version = 3, "v1"
    m.deadlettered["invalid_utf8"] += 1
    m.events["partnership"] += 2
    text = m.render()
    assert "newsevents_records_in_total 3" in text
    assert 'newsevents_deadlettered_total{reason="invalid_utf8"} 1' in text
    assert 'newsevents_events_total{type="partnership"} 2' in text
    assert 'version="v1"' in text

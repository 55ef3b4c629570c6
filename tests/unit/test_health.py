import logging

from newsevents.streams.health import Health
from newsevents.streams.logs import ConnectionErrorFilter, OutageLog


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_waiting_records_without_progress_turn_health_red_with_a_reason():
    clock = Clock()
    health = Health(stall_seconds=30, clock=clock)
    clock.now += 100
    assert health.check() == (True, None)  # idle for long is fine: nothing waits
    health.note_waiting(250)
    clock.now += 29
    assert health.check()[0]
    clock.now += 2
    healthy, reason = health.check()
    assert not healthy and "31 s" in reason and "250 records" in reason
    health.progressed()
    assert health.check()[0]


def test_each_loop_is_judged_on_its_own_progress():
    clock = Clock()
    health = Health(stall_seconds=30, clock=clock)
    health.note_waiting(0, "classify")  # classified everything
    health.note_waiting(4000, "stories")  # the story stage works off its backlog
    for _ in range(10):
        clock.now += 5
        health.progressed("stories")
        assert health.check() == (True, None)
    health.note_waiting(300, "classify")  # new records, and the classify loop is stuck
    for _ in range(7):
        clock.now += 5
        health.progressed("stories")
    healthy, reason = health.check()
    assert not healthy and reason.endswith("while 300 records wait (classify)")
    assert health.waiting == 4300


def test_a_crash_is_reported_until_the_worker_stops():
    health = Health()
    health.crash("classify agent crashed: RuntimeError: boom")
    assert health.check() == (False, "classify agent crashed: RuntimeError: boom")


def test_an_outage_logs_its_start_a_summary_and_its_end(caplog):
    clock = Clock()
    logger = logging.getLogger("test.outage")
    outage = OutageLog(logger, summary_interval=30, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        for _ in range(100):  # 100 failures within 10 s: one line
            outage.failing("kafka", ConnectionError("refused"))
            clock.now += 0.1
        assert len(caplog.records) == 1 and "failing" in caplog.records[0].getMessage()
        clock.now += 25
        outage.failing("kafka", ConnectionError("refused"))
        assert len(caplog.records) == 2 and "still failing after 35 s (100 errors" in caplog.records[1].getMessage()
        clock.now += 11
        outage.expire(quiet_after=10)
        assert len(caplog.records) == 3 and "recovered after 46 s" in caplog.records[2].getMessage()
    assert outage.sources == []


def test_a_source_that_reports_success_ends_its_outage_only_by_succeeding(caplog):
    """A publisher waiting out its backoff is quiet, not recovered."""
    clock = Clock()
    outage = OutageLog(logging.getLogger("test.outage3"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.outage3"):
        outage.failing("publishing", ConnectionError("refused"), expires=False)
        outage.failing("kafka", ConnectionError("refused"))
        clock.now += 60
        outage.expire(quiet_after=10)
        assert outage.sources == ["publishing"]  # the log stream went quiet: over; the publisher did not say so
        outage.recovered("publishing")
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "publishing: failing",
        "kafka: failing",
        "kafka: recovered after 60 s",
        "publishing: recovered after 60 s",
    ]


def test_client_connection_errors_are_summarised_other_records_pass():
    outage = OutageLog(logging.getLogger("test.outage2"))
    keep = ConnectionErrorFilter(outage)

    def record(name, level, message):
        return logging.LogRecord(name, level, __file__, 1, message, None, None)

    assert not keep.filter(record("aiokafka.conn", logging.ERROR, "Unable connect to node with id 1: [Errno 111]"))
    assert outage.active("kafka")
    assert keep.filter(record("aiokafka.conn", logging.INFO, "Unable connect to node"))  # below warning
    assert keep.filter(record("aiokafka.consumer", logging.ERROR, "Some unrelated failure"))
    assert keep.filter(record("newsevents.worker", logging.ERROR, "Unable to connect, says our own code"))

"""Quiet logs during an outage: one line when it starts, a summary now and then, one when it ends.

When the broker goes away, the Kafka client logs every failed connection
attempt (about 120 lines a second with a few partitions). :class:`OutageLog`
turns a stream of failures into three kinds of line, and
:class:`ConnectionErrorFilter` routes the client libraries' own connection
errors through it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

#: Seconds between "still failing" summaries.
SUMMARY_INTERVAL = 30.0
#: A failure source with no new failure for this long is considered recovered.
QUIET_AFTER = 10.0


class OutageLog:
    """Tracks failures per source (``"kafka"``, ``"publishing"``) and logs their start, progress and end."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        summary_interval: float = SUMMARY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = summary_interval
        self._clock = clock
        self._since: dict[str, float] = {}  # source -> when its outage started
        self._last: dict[str, float] = {}  # source -> last failure
        self._summarised: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._expiring: set[str] = set()  # sources that end by going quiet (no success is ever reported)
        # Faust's consumer runs in a thread of its own: its client's records reach the filter from there.
        self._lock = threading.Lock()

    def active(self, source: str) -> bool:
        return source in self._since

    @property
    def sources(self) -> list[str]:
        return list(self._since)

    def failing(self, source: str, error: object, *, count: int = 1, expires: bool = True) -> None:
        """Record a failure; log it only when it starts an outage or a summary is due.

        With ``expires`` the outage ends when the source has been quiet for a while (a log
        stream has no success to report); without it, only :meth:`recovered` ends it (a
        publisher stuck in a retry is quiet, not recovered)."""
        with self._lock:
            line = self._failing(source, error, count, expires)
        if line:
            self._log.warning(*line)

    def _failing(self, source: str, error: object, count: int, expires: bool) -> tuple | None:
        now = self._clock()
        self._last[source] = now
        if expires:
            self._expiring.add(source)
        else:
            self._expiring.discard(source)
        if source not in self._since:
            self._since[source] = self._summarised[source] = now
            self._suppressed[source] = 0
            return (
                "%s: failing (%s); further errors are summarised every %.0f s",
                source,
                _one_line(error),
                self._interval,
            )
        self._suppressed[source] += count
        if now - self._summarised[source] < self._interval:
            return None
        suppressed, self._suppressed[source], self._summarised[source] = self._suppressed[source], 0, now
        return (
            "%s: still failing after %.0f s (%d errors since the last line; latest: %s)",
            source,
            now - self._since[source],
            suppressed,
            _one_line(error),
        )

    def recovered(self, source: str) -> None:
        """Record a success; log the end of the outage if there was one."""
        with self._lock:
            started = self._since.pop(source, None)
            if started is None:
                return
            self._last.pop(source, None)
            self._expiring.discard(source)
            self._summarised.pop(source, None)
            suppressed = self._suppressed.pop(source, 0)
            lasted = self._clock() - started
        self._log.warning("%s: recovered after %.0f s (%d errors not shown)", source, lasted, suppressed)

    def expire(self, *, quiet_after: float = QUIET_AFTER) -> None:
        """End the outages whose source has been quiet for ``quiet_after`` seconds."""
        now = self._clock()
        with self._lock:
            quiet = [s for s, last in self._last.items() if s in self._expiring and now - last >= quiet_after]
        for source in quiet:
            self.recovered(source)


def _one_line(error: object) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return " ".join(text.split())[:300]


# What the Kafka client libraries log when a broker cannot be reached.
_CONNECTION_TROUBLE = re.compile(
    r"unable (to )?connect|connection (refused|reset|closed|error|failed)|KafkaConnectionError|"
    r"unable to (update|request) metadata|failed fetch messages|heartbeat (failed|session expired)|"
    r"coordinator (dead|unknown|not available)|NodeNotReady|Timeout|Errno 111|Errno 104|"
    r"error connecting|got error produce response|marking the coordinator dead|"
    r"unable to find coordinator|group coordinator",
    re.IGNORECASE,
)


class ConnectionErrorFilter(logging.Filter):
    """Drops the client libraries' connection-error records and reports them to an :class:`OutageLog`.

    Installed on handlers (a logger's own filters do not see its children's records).
    """

    def __init__(self, outage: OutageLog, libraries: tuple[str, ...] = ("aiokafka", "faust", "mode")) -> None:
        super().__init__()
        self._outage = outage
        self._libraries = libraries

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self._libraries):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot even format itself: let the handler deal with it
            return True
        if not _CONNECTION_TROUBLE.search(message):
            return True
        self._outage.failing("kafka", message)
        return False


def install_outage_filter(outage: OutageLog, logger: logging.Logger | None = None) -> None:
    """Put a :class:`ConnectionErrorFilter` on every handler of ``logger`` (the root by default); idempotent."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, ConnectionErrorFilter) for f in handler.filters):
            handler.addFilter(ConnectionErrorFilter(outage))

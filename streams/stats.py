"""Rolling counts per event type, by minute.

The worker keeps, per event type, a map of minute buckets to counts in a
Faust table; these helpers update and summarise such a map. Plain Python.
"""

from __future__ import annotations

import time

WINDOWS = {"last_hour": 60, "last_24h": 24 * 60}  # window name -> minutes
_KEEP_MINUTES = 24 * 60


def minute_of(timestamp: float | None = None) -> int:
    """Minutes since the epoch."""
    return int((time.time() if timestamp is None else timestamp) // 60)


def add_count(state: dict | None, minute: int, n: int, *, now_minute: int | None = None) -> dict:
    """A new state with ``n`` added at ``minute`` and buckets older than 24 h dropped.

    ``state`` is ``{"total": int, "minutes": {str(minute): count}}`` (JSON-safe).
    """
    now_minute = minute if now_minute is None else now_minute
    minutes = dict((state or {}).get("minutes", {}))
    minutes[str(minute)] = minutes.get(str(minute), 0) + n
    oldest = now_minute - _KEEP_MINUTES
    minutes = {m: c for m, c in minutes.items() if int(m) > oldest}
    return {"total": (state or {}).get("total", 0) + n, "minutes": minutes}


def summarise(state: dict | None, *, now_minute: int | None = None) -> dict[str, int]:
    """``{"last_hour": n, "last_24h": n, "total": n}`` for one type's state."""
    now_minute = minute_of() if now_minute is None else now_minute
    minutes = (state or {}).get("minutes", {})
    out = {
        name: sum(c for m, c in minutes.items() if now_minute - span < int(m) <= now_minute)
        for name, span in WINDOWS.items()
    }
    out["total"] = (state or {}).get("total", 0)
    return out


def timeline(state: dict | None, *, minutes: int = 60, now_minute: int | None = None) -> list[int]:
    """Counts for each of the last ``minutes`` minutes, oldest first (for charts)."""
    now_minute = minute_of() if now_minute is None else now_minute
    buckets = (state or {}).get("minutes", {})
    return [buckets.get(str(m), 0) for m in range(now_minute - minutes + 1, now_minute + 1)]

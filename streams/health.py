"""Whether the worker is doing its job, for ``/health``: plain state, no I/O.

Healthy means: no agent has crashed, and records that wait (in flight, or
behind the consumer's position) are being worked off. A worker that has
published nothing for ``stall_seconds`` while records wait answers 503, and
so does one whose agent crashed, with the reason in one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Health:
    """Progress and failure bookkeeping behind ``/health``."""

    stall_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    last_progress: float = field(default=0.0)
    waiting_since: float | None = None
    waiting: int = 0
    crashed: str | None = None

    def __post_init__(self) -> None:
        self.last_progress = self.clock()

    def progressed(self) -> None:
        """A batch's outputs were all acknowledged."""
        self.last_progress = self.clock()

    def note_waiting(self, records: int) -> None:
        """How many records wait right now (in flight plus consumer lag); called periodically."""
        if records > 0 and self.waiting == 0:
            self.waiting_since = self.clock()
        elif records == 0:
            self.waiting_since = None
        self.waiting = records

    def crash(self, reason: str) -> None:
        self.crashed = reason

    def check(self) -> tuple[bool, str | None]:
        """``(healthy, reason)``; the reason says what is wrong in one line."""
        if self.crashed:
            return False, self.crashed
        if self.waiting > 0 and self.waiting_since is not None:
            idle = self.clock() - max(self.last_progress, self.waiting_since)
            if idle >= self.stall_seconds:
                return False, f"no batch published for {idle:.0f} s while {self.waiting:,} records wait"
        return True, None

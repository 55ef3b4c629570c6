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
class _Loop:
    last_progress: float
    waiting_since: float | None = None
    waiting: int = 0


@dataclass
class Health:
    """Progress and failure bookkeeping behind ``/health``, per loop (``"classify"``, ``"stories"``).

    Each loop is judged on its own: a story stage that publishes its backlog
    says nothing about a classify loop that is stuck, and the other way round.
    """

    stall_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    crashed: str | None = None
    _loops: dict[str, _Loop] = field(default_factory=dict)

    def _loop(self, name: str) -> _Loop:
        if name not in self._loops:
            self._loops[name] = _Loop(last_progress=self.clock())
        return self._loops[name]

    @property
    def waiting(self) -> int:
        """Records waiting in all loops."""
        return sum(loop.waiting for loop in self._loops.values())

    def progressed(self, loop: str = "classify") -> None:
        """A batch of ``loop`` had all its outputs acknowledged."""
        self._loop(loop).last_progress = self.clock()

    def note_waiting(self, records: int, loop: str = "classify") -> None:
        """How many records wait for ``loop`` right now (in flight plus consumer lag); called periodically."""
        state = self._loop(loop)
        if records > 0 and state.waiting == 0:
            state.waiting_since = self.clock()
        elif records == 0:
            state.waiting_since = None
        state.waiting = records

    def crash(self, reason: str) -> None:
        self.crashed = reason

    def check(self) -> tuple[bool, str | None]:
        """``(healthy, reason)``; the reason says what is wrong in one line."""
        if self.crashed:
            return False, self.crashed
        for name, loop in self._loops.items():
            if loop.waiting > 0 and loop.waiting_since is not None:
                idle = self.clock() - max(loop.last_progress, loop.waiting_since)
                if idle >= self.stall_seconds:
                    return False, f"no batch published for {idle:.0f} s while {loop.waiting:,} records wait ({name})"
        return True, None

"""When to send event i: an absolute schedule, so pacing does not drift over minutes.

Every target time is computed from the start (``start + i / rate`` or ``start + (ts_i - ts_0) / speed``),
never by sleeping the gap since the previous event: per-event sleeps overshoot a little each time and
the errors add up; an absolute schedule catches up after any late wake-up or pause.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Pacer:
    """``speed`` (event time runs X times wall time) or ``rate`` (events/s); neither: as fast as possible."""

    speed: float | None = None
    rate: float | None = None
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.speed is not None and self.rate is not None:
            raise ValueError("choose --speed or --rate, not both")
        for name, value in (("speed", self.speed), ("rate", self.rate)):
            if value is not None and not value > 0:
                raise ValueError(f"--{name} must be > 0 (got {value})")
        self._start: float | None = None
        self._ts0: int | None = None
        self._i = 0

    @property
    def paced(self) -> bool:
        return self.speed is not None or self.rate is not None

    def target(self, ts: int) -> float:
        """Wall-clock (``clock``) time at which the next event, with event time ``ts``, is due."""
        if self._start is None:
            self._start, self._ts0 = self.clock(), ts
        i, self._i = self._i, self._i + 1
        if self.rate is not None:
            return self._start + i / self.rate
        if self.speed is not None:
            return self._start + max(0, ts - self._ts0) / 1000.0 / self.speed  # type: ignore[operator]
        return self._start

    def delay(self, ts: int) -> float:
        """Seconds to wait before sending the next event (0 when due or unpaced)."""
        if not self.paced:
            return 0.0
        return max(0.0, self.target(ts) - self.clock())

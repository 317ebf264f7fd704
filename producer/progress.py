"""Progress while replaying, and the final summary.

On a terminal: one redrawn status line (bar when the total is known, events/s, event-time clock, ETA).
Otherwise (logs, CI, pipes): a plain line every ``interval`` seconds, so logs stay readable.
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import IO, Any


def iso(ms: int | None) -> str | None:
    """Epoch ms as ISO-8601 UTC (second precision), for humans."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class Summary:
    """Counts of a replay; ``sent`` = handed to the producer, ``acknowledged`` = confirmed by Kafka in a
    committed transaction (what read_committed readers get)."""

    topic: str = ""
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> lines
    dead_lettered: int = 0  # sent to the dead-letter topic
    dead_letters_acknowledged: int = 0
    lines_read: int = 0
    out_of_order: int = 0
    resumed_from: int | None = None  # positions skipped as done by a previous run
    found_in_topic: int = 0  # positions after the saved state found already delivered
    first_ts: int | None = None
    last_ts: int | None = None
    elapsed_s: float = 0.0
    stopped_by: str | None = None  # signal name when interrupted
    first_error: str | None = None
    state_file: str | None = None
    #: why the open transaction was aborted (its records are not in the topic for read_committed readers and
    #: count as unconfirmed; ``--resume`` sends them), None when every transaction committed
    aborted: str | None = None

    @property
    def events_per_s(self) -> float:
        return self.acknowledged / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def unconfirmed(self) -> int:
        return self.sent - self.acknowledged - self.failed

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = dict(self.skipped)
        d.update(events_per_s=round(self.events_per_s, 1), unconfirmed=self.unconfirmed,
                 event_time_from=iso(self.first_ts), event_time_to=iso(self.last_ts),
                 elapsed_s=round(self.elapsed_s, 3))
        return d

    def render(self) -> str:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        lines = [
            f"replay summary{' (stopped by ' + self.stopped_by + ')' if self.stopped_by else ''}:",
            f"  sent {self.sent}, acknowledged {self.acknowledged}, failed {self.failed}, "
            f"unconfirmed {self.unconfirmed}",
            f"  skipped: {skipped}",
            f"  dead-lettered {self.dead_lettered} (acknowledged {self.dead_letters_acknowledged})",
            f"  lines read {self.lines_read}, out of order {self.out_of_order}",
            f"  {self.events_per_s:,.0f} events/s over {self.elapsed_s:.1f} s",
            f"  event time {iso(self.first_ts)} .. {iso(self.last_ts)}",
        ]
        if self.resumed_from is not None:
            lines.append(f"  resumed after position {self.resumed_from} (+{self.found_in_topic} found in topic)")
        if self.first_error:
            lines.append(f"  first error: {self.first_error}")
        if self.aborted:
            lines.append(f"  transaction aborted: {self.aborted}")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


class Progress:
    """Redraws (TTY) or logs (otherwise) at most every ``interval`` seconds."""

    def __init__(self, total: int | None = None, unit_total: str = "events", stream: IO[str] | None = None,
                 interval: float | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (0.25 if self.tty else 10.0)
        self.total = total
        self.unit_total = unit_total
        self.start = time.monotonic()
        self._last = self.start
        self._drawn = False

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.interval

    def update(self, summary: Summary, done: float | None = None, ts: int | None = None) -> None:
        """``done``: progress in the unit of ``total`` (events or bytes)."""
        now = time.monotonic()
        self._last = now
        elapsed = now - self.start
        rate = summary.acknowledged / elapsed if elapsed > 0 else 0.0
        frac = (done / self.total) if (self.total and done is not None) else None
        eta = (elapsed / frac - elapsed) if frac and frac > 0 else None
        clock = iso(ts) or "-"
        if self.tty:
            bar = ""
            if frac is not None:
                filled = int(min(1.0, frac) * 24)
                bar = f"[{'#' * filled}{'.' * (24 - filled)}] {min(1.0, frac) * 100:5.1f}% "
            text = (f"\r{bar}{summary.sent:,} sent {rate:,.0f} ev/s  event time {clock}  "
                    f"ETA {_duration(eta)} ")
            self.stream.write(text)
            self._drawn = True
        else:
            pct = f" ({frac * 100:.1f}%)" if frac is not None else ""
            self.stream.write(f"replay: sent {summary.sent} acked {summary.acknowledged}{pct} "
                              f"{rate:.0f} events/s event time {clock} ETA {_duration(eta)}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

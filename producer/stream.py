"""The deterministic sequence of what a replay does with each input line, numbered by position.

Position ``n`` is the n-th line (0-based) the merge yields, counting every line (good, bad, outside the
time window) and every ``--loop`` pass. Given the same files and options the sequence is the same on
every run, which is what lets ``--resume`` skip exactly the positions a previous run got acknowledged.

``--loop``: pass k (k = 0, 1, ...) shifts every ts by ``k * (span + 1 s)``, span = last ts - first ts of
the events pass 0 sent, so event time keeps increasing across passes. The sent line then carries the
shifted ts: only the number of the top-level ``"ts"`` field is rewritten, every other byte is unchanged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Literal

from producer.merge import Merged, ReadStats
from producer.verdicts import Verdict

#: yields one pass over the input: ts-ordered (ts, raw line, verdict, source, line number)
Source = Callable[[ReadStats], Iterator[Merged]]

Action = Literal["send", "invalid", "window"]


@dataclass(frozen=True)
class StreamOptions:
    from_ms: int | None = None  # inclusive
    until_ms: int | None = None  # exclusive
    limit: int | None = None  # most events (valid + hidden) to send, over all passes
    loop: bool = False


_NEVER = 1 << 62  # beyond any event time or count
_TS_FIELD = re.compile(rb'"ts"\s*:\s*(-?\d+)')


def rewrite_ts(raw: bytes, old: int, new: int) -> bytes:
    """``raw`` with its top-level ts number ``old`` replaced by ``new``; nothing else changes.

    Events are flat JSON objects, and a ``"ts"`` inside a string value would have escaped quotes, so
    the first ``"ts": <digits>`` whose number equals the parsed ts is the field itself.
    """
    for m in _TS_FIELD.finditer(raw):
        if int(m.group(1)) == old:
            return raw[: m.start(1)] + str(new).encode() + raw[m.end(1):]
    raise ValueError("ts field not found in line")  # cannot happen for a line that parsed with this ts


def items(source: Source, opts: StreamOptions, stats: ReadStats) -> Iterator[tuple]:
    """Every line of every pass, with its position and what to do with it, as tuples
    ``(pos, action, ts, raw, verdict, source, lineno)``: ``action`` is send, invalid or window; ``ts`` the event
    time to send with (shifted in loop passes; for bad lines the ts they travel with); ``raw`` the bytes to send
    (the original line, its ts rewritten in loop passes > 0); ``verdict`` a ``producer.verdicts.Verdict``.

    Plain tuples, because the replay unpacks them at once: building a NamedTuple costs a Python call a line.
    """
    pos = 0
    sent = 0
    shift = 0
    period: int | None = None
    # sentinels instead of None: one comparison a line each
    lo = opts.from_ms if opts.from_ms is not None else -_NEVER
    hi = opts.until_ms if opts.until_ms is not None else _NEVER
    limit = opts.limit if opts.limit is not None else _NEVER
    while True:
        first, last = None, -_NEVER
        for ts, raw, q, origin, lineno in source(stats):
            if q[1] is None:
                action: Action = "window" if ts < lo else "invalid"
            elif ts >= hi:
                break  # files are ts-sorted: nothing later is inside the window
            elif ts < lo:
                action = "window"
            else:
                if sent >= limit:
                    return
                action = "send"
                sent += 1
                if first is None:
                    first = ts
                if ts > last:
                    last = ts
                if shift:
                    raw = rewrite_ts(raw, ts, ts + shift)
            yield pos, action, ts + shift, raw, q, origin, lineno
            pos += 1
        if not opts.loop or first is None or sent >= limit:
            return
        if period is None:
            period = (last - first) + 1000
        shift += period

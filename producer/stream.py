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
from typing import Callable, Iterator, Literal, NamedTuple

from producer.merge import Merged, ReadStats
from producer.verdicts import Verdict

#: yields one pass over the input: ts-ordered (ts, raw line, verdict, source, line number)
Source = Callable[[ReadStats], Iterator[Merged]]

Action = Literal["send", "invalid", "window"]


class Item(NamedTuple):
    """The layout of what :func:`items` yields (as plain tuples: see there); ``Item._make`` names the fields."""

    pos: int
    action: Action
    ts: int  # event time to send with (shifted in loop passes); for bad lines the ts they travel with
    raw: bytes  # the bytes to send: the original line (its ts rewritten in loop passes > 0)
    verdict: Verdict  # (status, event, reason, detail)
    source: str
    lineno: int


@dataclass(frozen=True)
class StreamOptions:
    from_ms: int | None = None  # inclusive
    until_ms: int | None = None  # exclusive
    limit: int | None = None  # most events (valid + hidden) to send, over all passes
    loop: bool = False


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
    """Every line of every pass, with its position and what to do with it: tuples laid out as :class:`Item`.

    Plain tuples, because the replay unpacks them at once: building a NamedTuple costs ~0.5 us a line.
    """
    pos = 0
    sent = 0
    shift = 0
    period: int | None = None
    lo = opts.from_ms
    hi = opts.until_ms
    limit = opts.limit
    while True:
        first = last = None
        for ts, raw, q, origin, lineno in source(stats):
            event = q[1]
            if hi is not None and ts >= hi and event is not None:
                break  # files are ts-sorted: nothing later is inside the window
            if event is None:
                action: Action = "window" if (lo is not None and ts < lo) else "invalid"
            elif lo is not None and ts < lo:
                action = "window"
            else:
                if limit is not None and sent >= limit:
                    return
                action = "send"
                sent += 1
                if first is None:
                    first = ts
                if last is None or ts > last:
                    last = ts
                if shift:
                    raw = rewrite_ts(raw, ts, ts + shift)
            yield pos, action, ts + shift, raw, q, origin, lineno
            pos += 1
        if not opts.loop or first is None or (limit is not None and sent >= limit):
            return
        if period is None:
            period = (last - first) + 1000  # type: ignore[operator]
        shift += period

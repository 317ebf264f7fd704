"""The catch rate: of the users who cancelled so far, how many the model had in the high band before they did,
and how long before.

The writer keeps what this needs (see ``streaming/redis_sink.py``): ``{p}:churned`` holds every cancellation,
``{p}:caught`` those whose user had scored at or above the threshold before cancelling, scored by the lead
time, and each user hash its ``first_high_ts`` and ``risk_before_cancel``. So the figure is two ZCARDs and a
median by rank, and the short list the most recent cancellations: a handful of calls whatever the number of
users.
"""
from __future__ import annotations

from dataclasses import dataclass

from contracts.redis_keys import RedisKeys

from dashboard.data import _float, _int

RECENT_SHOWN = 10


@dataclass(frozen=True)
class Cancellation:
    user_id: str
    name: str
    level: str
    cancelled_ts: int | None
    risk_before: float | None
    first_high_ts: int | None

    @property
    def lead_ms(self) -> int | None:
        """How long before cancelling the user first scored high; None if never (not caught)."""
        if self.first_high_ts is None or self.cancelled_ts is None or self.first_high_ts > self.cancelled_ts:
            return None
        return self.cancelled_ts - self.first_high_ts


@dataclass(frozen=True)
class CatchRate:
    cancelled: int
    caught: int
    median_lead_ms: float | None
    recent: list[Cancellation]

    @property
    def rate(self) -> float | None:
        return self.caught / self.cancelled if self.cancelled else None


def catch_rate(client, keys: RedisKeys, recent: int = RECENT_SHOWN) -> CatchRate:
    """Two round trips: the counts and the latest cancellations, then the median lead and their hashes."""
    pipe = client.pipeline(transaction=False)
    pipe.zcard(keys.churned)
    pipe.zcard(keys.caught)
    pipe.zrevrange(keys.churned, 0, max(recent, 1) - 1, withscores=True)
    cancelled, caught, latest = pipe.execute()
    latest = latest[:recent]
    pipe = client.pipeline(transaction=False)
    if caught:
        pipe.zrange(keys.caught, (caught - 1) // 2, caught // 2, withscores=True)  # the middle one or two
    for uid, _ in latest:
        pipe.hmget(keys.user(uid), ["name", "level", "risk_before_cancel", "first_high_ts"])
    out = pipe.execute() if (caught or latest) else []
    median = None
    if caught:
        middle = [score for _, score in out.pop(0)]
        median = sum(middle) / len(middle) if middle else None
    rows = [Cancellation(uid, name or "", level or "", int(ts), _float(risk), _int(high))
            for (uid, ts), (name, level, risk, high) in zip(latest, out)]
    return CatchRate(int(cancelled), int(caught), median, rows)

"""The target list: the users a retention team acts on, filtered the way it works, counted, and listed.

A filter is a risk range, bands, levels and a status. Active users are ranked by their current risk in
``{p}:risk``; cancelled users by the last risk they had while active in ``{p}:cancelled_risk`` ("did we see
it coming?"). Bands are risk intervals under the model's threshold (``contracts.redis_keys.band_for``), so
a range and bands become a few disjoint score intervals of one sorted set: without a level filter the
count is one ZCOUNT per interval and the first rows one ZREVRANGEBYSCORE per interval, whatever the number
of users. A level is not in the ranking, so with a level filter one read-only script walks the intervals
on the server and checks each user's ``level`` field there: one call, no user hash shipped to Python.
Never KEYS or SCAN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from contracts.redis_keys import BANDS, RedisKeys, band_for

from dashboard.data import UserRow, _float, _int, parse_drivers

STATUSES: tuple[str, ...] = ("active", "cancelled")
LEVELS: tuple[str, ...] = ("free", "paid")
#: Per-user fields a target row needs.
TARGET_FIELDS: tuple[str, ...] = ("name", "level", "band", "alerting", "drivers", "last_ts", "as_of", "churned_ts",
                                  "first_high_ts")
#: User hashes read per pipeline when a whole list is exported.
EXPORT_CHUNK = 2000

# KEYS[1]: the ranking. ARGV: 1 user-key prefix, 2 how many ids to return (-1: all), 3 number of intervals n,
# then n (max, min) score pairs in descending order, then the wanted levels. Returns {count, {ids}}: every
# ranked user in the intervals whose level is wanted, counted, and the first ids in descending risk. The user
# keys are built from the prefix here (they cannot all be passed as KEYS): one Redis server, as the project
# runs, not a cluster. Read-only.
_LEVEL_MATCH_LUA = r"""
local prefix, limit, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local wanted = {}
for i = 4 + 2 * n, #ARGV do wanted[ARGV[i]] = true end
local count, ids = 0, {}
for k = 0, n - 1 do
  for _, uid in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[4 + 2 * k], ARGV[5 + 2 * k])) do
    local level = redis.call('HGET', prefix .. uid, 'level')
    if level and wanted[level] then
      count = count + 1
      if limit < 0 or #ids < limit then ids[#ids + 1] = uid end
    end
  end
end
return {count, ids}
"""


class FilterError(ValueError):
    """A filter that cannot match as written (a range upside down, an unknown band or status)."""


@dataclass(frozen=True)
class TargetFilter:
    """Which users: risk in [min_risk, max_risk], a band in ``bands``, a level in ``levels`` (empty: any),
    active or cancelled (for cancelled users the risk is the last one scored while they were active)."""

    min_risk: float = 0.0
    max_risk: float = 1.0
    bands: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    status: str = "active"

    def check(self) -> "TargetFilter":
        if not 0.0 <= self.min_risk <= 1.0 or not 0.0 <= self.max_risk <= 1.0:
            raise FilterError(f"risk bounds must be between 0 and 1 (got {self.min_risk:g} and {self.max_risk:g})")
        if self.min_risk > self.max_risk:
            raise FilterError(f"minimum risk {self.min_risk:g} is above the maximum {self.max_risk:g}")
        if unknown := [b for b in self.bands if b not in BANDS]:
            raise FilterError(f"unknown band {unknown[0]!r} (one of {', '.join(BANDS)})")
        if self.status not in STATUSES:
            raise FilterError(f"unknown status {self.status!r} (one of {', '.join(STATUSES)})")
        return self


@dataclass(frozen=True)
class Interval:
    """Scores from ``lo`` (inclusive) to ``hi``, inclusive or not, as ZRANGEBYSCORE bounds."""

    lo: float
    hi: float
    hi_inclusive: bool

    @property
    def bounds(self) -> tuple[str, str]:
        """(max, min) in Redis syntax; the ends of [0, 1] are open so an out-of-range score still counts."""
        lo = "-inf" if self.lo <= 0.0 else repr(self.lo)
        if self.hi >= 1.0 and self.hi_inclusive:
            hi = "+inf"
        else:
            hi = repr(self.hi) if self.hi_inclusive else f"({self.hi!r}"
        return hi, lo


def band_interval(band: str, threshold: float) -> Interval:
    """The risks ``band_for`` puts in ``band``: low [0, t/2), medium [t/2, t), high [t, 1]."""
    return {"low": Interval(0.0, threshold / 2, False), "medium": Interval(threshold / 2, threshold, False),
            "high": Interval(threshold, 1.0, True)}[band]


def intervals(filt: TargetFilter, threshold: float) -> list[Interval]:
    """The filter's risk range cut by its bands: disjoint intervals, highest first (empty: nothing matches)."""
    bands = [b for b in BANDS if b in filt.bands] if filt.bands else []
    pieces = [band_interval(b, threshold) for b in bands] if bands else [Interval(0.0, 1.0, True)]
    out = []
    for p in pieces:
        lo, hi = max(p.lo, filt.min_risk), min(p.hi, filt.max_risk)
        inclusive = p.hi_inclusive or filt.max_risk < p.hi
        if lo < hi or (lo == hi and inclusive):
            out.append(Interval(lo, hi, inclusive))
    return sorted(out, key=lambda i: -i.lo)


@dataclass(frozen=True)
class Target:
    """One user of the list; ``row.risk`` is the current risk, or for a cancelled user the last one while active."""

    row: UserRow
    as_of: int | None
    churned_ts: int | None
    first_high_ts: int | None

    @property
    def user_id(self) -> str:
        return self.row.user_id


@dataclass(frozen=True)
class Targets:
    """How many users match, and the first of them in descending risk."""

    count: int
    rows: list[Target]


class TargetReader:
    """Reads target lists from one Redis; owns the registered level-matching script."""

    def __init__(self, client, keys: RedisKeys):
        self.client = client
        self.keys = keys
        self._level_match = client.register_script(_LEVEL_MATCH_LUA)

    def ranking(self, filt: TargetFilter) -> str:
        return self.keys.ranking if filt.status == "active" else self.keys.cancelled_risk

    def _ranked(self, filt: TargetFilter, threshold: float, limit: int) -> tuple[int, list[tuple[str, float | None]]]:
        """(count, first ``limit`` (id, score) pairs; ``limit`` < 0: all) of the matching users."""
        pieces = intervals(filt.check(), threshold)
        if not pieces:
            return 0, []
        key = self.ranking(filt)
        if filt.levels:
            args: list[object] = [self.keys.user_prefix, limit, len(pieces)]
            for p in pieces:
                args += list(p.bounds)
            count, ids = self._level_match(keys=[key], args=args + list(filt.levels))
            return int(count), [(uid, None) for uid in ids]
        pipe = self.client.pipeline(transaction=False)
        for p in pieces:
            hi, lo = p.bounds
            pipe.zcount(key, lo, hi)
            if limit < 0:
                pipe.zrevrangebyscore(key, hi, lo, withscores=True)
            else:
                pipe.zrevrangebyscore(key, hi, lo, start=0, num=max(limit, 1), withscores=True)
        out = pipe.execute()
        count = sum(int(c) for c in out[0::2])
        ranked = [pair for part in out[1::2] for pair in part]
        return count, ranked if limit < 0 else ranked[:limit]

    def _rows(self, filt: TargetFilter, ranked: Sequence[tuple[str, float | None]], threshold: float) -> list[Target]:
        if not ranked:
            return []
        risk_field = "risk" if filt.status == "active" else "risk_before_cancel"
        pipe = self.client.pipeline(transaction=False)
        for uid, _ in ranked:
            pipe.hmget(self.keys.user(uid), (risk_field, *TARGET_FIELDS))
        out = []
        for (uid, score), values in zip(ranked, pipe.execute()):
            risk_raw, name, level, band, alerting, drivers, last_ts, as_of, churned_ts, first_high = values
            risk = score if score is not None else _float(risk_raw)
            if risk is None or (name is None and level is None and as_of is None):
                continue  # the user's hash went away between the two reads
            row = UserRow(user_id=uid, risk=float(risk), band=band_for(float(risk), threshold), level=level or "",
                          alerting=alerting == "1", drivers=parse_drivers(drivers), last_ts=_int(last_ts),
                          name=name or "", churned=filt.status == "cancelled")
            out.append(Target(row, _int(as_of), _int(churned_ts), _int(first_high)))
        return out

    def find(self, filt: TargetFilter, threshold: float, limit: int = 25) -> Targets:
        """The count of matching users and the first ``limit`` of them (riskiest first)."""
        count, ranked = self._ranked(filt, threshold, max(limit, 0))
        return Targets(count, self._rows(filt, ranked[:max(limit, 0)], threshold))

    def iter_all(self, filt: TargetFilter, threshold: float, chunk: int = EXPORT_CHUNK) -> Iterator[Target]:
        """Every matching user, riskiest first, read ``chunk`` hashes per round trip (for the CSV export)."""
        _, ranked = self._ranked(filt, threshold, -1)
        for start in range(0, len(ranked), chunk):
            yield from self._rows(filt, ranked[start:start + chunk], threshold)

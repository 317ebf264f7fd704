"""The dashboard's data layer: pure reads of the Redis state the streaming job writes.

Everything here takes a ``redis.Redis`` client (``decode_responses=True``) and a :class:`RedisKeys`, and
returns plain dataclasses, so the page (``dashboard.app``), the tests and the benchmark share one code
path. Reads are bounded by design: ranking commands (ZREVRANGEBYSCORE / ZCARD / ZCOUNT) and pipelined
HMGET / HGETALL of known keys; never KEYS or SCAN, so a refresh costs the same with 1,000 or 1,000,000
users. A value the writer got wrong (bad JSON, a non-number) degrades to "unknown", never to an error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from contracts import redis_keys as layout
from contracts.redis_keys import (DEFAULT_THRESHOLD, IMPORTANCE_COUNT_FIELD, AlertEntry, ModelInfo, RedisKeys,
                                  StreamHealth, UserField, UserScore, parse_float)

from contracts.features import feature_label

#: Per-user hash fields the at-risk table needs (the drill-down reads the whole hash).
ROW_FIELDS: tuple[str, ...] = (UserField.BAND, UserField.ALERTING, UserField.DRIVERS, UserField.LEVEL,
                               UserField.NAME, UserField.LAST_TS, UserField.CHURNED, UserField.RISK)
HISTOGRAM_BINS = 20
ALERTS_SHOWN = 30
#: Ranked users fetched per round trip when a level filter must skip users.
PAGE_SIZE = 200
#: The stream-health hash, parsed (:class:`contracts.redis_keys.StreamHealth`).
Health = StreamHealth
# the value parsers under the names the dashboard's modules import them by (defined once, in the contract)
_float = parse_float
_int = layout.parse_int


# ---------------------------------------------------------------- records

@dataclass(frozen=True)
class Driver(layout.Driver):
    """One SHAP contribution (log-odds) of a feature to a user's risk, with its words for the table."""

    @property
    def words(self) -> str:
        arrow = "↑" if self.contribution > 0 else "↓"
        return f"{self.label} {arrow}"


def _drivers(drivers: Iterable[layout.Driver]) -> tuple[Driver, ...]:
    return tuple(Driver(d.feature, d.label or feature_label(d.feature), d.value, d.contribution) for d in drivers)


def parse_drivers(raw: Any) -> tuple[Driver, ...]:
    """The ``drivers`` JSON list, skipping malformed entries."""
    return _drivers(layout.parse_drivers(raw))


@dataclass(frozen=True)
class UserRow:
    """One line of the at-risk table."""

    user_id: str
    risk: float
    band: str
    level: str
    alerting: bool
    drivers: tuple[Driver, ...]
    last_ts: int | None
    name: str
    churned: bool

    @property
    def drivers_text(self) -> str:
        """The raising drivers in words, strongest first (the lowering one is left to the drill-down)."""
        up = [d.words for d in self.drivers if d.contribution > 0]
        return ", ".join(up) if up else "—"


@dataclass(frozen=True)
class UserDetail:
    """Everything the drill-down shows for one user."""

    row: UserRow
    features: dict[str, Any]
    shap: dict[str, float]
    gender: str
    location: str
    n_events: int | None
    as_of: int | None
    model_version: str
    scored_at: int | None
    churned_ts: int | None

    @property
    def user_id(self) -> str:
        return self.row.user_id

    def base_log_odds(self) -> float | None:
        """The model's base value, recovered as logit(risk) minus the sum of all SHAP contributions."""
        risk = min(max(self.row.risk, 1e-6), 1 - 1e-6)
        if not self.shap:
            return None
        return math.log(risk / (1 - risk)) - sum(self.shap.values())


def _row(score: UserScore, ranked_risk: float | None) -> UserRow | None:
    """A table row of a user's record; None without a risk (the ranking's score stands in for the hash's)."""
    risk = ranked_risk if ranked_risk is not None else score.risk
    if risk is None:
        return None
    return UserRow(user_id=score.user_id, risk=risk, band=score.band, level=score.level,
                   alerting=bool(score.alerting), drivers=_drivers(score.drivers), last_ts=score.last_ts,
                   name=score.name or "", churned=bool(score.churned))


def _ranked_row(user_id: str, values: Sequence[Any], ranked_risk: float | None) -> UserRow | None:
    if all(v is None for v in values):
        return None  # hash missing (user deleted between two reads): skip, the next refresh is consistent
    return _row(UserScore.from_hash(user_id, dict(zip(ROW_FIELDS, values))), ranked_risk)


def parse_model(raw: dict[str, str]) -> ModelInfo | None:
    """The ``{p}:model`` hash, or None when the streaming job has not published one."""
    return ModelInfo.from_hash(raw) if raw else None


def flatten_metrics(metrics: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(section, metric, value) rows: top-level metrics under "holdout", nested objects under their name."""
    rows: list[tuple[str, str, Any]] = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows += [(key, str(k), v) for k, v in value.items() if not isinstance(v, (dict, list))]
        elif not isinstance(value, list):
            rows.append(("holdout", key, value))
    return rows


@dataclass(frozen=True)
class Alert:
    entry_id: str
    added_ms: int | None
    user: str
    direction: str
    risk: float | None
    threshold: float | None
    as_of: int | None
    level: str


def parse_alerts(entries: Iterable[tuple[str, dict[str, str]]]) -> list[Alert]:
    out = []
    for entry_id, f in entries:
        a = AlertEntry.from_hash(f)
        added = parse_float(entry_id.split("-", 1)[0])
        out.append(Alert(entry_id=entry_id, added_ms=None if added is None else int(added), user=a.user,
                         direction=a.direction, risk=a.risk, threshold=a.threshold, as_of=a.as_of, level=a.level))
    return out


@dataclass(frozen=True)
class Bucket:
    lo: float
    hi: float
    count: int


@dataclass(frozen=True)
class Importance:
    feature: str
    label: str
    mean_abs_shap: float


def parse_importance(raw: dict[str, str]) -> list[Importance]:
    """Mean |SHAP| per feature over active users (the writer keeps sums and a count), largest first."""
    n = parse_float(raw.get(IMPORTANCE_COUNT_FIELD), 0.0) or 0.0
    if n <= 0:
        return []
    out = [Importance(k, feature_label(k), (parse_float(v, 0.0) or 0.0) / n)
           for k, v in raw.items() if k != IMPORTANCE_COUNT_FIELD]
    return sorted(out, key=lambda i: (-i.mean_abs_shap, i.feature))


@dataclass(frozen=True)
class Filters:
    """What the at-risk table shows: top ``limit`` users at or above ``min_risk`` with a level in ``levels``
    (empty = any level)."""

    limit: int = 25
    min_risk: float = 0.0
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Headline:
    active_users: int
    high_risk: int
    churned: int
    threshold: float


@dataclass(frozen=True)
class Snapshot:
    """Everything one refresh of the page reads."""

    headline: Headline
    health: Health
    model: ModelInfo | None
    top: list[UserRow]
    #: ranked users examined to fill ``top`` (more than ``len(top)`` when a level filter skipped some)
    scanned: int
    histogram: list[Bucket]
    importance: list[Importance]
    alerts: list[Alert]
    has_health: bool = field(default=False)

    @property
    def empty(self) -> bool:
        """Nothing streamed yet: no scored or churned users and no batch reported."""
        return self.headline.active_users == 0 and self.headline.churned == 0 and not self.has_health


# ---------------------------------------------------------------- reads

def histogram_bounds(bins: int = HISTOGRAM_BINS) -> list[tuple[float, float]]:
    return [(i / bins, (i + 1) / bins) for i in range(bins)]


def _queue_histogram(pipe, key: str, bins: int) -> None:
    """ZCOUNT per bucket [lo, hi); the first is open below and the last closed above, so counts sum to ZCARD."""
    for i, (lo, hi) in enumerate(histogram_bounds(bins)):
        pipe.zcount(key, "-inf" if i == 0 else lo, "+inf" if i == bins - 1 else f"({hi}")


def _levels_match(row: UserRow, levels: tuple[str, ...]) -> bool:
    return not levels or row.level in levels


def _fetch_rows(client, keys: RedisKeys, ranked: list[tuple[str, float]]) -> list[UserRow]:
    pipe = client.pipeline(transaction=False)
    for user_id, _ in ranked:
        pipe.hmget(keys.user(user_id), ROW_FIELDS)
    rows = (_ranked_row(uid, vals, score) for (uid, score), vals in zip(ranked, pipe.execute()))
    return [r for r in rows if r is not None]


def top_users(client, keys: RedisKeys, filters: Filters, first_page: list[tuple[str, float]] | None = None
              ) -> tuple[list[UserRow], int]:
    """The ``filters.limit`` riskiest active users passing the filters, and how many ranked users were read.

    Without a level filter one page of the ranking is enough; with one, further pages are read (in
    descending risk) until the table is full or the ranking drops below ``min_risk``.
    """
    if filters.limit <= 0:
        return [], 0
    page = filters.limit if not filters.levels else max(PAGE_SIZE, filters.limit * 4)
    out: list[UserRow] = []
    offset = 0
    while len(out) < filters.limit:
        if first_page is not None and offset == 0:
            ranked = first_page
        else:
            ranked = client.zrevrangebyscore(keys.ranking, "+inf", filters.min_risk, start=offset, num=page,
                                             withscores=True)
        offset += len(ranked)
        wanted = ranked
        if filters.levels:  # read only each ranked user's level, then the table fields of the matches
            pipe = client.pipeline(transaction=False)
            for user_id, _ in ranked:
                pipe.hmget(keys.user(user_id), [UserField.LEVEL])
            wanted = [u for u, (level,) in zip(ranked, pipe.execute()) if level in filters.levels]
            wanted = wanted[: filters.limit - len(out)]
        out += _fetch_rows(client, keys, wanted)
        if len(ranked) < page:
            break
    return out[: filters.limit], offset


def find_user(client, keys: RedisKeys, user_id: str) -> UserRow | None:
    """Exact user id lookup (active or churned); None if Redis holds no such user."""
    user_id = user_id.strip()
    if not user_id:
        return None
    rows = _fetch_rows(client, keys, [(user_id, None)])  # type: ignore[list-item]
    return rows[0] if rows else None


def user_detail(client, keys: RedisKeys, user_id: str) -> UserDetail | None:
    """The whole per-user hash, parsed; None if Redis holds no such user."""
    raw = client.hgetall(keys.user(user_id))
    if not raw:
        return None
    score = UserScore.from_hash(user_id, raw)
    row = _row(score, None)
    if row is None:
        return None
    return UserDetail(row=row, features=score.features, shap=score.shap, gender=score.gender,
                      location=score.location or "", n_events=score.n_events, as_of=score.as_of,
                      model_version=score.model_version, scored_at=score.scored_at, churned_ts=score.churned_ts)


def snapshot(client, keys: RedisKeys, filters: Filters = Filters(), bins: int = HISTOGRAM_BINS,
             alerts: int = ALERTS_SHOWN) -> Snapshot:
    """One refresh: two pipelined round trips for the aggregates, plus one per page of the at-risk table."""
    pipe = client.pipeline(transaction=False)
    pipe.zcard(keys.ranking)
    pipe.zcard(keys.churned)
    pipe.hgetall(keys.health)
    pipe.hgetall(keys.model)
    pipe.hgetall(keys.importance)
    pipe.xrevrange(keys.alerts, count=alerts)
    page = filters.limit if not filters.levels else max(PAGE_SIZE, filters.limit * 4)
    pipe.zrevrangebyscore(keys.ranking, "+inf", filters.min_risk, start=0, num=max(page, 1), withscores=True)
    _queue_histogram(pipe, keys.ranking, bins)
    active, churned, health_raw, model_raw, importance_raw, alert_entries, first_page, *counts = pipe.execute()

    model = parse_model(model_raw)
    threshold = model.threshold if model else DEFAULT_THRESHOLD
    high = client.zcount(keys.ranking, threshold, "+inf")
    top, scanned = top_users(client, keys, filters, first_page=first_page)
    histogram = [Bucket(lo, hi, int(c)) for (lo, hi), c in zip(histogram_bounds(bins), counts)]
    return Snapshot(headline=Headline(int(active), int(high), int(churned), threshold),
                    health=StreamHealth.from_hash(health_raw), model=model, top=top, scanned=scanned,
                    histogram=histogram, importance=parse_importance(importance_raw),
                    alerts=parse_alerts(alert_entries), has_health=bool(health_raw))

"""Fake scored users in exactly the streaming job's Redis layout, for tests, the benchmark and screenshots.

The values are self-consistent the way the real writer's are: each user's risk is the sigmoid of a base
log-odds plus the user's SHAP contributions, ``drivers`` are the top three positive contributions then the
most negative one, the importance hash holds sums of |SHAP| over active users, and churned users leave the
ranking for the churned set. :func:`seed` returns the ground truth so tests can check the reads.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from contracts.redis_keys import IMPORTANCE_COUNT_FIELD, RedisKeys, band_for

from dashboard.labels import feature_label

#: (feature, weight in log-odds per standard deviation, mean, sd, decimals) of the fake model; the names are
#: real ``contracts.features`` names so labels and key figures show as they will live.
SEED_FEATURES: tuple[tuple[str, float, float, float, int], ...] = (
    ("thumbs_down_per_song", 0.55, 0.012, 0.008, 4),
    ("songs_per_day", -0.50, 38.0, 20.0, 1),
    ("days_since_last", 0.45, 3.0, 2.5, 1),
    ("adverts_per_song", 0.40, 0.05, 0.04, 3),
    ("downgrade_visits_per_day", 0.35, 0.08, 0.08, 3),
    ("sessions_per_day", -0.35, 1.2, 0.6, 2),
    ("tenure_days", -0.30, 80.0, 40.0, 0),
    ("thumbs_up_per_song", -0.25, 0.055, 0.02, 4),
    ("friends_added_per_day", -0.20, 0.15, 0.1, 3),
    ("help_per_session", 0.15, 0.3, 0.25, 2),
    ("errors_per_session", 0.10, 0.05, 0.05, 3),
    ("songs_trend", -0.15, 1.0, 0.35, 2),
    ("songs_per_session", -0.10, 14.0, 6.0, 1),
    ("events_per_day", -0.05, 46.0, 22.0, 1),
)
BASE_LOG_ODDS = -1.6
FIRST_NAMES = ("Ava", "Liam", "Noah", "Emma", "Zoë", "Mateo", "Sofía", "Chloe", "Ethan", "Björn", "Mia", "Lucas")
LAST_NAMES = ("Smith", "García", "Nguyen", "O'Brien", "Müller", "Kim", "Rossi", "Johnson", "Dubois", "Patel")
LOCATIONS = ("Boston-Cambridge-Newton, MA-NH", "Los Angeles-Long Beach-Anaheim, CA", "Dallas-Fort Worth-Arlington, TX",
             "New York-Newark-Jersey City, NY-NJ-PA", "Chicago-Naperville-Elgin, IL-IN-WI", "Miami-Fort Lauderdale, FL",
             "Seattle-Tacoma-Bellevue, WA", "Denver-Aurora-Lakewood, CO")
#: Event-time clock of the fake stream: late 2018, like the Sparkify log.
CLOCK_MS = 1_542_672_000_000


@dataclass(frozen=True)
class SeededUser:
    user_id: str
    risk: float
    level: str
    churned: bool
    churned_ts: int | None
    first_high_ts: int | None = None


@dataclass(frozen=True)
class SeedResult:
    users: list[SeededUser]
    threshold: float
    clock_ms: int

    @property
    def active(self) -> list[SeededUser]:
        return [u for u in self.users if not u.churned]


def _drivers(names: list[str], values: np.ndarray, shap: np.ndarray, top: int = 3) -> list[dict]:
    order = np.argsort(-shap)
    chosen = [i for i in order[:top] if shap[i] > 0]
    if shap[order[-1]] < 0:
        chosen.append(order[-1])
    return [{"feature": names[i], "label": feature_label(names[i]), "value": float(values[i]),
             "contribution": round(float(shap[i]), 5)} for i in chosen]


def _model_hash(names: list[str], threshold: float, artifact_dir: str, importance: np.ndarray) -> dict[str, str]:
    metrics = {"f1": 0.612, "precision": 0.574, "recall": 0.655, "average_precision": 0.631, "auroc": 0.871,
               "brier": 0.084, "top_decile_lift": 4.2,
               "backtest": {"f1": 0.588, "average_precision": 0.604, "auroc": 0.859},
               "whole_history_baseline": {"f1": 0.41, "average_precision": 0.38, "auroc": 0.74},
               "best_possible": {"f1": 1.0, "average_precision": 1.0}}
    return {"version": "seed-1", "threshold": str(threshold), "metrics": json.dumps(metrics),
            "features": json.dumps(names),
            "global_importance": json.dumps({n: round(float(v), 5) for n, v in zip(names, importance)}),
            "artifact_dir": artifact_dir, "horizon_days": "10", "loaded_at": str(int(time.time() * 1000))}


def seed(client, keys: RedisKeys, n_users: int, *, seed: int = 7, threshold: float = 0.5,
         churned_fraction: float = 0.05, n_alerts: int = 200, with_model: bool = True, artifact_dir: str = "",
         chunk: int = 2000) -> SeedResult:
    """Write ``n_users`` fake scored users (plus ranking, churned set, alerts, importance, health, model)."""
    rng = np.random.default_rng(seed)
    names = [f[0] for f in SEED_FEATURES]
    weights = np.array([f[1] for f in SEED_FEATURES])
    means = np.array([f[2] for f in SEED_FEATURES])
    sds = np.array([f[3] for f in SEED_FEATURES])
    z = rng.standard_normal((n_users, len(names)))
    values = np.maximum(means + z * sds, 0.0)
    values = np.stack([np.round(values[:, j], SEED_FEATURES[j][4]) for j in range(len(names))], axis=1)
    ev, songs = names.index("events_per_day"), names.index("songs_per_day")  # events include the songs
    values[:, ev] = np.round(values[:, songs] * 1.15 + np.abs(values[:, ev] - means[ev]) * 0.4, 1)
    shap = weights * ((values - means) / sds) + rng.normal(0, 0.05, z.shape)
    risk = 1 / (1 + np.exp(-(BASE_LOG_ODDS + shap.sum(axis=1))))
    churned = rng.random(n_users) < churned_fraction
    levels = np.where(rng.random(n_users) < 0.55, "paid", "free")
    last_ts = CLOCK_MS - rng.integers(0, 10 * 86_400_000, n_users)
    n_events = rng.integers(5, 4000, n_users)
    now_ms = int(time.time() * 1000)
    #: how long before cancelling (or before the clock) a high-risk user first scored at or above the threshold
    lead = np.random.default_rng(seed + 1).integers(3_600_000, 12 * 86_400_000, n_users)

    users: list[SeededUser] = []
    pipe = client.pipeline(transaction=False)
    for i in range(n_users):
        uid = str(100001 + i) if i % 3 else str(i + 1)  # Sparkify ids mix short and 6-digit ids
        r = float(risk[i])
        churned_ts = int(last_ts[i]) if churned[i] else None
        fields = {
            "risk": repr(r), "band": band_for(r, threshold), "alerting": "1" if r >= threshold else "0",
            "drivers": json.dumps(_drivers(names, values[i], shap[i])),
            "features": json.dumps({n: float(v) for n, v in zip(names, values[i])}),
            "shap": json.dumps({n: round(float(v), 5) for n, v in zip(names, shap[i])}),
            "level": str(levels[i]), "gender": "F" if i % 2 else "M",
            "name": f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // 7) % len(LAST_NAMES)]}",
            "location": LOCATIONS[i % len(LOCATIONS)], "n_events": str(int(n_events[i])),
            "last_ts": str(int(last_ts[i])), "as_of": str(CLOCK_MS), "model_version": "seed-1",
            "scored_at": str(now_ms - int(rng.integers(0, 5000))), "churned": "1" if churned[i] else "0",
        }
        if r >= threshold:
            fields["first_high_ts"] = str((churned_ts or CLOCK_MS) - int(lead[i]))
        if churned_ts is not None:
            fields["churned_ts"] = str(churned_ts)
            fields["risk_before_cancel"] = repr(r)
            pipe.zadd(keys.churned, {uid: churned_ts})
            pipe.zadd(keys.cancelled_risk, {uid: r})
            if r >= threshold:
                pipe.zadd(keys.caught, {uid: int(lead[i])})
        else:
            pipe.zadd(keys.ranking, {uid: r})
        pipe.hset(keys.user(uid), mapping=fields)
        users.append(SeededUser(uid, r, str(levels[i]), bool(churned[i]), churned_ts,
                                int(fields["first_high_ts"]) if "first_high_ts" in fields else None))
        if len(pipe) >= chunk:
            pipe.execute()
    pipe.execute()

    active = ~churned
    importance = np.abs(shap[active]).sum(axis=0)
    imp = {n: repr(float(v)) for n, v in zip(names, importance)}
    imp[IMPORTANCE_COUNT_FIELD] = str(int(active.sum()))
    pipe.hset(keys.importance, mapping=imp)
    risky = [u for u in users if not u.churned and u.risk >= threshold * 0.8]
    for k in range(min(n_alerts, len(risky))):
        u = risky[k]
        up = u.risk >= threshold
        pipe.xadd(keys.alerts, {"user": u.user_id, "direction": "up" if up else "down", "risk": repr(u.risk),
                                "threshold": str(threshold), "as_of": str(CLOCK_MS - (n_alerts - k) * 60_000),
                                "level": u.level}, maxlen=10_000, approximate=True)
    pipe.hset(keys.health, mapping={
        "events_in": str(int(n_events.sum())), "events_per_s": "5321.4", "dead_letters": "3", "hidden_events": "0",
        "batch_id": "412", "batch_ms": "842", "clock_ms": str(CLOCK_MS), "lag": "120",
        "last_batch_wall_ms": str(now_ms), "users_scored": str(n_users), "active_users": str(int(active.sum()))})
    if with_model:
        pipe.hset(keys.model, mapping=_model_hash(names, threshold, artifact_dir, importance / max(active.sum(), 1)))
    pipe.execute()
    return SeedResult(users=users, threshold=threshold, clock_ms=CLOCK_MS)

"""Fake scored users written by the real user write, for tests, the benchmark, demos and screenshots.

The values are self-consistent the way the scorer's are: each user's risk is the sigmoid of a base log-odds plus
the user's SHAP contributions, and ``drivers`` are the top three positive contributions then the most negative one.
Everything else is the streaming job's own user write (:class:`contracts.user_writer.UserWriter`): the ranking,
the churned set, the importance sums and the alert feed come out of it, from two scoring rounds a day apart (the
first with each user's risk shifted at random, so that some cross the threshold up and some down). The health
and model hashes are written through their records. :func:`seed` returns the ground truth so tests can check the
reads.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from contracts.metrics import outcome_metrics
from contracts.redis_keys import (ALERT_KIND_DRIFT, AlertEntry, Cohort, Drift, ModelInfo, RealizedMetrics, RedisKeys,
                                  StreamHealth, UserScore, band_for)
from contracts.user_writer import UserWriter

from contracts.drivers import top_drivers

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
    #: what the user write derives (the catch rate): first score at or above the threshold, risk before cancelling
    first_high_ts: int | None = None
    risk_before_cancel: float | None = None


@dataclass(frozen=True)
class SeedResult:
    users: list[SeededUser]
    threshold: float
    clock_ms: int

    @property
    def active(self) -> list[SeededUser]:
        return [u for u in self.users if not u.churned]


#: The alert hysteresis of the seeded writes (the streaming job's default).
HYSTERESIS = 0.05
DAY_MS = 86_400_000


def _model(names: list[str], threshold: float, artifact_dir: str, importance: np.ndarray) -> ModelInfo:
    metrics = {"f1": 0.612, "precision": 0.574, "recall": 0.655, "average_precision": 0.631, "auroc": 0.871,
               "brier": 0.084, "top_decile_lift": 4.2,
               "backtest": {"f1": 0.588, "average_precision": 0.604, "auroc": 0.859},
               "whole_history_baseline": {"f1": 0.41, "average_precision": 0.38, "auroc": 0.74},
               "best_possible": {"f1": 1.0, "average_precision": 1.0}}
    return ModelInfo(version="seed-1", threshold=float(threshold), metrics=metrics, features=names,
                     global_importance={n: round(float(v), 5) for n, v in zip(names, importance)},
                     artifact_dir=artifact_dir, horizon_days="10", loaded_at=int(time.time() * 1000))


def _user_id(i: int) -> str:
    return str(100001 + i) if i % 3 else str(i + 1)  # Sparkify ids mix short and 6-digit ids


def seed(client, keys: RedisKeys, n_users: int, *, seed: int = 7, threshold: float = 0.5,
         churned_fraction: float = 0.05, with_model: bool = True, artifact_dir: str = "",
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
    shap = np.round(weights * ((values - means) / sds) + rng.normal(0, 0.05, z.shape), 5)
    drivers = top_drivers(shap, values, names, 3)
    log_odds = BASE_LOG_ODDS + shap.sum(axis=1)
    risk = 1 / (1 + np.exp(-log_odds))
    earlier_risk = 1 / (1 + np.exp(-(log_odds + rng.normal(0, 0.8, n_users))))  # the day before
    churned = rng.random(n_users) < churned_fraction
    levels = np.where(rng.random(n_users) < 0.55, "paid", "free")
    last_ts = CLOCK_MS - rng.integers(0, 10 * DAY_MS, n_users)
    n_events = rng.integers(5, 4000, n_users)
    now_ms = int(time.time() * 1000)
    scored_at = now_ms - rng.integers(0, 5000, n_users)

    def record(i: int, r: float, as_of: int, n: int, churned_ts: int | None) -> UserScore:
        return UserScore(
            user_id=_user_id(i), risk=r, band=band_for(r, threshold), drivers=drivers[i],
            features={n_: float(v) for n_, v in zip(names, values[i])},
            shap={n_: float(v) for n_, v in zip(names, shap[i])}, level=str(levels[i]),
            gender="F" if i % 2 else "M",
            name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // 7) % len(LAST_NAMES)]}",
            location=LOCATIONS[i % len(LOCATIONS)], n_events=n, last_ts=min(int(last_ts[i]), as_of), as_of=as_of,
            model_version="seed-1", scored_at=int(scored_at[i]), churned_ts=churned_ts)

    # no retries: a seed into an unreachable Redis fails at once (the CLI says so in one line)
    writer = UserWriter(client, keys, threshold, HYSTERESIS, alert_maxlen=10_000, chunk=chunk, retry_for_s=0)
    # the first round: a day before the clock, or for a user who cancels, some hours to days before the cancellation
    lead = np.random.default_rng(seed + 1).integers(3_600_000, 12 * DAY_MS, n_users)
    first_as_of = np.where(churned, last_ts - lead, CLOCK_MS - DAY_MS)
    writer.write([record(i, float(earlier_risk[i]), int(first_as_of[i]), max(1, int(n_events[i]) // 2), None)
                  for i in range(n_users)])
    users: list[SeededUser] = []
    final = []
    for i in range(n_users):
        churned_ts = int(last_ts[i]) if churned[i] else None
        final.append(record(i, float(risk[i]), CLOCK_MS, int(n_events[i]), churned_ts))
        first_high = (int(first_as_of[i]) if earlier_risk[i] >= threshold
                      else CLOCK_MS if not churned[i] and risk[i] >= threshold else None)
        users.append(SeededUser(_user_id(i), float(risk[i]), str(levels[i]), bool(churned[i]), churned_ts, first_high,
                                float(earlier_risk[i]) if churned[i] else None))
    written = writer.write(final)

    active = ~churned
    dead_letters = 3
    health = StreamHealth(events_in=int(n_events.sum()) + dead_letters, dead_letters=dead_letters, hidden_events=0,
                          dead_letters_by_reason={"not_json": dead_letters}, events_per_s=5321.4, batch_id=412,
                          batch_ms=842, clock_ms=CLOCK_MS, lag=120, last_batch_wall_ms=now_ms,
                          last_batch_users=n_users, users_scored=sum(w.code > 0 for w in written))
    pipe = client.pipeline(transaction=False)
    pipe.hset(keys.health, mapping=health.to_hash())
    if with_model:
        model = _model(names, threshold, artifact_dir, np.abs(shap[active]).sum(axis=0) / max(active.sum(), 1))
        pipe.hset(keys.model, mapping=model.to_hash())
    pipe.execute()
    return SeedResult(users=users, threshold=threshold, clock_ms=CLOCK_MS)


@dataclass(frozen=True)
class MonitoringSeed:
    """What :func:`seed_monitoring` wrote: the resolved cohorts (oldest first), the pooled metrics and the drift."""

    cohorts: list[Cohort]
    realized: RealizedMetrics
    drift: Drift
    pending: int


def seed_monitoring(client, keys: RedisKeys, *, seed: int = 7, cohorts: int = 12, pending: int = 3,
                    users: int = 400, threshold: float = 0.5,
                    drifted: tuple[str, ...] = ("days_since_last",)) -> MonitoringSeed:
    """Fake monitoring state through the records: daily cohorts before the seed's clock (the last ``pending`` of
    them unresolved, inside the horizon), each of ``users`` scores whose outcomes are drawn from the risks (so the
    realized figures are those of a calibrated model, computed by the stream's own formulas), their pool, and a
    drift record in which the ``drifted`` features are above the PSI threshold."""
    rng = np.random.default_rng(seed)
    active = int(client.zcard(keys.ranking)) or users  # the seeded users when :func:`seed` ran first
    kept: list[Cohort] = []
    ys, ps = [], []
    first = CLOCK_MS - (cohorts + pending) * DAY_MS
    for i in range(cohorts + pending):
        as_of = first + i * DAY_MS
        if i >= cohorts:
            kept.append(Cohort(as_of_ms=as_of, users=users, resolved=False))
            continue
        n = users + int(rng.integers(-users // 4, users // 4 + 1))
        p = rng.beta(1.2, 5.0, n)
        y = (rng.random(n) < p).astype(int)
        ys.append(y)
        ps.append(p)
        m = outcome_metrics(y, p, threshold)
        kept.append(Cohort(as_of_ms=as_of, users=m["users"], positives=m["positives"], resolved=True,
                           **{k: m[k] for k in ("auroc", "average_precision", "brier", "top_decile_lift",
                                                "precision", "recall")}, calibration=m["calibration"]))
    pooled = outcome_metrics(np.concatenate(ys), np.concatenate(ps), threshold) if ys else None
    realized = RealizedMetrics() if pooled is None else RealizedMetrics(
        users=pooled["users"], positives=pooled["positives"], cohorts=len(ys), calibration=pooled["calibration"],
        **{k: pooled[k] for k in ("auroc", "average_precision", "brier", "top_decile_lift",
                                  "expected_calibration_error")})
    psi = {f[0]: round(float(rng.uniform(0.005, 0.08)), 4) for f in SEED_FEATURES}
    psi.update({name: round(float(rng.uniform(0.25, 0.4)), 4) for name in drifted})
    drift_threshold = 0.2
    drift = Drift(as_of_ms=CLOCK_MS, prediction_psi=round(float(rng.uniform(0.02, 0.08)), 4), feature_psi=psi,
                  alerts=[k for k, v in psi.items() if v > drift_threshold], threshold=drift_threshold, users=active)
    pipe = client.pipeline(transaction=False)
    for c in kept:
        pipe.hset(keys.cohort(c.as_of_ms), mapping=c.to_hash())
        pipe.zadd(keys.cohorts, {str(c.as_of_ms): c.as_of_ms})
    if pooled is not None:
        pipe.hset(keys.realized, mapping=realized.to_hash())
    pipe.hset(keys.drift, mapping=drift.to_hash())
    pipe.hset(keys.health, mapping=StreamHealth(refresh_as_of_ms=CLOCK_MS - CLOCK_MS % DAY_MS, refresh_users=active,
                                                refresh_ms=1800, max_score_age_ms=20 * 3_600_000,
                                                active_users=active).to_hash())
    for name in drift.alerts:
        pipe.xadd(keys.alerts, AlertEntry(user="", direction="up", risk=None, threshold=drift_threshold,
                                          as_of=CLOCK_MS, level="", kind=ALERT_KIND_DRIFT, subject=name,
                                          value=psi[name]).to_hash())
    pipe.execute()
    return MonitoringSeed([c for c in kept if c.resolved], realized, drift, pending)

"""Do the live scores come true, and do today's users look like the training population? Checked in the stream.

At each refresh (:mod:`streaming.refresh`) the scored cohort, every active user's (user, risk) as of the refresh,
is kept (``{p}:cohort:{as_of}``, its scores in ``{p}:cohort:{as_of}:scores``). A cohort's label window is
(as_of, as_of + H], H the model's horizon: once the clock passes as_of + H it is labelled from the cancellations
the stream records (``{p}:churned``, score = the cancellation's event time), its metrics are computed with the
same formulas as the model card's (:mod:`contracts.metrics`), and the metrics pooled over every resolved cohort
kept are rewritten (``{p}:realized``). A resolved cohort whose AUROC falls below the offline test AUROC by more
than ``monitor_auroc_drop`` raises an entry in the alert feed.

Drift: the active users' features and risk at each refresh against the artifact's training reference, as the
population stability index (``{p}:drift``, a short history in ``{p}:drift:history``); a PSI above
``drift_psi_threshold`` raises a feed entry naming the feature (or ``prediction``).

Everything is written once per refresh and per cohort, guarded by what Redis already holds (a cohort that exists,
a cohort already resolved, a drift record as of the same time), each in one transaction: a batch replayed after a
crash writes nothing twice.
"""
from __future__ import annotations

import math

import numpy as np

from contracts.artifact import ModelArtifact
from contracts.metrics import outcome_metrics
from contracts.redis_client import with_retry
from contracts.redis_keys import (ALERT_KIND_DRIFT, ALERT_KIND_REALIZED, ALERT_UP, AlertEntry, Cohort, Drift,
                                  RealizedMetrics, RedisKeys)
from streaming.refresh import Refreshed, horizon_ms

#: Drift records kept in ``{p}:drift:history``.
DRIFT_HISTORY = 500


def offline_auroc(artifact: ModelArtifact) -> float | None:
    """The artifact's test AUROC (the figure a realized AUROC is compared with)."""
    value = (artifact.metrics or {}).get("auroc")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def history_needed_ms(artifact: ModelArtifact) -> int:
    """How much log the training snapshots had before their first cutoff (their users' least history): refreshes
    earlier than this into the stream describe a population the reference has no counterpart for."""
    meta = artifact.metadata or {}
    cutoffs, first = meta.get("cutoffs") or [], (meta.get("data") or {}).get("first_ts")
    try:
        return max(0, int(min(cutoffs)) - int(first))
    except (TypeError, ValueError):
        return 0


def labels(churned_ts: list, as_of: int, horizon: int) -> np.ndarray:
    """1 where the user cancelled at or before as_of + H (the cohort held only users active at as_of)."""
    return np.array([0 if c is None else int(float(c) <= as_of + horizon) for c in churned_ts], dtype=int)


class Monitor:
    """The monitoring state of one streaming job: cohorts, their labels and metrics, the pooled metrics, drift."""

    def __init__(self, client, keys: RedisKeys, kept: int, auroc_drop: float, psi_threshold: float,
                 alert_maxlen: int):
        self.client = client
        self.keys = keys
        self.kept = kept
        self.auroc_drop = auroc_drop
        self.psi_threshold = psi_threshold
        self.alert_maxlen = alert_maxlen
        #: resolved cohorts' (risk, label), by as_of: the pooled metrics' input, read from Redis once
        self._resolved: dict[int, tuple[np.ndarray, np.ndarray]] | None = None

    # ---- cohorts -------------------------------------------------------------------------------------
    def keep_cohort(self, r: Refreshed) -> bool:
        """Store the refresh's cohort unless Redis has it (a replayed batch); drop the oldest beyond ``kept``."""
        k = self.keys
        if with_retry(lambda: self.client.exists(k.cohort(r.as_of))):
            return False
        kept = with_retry(lambda: self.client.zrange(k.cohorts, 0, -1))
        dropped = [int(a) for a in kept[:max(0, len(kept) + 1 - self.kept)]]
        pipe = self.client.pipeline(transaction=True)
        users, risks = r.user_ids.tolist(), r.risk.tolist()
        for start in range(0, len(users), 10_000):
            pipe.zadd(k.cohort_scores(r.as_of), dict(zip(users[start:start + 10_000], risks[start:start + 10_000])))
        pipe.hset(k.cohort(r.as_of), mapping=Cohort(as_of_ms=r.as_of, users=len(r.user_ids), resolved=False).to_hash())
        pipe.zadd(k.cohorts, {str(r.as_of): r.as_of})
        for a in dropped:
            pipe.delete(k.cohort(a), k.cohort_scores(a))
            pipe.zrem(k.cohorts, str(a))
        with_retry(pipe.execute)
        if self._resolved is not None:
            for a in dropped:
                self._resolved.pop(a, None)
        return True

    def resolve(self, clock: int, artifact: ModelArtifact) -> list[Cohort]:
        """Label and measure every kept cohort whose window (as_of, as_of + H] the clock has passed."""
        k = self.keys
        horizon = horizon_ms(artifact)
        due = [int(a) for a in with_retry(lambda: self.client.zrangebyscore(k.cohorts, "-inf", clock - horizon - 1))]
        if due and self._resolved is None:
            self.load_resolved(artifact)
        done: list[Cohort] = []
        for as_of in due:
            if Cohort.from_hash(with_retry(lambda: self.client.hgetall(k.cohort(as_of)))).resolved:
                continue
            risk, y = self._outcomes(as_of, horizon)
            m = outcome_metrics(y, risk, artifact.threshold)
            cohort = Cohort(as_of_ms=as_of, users=m["users"], positives=m["positives"], resolved=True,
                            auroc=m["auroc"], average_precision=m["average_precision"], brier=m["brier"],
                            top_decile_lift=m["top_decile_lift"], precision=m["precision"], recall=m["recall"],
                            calibration=m["calibration"])
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(k.cohort(as_of), mapping=cohort.to_hash())
            offline = offline_auroc(artifact)
            floor = None if offline is None else offline - self.auroc_drop
            if floor is not None and math.isfinite(m["auroc"]) and m["auroc"] < floor:
                alert = AlertEntry(user="", direction=ALERT_UP, risk=m["auroc"], threshold=floor, as_of=as_of,
                                   level="", kind=ALERT_KIND_REALIZED, subject=str(as_of), value=m["auroc"])
                pipe.xadd(k.alerts, alert.to_hash(), maxlen=self.alert_maxlen, approximate=True)
            with_retry(pipe.execute)
            self._pool()[as_of] = (risk, y)
            done.append(cohort)
        if done:
            self.write_realized(artifact)
        return done

    def _outcomes(self, as_of: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.keys
        pairs = with_retry(lambda: self.client.zrange(k.cohort_scores(as_of), 0, -1, withscores=True))
        users = [u for u, _ in pairs]
        risk = np.array([s for _, s in pairs], dtype=float)
        churned = with_retry(lambda: self.client.zmscore(k.churned, users)) if users else []
        return risk, labels(churned, as_of, horizon)

    def _pool(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The resolved cohorts' outcomes (:meth:`load_resolved` fills it first, e.g. after a restart)."""
        if self._resolved is None:
            self._resolved = {}
        return self._resolved

    def load_resolved(self, artifact: ModelArtifact) -> None:
        """Read the resolved kept cohorts' outcomes back (a restarted job pools what the previous one resolved)."""
        k = self.keys
        horizon = horizon_ms(artifact)
        pool = self._pool()
        for a in with_retry(lambda: self.client.zrange(k.cohorts, 0, -1)):
            as_of = int(a)
            if as_of not in pool and Cohort.from_hash(with_retry(lambda: self.client.hgetall(k.cohort(as_of)))).resolved:
                pool[as_of] = self._outcomes(as_of, horizon)

    def write_realized(self, artifact: ModelArtifact) -> RealizedMetrics | None:
        pool = self._pool()
        if not pool:
            return None
        risk = np.concatenate([pool[a][0] for a in sorted(pool)])
        y = np.concatenate([pool[a][1] for a in sorted(pool)])
        m = outcome_metrics(y, risk, artifact.threshold)
        realized = RealizedMetrics(users=m["users"], positives=m["positives"], auroc=m["auroc"],
                                   average_precision=m["average_precision"], brier=m["brier"],
                                   top_decile_lift=m["top_decile_lift"],
                                   expected_calibration_error=m["expected_calibration_error"], cohorts=len(pool),
                                   calibration=m["calibration"])
        with_retry(lambda: self.client.hset(self.keys.realized, mapping=realized.to_hash()))
        return realized

    # ---- drift ---------------------------------------------------------------------------------------
    def drift(self, r: Refreshed, artifact: ModelArtifact) -> Drift | None:
        """PSI of the refresh's features and risk against the artifact's reference, once per refresh; not before
        the stream holds as much history as the training snapshots had (see :func:`history_needed_ms`)."""
        reference = getattr(artifact, "reference", None)
        if reference is None or r.as_of - r.log_start < history_needed_ms(artifact):
            return None
        from contracts.drift import population_stability

        k = self.keys
        latest = Drift.from_hash(with_retry(lambda: self.client.hgetall(k.drift)))
        if latest.as_of_ms is not None and latest.as_of_ms >= r.as_of:
            return None
        prediction_psi, feature_psi = population_stability(reference, r.features, r.risk)
        flagged = [f for f, v in sorted(feature_psi.items()) if v > self.psi_threshold]
        if prediction_psi > self.psi_threshold:
            flagged.append("prediction")
        record = Drift(as_of_ms=r.as_of, prediction_psi=float(prediction_psi),
                       feature_psi={f: float(v) for f, v in feature_psi.items()}, alerts=flagged,
                       threshold=self.psi_threshold, users=len(r.user_ids))
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(k.drift, mapping=record.to_hash())
        pipe.xadd(k.drift_history, record.to_hash(), maxlen=DRIFT_HISTORY, approximate=True)
        for name in flagged:
            value = float(prediction_psi if name == "prediction" else feature_psi[name])
            alert = AlertEntry(user="", direction=ALERT_UP, risk=value, threshold=self.psi_threshold, as_of=r.as_of,
                               level="", kind=ALERT_KIND_DRIFT, subject=name, value=value)
            pipe.xadd(k.alerts, alert.to_hash(), maxlen=self.alert_maxlen, approximate=True)
        with_retry(pipe.execute)
        return record

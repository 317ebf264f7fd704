"""The monitoring panels' data: did the live scores come true, and does today's population still look like the
training one?

The streaming job's refresh keeps each scored cohort, labels it once the clock passes its ``as_of`` plus the
model's horizon, pools the resolved ones, and compares the active users with the artifact's training reference
(PSI). This module reads that state through its records (``Cohort``, ``RealizedMetrics``, ``Drift``) in two round
trips whatever the number of users (the cohorts are few: retention is bounded), and shapes it into the small frames
the charts draw. The offline figures are the artifact's test-set ones, top level of its ``metrics.json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from contracts.features import feature_label
from contracts.redis_keys import (ALERT_KIND_DRIFT, ALERT_KIND_REALIZED, ALERT_UP, AlertEntry, Cohort, Drift, ModelInfo,
                                  RealizedMetrics, RedisKeys, parse_float)

#: The per-cohort figures drawn over event time, with their words, beside the offline figure of the same key.
TRACKED: tuple[tuple[str, str], ...] = (("auroc", "AUROC"), ("average_precision", "average precision"),
                                        ("top_decile_lift", "top-decile lift"))
PREDICTION = "prediction"
PREDICTION_LABEL = "predicted risk"


@dataclass(frozen=True)
class Monitoring:
    """The resolved cohorts (oldest first), the metrics pooled over them, and the latest drift."""

    cohorts: list[Cohort] = field(default_factory=list)
    realized: RealizedMetrics = field(default_factory=RealizedMetrics)
    drift: Drift = field(default_factory=lambda: Drift(as_of_ms=None))
    #: kept cohorts not yet resolved (their label window has not passed)
    pending: int = 0

    @property
    def has_drift(self) -> bool:
        return self.drift.prediction_psi is not None or bool(self.drift.feature_psi)


def read_monitoring(client, keys: RedisKeys) -> Monitoring:
    """Two round trips: the cohort index, realized and drift hashes; then every kept cohort's hash."""
    pipe = client.pipeline(transaction=False)
    pipe.zrange(keys.cohorts, 0, -1)  # scored by as_of_ms: oldest first
    pipe.hgetall(keys.realized)
    pipe.hgetall(keys.drift)
    members, realized_raw, drift_raw = pipe.execute()
    cohorts: list[Cohort] = []
    if members:
        pipe = client.pipeline(transaction=False)
        for as_of in members:
            pipe.hgetall(keys.cohort(as_of))
        cohorts = [c for c in (Cohort.from_hash(raw) for raw in pipe.execute()) if c.as_of_ms is not None]
    resolved = [c for c in cohorts if c.resolved]
    return Monitoring(cohorts=resolved, realized=RealizedMetrics.from_hash(realized_raw),
                      drift=Drift.from_hash(drift_raw), pending=len(cohorts) - len(resolved))


def offline_figures(model: ModelInfo | None) -> dict[str, float | None]:
    """The artifact's test-set figure of each tracked key (plus Brier), None when unknown."""
    metrics = model.metrics if model else {}
    return {k: parse_float(metrics.get(k)) for k in ("auroc", "average_precision", "brier", "top_decile_lift")}


def cohort_frame(cohorts: list[Cohort], offline: dict[str, float | None]) -> pd.DataFrame:
    """One row per (resolved cohort, tracked figure): its time, value, users and the offline reference."""
    rows = [{"as_of": pd.Timestamp(c.as_of_ms, unit="ms", tz="UTC"), "metric": label, "value": getattr(c, key),
             "offline": offline.get(key), "users": c.users, "positives": c.positives}
            for c in cohorts for key, label in TRACKED if getattr(c, key) is not None]
    return pd.DataFrame(rows, columns=["as_of", "metric", "value", "offline", "users", "positives"])


def cohort_table(cohorts: list[Cohort]) -> pd.DataFrame:
    """The resolved cohorts, newest first, as the panel's table."""
    return pd.DataFrame([{"cohort": pd.Timestamp(c.as_of_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M"),
                          "users": c.users, "cancelled": c.positives, "AUROC": c.auroc, "AP": c.average_precision,
                          "lift": c.top_decile_lift, "precision": c.precision, "recall": c.recall}
                         for c in reversed(cohorts)])


def calibration_frame(bins: list[list[float]]) -> pd.DataFrame:
    """The reliability diagram's points: mean predicted risk, observed cancellation rate, user-scores per bin;
    bins without users or with an unknown value are left out."""
    rows = []
    for b in bins:
        mean, rate, count = (parse_float(v) for v in b)
        if mean is not None and rate is not None and count:
            rows.append({"mean_predicted": mean, "observed_rate": rate, "count": int(count)})
    return pd.DataFrame(rows, columns=["mean_predicted", "observed_rate", "count"])


def drift_frame(drift: Drift) -> pd.DataFrame:
    """PSI per feature, largest first, then the predicted risk's; ``alert`` when above the threshold."""
    rows = [{"name": name, "label": feature_label(name), "psi": psi, "alert": name in drift.alerts}
            for name, psi in sorted(drift.feature_psi.items(), key=lambda kv: (-kv[1], kv[0]))]
    if drift.prediction_psi is not None:
        rows.append({"name": PREDICTION, "label": PREDICTION_LABEL, "psi": drift.prediction_psi,
                     "alert": PREDICTION in drift.alerts})
    return pd.DataFrame(rows, columns=["name", "label", "psi", "alert"])


def drift_subject(name: str) -> str:
    """A drift alert's subject in words: a feature's label, or the predicted risk."""
    return PREDICTION_LABEL if name == PREDICTION else feature_label(name)


@dataclass(frozen=True)
class AlertWords:
    """An alert-feed line: what kind of alert, about whom or what, and what happened, in words."""

    kind: str
    subject: str
    what: str


def _fmt(value: float | None, fmt: str = ".2f") -> str:
    return "?" if value is None else format(value, fmt)


def alert_words(alert: AlertEntry) -> AlertWords:
    """A user's threshold crossing names the user; a drift alert what drifted; a realized-AUROC alert its cohort."""
    if alert.kind == ALERT_KIND_DRIFT:
        return AlertWords("drift", drift_subject(alert.subject),
                          f"PSI {_fmt(alert.value, '.3f')} above {_fmt(alert.threshold)}")
    if alert.kind == ALERT_KIND_REALIZED:
        as_of = parse_float(alert.subject)
        cohort = "cohort ?" if as_of is None else "cohort of " + pd.Timestamp(int(as_of), unit="ms", tz="UTC").strftime(
            "%Y-%m-%d %H:%M")
        return AlertWords("realized AUROC", cohort,
                          f"AUROC {_fmt(alert.value, '.3f')} below the floor {_fmt(alert.threshold, '.3f')}")
    verb = "crossed up" if alert.direction == ALERT_UP else "dropped below"
    return AlertWords("user", f"user {alert.user}" if alert.user else "user ?",
                      f"{'⬆' if alert.direction == ALERT_UP else '⬇'} {verb}: risk {_fmt(alert.risk)}, "
                      f"threshold {_fmt(alert.threshold)}")

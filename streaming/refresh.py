"""Every active user scored as of one clock: the refresh at each event-time boundary.

A user is scored when their own events arrive, so a silent user would keep the score (and the days since last
activity) of their last event. When a batch moves the event-time clock across a refresh boundary (every
``refresh_hours`` from 00:00 UTC), every active user is rescored as of the clock after the batch, from the raw
aggregates the user write keeps (``{p}:raw``), with the same features, model and writer as the event-driven path:
the writes are ordered by (as_of, n_events), so a replayed batch's refresh changes nothing. One batch that spans
several boundaries yields one refresh, as of its clock, so no event after ``as_of`` is in any of its scores.

SHAP costs several times the risk, and most users' risk barely moves between two refreshes, so a refresh recomputes
drivers only for users whose risk moved at least ``refresh_shap_min_move`` and keeps the others' drivers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contracts.artifact import ModelArtifact
from contracts.drivers import top_drivers
from contracts.features import DAY_MS, model_features
from contracts.raw_codec import unpack
from contracts.redis_client import with_retry
from contracts.redis_keys import RedisKeys, UserScore, band_for
from contracts.user_writer import UserWriter

HOUR_MS = 3_600_000


def crossed(before_ms: int, clock_ms: int, interval_hours: float) -> bool:
    """Whether the clock moved from ``before_ms`` to ``clock_ms`` across a boundary (multiples of the interval
    since the Unix epoch, so daily boundaries fall at 00:00 UTC). No refresh before the stream has a clock."""
    if interval_hours <= 0 or before_ms < 0 or clock_ms <= before_ms:
        return False
    step = int(interval_hours * HOUR_MS)
    return clock_ms // step > before_ms // step


@dataclass
class Refreshed:
    """What one refresh scored: the active users' ids, risks and features, all as of ``as_of``."""
    as_of: int
    user_ids: np.ndarray
    risk: np.ndarray
    features: pd.DataFrame
    shap_users: int
    #: the earliest event of any user the stream has seen (the log's start, as far as the stream knows)
    log_start: int = 0


class Refresher:
    """Rescores every active user as of a clock, on the driver, vectorised, through one :class:`UserWriter`."""

    def __init__(self, client, keys: RedisKeys, writer: UserWriter, min_move: float, top_n: int):
        self.client = client
        self.keys = keys
        self.writer = writer
        self.min_move = min_move
        self.top_n = top_n

    def active_raw(self) -> tuple[pd.DataFrame, int]:
        """The raw aggregates of every user not cancelled, from ``{p}:raw``, and the earliest event of any user."""
        stored = with_retry(lambda: self.client.hgetall(self.keys.raw))
        if not stored:
            return pd.DataFrame(), 0
        ids = list(stored)
        raw = unpack(ids, [stored[u] for u in ids])
        return raw[raw["churn_ts"].isna()].reset_index(drop=True), int(raw["first_ts"].min())

    def refresh(self, as_of: int, epoch_ms: int, artifact: ModelArtifact) -> Refreshed | None:
        raw, log_start = self.active_raw()
        if raw.empty:
            return None
        features = model_features(raw, as_of, epoch_ms)
        names = list(artifact.feature_names)
        X = features[names]
        risk = artifact.predict(X)
        ids = raw["userId"].astype(str).tolist()
        old = with_retry(lambda: self.client.zmscore(self.keys.ranking, ids))
        old = np.array([np.nan if v is None else float(v) for v in old])
        movers = ~(np.abs(risk - old) < self.min_move)  # NaN (not ranked yet) counts as moved
        shap = np.zeros((len(raw), len(names)))
        if movers.any():
            mover_risk, shap_m = artifact.predict_and_explain(X[movers])
            risk[movers] = mover_risk
            shap[movers] = np.asarray(shap_m, dtype=float)
        drivers = top_drivers(shap, X.to_numpy(dtype=float), names, self.top_n)
        feature_rows = features.to_numpy(dtype=float).tolist()
        cols = list(features.columns)
        scored_at = int(time.time() * 1000)
        records = [
            UserScore(user_id=uid, risk=float(risk[i]), band=band_for(float(risk[i]), artifact.threshold),
                      drivers=drivers[i] if movers[i] else (), features=dict(zip(cols, feature_rows[i])),
                      shap=dict(zip(names, shap[i].tolist())) if movers[i] else {}, level=str(lv or ""),
                      gender=str(g or ""), n_events=int(n), last_ts=int(last), as_of=as_of,
                      model_version=artifact.version, scored_at=scored_at)
            for i, (uid, lv, g, n, last) in enumerate(zip(ids, raw["level"], raw["gender"], raw["n_events"],
                                                         raw["last_ts"]))]
        self.writer.write(records, keep_shap=(~movers).tolist())
        return Refreshed(as_of=as_of, user_ids=np.asarray(ids), risk=np.asarray(risk, dtype=float),
                         features=features, shap_users=int(movers.sum()), log_start=log_start)


def horizon_ms(artifact: ModelArtifact) -> int:
    return int(round(float(artifact.horizon_days) * DAY_MS))

"""Score updated users and write them to Redis: the per-micro-batch Python work, run on Spark's executors.

Spark hands each Python worker the updated users' raw aggregates as pandas frames (``mapInPandas``); this
module turns them into features (the shared ``contracts.features.model_features``), risk and SHAP drivers,
all vectorised, as :class:`contracts.redis_keys.UserScore` records written by :class:`contracts.user_writer.UserWriter`.
Nothing here runs per event.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterator

import numpy as np
import pandas as pd

from contracts.artifact import ModelArtifact, load_artifact
from contracts.drivers import top_drivers
from contracts.features import model_features
from contracts.raw_codec import pack
from contracts.redis_client import connect
from contracts.redis_keys import RedisKeys, UserScore, band_for
from contracts.user_writer import UserWriter
from streaming.kinds import KIND, OFFSET_BITS, POSITION

#: Schema of what each scoring task returns to the driver: one row per partition, with how many users were scored,
#: written (see :class:`contracts.user_writer.Written`) and crossed the threshold; the users whose hash has no
#: display name yet, with their latest Kafka position; the cumulative count of each other kind of record (hidden,
#: invalid:<reason>) updated in the partition; and the latest event time among its users (null: none). One row
#: per partition, not per user, so the driver collects a handful of rows in the same stage. ``partition_ts``: the
#: latest event time per Kafka partition among the task's users (a user's events all sit in one Kafka partition,
#: the one in its latest position, so the latest user of a Kafka partition holds that partition's latest event).
RESULT_SCHEMA = ("scored long, written long, alerts long, "
                 "unnamed array<struct<userId: string, position: long>>, kinds map<string, long>, max_ts long, "
                 "partition_ts map<int, long>")


@dataclass(frozen=True)
class ScoreContext:
    """Everything an executor needs to score one micro-batch; small and picklable."""
    model_dir: str
    model_version: str
    clock_ms: int
    epoch_ms: int
    redis_url: str
    redis_kwargs: tuple[tuple[str, object], ...]
    redis_prefix: str
    hysteresis: float
    alert_maxlen: int
    top_drivers: int


@lru_cache(maxsize=2)
def _artifact(model_dir: str, version: str) -> ModelArtifact:
    return load_artifact(model_dir, version)


@lru_cache(maxsize=4)
def _writer(url: str, kwargs: tuple[tuple[str, object], ...], prefix: str, threshold: float, hysteresis: float,
            alert_maxlen: int) -> UserWriter:
    """One writer (client and registered script) per executor process and model threshold."""
    return UserWriter(connect(url, **dict(kwargs)), RedisKeys(prefix), threshold, hysteresis, alert_maxlen)


def _dict_rows(matrix: np.ndarray, names: list[str]) -> list[dict[str, float]]:
    return [dict(zip(names, row)) for row in matrix.tolist()]


def score_frame(raw: pd.DataFrame, ctx: ScoreContext, artifact: ModelArtifact) -> list[UserScore]:
    """Features, risk and drivers for a frame of raw aggregates: one record per row, in the frame's order."""
    features = model_features(raw, ctx.clock_ms, ctx.epoch_ms)
    X = features[list(artifact.feature_names)]
    risk, shap = artifact.predict_and_explain(X)
    names = list(artifact.feature_names)
    drivers = top_drivers(shap, X.to_numpy(dtype=float), names, ctx.top_drivers)
    feature_rows = _dict_rows(features.to_numpy(dtype=float), list(features.columns))
    shap_rows = _dict_rows(np.asarray(shap, dtype=float), names)
    risks = np.asarray(risk, dtype=float).tolist()
    churn = raw["churn_ts"] if "churn_ts" in raw else pd.Series([None] * len(raw))
    churn_ts = [None if pd.isna(c) else int(c) for c in churn]
    scored_at = int(time.time() * 1000)
    return [
        UserScore(user_id=str(uid), risk=risks[i], band=band_for(risks[i], artifact.threshold), drivers=drivers[i],
                  features=feature_rows[i], shap=shap_rows[i], level=str(level or ""), gender=str(gender or ""),
                  n_events=int(n), last_ts=int(last), as_of=ctx.clock_ms, model_version=artifact.version,
                  scored_at=scored_at, churned_ts=churn_ts[i])
        for i, (uid, level, gender, n, last) in enumerate(zip(raw["userId"], raw["level"], raw["gender"],
                                                             raw["n_events"], raw["last_ts"]))
    ]


def score_partitions(ctx: ScoreContext):
    """The ``mapInPandas`` function for one micro-batch, over the stateful aggregation's updated rows.

    A partition's users are scored as of its clock: ``ctx.clock_ms`` (the stream's clock before the batch) moved
    to the latest event time among them, so every user is scored at or after its last event.
    """

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        parts = [f for f in frames if not f.empty]
        kinds: dict[str, int] = {}
        raw = pd.DataFrame()
        if parts:
            rows = pd.concat(parts, ignore_index=True)
            is_user = rows[KIND].isna()
            kinds = {str(k): int(n) for k, n in zip(rows.loc[~is_user, KIND], rows.loc[~is_user, "n_events"])}
            raw = rows.loc[is_user].drop(columns=[KIND]).reset_index(drop=True)
        if raw.empty:
            yield _summary(kinds)
            return
        latest = int(raw["last_ts"].max())
        ctx_p = replace(ctx, clock_ms=max(ctx.clock_ms, latest))
        artifact = _artifact(ctx.model_dir, ctx.model_version)
        writer = _writer(ctx.redis_url, ctx.redis_kwargs, ctx.redis_prefix, artifact.threshold, ctx.hysteresis,
                         ctx.alert_maxlen)
        writes = score_frame(raw, ctx_p, artifact)
        written = writer.write(writes, raw=pack(raw))
        codes = np.fromiter((w.code for w in written), dtype="int32", count=len(written))
        positions = raw[POSITION].to_numpy(dtype="int64") if POSITION in raw else np.full(len(raw), -1)
        unnamed = [{"userId": u.user_id, "position": int(pos)}
                   for u, pos, w in zip(writes, positions, written) if not w.named]
        by_partition = pd.Series(raw["last_ts"].to_numpy(dtype="int64")).groupby(positions >> OFFSET_BITS).max()
        partition_ts = {int(p): int(t) for p, t in by_partition.items() if p >= 0}
        yield _summary(kinds, latest, len(raw), int((codes > 0).sum()), int((codes == 2).sum()), unnamed, partition_ts)

    return run


def _summary(kinds: dict[str, int], latest: int | None = None, scored: int = 0, written: int = 0, alerts: int = 0,
             unnamed: list[dict] | None = None, partition_ts: dict[int, int] | None = None) -> pd.DataFrame:
    """A task's one row of :data:`RESULT_SCHEMA`."""
    return pd.DataFrame({"scored": [scored], "written": [written], "alerts": [alerts], "unnamed": [unnamed or []],
                         "kinds": [kinds], "max_ts": pd.array([latest], dtype="Int64"),
                         "partition_ts": [partition_ts or {}]})

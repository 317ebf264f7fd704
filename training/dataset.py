"""Point-in-time training sets built with Spark from the shared aggregate expressions.

One pass over the log gives per-(user, day) partial aggregates, the only thing kept (a few hundred bytes per
user and day, where the events are a few hundred bytes each); every later stage reads the partials: the log's
extent, every cutoff (a day boundary) as a merge of the partials before it, all cutoffs in one Spark job, and
the whole-history set. Features at a cutoff therefore depend only on events at or before it (no leakage), and
labels only on the Cancellation Confirmation within (cutoff, cutoff + H].

Events are read and validated by :mod:`contracts.parsing`, the rules the streaming job applies to Kafka
records, so training and streaming keep exactly the same events.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts import features as FT
from contracts.features import DAY_MS


@dataclass
class LogSummary:
    first_ts: int
    last_ts: int
    n_events: int
    n_users: int
    n_churned: int

    @property
    def epoch_ms(self) -> int:
        """Reference time of the decayed sums: midnight of the log's first day."""
        return self.first_ts // DAY_MS * DAY_MS


@dataclass
class PointInTime:
    """Rows = (user, cutoff) snapshots; ``raw`` holds the merged raw aggregates, ``X`` the model features."""
    raw: pd.DataFrame
    X: pd.DataFrame
    y: np.ndarray
    users: np.ndarray
    cutoffs: np.ndarray  # epoch ms per row


def load_events(spark, paths: list[str]):
    """Valid events of identified users (``contracts.parsing``: the streaming job's rules), not cached."""
    from contracts.parsing import classify_records, read_log_lines, valid_events

    return valid_events(classify_records(read_log_lines(spark, paths)))


def daily_partials(events):
    """Per (user, day) partial aggregates; decayed sums relative to the day's own midnight (``day_start``),
    so one pass needs no epoch yet and no sum can overflow. :func:`rebased` moves them to an epoch."""
    from pyspark.sql import functions as F

    day = F.floor(F.col("ts") / F.lit(DAY_MS)).cast("long")
    return (events.withColumn("day", day).withColumn("day_start", F.col("day") * F.lit(DAY_MS))
            .groupBy("userId", "day").agg(*FT.partial_aggregate_columns(F.col("day_start"))))


def load_partials(spark, paths: list[str]):
    """The one pass over the log: daily partials, cached and materialised (every later stage reads them)."""
    partials = daily_partials(load_events(spark, paths)).cache()
    partials.count()
    return partials


def rebased(partials, epoch_ms: int):
    """Partials whose decayed sums are relative to ``epoch_ms``: S_epoch = S_day * exp((day_start - epoch) / tau)."""
    from pyspark.sql import functions as F

    cols = []
    for name in partials.columns:
        tau = FT.DECAYED_COLUMNS.get(name)
        if tau is None:
            cols.append(F.col(name))
        else:
            shift = (F.col("day") * F.lit(DAY_MS) - F.lit(epoch_ms)).cast("double") / F.lit(float(tau * DAY_MS))
            cols.append((F.col(name) * F.exp(shift)).alias(name))
    return partials.select(*cols)


def summarize(partials) -> LogSummary:
    from pyspark.sql import functions as F

    row = partials.agg(F.min("first_ts").alias("a"), F.max("last_ts").alias("b"), F.sum("n_events").alias("n"),
                       F.countDistinct("userId").alias("u"),
                       F.countDistinct(F.when(F.col("churn_ts").isNotNull(), F.col("userId"))).alias("c")).first()
    if row is None or not row["n"]:
        raise ValueError("the log holds no valid events of identified users")
    return LogSummary(int(row["a"]), int(row["b"]), int(row["n"]), int(row["u"]), int(row["c"]))


def cutoff_days(summary: LogSummary, every_days: int, horizon_days: int, min_history_days: int) -> list[int]:
    """Cutoff day numbers D (cutoff = end of day D-1): enough history before, a full horizon after."""
    first_day = summary.first_ts // DAY_MS
    last_full_day = (summary.last_ts + 1) // DAY_MS  # events of this day may be incomplete
    days = list(range(first_day + min_history_days, last_full_day - horizon_days + 1, every_days))
    if not days:
        raise ValueError(f"the log spans {(summary.last_ts - summary.first_ts) / DAY_MS:.1f} days: too short for "
                         f"{min_history_days} days of history plus a {horizon_days}-day horizon")
    return days


def cutoff_ms(day: int) -> int:
    """The last millisecond of day ``day - 1``: features use events with ts <= this."""
    return day * DAY_MS - 1


def point_in_time(spark, partials, epoch_ms: int, days: list[int], horizon_days: int) -> PointInTime:
    """Snapshots of every user registered and active before each cutoff and not yet churned at it."""
    from pyspark.sql import functions as F

    churn = partials.groupBy("userId").agg(F.min("churn_ts").alias("future_churn_ts"))
    partials = rebased(partials, epoch_ms)
    cut = spark.createDataFrame([(int(d), cutoff_ms(d)) for d in days], "cutoff_day long, cutoff_ms long")
    merged = (partials.join(F.broadcast(cut), F.col("day") < F.col("cutoff_day"))
              .groupBy("userId", "cutoff_ms").agg(*FT.merge_aggregate_columns()))
    h = horizon_days * DAY_MS
    rows = (merged.join(churn, "userId", "left")
            .where(F.col("churn_ts").isNull())
            .where(F.col("registration").isNull() | (F.col("registration") <= F.col("cutoff_ms")))
            .withColumn("label", (F.col("future_churn_ts").isNotNull()
                                  & (F.col("future_churn_ts") > F.col("cutoff_ms"))
                                  & (F.col("future_churn_ts") <= F.col("cutoff_ms") + F.lit(h))).cast("int")))
    pdf = rows.toPandas().sort_values(["cutoff_ms", "userId"], kind="stable").reset_index(drop=True)
    X = FT.model_features(pdf, pdf["cutoff_ms"].to_numpy(dtype="int64"), epoch_ms)
    return PointInTime(pdf, X, pdf["label"].to_numpy(dtype=int), pdf["userId"].astype(str).to_numpy(),
                       pdf["cutoff_ms"].to_numpy(dtype="int64"))


def whole_history(partials, epoch_ms: int) -> PointInTime:
    """The original project's set: each user's whole history, features as of their last activity (the last
    event that is not a label page), label "ever cancelled". A baseline only: churners' logs stop early, so span
    and tenure carry the label. As of the cancellation itself instead, the seconds between the last activity
    and the confirmation would tell every churner apart, and the model would learn nothing else."""
    raw = rebased(partials, epoch_ms).groupBy("userId").agg(*FT.merge_aggregate_columns()).toPandas()
    raw = raw.sort_values("userId", kind="stable").reset_index(drop=True)
    as_of = raw["last_activity_ts"].fillna(raw["last_ts"]).to_numpy(dtype="int64")
    X = FT.model_features(raw, as_of, epoch_ms)
    y = raw["churn_ts"].notna().to_numpy(dtype=int)
    return PointInTime(raw, X, y, raw["userId"].astype(str).to_numpy(), as_of)


def fingerprint(paths: list[str], summary: LogSummary) -> str:
    """Cheap identity of the training data: file names, sizes, modification times and the log's extent."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(paths):
        st = Path(p).stat()
        h.update(f"{Path(p).name}|{st.st_size}|{int(st.st_mtime)}".encode())
    h.update(f"{summary.first_ts}|{summary.last_ts}|{summary.n_events}".encode())
    return h.hexdigest()[:16]

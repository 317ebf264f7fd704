"""Raw aggregates computed the direct way, as the reference the streaming job and training are checked against."""
from __future__ import annotations

from contracts.features import raw_aggregate_columns


def batch_raw_aggregates(events, as_of_ms: int, epoch_ms: int):
    """Raw aggregates of every user from the events at or before ``as_of_ms``: one batch ``groupBy``."""
    from pyspark.sql import functions as F

    return (events.where(F.col("ts") <= F.lit(int(as_of_ms)))
            .groupBy("userId").agg(*raw_aggregate_columns(epoch_ms)))

"""A bounded sample of active users' features and SHAP values: the SHAP dependence view and the population
means the usage tiles compare a user with.

The sample is stratified by risk and the same from one refresh to the next while the ranking holds still:
``blocks`` runs of ``block`` consecutive ranks, spread evenly over ``{p}:risk`` (all active users when there
are no more than ``size``). That is one ZCARD, one pipeline of ZRANGEs and one pipeline of HMGETs, whatever
the number of users; never KEYS or SCAN.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contracts.redis_keys import RedisKeys

SAMPLE_SIZE = 1000
BLOCK = 50


@dataclass(frozen=True)
class Sample:
    """``values`` and ``shap``: one row per sampled user (index: user id), one column per feature."""

    values: pd.DataFrame
    shap: pd.DataFrame
    levels: pd.Series
    population: int

    @property
    def size(self) -> int:
        return len(self.values)

    def features(self) -> list[str]:
        """Features with both a value and a SHAP contribution, in the writer's order."""
        return [c for c in self.shap.columns if c in self.values.columns]


def sample_offsets(population: int, size: int = SAMPLE_SIZE, block: int = BLOCK) -> list[tuple[int, int]]:
    """(start, stop) rank ranges, inclusive, covering ``size`` users spread evenly over ``population``."""
    if population <= 0:
        return []
    if population <= size:
        return [(0, population - 1)]
    blocks = max(1, math.ceil(size / block))
    span = population - block
    starts = sorted({round(i * span / max(blocks - 1, 1)) for i in range(blocks)})
    return [(s, s + block - 1) for s in starts]


def _decode(raw: str | None) -> dict:
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def population_sample(client, keys: RedisKeys, size: int = SAMPLE_SIZE, block: int = BLOCK) -> Sample:
    population = int(client.zcard(keys.ranking))
    pipe = client.pipeline(transaction=False)
    for start, stop in sample_offsets(population, size, block):
        pipe.zrange(keys.ranking, start, stop)
    ids = list(dict.fromkeys(uid for part in pipe.execute() for uid in part))
    pipe = client.pipeline(transaction=False)
    for uid in ids:
        pipe.hmget(keys.user(uid), ["features", "shap", "level"])
    kept, values, shap, levels = [], [], [], []
    for uid, (features_raw, shap_raw, level) in zip(ids, pipe.execute() if ids else []):
        f, s = _decode(features_raw), _decode(shap_raw)
        if not s:
            continue  # gone between the two reads, or written without SHAP values
        kept.append(uid)
        values.append(f)
        shap.append(s)
        levels.append(level or "")
    index = pd.Index(kept, name="user")
    if not kept:
        return Sample(pd.DataFrame(index=index), pd.DataFrame(index=index), pd.Series([], index=index, dtype=object),
                      population)
    return Sample(values=pd.DataFrame.from_records(values, index=index).apply(pd.to_numeric, errors="coerce"),
                  shap=pd.DataFrame.from_records(shap, index=index).apply(pd.to_numeric, errors="coerce"),
                  levels=pd.Series(levels, index=index, dtype=object), population=population)


def dependence_frame(sample: Sample, feature: str, colour_by: str) -> pd.DataFrame:
    """(value, shap, colour) per sampled user for one feature, rows without a finite value dropped."""
    if feature not in sample.values or feature not in sample.shap:
        return pd.DataFrame(columns=["user", "value", "shap", "colour"])
    colour = sample.values[colour_by] if colour_by in sample.values else pd.Series(np.nan, index=sample.values.index)
    frame = pd.DataFrame({"value": sample.values[feature], "shap": sample.shap[feature], "colour": colour})
    frame = frame[np.isfinite(frame["value"]) & np.isfinite(frame["shap"])]
    return frame.reset_index()

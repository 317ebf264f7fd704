"""Drift reference distributions and the population stability index (PSI).

Training stores, in the model artifact (``reference.json``), each model feature's decile bin edges with the
share of the training snapshots in each bin, and the same for the predicted (calibrated) risk on the test
snapshots. The streaming job bins today's active users into the same bins and compares the shares with
:func:`psi`. One definition here, so the writer (training) and the reader (streaming) bin alike.

Bins are ``(-inf, e1], (e1, e2], ..., (ek, +inf)``: a value equal to an edge falls in the lower bin, both
when the reference is built and when it is compared against. Edges are the deciles of the reference values
with duplicates removed, so a feature with many ties (a count that is mostly 0) gets fewer, wider bins
rather than empty ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

#: Shares are floored at this before the logarithm: an empty bin on either side would make PSI infinite.
SHARE_FLOOR = 1e-4


def _finite(values: Any) -> np.ndarray:
    """The values as float64, NaNs and infinities left out (they belong to no bin)."""
    arr = np.asarray(values, dtype="float64").ravel()
    return arr[np.isfinite(arr)]


def _shares(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction of ``values`` in each of the ``len(edges) + 1`` bins (a value equal to an edge: lower bin)."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / len(values)


@dataclass(frozen=True)
class Distribution:
    """Bin edges and the share of the reference values in each bin (``len(shares) == len(edges) + 1``)."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.edges)
        shares = tuple(float(s) for s in self.shares)
        if len(shares) != len(edges) + 1:
            raise ValueError(f"a distribution needs one share more than edges, got {len(edges)} edges "
                             f"and {len(shares)} shares")
        if any(not math.isfinite(e) for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError("distribution edges must be finite and strictly increasing")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "shares", shares)

    @classmethod
    def of(cls, values: Any, bins: int = 10) -> "Distribution":
        """The quantile bins of ``values`` (deciles by default, ties merged) and each bin's share."""
        arr = _finite(values)
        if len(arr) == 0:
            raise ValueError("cannot build a distribution from no (finite) values")
        if bins < 1:
            raise ValueError(f"bins must be at least 1, got {bins}")
        edges = np.unique(np.quantile(arr, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
        return cls(tuple(edges.tolist()), tuple(_shares(edges, arr).tolist()))

    def shares_of(self, values: Any) -> np.ndarray:
        """The share of ``values`` in each of this distribution's bins (empty input: NaNs)."""
        arr = _finite(values)
        if len(arr) == 0:
            return np.full(len(self.shares), np.nan)
        return _shares(np.asarray(self.edges, dtype="float64"), arr)

    def to_json(self) -> dict:
        return {"edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Distribution":
        return cls(tuple(data["edges"]), tuple(data["shares"]))


def psi(reference: Distribution, values: Any) -> float:
    """Population stability index of ``values`` against ``reference``: sum over the reference's bins of
    ``(a - e) * ln(a / e)``, ``a`` the actual and ``e`` the expected share, both floored at
    :data:`SHARE_FLOOR`. NaN when there are no values. Rule of thumb: < 0.1 stable, > 0.2 shifted."""
    actual = reference.shares_of(values)
    if np.isnan(actual).any():
        return float("nan")
    a = np.maximum(actual, SHARE_FLOOR)
    e = np.maximum(np.asarray(reference.shares, dtype="float64"), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftReference:
    """What drift is measured against: one :class:`Distribution` per model feature (training snapshots)
    and one of the predicted risk (test snapshots)."""

    features: dict[str, Distribution]
    prediction: Distribution

    @classmethod
    def build(cls, features: pd.DataFrame, predicted_risk: np.ndarray, bins: int = 10) -> "DriftReference":
        """Deciles of every column of ``features`` and of ``predicted_risk``."""
        return cls({str(name): Distribution.of(features[name].to_numpy(), bins) for name in features.columns},
                   Distribution.of(predicted_risk, bins))

    def to_json(self) -> dict:
        return {"features": {name: d.to_json() for name, d in self.features.items()},
                "prediction": self.prediction.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DriftReference":
        return cls({str(name): Distribution.from_json(d) for name, d in data["features"].items()},
                   Distribution.from_json(data["prediction"]))


def population_stability(reference: DriftReference, features: pd.DataFrame,
                         risk: np.ndarray) -> tuple[float, dict[str, float]]:
    """(PSI of the predicted risk, {feature: PSI}) for the reference's features that ``features`` holds."""
    per_feature = {name: psi(dist, features[name].to_numpy())
                   for name, dist in reference.features.items() if name in features.columns}
    return psi(reference.prediction, risk), per_feature

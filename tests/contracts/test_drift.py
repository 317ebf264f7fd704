"""Drift reference distributions and PSI: stable samples score low, shifted ones high, ties and edges binned
consistently, and the JSON form the artifact stores round-trips exactly."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from contracts.drift import Distribution, DriftReference, population_stability, psi


def _normal(n: int, seed: int, mean: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, n)


def test_decile_bins_hold_a_tenth_each():
    dist = Distribution.of(_normal(20_000, 0))
    assert len(dist.edges) == 9 and len(dist.shares) == 10
    np.testing.assert_allclose(dist.shares, 0.1, atol=1e-3)
    assert math.isclose(sum(dist.shares), 1.0)


def test_a_sample_of_the_same_population_is_stable_and_a_shifted_one_is_not():
    ref = Distribution.of(_normal(20_000, 0))
    assert psi(ref, _normal(20_000, 0)) == pytest.approx(0.0, abs=1e-12)  # its own values
    assert psi(ref, _normal(5_000, 1)) < 0.02
    assert psi(ref, _normal(5_000, 2, mean=1.0)) > 0.2  # mean + 1 sd
    assert psi(ref, _normal(5_000, 3, mean=0.25)) < psi(ref, _normal(5_000, 3, mean=1.0))


def test_a_feature_with_many_ties_gets_fewer_bins_and_still_works():
    rng = np.random.default_rng(4)
    counts = np.where(rng.random(10_000) < 0.8, 0, rng.poisson(3, 10_000) + 1).astype(float)
    ref = Distribution.of(counts)
    assert len(ref.edges) < 9 and ref.edges[0] == 0.0
    assert ref.shares[0] == pytest.approx(np.mean(counts == 0))  # every zero in the first bin
    same = np.where(rng.random(5_000) < 0.8, 0, rng.poisson(3, 5_000) + 1).astype(float)
    more_active = np.where(rng.random(5_000) < 0.5, 0, rng.poisson(3, 5_000) + 1).astype(float)
    assert psi(ref, same) < 0.02
    assert psi(ref, more_active) > 0.2
    constant = Distribution.of(np.zeros(100))
    assert constant.edges == (0.0,) and constant.shares == (1.0, 0.0)
    assert psi(constant, np.zeros(50)) == pytest.approx(0.0) and psi(constant, np.ones(50)) > 1


def test_a_value_equal_to_an_edge_falls_in_the_lower_bin():
    dist = Distribution((1.0, 2.0), (0.5, 0.25, 0.25))
    np.testing.assert_allclose(dist.shares_of([0.5, 1.0, 2.0, 2.5]), [0.5, 0.25, 0.25])
    # built from integer-valued data, the same rule holds when building and when comparing
    values = np.repeat(np.arange(1, 11, dtype=float), 10)
    built = Distribution.of(values)
    np.testing.assert_allclose(built.shares_of(values), built.shares)
    assert psi(built, values) == pytest.approx(0.0, abs=1e-12)
    assert built.shares_of([built.edges[0]])[0] == 1.0


def test_empty_or_missing_values():
    ref = Distribution.of(_normal(1_000, 0))
    assert math.isnan(psi(ref, []))
    assert math.isnan(psi(ref, [np.nan, np.nan]))
    assert psi(ref, np.append(_normal(1_000, 0), np.nan)) == pytest.approx(0.0, abs=1e-12)  # NaN left out
    with pytest.raises(ValueError):
        Distribution.of([])


def test_malformed_distributions_are_refused():
    with pytest.raises(ValueError, match="one share more"):
        Distribution((1.0,), (1.0,))
    with pytest.raises(ValueError, match="increasing"):
        Distribution((2.0, 1.0), (0.3, 0.3, 0.4))


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.exponential(1.0, n),
                         "c": (rng.random(n) < 0.1).astype(float)})


def test_json_round_trip_is_exact():
    ref = DriftReference.build(_frame(2_000, 0), np.random.default_rng(1).beta(1, 5, 2_000))
    text = json.dumps(ref.to_json())
    again = DriftReference.from_json(json.loads(text))
    assert again == ref
    assert set(again.features) == {"a", "b", "c"}
    assert math.isclose(sum(again.prediction.shares), 1.0)


def test_population_stability_covers_the_features_present_in_both():
    risk_ref = np.random.default_rng(1).beta(1, 5, 5_000)
    ref = DriftReference.build(_frame(5_000, 0), risk_ref)
    today = _frame(2_000, 2, shift=1.0).drop(columns=["c"]).assign(extra=1.0)
    pred_psi, per_feature = population_stability(ref, today, np.random.default_rng(3).beta(1, 5, 2_000))
    assert set(per_feature) == {"a", "b"}
    assert per_feature["a"] > 0.2 and per_feature["b"] < 0.02
    assert pred_psi < 0.02
    shifted_pred, _ = population_stability(ref, today, np.random.default_rng(3).beta(3, 5, 2_000))
    assert shifted_pred > 0.2

"""Calibrators, calibration error, thresholds and user-resampled bootstrap intervals (pure units)."""
from __future__ import annotations

from contracts.metrics import expected_calibration_error, top_decile_lift
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, f1_score, roc_auc_score

from contracts.artifact import CalibratedScorer, LinearScorer
from training import bootstrap, calibration, evaluation


def _miscalibrated(n: int = 6000, seed: int = 0):
    rng = np.random.default_rng(seed)
    margin = rng.normal(-2.5, 1.2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))).astype(int)  # true log-odds: 0.5 m - 1
    return margin, y, np.arange(n) % 3


def test_calibration_fixes_a_miscalibrated_margin_and_stays_monotone():
    margin, y, fold = _miscalibrated()
    raw = 1 / (1 + np.exp(-margin))
    cal, oof, scores = calibration.choose_calibrator(margin, y, fold)
    assert set(scores) == {"isotonic", "sigmoid"} and cal.method == min(scores, key=scores.get)
    assert expected_calibration_error(y, oof) < expected_calibration_error(y, raw) / 3
    assert calibration.log_loss(y, oof) < calibration.log_loss(y, raw)
    grid = np.linspace(-8, 4, 500)
    for method in calibration.METHODS:
        assert (np.diff(calibration.fit_calibrator(margin, y, method)(grid)) >= 0).all()
    sig = calibration.fit_calibrator(margin, y, "sigmoid")
    assert sig.a == pytest.approx(0.5, abs=0.1) and sig.b == pytest.approx(-1.0, abs=0.3)
    backwards = calibration.fit_calibrator(-margin, y, "sigmoid")  # never a decreasing map: the base rate
    assert backwards.a == 0 and backwards(np.array([-5.0]))[0] == pytest.approx(y.mean())


def test_calibrated_scorer_keeps_shap_of_the_margin():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    base = LinearScorer(np.array([1.0, -2.0, 0.5]), -1.0, X.mean(axis=0))
    m = rng.normal(size=400)
    cal = calibration.fit_calibrator(m, (rng.random(400) < 1 / (1 + np.exp(-m))).astype(int), "sigmoid")
    scorer = CalibratedScorer(base, cal)
    risk, shap_values = scorer.predict_and_explain(X)
    np.testing.assert_allclose(scorer.expected_value + shap_values.sum(axis=1), base.margin(X))
    np.testing.assert_allclose(risk, cal(base.margin(X)))
    order = np.argsort(base.margin(X))
    assert (np.diff(risk[order]) >= 0).all()


def test_expected_calibration_error_by_hand():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 0, 1])
    p = np.linspace(0.05, 0.95, 10)
    # 2 equal-count bins: [0.05..0.45] mean 0.25 vs rate 0.2; [0.55..0.95] mean 0.75 vs rate 0.8
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(0.05)
    assert expected_calibration_error(y, np.full(10, 0.5), bins=1) == pytest.approx(0.0)


def test_threshold_rules():
    rng = np.random.default_rng(2)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)
    assert evaluation.choose_threshold(y, p, "best_f1") == evaluation.best_f1_threshold(y, p)
    t = evaluation.choose_threshold(y, p, "top:0.1")
    assert (p >= t).mean() == pytest.approx(0.1, abs=0.002)
    t = evaluation.choose_threshold(y, p, "precision:0.8")
    assert y[p >= t].mean() >= 0.8 - 1e-9
    for bad in ("precision", "top:1.5", "recall:0.2", "best_f1:3"):
        with pytest.raises(ValueError, match="threshold rule"):
            evaluation.choose_threshold(y, p, bad)


def test_weighted_figures_with_unit_weights_equal_sklearn():
    rng = np.random.default_rng(4)
    p = np.round(rng.random(3000), 2)  # ties
    y = (rng.random(3000) < p * 0.3).astype(int)
    fig = bootstrap.SortedScores(y, p, 0.5).figures(np.ones((1, len(y))))
    assert fig["auroc"][0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert fig["average_precision"][0] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert fig["brier"][0] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert fig["f1"][0] == pytest.approx(f1_score(y, (p >= 0.5).astype(int)), abs=1e-12)
    assert fig["top_decile_lift"][0] == pytest.approx(top_decile_lift(y, p), rel=0.05)


def test_user_bootstrap_resamples_users_and_pairs_differences():
    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(300), 10).astype(str)  # 10 near-identical snapshots per user
    risk_u = rng.random(300)
    y = np.repeat((rng.random(300) < risk_u).astype(int), 10)
    good, bad = np.repeat(risk_u, 10), np.repeat(rng.random(300), 10)
    out = bootstrap.user_bootstrap(users, y, {"good": (good, 0.5), "bad": (bad, 0.5)}, {"diff": ("good", "bad")},
                                   replicates=400, seed=0)
    lo, hi = out["good"]["auroc_ci"]
    assert lo < roc_auc_score(y, good) < hi
    assert out["diff"]["auroc_ci"][0] > 0  # a real difference is beyond noise
    # resampling snapshots as if independent would be ~sqrt(10) narrower; by user it is as wide as 300 users
    single = bootstrap.user_bootstrap(users[::10], y[::10], {"good": (good[::10], 0.5)}, replicates=400, seed=0)
    width = hi - lo
    assert width == pytest.approx(single["good"]["auroc_ci"][1] - single["good"]["auroc_ci"][0], rel=0.3)

"""The monitoring panels' data: reading cohorts, pooled metrics and drift back through their records, and the
frames and words the panels draw from them."""
from __future__ import annotations

import pytest

from contracts.redis_keys import (ALERT_KIND_DRIFT, ALERT_KIND_REALIZED, AlertEntry, Cohort, Drift, ModelInfo,
                                  RedisKeys)
from dashboard.monitoring import (alert_words, calibration_frame, cohort_frame, cohort_table, drift_frame,
                                  offline_figures, read_monitoring)
from dashboard.seed import CLOCK_MS, DAY_MS, seed_monitoring

PREFIX = "montest"
T0 = 1_541_030_400_000  # 2018-11-01 00:00 UTC


def _model(metrics: dict) -> ModelInfo:
    return ModelInfo("v1", 0.4, metrics, [], {}, "", "10", None)


def test_offline_figures_are_the_top_level_test_metrics():
    model = _model({"auroc": 0.83, "average_precision": "0.4", "brier": "nan", "backtest": {"auroc": 0.1}})
    assert offline_figures(model) == {"auroc": 0.83, "average_precision": 0.4, "brier": None, "top_decile_lift": None}
    assert set(offline_figures(None).values()) == {None}


def test_cohort_frame_has_a_row_per_cohort_and_known_figure_with_the_offline_reference():
    cohorts = [Cohort(T0, users=100, positives=7, resolved=True, auroc=0.8, average_precision=0.3, top_decile_lift=3.1),
               Cohort(T0 + DAY_MS, users=120, positives=9, resolved=True, auroc=0.7)]  # AP and lift unknown
    frame = cohort_frame(cohorts, {"auroc": 0.85, "average_precision": 0.35, "top_decile_lift": None})
    assert list(frame["metric"]) == ["AUROC", "average precision", "top-decile lift", "AUROC"]
    assert list(frame["value"]) == [0.8, 0.3, 3.1, 0.7] and list(frame["users"]) == [100, 100, 100, 120]
    assert list(frame["offline"][:2]) == [0.85, 0.35] and frame["offline"].isna().iloc[2]
    assert str(frame["as_of"].iloc[3]) == "2018-11-02 00:00:00+00:00"
    table = cohort_table(cohorts)
    assert list(table["cohort"]) == ["2018-11-02 00:00", "2018-11-01 00:00"] and list(table["users"]) == [120, 100]
    assert cohort_frame([], {}).empty


def test_calibration_frame_leaves_out_empty_and_unknown_bins():
    frame = calibration_frame([[0.1, 0.12, 50], [0.3, None, 10], [0.5, 0.4, 0], [0.7, 0.66, 12]])
    assert frame.to_dict("records") == [{"mean_predicted": 0.1, "observed_rate": 0.12, "count": 50},
                                        {"mean_predicted": 0.7, "observed_rate": 0.66, "count": 12}]


def test_drift_frame_sorts_features_by_psi_then_the_prediction():
    drift = Drift(T0, prediction_psi=0.25, feature_psi={"tenure_days": 0.01, "songs_per_day": 0.3},
                  alerts=["songs_per_day", "prediction"], threshold=0.2)
    frame = drift_frame(drift)
    assert list(frame["name"]) == ["songs_per_day", "tenure_days", "prediction"]
    assert list(frame["alert"]) == [True, False, True] and frame["label"].iloc[2] == "predicted risk"
    assert drift_frame(Drift(None)).empty


def test_alert_words_say_who_or_what_for_each_kind():
    user = alert_words(AlertEntry("100042", "up", 0.61, 0.5, T0, "paid"))
    assert (user.kind, user.subject) == ("user", "user 100042") and "crossed up: risk 0.61, threshold 0.50" in user.what
    down = alert_words(AlertEntry("7", "down", 0.4, 0.5, T0, "free"))
    assert "dropped below" in down.what
    drift = alert_words(AlertEntry("", "up", None, 0.2, T0, "", kind=ALERT_KIND_DRIFT, subject="songs_per_day",
                                   value=0.314))
    assert (drift.kind, drift.subject, drift.what) == ("drift", "songs per day", "PSI 0.314 above 0.20")
    pred = alert_words(AlertEntry("", "up", None, 0.2, T0, "", kind=ALERT_KIND_DRIFT, subject="prediction", value=0.3))
    assert pred.subject == "predicted risk"
    realized = alert_words(AlertEntry("", "up", None, 0.78, T0, "", kind=ALERT_KIND_REALIZED, subject=str(T0),
                                      value=0.7123))
    assert realized.kind == "realized AUROC" and realized.subject == "cohort of 2018-11-01 00:00"
    assert realized.what == "AUROC 0.712 below the floor 0.780"


@pytest.mark.integration
def test_read_monitoring_gives_back_the_resolved_cohorts_oldest_first(redis_client):
    keys = RedisKeys(PREFIX)
    seeded = seed_monitoring(redis_client, keys, seed=3, cohorts=6, pending=2, users=300)
    mon = read_monitoring(redis_client, keys)
    assert mon.cohorts == seeded.cohorts and len(mon.cohorts) == 6 and mon.pending == 2
    assert [c.as_of_ms for c in mon.cohorts] == sorted(c.as_of_ms for c in mon.cohorts)
    assert mon.cohorts[-1].as_of_ms == CLOCK_MS - 3 * DAY_MS
    assert mon.realized == seeded.realized and mon.realized.users == sum(c.users for c in mon.cohorts)
    assert 0.5 < mon.realized.auroc < 1 and len(mon.realized.calibration) == 10
    assert mon.drift == seeded.drift and mon.drift.alerts == ["days_since_last"] and mon.has_drift


@pytest.mark.integration
def test_read_monitoring_of_an_empty_redis_is_empty(redis_client):
    mon = read_monitoring(redis_client, RedisKeys(PREFIX))
    assert mon.cohorts == [] and mon.pending == 0 and not mon.has_drift
    assert mon.realized.auroc is None and mon.realized.calibration == []

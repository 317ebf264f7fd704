"""The model artifact: round trip, atomic `latest`, refusal of other feature versions, exact SHAP."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contracts import artifact as A
from contracts.drift import DriftReference
from tests.support.artifacts import quick_artifact
from contracts.features import FEATURE_NAMES, FEATURE_VERSION

EPOCH = 1_538_352_000_000


def _data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.gamma(2.0, 1.0, (n, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    logit = 2.0 * (X["thumbs_down_per_song"] - 2) + 1.0 * (X["adverts_per_song"] - 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize("kind", ["tree", "linear"])
def test_round_trip_scores_and_explains_like_the_saved_model(tmp_path, kind):
    X, y = _data()
    art = quick_artifact(tmp_path, X, y, EPOCH, horizon_days=10, kind=kind)
    loaded = A.load_artifact(tmp_path)
    assert loaded.version == art.version == A.latest_version(tmp_path)
    assert loaded.feature_names == FEATURE_NAMES and loaded.feature_version == FEATURE_VERSION
    assert (loaded.epoch_ms, loaded.horizon_days, loaded.threshold) == (EPOCH, 10.0, art.threshold)
    assert set(loaded.global_importance) == set(FEATURE_NAMES) and set(A.METRIC_KEYS) <= set(loaded.metrics)
    # columns in any order: the artifact picks its own
    risk, shap_values = loaded.predict_and_explain(X[list(reversed(X.columns))])
    risk0, shap0 = art.predict_and_explain(X)
    np.testing.assert_allclose(risk, risk0)
    np.testing.assert_allclose(shap_values, shap0)
    assert risk.shape == (len(X),) and shap_values.shape == (len(X), len(FEATURE_NAMES))
    assert ((risk > 0) & (risk < 1)).all()
    # SHAP in log-odds is additive: expected value + contributions = the model's logit
    base = loaded.scorer.expected_value
    np.testing.assert_allclose(base + shap_values.sum(axis=1), np.log(risk / (1 - risk)), atol=1e-6)
    # the signal the data carries is what the explanation shows
    top = max(loaded.global_importance, key=loaded.global_importance.get)
    assert top in ("thumbs_down_per_song", "adverts_per_song")
    empty_risk, empty_shap = loaded.predict_and_explain(X.iloc[:0])
    assert empty_risk.shape == (0,) and empty_shap.shape == (0, len(FEATURE_NAMES))


def test_version_folder_holds_the_documented_files(tmp_path):
    X, y = _data(200)
    art = quick_artifact(tmp_path, X, y, EPOCH)
    names = {p.name for p in art.path.iterdir()}
    assert {A.MODEL_FILE, A.METADATA_FILE, A.METRICS_FILE, A.CARD_FILE} <= names
    meta = json.loads((art.path / A.METADATA_FILE).read_text())
    assert meta["libraries"]["scikit-learn"] and meta["feature_version"] == FEATURE_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_drift_reference_round_trips_and_is_optional(tmp_path):
    X, y = _data(300)
    without = quick_artifact(tmp_path / "without", X, y, EPOCH)
    assert without.reference is None and not (without.path / A.REFERENCE_FILE).exists()
    assert A.load_artifact(tmp_path / "without").reference is None
    art = quick_artifact(tmp_path / "with", X, y, EPOCH, reference=True)
    assert (art.path / A.REFERENCE_FILE).exists()
    expected = DriftReference.build(X[list(FEATURE_NAMES)], art.predict(X))
    loaded = A.load_artifact(tmp_path / "with")
    assert loaded.reference == art.reference == expected
    assert set(loaded.reference.features) == set(loaded.feature_names)
    assert sum(loaded.reference.prediction.shares) == pytest.approx(1.0)
    # an artifact saved before references (the file removed) still loads, with drift off
    (art.path / A.REFERENCE_FILE).unlink()
    assert A.load_artifact(tmp_path / "with").reference is None


def test_a_broken_reference_is_an_artifact_error_in_one_line(tmp_path):
    X, y = _data(200)
    art = quick_artifact(tmp_path, X, y, EPOCH, reference=True)
    ref_path = art.path / A.REFERENCE_FILE
    for text, word in (("{not json", "unreadable"), ('{"features": {}}', "malformed"),
                       ('{"features": {}, "prediction": {"edges": [1, 2], "shares": [1]}}', "malformed")):
        ref_path.write_text(text)
        with pytest.raises(A.ArtifactError, match=word) as err:
            A.load_artifact(tmp_path)
        assert A.REFERENCE_FILE in str(err.value) and "\n" not in str(err.value)


def test_latest_moves_atomically_while_polled(tmp_path):
    X, y = _data(200)
    first = quick_artifact(tmp_path, X, y, EPOCH).version
    second = quick_artifact(tmp_path, X, y, EPOCH, kind="linear").version
    assert first != second and A.latest_version(tmp_path) == second
    seen: set = set()
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            seen.add(A.latest_version(tmp_path))

    t = threading.Thread(target=poll)
    t.start()
    for i in range(300):
        A.write_latest(tmp_path, (first, second)[i % 2])
    stop.set()
    t.join()
    assert seen <= {first, second} and len(seen) == 2
    assert A.load_artifact(tmp_path, first).version == first


def test_other_feature_version_is_refused_in_one_line(tmp_path):
    X, y = _data(200)
    art = quick_artifact(tmp_path, X, y, EPOCH)
    meta_path = art.path / A.METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["feature_version"] = "0-old"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(A.ArtifactError) as err:
        A.load_artifact(tmp_path)
    assert "feature version" in str(err.value) and "\n" not in str(err.value)


def test_missing_or_broken_artifacts_raise_artifact_error(tmp_path):
    assert A.latest_version(tmp_path / "nothing") is None
    with pytest.raises(A.ArtifactError, match="no model"):
        A.load_artifact(tmp_path / "nothing")
    X, y = _data(200)
    art = quick_artifact(tmp_path, X, y, EPOCH)
    with pytest.raises(A.ArtifactError, match="incomplete"):
        A.load_artifact(tmp_path, "20990101T000000Z-abcdef")
    (art.path / A.MODEL_FILE).write_bytes(b"not a pickle")
    with pytest.raises(A.ArtifactError, match="cannot be loaded"):
        A.load_artifact(tmp_path)


def test_unpickled_tree_scorer_rebuilds_its_explainer(tmp_path):
    import pickle

    X, y = _data(200)
    art = quick_artifact(tmp_path, X, y, EPOCH)
    _ = art.predict_and_explain(X.head(3))
    clone = pickle.loads(pickle.dumps(art.scorer))  # what Spark does when shipping to an executor
    assert clone._explainer is None
    np.testing.assert_allclose(clone.predict_and_explain(X.head(3).to_numpy())[1], art.predict_and_explain(X.head(3))[1])


def test_a_failed_save_leaves_no_version_and_no_temporary_folder(tmp_path):
    X, y = _data(200)
    before = quick_artifact(tmp_path, X, y, EPOCH).version

    class BrokenFigure:
        def savefig(self, *args, **kwargs):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        A.save_artifact(tmp_path, A.load_artifact(tmp_path).scorer, threshold=0.5, feature_names=FEATURE_NAMES,
                        epoch_ms=EPOCH, horizon_days=14, metrics={}, metadata={}, global_importance={},
                        plots={"roc.png": BrokenFigure()}, model_card="# card", version="20990101T000000Z-abcdef")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([before, A.LATEST])
    assert A.latest_version(tmp_path) == before


def test_card_and_plots_are_in_the_folder_when_it_appears(tmp_path, monkeypatch):
    import os

    X, y = _data(200)
    seen = {}
    real_replace = os.replace

    def spy(src, dst):
        if str(dst).endswith("-fedcba"):
            seen["files"] = sorted(p.name for p in Path(src).iterdir())
            seen["card"] = (Path(src) / A.CARD_FILE).read_text()
        return real_replace(src, dst)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    monkeypatch.setattr(A.os, "replace", spy)
    scorer = quick_artifact(tmp_path, X, y, EPOCH).scorer
    A.save_artifact(tmp_path, scorer, threshold=0.5, feature_names=FEATURE_NAMES, epoch_ms=EPOCH, horizon_days=14,
                    metrics={}, metadata={}, global_importance={}, plots={"roc.png": fig},
                    model_card="# Churn-risk model 20990101T000000Z-fedcba", version="20990101T000000Z-fedcba")
    plt.close(fig)
    assert {A.MODEL_FILE, A.METADATA_FILE, A.METRICS_FILE, A.CARD_FILE, "roc.png"} <= set(seen["files"])
    assert "20990101T000000Z-fedcba" in seen["card"]


def test_scoring_runs_the_native_thread_pools_on_one_thread(tmp_path):
    """A scorer shares the cores with Spark: OpenMP (scikit-learn's trees) and BLAS get one thread while it runs."""
    from dataclasses import replace

    from threadpoolctl import threadpool_info

    seen: list[int] = []

    class Probe:
        kind = "tree"

        def predict(self, X):
            seen.append(max(pool["num_threads"] for pool in threadpool_info()))
            return np.zeros(len(X))

        def predict_and_explain(self, X):
            return self.predict(X), np.zeros(X.shape)

    X, y = _data(200)
    art = replace(quick_artifact(tmp_path, X, y, EPOCH), scorer=Probe())
    art.predict(X)
    art.predict_and_explain(X)
    assert seen == [1, 1]
    assert any(pool["num_threads"] > 1 for pool in threadpool_info()) or os.cpu_count() == 1  # restored after

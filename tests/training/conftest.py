"""A small trained model shared by the training and model-behaviour tests (one Spark pass per session)."""
from __future__ import annotations

import pytest

from tests.training.fakelog import write_log


@pytest.fixture(scope="session")
def fake_log(tmp_path_factory):
    """A 400-user, 36-day hand-made log with its truth file (fewer users give too few cancellations to tell a
    model from noise on the test users)."""
    return write_log(tmp_path_factory.mktemp("fakelog") / "fake.json", 400, 36, seed=7)


@pytest.fixture(scope="session")
def trained(spark, fake_log, tmp_path_factory):
    """An artifact trained end to end by the training pipeline on the fake log."""
    from training.pipeline import Config, run

    out = tmp_path_factory.mktemp("models")
    cfg = Config(data=[str(fake_log)], out=out, horizon_days=10, cutoff_every_days=3, min_history_days=5,
                 models=("sklearn_logistic_regression", "sklearn_hist_gradient_boosting"))
    return run(cfg, spark)

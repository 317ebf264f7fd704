"""The whole-history baseline describes each user as of their last activity, churners and others alike."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_whole_history_features_are_as_of_the_last_activity(spark, fake_log):
    from training import dataset

    partials = dataset.load_partials(spark, [str(fake_log)])
    summary = dataset.summarize(partials)
    whole = dataset.whole_history(partials, summary.epoch_ms)
    assert whole.y.sum() > 5 and (whole.y == 0).sum() > 5
    # as of the cancellation, churners would sit seconds after their last activity and everyone else at 0:
    # a perfect separator that tells nothing on the forward task
    np.testing.assert_array_equal(whole.X["days_since_last"].to_numpy(), 0.0)

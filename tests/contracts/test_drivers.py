"""The drivers kept with a score: the strongest raising features, then the strongest lowering one."""
from __future__ import annotations

import numpy as np

from contracts.drivers import top_drivers
from contracts.features import feature_label


def test_the_strongest_raising_drivers_then_the_strongest_lowering_one():
    names = ["songs_per_day", "thumbs_down_per_song", "days_since_last", "adverts_per_song"]
    shap = np.array([[-0.5, 0.9, 0.2, 0.4], [0.1, 0.0, -0.2, -0.3]])
    values = np.arange(8, dtype=float).reshape(2, 4)
    first, second = top_drivers(shap, values, names, k=2)
    assert [d.feature for d in first] == ["thumbs_down_per_song", "adverts_per_song", "songs_per_day"]
    assert [d.contribution for d in first] == [0.9, 0.4, -0.5]
    assert first[0].label == feature_label("thumbs_down_per_song") and first[0].value == 1.0
    # only positive contributions raise; a row without a negative one has no lowering driver
    assert [d.feature for d in second] == ["songs_per_day", "adverts_per_song"]
    (only_up,) = top_drivers(np.array([[0.3, 0.0]]), np.zeros((1, 2)), names[:2], k=3)
    assert [d.feature for d in only_up] == ["songs_per_day"]

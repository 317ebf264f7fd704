"""What a scoring task reports for partitions without users (pure units: they never reach Redis or the model)."""
from __future__ import annotations

import pandas as pd

from streaming.scoring import ScoreContext, score_partitions

CTX = ScoreContext(model_dir="unused", model_version="unused", clock_ms=5, epoch_ms=0, redis_url="redis://unused",
                   redis_kwargs=(), redis_prefix="t", hysteresis=0.05, alert_maxlen=10, top_drivers=3)


def _summary(frames: list[pd.DataFrame]) -> dict:
    out = list(score_partitions(CTX)(iter(frames)))
    assert len(out) == 1 and len(out[0]) == 1  # one summary row per partition
    return out[0].iloc[0].to_dict()


def test_an_empty_partition_reports_nothing_scored_and_no_event_time():
    row = _summary([])
    assert (row["scored"], row["written"], row["alerts"], row["unnamed"], row["kinds"]) == (0, 0, 0, [], {})
    assert pd.isna(row["max_ts"])


def test_a_partition_of_other_kinds_reports_their_cumulative_counts():
    frames = [pd.DataFrame({"kind": ["hidden"], "userId": [None], "n_events": [7], "last_ts": [None]}),
              pd.DataFrame({"kind": [], "userId": [], "n_events": [], "last_ts": []}),
              pd.DataFrame({"kind": ["invalid:not_json"], "userId": [None], "n_events": [2], "last_ts": [None]})]
    row = _summary(frames)
    assert row["kinds"] == {"hidden": 7, "invalid:not_json": 2}
    assert row["scored"] == 0 and pd.isna(row["max_ts"])

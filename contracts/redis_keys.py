"""The Redis key layout, defined once for the streaming writer and the dashboard reader.

All keys live under a prefix (``Settings.redis_prefix``, default ``sparkify``):

| key | type | holds |
|---|---|---|
| ``{p}:user:{userId}`` | hash | risk, band, alerting, drivers (JSON), features (JSON), shap (JSON), level, gender, name, location, n_events, last_ts, as_of, model_version, scored_at, churned, churned_ts, first_high_ts (event time of the first score at or above the threshold), risk_before_cancel (last risk scored while active) |
| ``{p}:risk`` | sorted set | active (not churned) users, score = risk |
| ``{p}:churned`` | sorted set | churned users, score = cancellation time (epoch ms) |
| ``{p}:cancelled_risk`` | sorted set | churned users, score = risk_before_cancel |
| ``{p}:caught`` | sorted set | churned users who were at or above the threshold before cancelling, score = lead time (ms) from first_high_ts to the cancellation |
| ``{p}:alerts`` | stream | threshold crossings (user, direction up/down, risk, threshold, as_of), capped length |
| ``{p}:importance`` | hash | per feature: sum of abs(SHAP) over active users; ``__n__`` = their count |
| ``{p}:health`` | hash | events_in, valid_events, hidden_events, dead_letters, dead_letters:<reason>, events_per_s, input_per_s, lag, batch_id, batch_ms, trigger_ms, clock_ms, clock_batch, clock_before_ms, last_batch_wall_ms, last_batch_users, users_scored, dead_letter_batch, query_started_ms |
| ``{p}:model`` | hash | version, threshold, metrics (JSON), features (JSON), global_importance (JSON), card_path, loaded_at |
| ``{p}:deadletters`` | stream | raw value (truncated) and reason of invalid records, capped length |
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "sparkify"

    def user(self, user_id: str) -> str:
        return f"{self.prefix}:user:{user_id}"

    @property
    def user_prefix(self) -> str:
        return f"{self.prefix}:user:"

    @property
    def ranking(self) -> str:
        return f"{self.prefix}:risk"

    @property
    def churned(self) -> str:
        return f"{self.prefix}:churned"

    @property
    def cancelled_risk(self) -> str:
        return f"{self.prefix}:cancelled_risk"

    @property
    def caught(self) -> str:
        return f"{self.prefix}:caught"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}:alerts"

    @property
    def importance(self) -> str:
        return f"{self.prefix}:importance"

    @property
    def health(self) -> str:
        return f"{self.prefix}:health"

    @property
    def model(self) -> str:
        return f"{self.prefix}:model"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}:deadletters"


#: Fields of the per-user hash, in display order.
USER_FIELDS: tuple[str, ...] = (
    "risk", "band", "alerting", "drivers", "features", "shap", "level", "gender", "name", "location", "n_events", "last_ts",
    "as_of", "model_version", "scored_at", "churned", "churned_ts", "first_high_ts", "risk_before_cancel",
)
BANDS: tuple[str, ...] = ("low", "medium", "high")
IMPORTANCE_COUNT_FIELD = "__n__"


def band_for(risk: float, threshold: float) -> str:
    """``high`` at or above the model's threshold, ``medium`` above half of it, else ``low``."""
    if risk >= threshold:
        return "high"
    if risk >= threshold / 2:
        return "medium"
    return "low"

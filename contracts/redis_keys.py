"""The Redis layout, defined once for the streaming writer and the dashboard reader.

The spec, key by key and field by field, is ``docs/redis-layout.md``; ``tests/contracts/test_redis_layout.py``
checks that the page and this module name the same keys and fields. This module holds three things:

- the key names (:class:`RedisKeys`, every key under ``Settings.redis_prefix``);
- the field names of each hash and stream entry (``UserField``, ``ModelField``, ``HealthField``, ...), which the
  Lua scripts use literally (a test checks every name in a ``.lua`` file is one of them);
- typed records with ``to_hash()`` (what a writer stores: text values, ``None`` left out so that a partial
  record writes only what it holds) and ``from_hash()`` (what a reader gets: never raises; a value the writer
  got wrong, such as bad JSON or a non-number, reads as unknown, ``None`` or empty).

Writer and reader share these, as Feast's Redis online store shares its key encoding between its write and
read paths. The user write itself (a Lua script, idempotent under batch replay) is
:class:`contracts.user_writer.UserWriter`, used by the streaming job and by the dashboard's seed alike.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class RedisKeys:
    """Every key under one prefix (``sparkify`` by default)."""

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

    @property
    def raw(self) -> str:
        """Every user's raw aggregates (userId -> packed floats, :mod:`contracts.raw_codec`), written with the user
        by the user-write script: what the refresh rescores a silent user from."""
        return f"{self.prefix}:raw"

    @property
    def unnamed(self) -> str:
        """Users waiting for their display text (userId -> Kafka position): recorded by a batch, removed once the
        names are written, so a name fetch cut short by a crash is done at the next start."""
        return f"{self.prefix}:unnamed"

    # -- monitoring (streaming.monitoring writes these) --
    @property
    def cohorts(self) -> str:
        return f"{self.prefix}:cohorts"

    def cohort(self, as_of_ms: int | str) -> str:
        return f"{self.prefix}:cohort:{as_of_ms}"

    def cohort_scores(self, as_of_ms: int | str) -> str:
        return f"{self.prefix}:cohort:{as_of_ms}:scores"

    @property
    def realized(self) -> str:
        return f"{self.prefix}:realized"

    @property
    def drift(self) -> str:
        return f"{self.prefix}:drift"

    @property
    def drift_history(self) -> str:
        return f"{self.prefix}:drift:history"


# ---------------------------------------------------------------- field names


def names(fields_class: type) -> tuple[str, ...]:
    """The field names a ``*Field`` class declares (its upper-case attributes), in declaration order."""
    return tuple(v for k, v in vars(fields_class).items() if k.isupper() and isinstance(v, str))


class UserField:
    """Fields of ``{p}:user:{userId}``."""
    RISK = "risk"
    BAND = "band"
    ALERTING = "alerting"
    DRIVERS = "drivers"
    FEATURES = "features"
    SHAP = "shap"
    LEVEL = "level"
    GENDER = "gender"
    NAME = "name"
    LOCATION = "location"
    N_EVENTS = "n_events"
    LAST_TS = "last_ts"
    AS_OF = "as_of"
    MODEL_VERSION = "model_version"
    SCORED_AT = "scored_at"
    CHURNED = "churned"
    CHURNED_TS = "churned_ts"
    FIRST_HIGH_TS = "first_high_ts"
    RISK_BEFORE_CANCEL = "risk_before_cancel"


#: What a refresh rewrites for an active user whose SHAP values and drivers it keeps (:meth:`UserScore.rescore_hash`):
#: the score as of the new clock and the features it is computed from. The rest of the hash (level, gender, counts,
#: last event) is what the user's last write set, from the same raw aggregates the refresh reads.
RESCORE_FIELDS: tuple[str, ...] = (UserField.RISK, UserField.BAND, UserField.FEATURES, UserField.AS_OF,
                                   UserField.SCORED_AT, UserField.MODEL_VERSION)


class ModelField:
    """Fields of ``{p}:model``."""
    VERSION = "version"
    THRESHOLD = "threshold"
    METRICS = "metrics"
    FEATURES = "features"
    GLOBAL_IMPORTANCE = "global_importance"
    ARTIFACT_DIR = "artifact_dir"
    HORIZON_DAYS = "horizon_days"
    LOADED_AT = "loaded_at"


class HealthField:
    """Fields of ``{p}:health`` (plus one ``dead_letters:<reason>`` per reason, see :data:`DEAD_LETTERS_PREFIX`)."""
    EVENTS_IN = "events_in"
    VALID_EVENTS = "valid_events"
    HIDDEN_EVENTS = "hidden_events"
    DEAD_LETTERS = "dead_letters"
    EVENTS_PER_S = "events_per_s"
    INPUT_PER_S = "input_per_s"
    LAG = "lag"
    BATCH_ID = "batch_id"
    BATCH_MS = "batch_ms"
    TRIGGER_MS = "trigger_ms"
    CLOCK_MS = "clock_ms"
    CLOCK_BATCH = "clock_batch"
    CLOCK_BEFORE_MS = "clock_before_ms"
    LAST_BATCH_WALL_MS = "last_batch_wall_ms"
    LAST_BATCH_USERS = "last_batch_users"
    USERS_SCORED = "users_scored"
    DEAD_LETTER_BATCH = "dead_letter_batch"
    QUERY_STARTED_MS = "query_started_ms"
    REFRESH_AS_OF_MS = "refresh_as_of_ms"
    REFRESH_USERS = "refresh_users"
    REFRESH_SHAP_USERS = "refresh_shap_users"
    REFRESH_MS = "refresh_ms"
    MAX_SCORE_AGE_MS = "max_score_age_ms"
    ACTIVE_USERS = "active_users"


#: ``partition_clock:<partition>``: the latest event time read from each Kafka partition (the labels' clock is
#: the smallest of them).
PARTITION_CLOCK_PREFIX = "partition_clock:"
#: ``dead_letters:<reason>``: the cumulative count of invalid records per reason (``dead_letters`` is their sum).
DEAD_LETTERS_PREFIX = "dead_letters:"
#: The importance hash holds one field per feature (sum of |SHAP| over active users) and this count of them.
IMPORTANCE_COUNT_FIELD = "__n__"


class AlertField:
    """Fields of an ``{p}:alerts`` stream entry (a threshold crossing)."""
    USER = "user"
    DIRECTION = "direction"
    RISK = "risk"
    THRESHOLD = "threshold"
    AS_OF = "as_of"
    LEVEL = "level"
    KIND = "kind"
    SUBJECT = "subject"
    VALUE = "value"


#: Values of :attr:`AlertField.KIND`: a user's threshold crossing (also when the field is absent), a feature's or
#: the prediction's drift (``subject`` names it, ``value`` is its PSI, ``threshold`` the PSI limit), a resolved
#: cohort whose realized AUROC (``value``) fell below the offline AUROC minus the allowed drop (``threshold`` = that
#: floor; ``subject`` is the cohort's as_of_ms).
ALERT_KIND_USER = "user"
ALERT_KIND_DRIFT = "drift"
ALERT_KIND_REALIZED = "realized_auroc"

#: Values of :attr:`AlertField.DIRECTION`.
ALERT_UP = "up"
ALERT_DOWN = "down"


class DeadLetterField:
    """Fields of an ``{p}:deadletters`` stream entry."""
    VALUE = "value"
    REASON = "reason"
    PARTITION = "partition"
    OFFSET = "offset"


class CohortField:
    """Fields of ``{p}:cohort:{as_of_ms}`` (monitoring: a refresh's scored cohort, resolved H days later)."""
    AS_OF_MS = "as_of_ms"
    USERS = "users"
    POSITIVES = "positives"
    RESOLVED = "resolved"
    AUROC = "auroc"
    AVERAGE_PRECISION = "average_precision"
    BRIER = "brier"
    TOP_DECILE_LIFT = "top_decile_lift"
    PRECISION = "precision"
    RECALL = "recall"
    CALIBRATION = "calibration"


class RealizedField:
    """Fields of ``{p}:realized`` (monitoring: metrics pooled over the resolved cohorts)."""
    USERS = "users"
    POSITIVES = "positives"
    AUROC = "auroc"
    AVERAGE_PRECISION = "average_precision"
    BRIER = "brier"
    TOP_DECILE_LIFT = "top_decile_lift"
    EXPECTED_CALIBRATION_ERROR = "expected_calibration_error"
    COHORTS = "cohorts"
    CALIBRATION = "calibration"


class DriftField:
    """Fields of ``{p}:drift`` and of each ``{p}:drift:history`` entry (monitoring: PSI against the training
    reference at a refresh)."""
    AS_OF_MS = "as_of_ms"
    PREDICTION_PSI = "prediction_psi"
    FEATURE_PSI = "feature_psi"
    ALERTS = "alerts"
    THRESHOLD = "threshold"
    USERS = "users"


# ---------------------------------------------------------------- the layout, key by key (the spec's index)


@dataclass(frozen=True)
class KeySpec:
    """One key of the layout: the :class:`RedisKeys` member that names it, its Redis type and its fields
    (hash fields or stream-entry fields; ``<...>`` marks a family of fields; empty for sorted sets)."""
    member: str
    redis_type: str
    fields: tuple[str, ...] = ()


LAYOUT: tuple[KeySpec, ...] = (
    KeySpec("user", "hash", names(UserField)),
    KeySpec("ranking", "zset"),
    KeySpec("churned", "zset"),
    KeySpec("cancelled_risk", "zset"),
    KeySpec("caught", "zset"),
    KeySpec("alerts", "stream", names(AlertField)),
    KeySpec("importance", "hash", ("<feature>", IMPORTANCE_COUNT_FIELD)),
    KeySpec("health", "hash", names(HealthField) + (DEAD_LETTERS_PREFIX + "<reason>", PARTITION_CLOCK_PREFIX + "<partition>")),
    KeySpec("model", "hash", names(ModelField)),
    KeySpec("dead_letters", "stream", names(DeadLetterField)),
    KeySpec("raw", "hash", ("<userId>",)),
    KeySpec("unnamed", "hash", ("<userId>",)),
    KeySpec("cohorts", "zset"),
    KeySpec("cohort", "hash", names(CohortField)),
    KeySpec("cohort_scores", "zset"),
    KeySpec("realized", "hash", names(RealizedField)),
    KeySpec("drift", "hash", names(DriftField)),
    KeySpec("drift_history", "stream", names(DriftField)),
)


def key_pattern(member: str, prefix: str = "{p}") -> str:
    """A key as the spec writes it, e.g. ``{p}:user:{userId}``."""
    placeholders = {"user": "{userId}", "cohort": "{as_of_ms}", "cohort_scores": "{as_of_ms}"}
    value = getattr(RedisKeys(prefix), member)
    return value(placeholders[member]) if callable(value) else value


# ---------------------------------------------------------------- parsing (never raises)


def parse_float(raw: Any, default: float | None = None) -> float | None:
    """A finite number, else ``default``."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


def parse_int(raw: Any, default: int | None = None) -> int | None:
    value = parse_float(raw)
    return int(value) if value is not None else default


def parse_json(raw: Any, default: Any) -> Any:
    """JSON of the same type as ``default`` (a dict, a list), else ``default``."""
    if raw is None:
        return default
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return default
    return value if isinstance(value, type(default)) else default


def parse_flag(raw: Any) -> bool | None:
    """``"1"`` / ``"0"``; anything else is unknown."""
    return True if raw == "1" else False if raw == "0" else None


def _float_map(raw: Any) -> dict[str, float]:
    return {str(k): v for k, v in ((k, parse_float(v)) for k, v in parse_json(raw, {}).items()) if v is not None}


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _text(mapping: dict[str, Any]) -> dict[str, str]:
    """The hash of a record: ``None`` left out, numbers as text (floats exactly, by ``repr``)."""
    out = {}
    for k, v in mapping.items():
        if v is None:
            continue
        out[k] = repr(float(v)) if isinstance(v, float) else str(v)
    return out


# ---------------------------------------------------------------- records: user score


#: Values of :attr:`UserField.BAND`, lowest first.
BANDS: tuple[str, ...] = ("low", "medium", "high")


def band_for(risk: float, threshold: float) -> str:
    """``high`` at or above the model's threshold, ``medium`` above half of it, else ``low``."""
    if risk >= threshold:
        return "high"
    if risk >= threshold / 2:
        return "medium"
    return "low"


@dataclass(frozen=True)
class Driver:
    """One SHAP contribution (log-odds) of a feature to a user's risk, an element of the ``drivers`` JSON list."""

    feature: str
    label: str
    value: Any
    contribution: float

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "label": self.label, "value": self.value, "contribution": self.contribution}


def parse_drivers(raw: Any) -> tuple[Driver, ...]:
    """The ``drivers`` JSON list, skipping malformed entries (a missing label reads as empty)."""
    out = []
    for item in parse_json(raw, []):
        if not isinstance(item, dict) or "feature" not in item:
            continue
        contribution = parse_float(item.get("contribution"))
        if contribution is None:
            continue
        out.append(Driver(str(item["feature"]), str(item.get("label") or ""), item.get("value"), contribution))
    return tuple(out)


def _json(value: Any) -> str:
    """Compact JSON of a user's features, SHAP values or drivers (all finite numbers, see
    ``contracts.features``): orjson, as the user write builds three per user per batch."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


@dataclass(frozen=True)
class UserScore:
    """``{p}:user:{userId}``: a user's latest score, its explanation and display text.

    The scorer fills what it computes; ``alerting`` and ``churned`` are state the user write derives in Redis
    (hysteresis, the cancellation), and ``name`` / ``location`` are fetched apart (:class:`UserProfile`), so
    they stay ``None`` in a scorer's record and are left out of its hash.
    """

    user_id: str
    risk: float | None = None
    band: str = ""
    alerting: bool | None = None
    drivers: tuple[Driver, ...] = ()
    features: dict[str, float] = field(default_factory=dict)
    shap: dict[str, float] = field(default_factory=dict)
    level: str = ""
    gender: str = ""
    name: str | None = None
    location: str | None = None
    n_events: int | None = None
    last_ts: int | None = None
    as_of: int | None = None
    model_version: str = ""
    scored_at: int | None = None
    churned: bool | None = None
    churned_ts: int | None = None
    #: state the user write derives in Redis (the catch rate): never set by a scorer
    first_high_ts: int | None = None
    risk_before_cancel: float | None = None

    def to_hash(self) -> dict[str, str]:
        # written out field by field: the scorer calls this once per user per batch
        f = UserField
        out = {f.BAND: self.band, f.DRIVERS: _json([d.to_json() for d in self.drivers]),
               f.FEATURES: _json(self.features), f.SHAP: _json(self.shap), f.LEVEL: self.level,
               f.GENDER: self.gender, f.MODEL_VERSION: self.model_version}
        if self.risk is not None:
            out[f.RISK] = repr(float(self.risk))
        for name, value in ((f.N_EVENTS, self.n_events), (f.LAST_TS, self.last_ts), (f.AS_OF, self.as_of),
                            (f.SCORED_AT, self.scored_at), (f.CHURNED_TS, self.churned_ts), (f.NAME, self.name),
                            (f.LOCATION, self.location), (f.FIRST_HIGH_TS, self.first_high_ts),
                            (f.RISK_BEFORE_CANCEL, self.risk_before_cancel)):
            if value is not None:
                out[name] = str(value)
        for name, flag in ((f.ALERTING, self.alerting), (f.CHURNED, self.churned)):
            if flag is not None:
                out[name] = _flag(flag)
        return out

    def rescore_hash(self) -> dict[str, str]:
        """The :data:`RESCORE_FIELDS` of :meth:`to_hash`, without building the rest (a refresh writes ~20,000)."""
        f = UserField
        return {f.RISK: repr(float(self.risk)), f.BAND: self.band, f.FEATURES: _json(self.features),
                f.AS_OF: str(self.as_of), f.SCORED_AT: str(self.scored_at), f.MODEL_VERSION: self.model_version}

    @classmethod
    def from_hash(cls, user_id: str, raw: dict[str, Any]) -> "UserScore":
        f = UserField
        return cls(user_id=user_id, risk=parse_float(raw.get(f.RISK)), band=raw.get(f.BAND) or "",
                   alerting=parse_flag(raw.get(f.ALERTING)), drivers=parse_drivers(raw.get(f.DRIVERS)),
                   features=parse_json(raw.get(f.FEATURES), {}), shap=_float_map(raw.get(f.SHAP)),
                   level=raw.get(f.LEVEL) or "", gender=raw.get(f.GENDER) or "", name=raw.get(f.NAME),
                   location=raw.get(f.LOCATION), n_events=parse_int(raw.get(f.N_EVENTS)),
                   last_ts=parse_int(raw.get(f.LAST_TS)), as_of=parse_int(raw.get(f.AS_OF)),
                   model_version=raw.get(f.MODEL_VERSION) or "", scored_at=parse_int(raw.get(f.SCORED_AT)),
                   churned=parse_flag(raw.get(f.CHURNED)), churned_ts=parse_int(raw.get(f.CHURNED_TS)),
                   first_high_ts=parse_int(raw.get(f.FIRST_HIGH_TS)),
                   risk_before_cancel=parse_float(raw.get(f.RISK_BEFORE_CANCEL)))


@dataclass(frozen=True)
class UserProfile:
    """A user's display text (never a feature), written into ``{p}:user:{userId}`` apart from the scores."""

    name: str
    location: str

    def to_hash(self) -> dict[str, str]:
        return {UserField.NAME: self.name, UserField.LOCATION: self.location}


# ---------------------------------------------------------------- records: model, health


DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ModelInfo:
    """``{p}:model``: the model the streaming job scores with, published when it loads one."""

    version: str
    threshold: float
    metrics: dict[str, Any]
    features: list[str]
    global_importance: dict[str, Any]
    artifact_dir: str
    horizon_days: str
    loaded_at: int | None

    def to_hash(self) -> dict[str, str]:
        f = ModelField
        return _text({f.VERSION: self.version, f.THRESHOLD: float(self.threshold), f.METRICS: json.dumps(self.metrics),
                      f.FEATURES: json.dumps(list(self.features)),
                      f.GLOBAL_IMPORTANCE: json.dumps(self.global_importance), f.ARTIFACT_DIR: self.artifact_dir,
                      f.HORIZON_DAYS: self.horizon_days, f.LOADED_AT: self.loaded_at})

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "ModelInfo":
        f = ModelField
        return cls(version=raw.get(f.VERSION) or "?",
                   threshold=parse_float(raw.get(f.THRESHOLD), DEFAULT_THRESHOLD),  # type: ignore[arg-type]
                   metrics=parse_json(raw.get(f.METRICS), {}), features=parse_json(raw.get(f.FEATURES), []),
                   global_importance=parse_json(raw.get(f.GLOBAL_IMPORTANCE), {}),
                   artifact_dir=raw.get(f.ARTIFACT_DIR) or "", horizon_days=raw.get(f.HORIZON_DAYS) or "",
                   loaded_at=parse_int(raw.get(f.LOADED_AT)))


@dataclass(frozen=True)
class StreamHealth:
    """``{p}:health``: what the stream has read and how its batches go.

    The hash is written piecewise (counts by the Lua scripts, the clock, a batch's summary, the query's progress;
    see ``streaming.health``), so every field is optional and ``to_hash`` writes only those set.
    """

    events_in: int | None = None
    valid_events: int | None = None
    hidden_events: int | None = None
    dead_letters: int | None = None
    events_per_s: float | None = None
    input_per_s: float | None = None
    lag: int | None = None
    batch_id: int | None = None
    batch_ms: float | None = None
    trigger_ms: int | None = None
    clock_ms: int | None = None
    clock_batch: str | None = None
    clock_before_ms: int | None = None
    last_batch_wall_ms: int | None = None
    last_batch_users: int | None = None
    users_scored: int | None = None
    dead_letter_batch: int | None = None
    query_started_ms: int | None = None
    refresh_as_of_ms: int | None = None
    refresh_users: int | None = None
    refresh_shap_users: int | None = None
    refresh_ms: int | None = None
    max_score_age_ms: int | None = None
    active_users: int | None = None
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)

    _INTS: ClassVar[tuple[str, ...]] = (
        HealthField.EVENTS_IN, HealthField.VALID_EVENTS, HealthField.HIDDEN_EVENTS, HealthField.DEAD_LETTERS,
        HealthField.LAG, HealthField.BATCH_ID, HealthField.TRIGGER_MS, HealthField.CLOCK_MS,
        HealthField.CLOCK_BEFORE_MS, HealthField.LAST_BATCH_WALL_MS, HealthField.LAST_BATCH_USERS,
        HealthField.USERS_SCORED, HealthField.DEAD_LETTER_BATCH, HealthField.QUERY_STARTED_MS,
        HealthField.REFRESH_AS_OF_MS, HealthField.REFRESH_USERS, HealthField.REFRESH_SHAP_USERS, HealthField.REFRESH_MS,
        HealthField.MAX_SCORE_AGE_MS, HealthField.ACTIVE_USERS)
    _FLOATS: ClassVar[tuple[str, ...]] = (HealthField.EVENTS_PER_S, HealthField.INPUT_PER_S, HealthField.BATCH_MS)

    def to_hash(self) -> dict[str, str]:
        out = _text({name: getattr(self, name) for name in names(HealthField)})
        for f in (HealthField.EVENTS_PER_S, HealthField.INPUT_PER_S):  # rates: one decimal is plenty
            if f in out:
                out[f] = f"{getattr(self, f):.1f}"
        if self.batch_ms is not None:
            out[HealthField.BATCH_MS] = str(int(self.batch_ms))
        out.update({DEAD_LETTERS_PREFIX + reason: str(int(n)) for reason, n in self.dead_letters_by_reason.items()})
        return out

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "StreamHealth":
        values: dict[str, Any] = {f: parse_int(raw.get(f)) for f in cls._INTS}
        values.update({f: parse_float(raw.get(f)) for f in cls._FLOATS})
        values[HealthField.CLOCK_BATCH] = raw.get(HealthField.CLOCK_BATCH)
        by_reason = {k[len(DEAD_LETTERS_PREFIX):]: parse_int(v) for k, v in raw.items()
                     if isinstance(k, str) and k.startswith(DEAD_LETTERS_PREFIX)}
        return cls(**values, dead_letters_by_reason={k: v for k, v in by_reason.items() if v is not None})


# ---------------------------------------------------------------- records: stream entries


@dataclass(frozen=True)
class AlertEntry:
    """An ``{p}:alerts`` entry. ``kind`` :data:`ALERT_KIND_USER` (the default; written by the user-write script):
    a user's risk crossed the threshold (``up``) or fell below it minus the hysteresis (``down``). The monitoring
    writes :data:`ALERT_KIND_DRIFT` (``subject`` a feature or ``prediction``, ``value`` its PSI, ``threshold`` the
    PSI limit) and :data:`ALERT_KIND_REALIZED` (``subject`` the cohort's as_of_ms, ``value`` its realized AUROC,
    ``threshold`` the floor it fell below); those have no user and ``direction`` ``up``."""

    user: str
    direction: str
    risk: float | None
    threshold: float | None
    as_of: int | None
    level: str
    kind: str = ALERT_KIND_USER
    subject: str = ""
    value: float | None = None

    def to_hash(self) -> dict[str, str]:
        f = AlertField
        out = _text({f.USER: self.user, f.DIRECTION: self.direction, f.RISK: self.risk, f.THRESHOLD: self.threshold,
                     f.AS_OF: self.as_of, f.LEVEL: self.level})
        if self.kind != ALERT_KIND_USER:
            out.update(_text({f.KIND: self.kind, f.SUBJECT: self.subject, f.VALUE: self.value}))
        return out

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "AlertEntry":
        f = AlertField
        return cls(user=raw.get(f.USER) or "", direction=raw.get(f.DIRECTION) or "",
                   risk=parse_float(raw.get(f.RISK)), threshold=parse_float(raw.get(f.THRESHOLD)),
                   as_of=parse_int(raw.get(f.AS_OF)), level=raw.get(f.LEVEL) or "",
                   kind=raw.get(f.KIND) or ALERT_KIND_USER, subject=raw.get(f.SUBJECT) or "",
                   value=parse_float(raw.get(f.VALUE)))


@dataclass(frozen=True)
class DeadLetterEntry:
    """An ``{p}:deadletters`` entry: an invalid record's raw value (truncated), why, and where it is in Kafka."""

    value: str
    reason: str
    partition: int | None
    offset: int | None

    def to_hash(self) -> dict[str, str]:
        f = DeadLetterField
        return _text({f.VALUE: self.value, f.REASON: self.reason, f.PARTITION: self.partition, f.OFFSET: self.offset})

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "DeadLetterEntry":
        f = DeadLetterField
        return cls(value=raw.get(f.VALUE) or "", reason=raw.get(f.REASON) or "",
                   partition=parse_int(raw.get(f.PARTITION)), offset=parse_int(raw.get(f.OFFSET)))


# ---------------------------------------------------------------- records: monitoring (written by the monitoring issue)


def _calibration_bins(raw: Any) -> list[list[float]]:
    """A reliability table's JSON (bins of ``[mean_predicted, observed_rate, count]``); malformed bins are left out."""
    return [b for b in parse_json(raw, []) if isinstance(b, list) and len(b) == 3]


@dataclass(frozen=True)
class Cohort:
    """``{p}:cohort:{as_of_ms}``: the users scored at one refresh (their (user, risk) in
    ``{p}:cohort:{as_of_ms}:scores``), labelled once the clock passes ``as_of_ms`` + the model's horizon.
    ``calibration`` holds 10 bins of ``[mean_predicted, observed_rate, count]``."""

    as_of_ms: int | None
    users: int | None = None
    positives: int | None = None
    resolved: bool | None = None
    auroc: float | None = None
    average_precision: float | None = None
    brier: float | None = None
    top_decile_lift: float | None = None
    precision: float | None = None
    recall: float | None = None
    calibration: list[list[float]] = field(default_factory=list)

    _METRICS: ClassVar[tuple[str, ...]] = (CohortField.AUROC, CohortField.AVERAGE_PRECISION, CohortField.BRIER,
                                           CohortField.TOP_DECILE_LIFT, CohortField.PRECISION, CohortField.RECALL)

    def to_hash(self) -> dict[str, str]:
        f = CohortField
        return _text({f.AS_OF_MS: self.as_of_ms, f.USERS: self.users, f.POSITIVES: self.positives,
                      f.RESOLVED: None if self.resolved is None else _flag(self.resolved),
                      **{m: getattr(self, m) for m in self._METRICS}, f.CALIBRATION: json.dumps(self.calibration)})

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "Cohort":
        f = CohortField
        bins = _calibration_bins(raw.get(f.CALIBRATION))
        return cls(as_of_ms=parse_int(raw.get(f.AS_OF_MS)), users=parse_int(raw.get(f.USERS)),
                   positives=parse_int(raw.get(f.POSITIVES)), resolved=parse_flag(raw.get(f.RESOLVED)),
                   **{m: parse_float(raw.get(m)) for m in cls._METRICS}, calibration=bins)


@dataclass(frozen=True)
class RealizedMetrics:
    """``{p}:realized``: the live scores' metrics pooled over the resolved cohorts kept (``cohorts`` of them);
    ``calibration`` holds 10 bins of ``[mean_predicted, observed_rate, count]`` over them."""

    users: int | None = None
    positives: int | None = None
    auroc: float | None = None
    average_precision: float | None = None
    brier: float | None = None
    top_decile_lift: float | None = None
    expected_calibration_error: float | None = None
    cohorts: int | None = None
    calibration: list[list[float]] = field(default_factory=list)

    _METRICS: ClassVar[tuple[str, ...]] = (RealizedField.AUROC, RealizedField.AVERAGE_PRECISION, RealizedField.BRIER,
                                           RealizedField.TOP_DECILE_LIFT, RealizedField.EXPECTED_CALIBRATION_ERROR)

    def to_hash(self) -> dict[str, str]:
        f = RealizedField
        return _text({f.USERS: self.users, f.POSITIVES: self.positives, f.COHORTS: self.cohorts,
                      **{m: getattr(self, m) for m in self._METRICS}, f.CALIBRATION: json.dumps(self.calibration)})

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "RealizedMetrics":
        f = RealizedField
        bins = _calibration_bins(raw.get(f.CALIBRATION))
        return cls(users=parse_int(raw.get(f.USERS)), positives=parse_int(raw.get(f.POSITIVES)),
                   cohorts=parse_int(raw.get(f.COHORTS)), calibration=bins,
                   **{m: parse_float(raw.get(m)) for m in cls._METRICS})


@dataclass(frozen=True)
class Drift:
    """``{p}:drift`` (the latest) and each ``{p}:drift:history`` entry: population stability index (PSI) of the
    predicted risk and of each feature over the active users, against the artifact's training reference;
    ``alerts`` names the features (``prediction`` for the risk) above ``threshold``, over ``users`` active users."""

    as_of_ms: int | None
    prediction_psi: float | None = None
    feature_psi: dict[str, float] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    threshold: float | None = None
    users: int | None = None

    def to_hash(self) -> dict[str, str]:
        f = DriftField
        return _text({f.AS_OF_MS: self.as_of_ms, f.PREDICTION_PSI: self.prediction_psi,
                      f.FEATURE_PSI: json.dumps(self.feature_psi), f.ALERTS: json.dumps(self.alerts),
                      f.THRESHOLD: self.threshold, f.USERS: self.users})

    @classmethod
    def from_hash(cls, raw: dict[str, Any]) -> "Drift":
        f = DriftField
        return cls(as_of_ms=parse_int(raw.get(f.AS_OF_MS)), prediction_psi=parse_float(raw.get(f.PREDICTION_PSI)),
                   feature_psi=_float_map(raw.get(f.FEATURE_PSI)),
                   alerts=[str(a) for a in parse_json(raw.get(f.ALERTS), [])],
                   threshold=parse_float(raw.get(f.THRESHOLD)), users=parse_int(raw.get(f.USERS)))

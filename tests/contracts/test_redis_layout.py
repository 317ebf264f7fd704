"""The Redis layout has one owner: the spec page, the contract module and the Lua scripts name the same keys and
fields, and the records read back what they write (and never fail on what they read)."""
from __future__ import annotations

import re
import tomllib
from dataclasses import fields as dataclass_fields
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import redis_keys as L

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "redis-layout.md"
LUA_FILES = sorted((ROOT / "contracts" / "lua").glob("*.lua")) + sorted((ROOT / "streaming" / "lua").glob("*.lua"))
FIELD_CLASSES = (L.UserField, L.ModelField, L.HealthField, L.AlertField, L.DeadLetterField, L.CohortField,
                 L.RealizedField, L.DriftField)


def _spec() -> dict[str, tuple[str, tuple[str, ...]]]:
    """pattern -> (type, fields) from the page's ``### `key` (type)`` sections and their field tables."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in SPEC.read_text().splitlines():
        heading = re.match(r"^### `([^`]+)` \((\w+)\)\s*$", line)
        if heading:
            current = heading.group(1)
            out[current] = (heading.group(2), [])
            continue
        row = re.match(r"^\| `([^`]+)` \|", line)
        if row and current is not None:
            out[current][1].append(row.group(1))
    return {k: (t, tuple(f)) for k, (t, f) in out.items()}


def test_the_spec_and_the_module_name_the_same_keys_types_and_fields():
    spec = _spec()
    code = {L.key_pattern(s.member): (s.redis_type, s.fields) for s in L.LAYOUT}
    assert len(spec) == len(L.LAYOUT) >= 14  # every section parsed
    assert set(spec) == set(code)
    for key in code:
        assert spec[key][0] == code[key][0], key
        assert sorted(spec[key][1]) == sorted(code[key][1]), key


def test_every_key_of_redis_keys_is_in_the_layout():
    members = {name for name in dir(L.RedisKeys) if not name.startswith("_") and name not in ("prefix", "user_prefix")}
    assert members == {s.member for s in L.LAYOUT}


def _lua_literals(path: Path) -> list[str]:
    code = "\n".join(line.split("--", 1)[0] for line in path.read_text().splitlines())
    return re.findall(r"'([^']*)'", code) + re.findall(r'"([^"]*)"', code)


def test_every_name_in_a_lua_script_is_a_contract_name():
    """Redis commands and options are upper case; everything else quoted in a script must be a field name (or
    value) of the contract, so no field exists only in Lua."""
    assert len(LUA_FILES) == 6
    vocabulary = {n for c in FIELD_CLASSES for n in L.names(c)} | {
        L.DEAD_LETTERS_PREFIX, L.IMPORTANCE_COUNT_FIELD, L.ALERT_UP, L.ALERT_DOWN}
    names_used = set()
    for path in LUA_FILES:
        for literal in _lua_literals(path):
            if literal.isupper() or literal in ("~", "*", "", "0", "1", "-1"):
                continue
            assert literal in vocabulary, f"{path.name}: '{literal}' is not in contracts/redis_keys.py"
            names_used.add(literal)
    assert {"as_of", "n_events", "valid_events", "clock_ms", "dead_letter_batch", "direction"} <= names_used


def test_the_lua_scripts_ship_with_the_package_and_the_image():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in LUA_FILES:
        package = path.relative_to(ROOT).parts[0]
        assert any(path.relative_to(ROOT / package).match(g) for g in package_data.get(package, [])), path
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY contracts contracts" in dockerfile and "COPY streaming streaming" in dockerfile


def test_each_record_writes_only_its_keys_fields():
    full = {
        L.UserField: L.UserScore("u", 0.4, "low", True, (L.Driver("a", "A", 1.0, 0.2),), {"a": 1.0}, {"a": 0.2},
                                 "paid", "F", "Ann Lee", "Town", 5, 10, 20, "v1", 30, False, 40, 35, 0.3),
        L.ModelField: L.ModelInfo("v1", 0.4, {"auroc": 0.8}, ["a"], {"a": 0.1}, "/m", "14.0", 99),
        L.AlertField: L.AlertEntry("", L.ALERT_UP, 0.31, 0.2, 10, "", L.ALERT_KIND_DRIFT, "songs_per_day", 0.31),
        L.DeadLetterField: L.DeadLetterEntry("{", "not_json", 1, 7),
        L.CohortField: L.Cohort(5, 10, 2, True, 0.7, 0.4, 0.1, 3.0, 0.5, 0.4, [[0.1, 0.05, 3]]),
        L.RealizedField: L.RealizedMetrics(10, 2, 0.7, 0.4, 0.1, 3.0, 0.02, 3, [[0.1, 0.05, 3]]),
        L.DriftField: L.Drift(5, 0.1, {"a": 0.3}, ["a"], 0.2, 100),
    }
    for field_class, record in full.items():
        assert set(record.to_hash()) == set(L.names(field_class)), field_class.__name__
    user_alert = L.AlertEntry("u", L.ALERT_UP, 0.6, 0.5, 10, "free").to_hash()
    assert L.AlertField.KIND not in user_alert  # the user-write script writes user alerts without a kind
    assert L.AlertEntry.from_hash(user_alert).kind == L.ALERT_KIND_USER
    every = {f.name: 1 for f in dataclass_fields(L.StreamHealth)}
    health = L.StreamHealth(**{**every, "clock_batch": "c:1", "dead_letters_by_reason": {"not_json": 2}})
    assert set(health.to_hash()) == set(L.names(L.HealthField)) | {L.DEAD_LETTERS_PREFIX + "not_json"}


def test_records_read_back_what_they_write():
    user = L.UserScore("u", 0.123456789012, "medium", False, (L.Driver("a", "A", 1.5, 0.25),), {"a": 1.5},
                       {"a": 0.25, "b": -0.5}, "paid", "F", "Ann Lee", "Town, ST", 5, 10, 20, "v1", 30, True, 40)
    assert L.UserScore.from_hash("u", user.to_hash()) == user
    model = L.ModelInfo("v1", 0.4, {"auroc": 0.8, "backtest": {"f1": 0.5}}, ["a", "b"], {"a": 0.1}, "/m", "14.0", 99)
    assert L.ModelInfo.from_hash(model.to_hash()) == model
    health = L.StreamHealth(events_in=10, valid_events=7, dead_letters=3, dead_letters_by_reason={"not_json": 3},
                            events_per_s=12.5, batch_ms=800, clock_ms=5, clock_batch="c:4")
    assert L.StreamHealth.from_hash(health.to_hash()) == health
    for record in (L.AlertEntry("u", "down", 0.3, 0.5, 10, "free"), L.DeadLetterEntry("{", "not_json", 1, 7),
                   L.Cohort(5, 10, 2, True, 0.7, 0.4, 0.1, 3.0, 0.5, 0.4, [[0.1, 0.05, 3.0]]),
                   L.RealizedMetrics(10, 2, 0.7, 0.4, 0.1, 3.0, 0.02), L.Drift(5, 0.1, {"a": 0.3}, ["a"])):
        assert type(record).from_hash(record.to_hash()) == record


def test_a_partial_record_writes_only_what_it_holds():
    assert L.StreamHealth(batch_id=3, lag=0).to_hash() == {"batch_id": "3", "lag": "0"}
    score = L.UserScore("u", risk=0.5, as_of=1, n_events=2).to_hash()
    assert not {"name", "location", "alerting", "churned", "churned_ts"} & set(score)


_text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["1", "0", "NaN", "inf", "[]", "{}", "[1,",
                                                                     '{"a": "x"}', '[{"feature": 1}]', "1e400"]))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([n for c in FIELD_CLASSES for n in L.names(c)] + ["dead_letters:x", "zz"]),
                       _text, max_size=20))
def test_reading_never_fails_on_bad_values(raw):
    raw = {k: v for k, v in raw.items() if v is not None}
    user = L.UserScore.from_hash("u", raw)
    assert user.risk is None or 0 <= abs(user.risk) < float("inf")
    L.ModelInfo.from_hash(raw)
    L.StreamHealth.from_hash(raw)
    L.AlertEntry.from_hash(raw)
    L.DeadLetterEntry.from_hash(raw)
    L.Cohort.from_hash(raw)
    L.RealizedMetrics.from_hash(raw)
    L.Drift.from_hash(raw)


def test_bands_are_the_values_band_for_gives():
    assert [L.band_for(r, 0.5) for r in (0.1, 0.3, 0.6)] == list(L.BANDS)


@given(risk=st.floats(0, 1), as_of=st.integers(0, 2**53), scored_at=st.integers(0, 2**53),
       features=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.floats(allow_nan=False, allow_infinity=False)))
@settings(max_examples=50)
def test_the_rescored_fields_are_those_of_the_full_hash(risk, as_of, scored_at, features):
    user = L.UserScore("u", risk=risk, band="high", features=features, as_of=as_of, scored_at=scored_at,
                       model_version="m", level="paid", n_events=3, shap={"a": 0.1})
    full = user.to_hash()
    assert user.rescore_hash() == {k: full[k] for k in L.RESCORE_FIELDS}

"""Parse raw event lines into events and classify them, as Spark SQL expressions (no Python per event).

The rules are those of :mod:`contracts.validation` (the producer's per-line validator), expressed for the JVM:
the same reason categories in the same order of precedence, so a dead letter means the same thing wherever it
was caught. The streaming job applies it to Kafka values; batch jobs can apply it to ``spark.read.text`` lines
(:func:`read_log_lines`), so both keep exactly the same events. ``tests/contracts/test_parsing.py`` checks the
Spark and Python forms agree on the same inputs.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from contracts import validation as V
from contracts.schema import FIELD_NAMES, FIELDS, MAX_LINE_BYTES, PAGES, TS_MAX_MS, TS_MIN_MS, spark_schema

CORRUPT = "_corrupt_record"
#: Strict JSON, as Python's json module reads it (Spark is lenient by default).
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT,
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
    "allowComments": "false",
    "allowUnquotedFieldNames": "false",
    "allowNumericLeadingZeros": "false",
    "allowBackslashEscapingAnyCharacter": "false",
    "allowUnquotedControlChars": "false",
}
#: The same strictness for a parse that is not into the event's struct.
_STRICT = {k: v for k, v in JSON_OPTIONS.items() if k != "columnNameOfCorruptRecord"}
_STRING_FIELDS = [f.name for f in FIELDS if f.kind == "string"]
# Spark reads any JSON token into a string column (123 -> "123", true -> "true", {..} -> "{..}"); the validator
# calls that a wrong type. Only a parsed value that *looks* like such a token (a number, true/false, an object
# or an array) is checked against the raw text, for that field alone: a regular expression with a literal
# prefix is cheap, one alternation of all text fields over the whole line cost more than the JSON parse.
_TOKEN_START = ["-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "{", "["]


def _non_string_token(name: str) -> str:
    return r'"' + name + r'"\s*:\s*[^"n\s]'


def _parse_schema():
    from pyspark.sql import types as T

    schema = spark_schema(parse=True)
    return T.StructType(schema.fields + [T.StructField(CORRUPT, T.StringType(), True)])


def _wrong_type(text: Column, ev: Column) -> Column:
    """True when a text field holds a JSON token that is not a string (nor null)."""
    checks = []
    for name in _STRING_FIELDS:
        value = ev[name]
        suspect = value.isin("true", "false") | F.substring(value, 1, 1).isin(*_TOKEN_START)
        checks.append(F.coalesce(suspect, F.lit(False)) & text.rlike(_non_string_token(name)))
    out = checks[0]
    for check in checks[1:]:
        out = out | check
    return out


def _more_than_one_value(text: Column) -> Column:
    """True when the record is not exactly one JSON value (``{...}}``, ``{...} {}``, ``[1] x``).

    Spark's JSON parsers read the first value and ignore what follows; Python's rejects it ("Extra data"). The
    record is parsed again wrapped as ``[<record>,0]``: one value gives a two-element array, trailing data a
    malformed one or another length.
    """
    wrapped = F.from_json(F.concat(F.lit("["), text, F.lit(",0]")), "array<string>", _STRICT)
    return F.coalesce(F.size(wrapped) != 2, F.lit(True))


#: The record's text without trailing space, tab, CR and LF, in SQL's ``TRIM(TRAILING chars FROM str)`` form (the
#: two-argument ``rtrim(str, chars)`` is deprecated and warns on every plan). Over ``_text``, as the variant
#: expressions below.
_TEXT_WITHOUT_TRAILING_SPACE = r"trim(TRAILING ' \t\r\n' FROM _text)"


def _trailing_data(text: Column) -> Column:
    """:func:`_more_than_one_value` for a record that parsed as an event and ends in "}", cheaply.

    Trailing data that ends in "}" puts a "}" before the record's last character, which a flat event has not
    (unless it ends in whitespace, or a text or extra field holds a "}"), so only those few records are parsed
    again.
    """
    return (F.instr(text, "}") < F.length(text)) & _more_than_one_value(text)


def _reason(raw: Column, text: Column, ev: Column) -> Column:
    """The dead-letter reason of a record, or null when the record is an event (valid or hidden).

    The variant parse that tells "not JSON" from "not an object" from "wrong type" runs only for records the
    typed parse already rejected (a nested CASE), so well-formed records pay for one JSON parse only.
    """
    variant = F.expr("try_parse_json(_text)")
    corrupt_reason = (
        F.when(variant.isNull() | _more_than_one_value(text), F.lit(V.NOT_JSON))
        .when(~F.expr("schema_of_variant(try_parse_json(_text))").startswith("OBJECT"), F.lit(V.NOT_OBJECT))
        .when(F.expr("try_variant_get(try_parse_json(_text), '$.ts')").isNull()
              | F.expr("try_variant_get(try_parse_json(_text), '$.page')").isNull(), F.lit(V.MISSING))
        .otherwise(F.lit(V.WRONG_TYPE))
    )
    return (
        F.when(raw.isNull(), F.lit(V.NOT_JSON))
        .when(F.length(raw) > MAX_LINE_BYTES, F.lit(V.TOO_LARGE))
        .when(~F.expr("is_valid_utf8(_raw)"), F.lit(V.NOT_UTF8))
        .when(ev.isNull() | ev[CORRUPT].isNotNull(), corrupt_reason)
        # trailing data after the object (JSON allows trailing space, tab, CR and LF). The plain endswith
        # first: trimming a set of characters walks the string, a cost every record would pay otherwise
        .when(~(text.endswith("}") | F.expr(_TEXT_WITHOUT_TRAILING_SPACE).endswith("}")), F.lit(V.NOT_JSON))
        .when(_trailing_data(text), F.lit(V.NOT_JSON))
        .when(ev["ts"].isNull() | ev["page"].isNull(), F.lit(V.MISSING))
        .when(_wrong_type(text, ev), F.lit(V.WRONG_TYPE))
        .when(~ev["page"].isin(*PAGES), F.lit(V.UNKNOWN_PAGE))
        .when((ev["ts"] < TS_MIN_MS) | (ev["ts"] >= TS_MAX_MS), F.lit(V.BAD_VALUE))
    )


def classify_records(records: DataFrame, value_col: str = "value") -> DataFrame:
    """Add ``verdict`` (valid / hidden / invalid), ``reason`` and the event columns to Kafka records.

    ``value_col`` is the binary Kafka value. Event columns follow ``contracts.schema`` (registration as long).
    Other input columns (partition, offset, timestamp, ...) are kept.
    """
    df = records.withColumn("_raw", F.col(value_col)).withColumn("_text", F.col("_raw").cast("string"))
    df = df.withColumn("_ev", F.from_json(F.col("_text"), _parse_schema(), JSON_OPTIONS))
    df = df.withColumn("reason", _reason(F.col("_raw"), F.col("_text"), F.col("_ev")))
    verdict = (F.when(F.col("reason").isNotNull(), F.lit("invalid"))
              .when(F.coalesce(F.col("_ev.userId"), F.lit("")) == "", F.lit("hidden"))
              .otherwise(F.lit("valid")))
    df = df.withColumn("verdict", verdict)
    event_cols = [
        (F.col(f"_ev.{f.name}").cast("long") if f.accepts_float else F.col(f"_ev.{f.name}")).alias(f.name)
        for f in FIELDS
    ]
    keep = [c for c in records.columns]
    return df.select(*keep, "verdict", "reason", *event_cols)


def valid_events(classified: DataFrame) -> DataFrame:
    """What features are computed from, in training and in streaming alike: the valid records of identified
    users (hidden and invalid ones are only counted), in the contract's event columns."""
    return classified.where(F.col("verdict") == "valid").select(*FIELD_NAMES)


def read_log_lines(spark, paths) -> DataFrame:
    """Raw lines of JSON-lines logs (``.gz`` too) as a binary ``value`` column, ready for :func:`classify_records`."""
    if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__"):
        paths = [paths]
    text = spark.read.option("lineSep", "\n").text([str(p) for p in paths])
    # blank lines are not records (the Python loader skips them too)
    return text.where(F.trim(F.col("value")) != "").select(F.col("value").cast("binary").alias("value"))

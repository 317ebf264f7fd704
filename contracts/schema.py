"""The Sparkify event schema, defined once.

The 18 fields of an eventsim/Sparkify event, with one type each. The Spark ``StructType`` (used by
training and streaming) and the Arrow schema (used for local files and pandas) are both derived from
``FIELDS`` so they cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

Kind = Literal["long", "string", "double"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    #: numeric JSON floats are accepted for this long field (eventsim copies write `registration` as float)
    accepts_float: bool = False


# The order is the raw mini-log's key order.
FIELDS: tuple[Field, ...] = (
    Field("ts", "long"),
    Field("userId", "string"),
    Field("sessionId", "long"),
    Field("page", "string"),
    Field("auth", "string"),
    Field("method", "string"),
    Field("status", "long"),
    Field("level", "string"),
    Field("itemInSession", "long"),
    Field("location", "string"),
    Field("userAgent", "string"),
    Field("lastName", "string"),
    Field("firstName", "string"),
    Field("registration", "long", accepts_float=True),
    Field("gender", "string"),
    Field("artist", "string"),
    Field("song", "string"),
    Field("length", "double"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
REQUIRED: tuple[str, ...] = ("ts", "page")

CANCEL_PAGE = "Cancellation Confirmation"
#: Pages that define the label; they never feed a feature.
LABEL_PAGES: frozenset[str] = frozenset({"Cancel", CANCEL_PAGE})

PAGES: tuple[str, ...] = (
    "About", "Add Friend", "Add to Playlist", "Cancel", "Cancellation Confirmation", "Downgrade",
    "Error", "Help", "Home", "Login", "Logout", "NextSong", "Register", "Roll Advert", "Save Settings",
    "Settings", "Submit Downgrade", "Submit Registration", "Submit Upgrade", "Thumbs Down", "Thumbs Up",
    "Upgrade",
)
AUTHS: tuple[str, ...] = ("Logged In", "Logged Out", "Guest", "Cancelled")
LEVELS: tuple[str, ...] = ("free", "paid")

#: The event fields a user's display name is made of, in order.
NAME_FIELDS: tuple[str, ...] = ("firstName", "lastName")


def display_name(event: Mapping[str, Any]) -> str:
    """A user's display name from an event: the name fields present, space-separated ("" when none is)."""
    return " ".join(str(event[f]) for f in NAME_FIELDS if event.get(f)).strip()


#: Plausible event-time bounds (epoch ms); outside them an event is rejected as a bad value.
TS_MIN_MS = 946_684_800_000  # 2000-01-01
TS_MAX_MS = 4_102_444_800_000  # 2100-01-01
#: Longest raw line accepted (bytes); longer lines are dead-lettered, never parsed.
MAX_LINE_BYTES = 64 * 1024


def spark_schema(parse: bool = False):
    """Spark schema of an event.

    ``parse=True`` gives the schema to *parse* JSON with: fields that accept floats are read as double
    (Spark would reject ``1538173362000.0`` for a long) and cast afterwards.
    """
    from pyspark.sql import types as T

    spark_types = {"long": T.LongType(), "string": T.StringType(), "double": T.DoubleType()}
    return T.StructType(
        [
            T.StructField(f.name, T.DoubleType() if (parse and f.accepts_float) else spark_types[f.kind], True)
            for f in FIELDS
        ]
    )


def arrow_schema():
    """Arrow schema of an event, for local files and pandas."""
    import pyarrow as pa

    arrow_types = {"long": pa.int64(), "string": pa.string(), "double": pa.float64()}
    return pa.schema([pa.field(f.name, arrow_types[f.kind], nullable=True) for f in FIELDS])

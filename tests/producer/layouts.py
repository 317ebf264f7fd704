"""Named views of the producer's plain tuples (it yields plain tuples for speed; tests read them by name)."""
from __future__ import annotations

from typing import Any, NamedTuple

from producer.stream import items
from producer.verdicts import line_verdict


class Verdict(NamedTuple):
    """A ``producer.verdicts.Verdict`` tuple, named."""

    status: str
    event: dict[str, Any] | None
    reason: str | None = None
    detail: str | None = None


class Item(NamedTuple):
    """One tuple of ``producer.stream.items``, named."""

    pos: int
    action: str
    ts: int
    raw: bytes
    verdict: Verdict
    source: str
    lineno: int


def named_verdict(raw: bytes) -> Verdict:
    return Verdict._make(line_verdict(raw))


def named_items(*args):
    """``items`` with named fields."""
    return (Item._make(t)._replace(verdict=Verdict._make(t[4])) for t in items(*args))

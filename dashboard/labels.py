"""Words for feature names, shared with the other services through ``contracts.features`` when present.

The feature module is written by another engineer; until it exists (or if it lacks a label) a feature
name is shown with its underscores turned into spaces, so the page never breaks on a new feature.
"""
from __future__ import annotations

try:  # defensive: contracts.features may not exist yet, or may not define FEATURE_LABELS
    from contracts.features import FEATURE_LABELS as _LABELS  # type: ignore[attr-defined]
except Exception:  # noqa: BLE001 - any import problem means "no labels", never a broken page
    _LABELS = {}
try:
    from contracts.features import KEY_FEATURES as _KEY  # type: ignore[attr-defined]
except Exception:  # noqa: BLE001
    _KEY = ()

#: The activity figures the drill-down shows first (from ``contracts.features`` when it defines them).
KEY_FEATURES: tuple[str, ...] = tuple(_KEY) if isinstance(_KEY, (tuple, list)) else ()


def feature_label(name: str) -> str:
    """Human words for a model feature."""
    label = _LABELS.get(name) if isinstance(_LABELS, dict) else None
    return str(label) if label else name.replace("_", " ")

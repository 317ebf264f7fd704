"""Per-browser-session risk changes: how much each user's risk moved since this session first showed it.

The page keeps ``seen`` (user id -> first risk shown) in ``st.session_state``; a browser reload starts a
new session and so a new baseline. The dict is capped so a long-open tab cannot grow without bound.
"""
from __future__ import annotations

from typing import Iterable, MutableMapping

MAX_TRACKED = 5000


def risk_changes(rows: Iterable[tuple[str, float]], seen: MutableMapping[str, float]) -> list[float]:
    """Risk minus the first risk this session saw for each (user, risk); a first sighting counts as 0."""
    out = []
    for user_id, risk in rows:
        if user_id not in seen:
            if len(seen) >= MAX_TRACKED:
                seen.pop(next(iter(seen)))  # forget the oldest sighting
            seen[user_id] = risk
        out.append(risk - seen[user_id])
    return out

"""Parse the event-time bounds of ``--from`` / ``--until``: epoch milliseconds or ISO date/time."""
from __future__ import annotations

from datetime import datetime, timezone


def parse_event_time(text: str) -> int:
    """``1538352117000`` (epoch ms), ``2018-10-01`` or ``2018-10-01T12:30[:00][+02:00]`` -> epoch ms.

    ISO values without a zone are UTC, like the ``ts`` values of the logs.
    """
    s = text.strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither epoch milliseconds nor an ISO date/time (e.g. 2018-10-01T12:00)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)

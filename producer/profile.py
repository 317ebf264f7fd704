"""Profile a Sparkify event log: the statistics that say whether a log looks like the public mini log.

One streaming pass over the lines (never the whole file in memory), each line classified with
``contracts.validation.classify``; malformed lines are counted by reason and the first few kept with
their source and line number. ``MINI_REFERENCE`` holds the published figures of the mini log (design
notes section 5) so that a simulated log can be compared with it (``compare``).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from contracts.schema import CANCEL_PAGE
from contracts.validation import classify
from producer.logfiles import Line

MAX_EXAMPLES = 10

MINI_PAGE_COUNTS: dict[str, int] = {
    "NextSong": 228_108, "Home": 14_457, "Thumbs Up": 12_551, "Add to Playlist": 6_526, "Add Friend": 4_277,
    "Roll Advert": 3_933, "Login": 3_241, "Logout": 3_226, "Thumbs Down": 2_546, "Downgrade": 2_055,
    "Help": 1_726, "Settings": 1_514, "About": 924, "Upgrade": 499, "Save Settings": 310, "Error": 258,
    "Submit Upgrade": 159, "Submit Downgrade": 63, "Cancel": 52, "Cancellation Confirmation": 52,
    "Register": 18, "Submit Registration": 5,
}
#: The public mini log (mini_sparkify_event_data.json), as published; see design notes section 5.
MINI_REFERENCE: dict[str, Any] = {
    "events": 286_500,
    "users": 225,
    "churned_users": 52,
    "churn_rate": 52 / 225,
    "first_day": "2018-10-01",
    "last_day": "2018-12-03",
    "days": 63,
    "page_counts": MINI_PAGE_COUNTS,
    "auth_counts": {"Logged In": 278_102, "Logged Out": 8_249, "Guest": 97, "Cancelled": 52},
    "paid_share": 0.80,  # of events (the published figure; logged-in events give about the same)
    "paid_share_logged_in": 0.80,
    "sessions_per_user_mean": 14.1,
    "sessions_per_user_max": 107,
    "songs_per_session": 72.0,
    "songs_per_session_free": 31.0,
    "songs_per_session_paid": 103.0,
    "song_length_mean": 249.0,
    "song_length_sd": 99.0,
    "gender_counts": {"F": 104, "M": 121},
}


@dataclass
class Malformed:
    source: str
    lineno: int
    reason: str
    detail: str


@dataclass
class Profile:
    """Accumulates statistics line by line; ``summary()`` gives the figures."""
    lines: int = 0
    events: int = 0
    malformed: int = 0
    malformed_reasons: Counter = field(default_factory=Counter)
    malformed_examples: list[Malformed] = field(default_factory=list)
    pages: Counter = field(default_factory=Counter)
    auths: Counter = field(default_factory=Counter)
    levels: Counter = field(default_factory=Counter)
    levels_logged_in: Counter = field(default_factory=Counter)
    ts_min: int | None = None
    ts_max: int | None = None
    sessions: dict = field(default_factory=lambda: defaultdict(set))  # userId -> {sessionId}
    session_levels: dict = field(default_factory=lambda: defaultdict(set))  # level -> {(userId, sessionId)}
    songs_by_level: Counter = field(default_factory=Counter)
    churned: set = field(default_factory=set)
    gender: dict = field(default_factory=dict)
    _len_n: int = 0
    _len_mean: float = 0.0
    _len_m2: float = 0.0

    def add(self, line: Line) -> None:
        self.lines += 1
        verdict = classify(line.raw)
        if not verdict.ok:
            self.malformed += 1
            self.malformed_reasons[verdict.reason] += 1
            if len(self.malformed_examples) < MAX_EXAMPLES:
                self.malformed_examples.append(Malformed(line.source, line.lineno, verdict.reason or "",
                                                         verdict.detail or ""))
            return
        ev = verdict.event
        self.events += 1
        page = ev["page"]
        self.pages[page] += 1
        auth, level = ev.get("auth"), ev.get("level")
        self.auths[auth] += 1
        self.levels[level] += 1
        ts = ev["ts"]
        if self.ts_min is None or ts < self.ts_min:
            self.ts_min = ts
        if self.ts_max is None or ts > self.ts_max:
            self.ts_max = ts
        if verdict.status != "valid":
            return
        uid = ev["userId"]
        if auth == "Logged In":
            self.levels_logged_in[level] += 1
        sid = ev.get("sessionId")
        self.sessions[uid].add(sid)
        self.session_levels[level].add((uid, sid))
        if page == "NextSong":
            self.songs_by_level[level] += 1
            length = ev.get("length")
            if length is not None:
                self._len_n += 1
                delta = length - self._len_mean
                self._len_mean += delta / self._len_n
                self._len_m2 += delta * (length - self._len_mean)
        elif page == CANCEL_PAGE:
            self.churned.add(uid)
        if ev.get("gender") is not None:
            self.gender[uid] = ev["gender"]

    def summary(self) -> dict[str, Any]:
        """The figures, as plain JSON-able values (the keys of ``MINI_REFERENCE`` where they overlap)."""
        import datetime as dt

        n_users = len(self.sessions)
        n_sessions = sum(len(s) for s in self.sessions.values())
        songs = sum(self.songs_by_level.values())
        per_user = [len(s) for s in self.sessions.values()]
        logged_in = sum(self.levels_logged_in.values())

        def day(ms: int | None) -> str | None:
            return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).date().isoformat()

        def ratio(a: float, b: float) -> float | None:
            return a / b if b else None

        return {
            "lines": self.lines,
            "events": self.events,
            "malformed": self.malformed,
            "malformed_reasons": dict(self.malformed_reasons),
            "malformed_examples": [vars(m) for m in self.malformed_examples],
            "users": n_users,
            "churned_users": len(self.churned),
            "churn_rate": ratio(len(self.churned), n_users),
            "first_day": day(self.ts_min),
            "last_day": day(self.ts_max),
            "days": None if self.ts_min is None else math.ceil((self.ts_max - self.ts_min) / 86_400_000),
            "page_counts": dict(self.pages.most_common()),
            "page_shares": {p: c / self.events for p, c in self.pages.most_common()},
            "auth_counts": dict(self.auths.most_common()),
            "level_counts": dict(self.levels.most_common()),
            "paid_share": ratio(self.levels.get("paid", 0), self.events),
            "paid_share_logged_in": ratio(self.levels_logged_in.get("paid", 0), logged_in),
            "sessions_per_user_mean": ratio(n_sessions, n_users),
            "sessions_per_user_max": max(per_user, default=0),
            "songs_per_session": ratio(songs, n_sessions),
            "songs_per_session_free": ratio(self.songs_by_level.get("free", 0), len(self.session_levels.get("free", ()))),
            "songs_per_session_paid": ratio(self.songs_by_level.get("paid", 0), len(self.session_levels.get("paid", ()))),
            "song_length_mean": self._len_mean if self._len_n else None,
            "song_length_sd": math.sqrt(self._len_m2 / (self._len_n - 1)) if self._len_n > 1 else None,
            "gender_counts": dict(Counter(self.gender.values()).most_common()),
        }


def profile(lines: Iterable[Line]) -> dict[str, Any]:
    """Profile a stream of lines (see ``producer.logfiles.iter_lines``)."""
    acc = Profile()
    for line in lines:
        acc.add(line)
    return acc.summary()


def comparison_rows(summary: dict[str, Any], reference: dict[str, Any] = MINI_REFERENCE,
                    top_pages: int = 22) -> list[tuple[str, float, float, float | None]]:
    """(metric, reference, this log, relative difference) for the headline figures and page shares."""
    rows: list[tuple[str, float, float, float | None]] = []

    def add(name: str, ref: float | None, val: float | None) -> None:
        if ref is None or val is None:
            return
        rows.append((name, float(ref), float(val), (val - ref) / ref if ref else None))

    for key in ("events", "users", "churned_users", "churn_rate", "paid_share", "paid_share_logged_in",
                "sessions_per_user_mean", "sessions_per_user_max", "songs_per_session", "songs_per_session_free",
                "songs_per_session_paid", "song_length_mean", "song_length_sd"):
        add(key, reference.get(key), summary.get(key))
    ref_total = sum(reference["page_counts"].values())
    shares = summary.get("page_shares", {})
    for page, count in sorted(reference["page_counts"].items(), key=lambda kv: -kv[1])[:top_pages]:
        add(f"share {page}", count / ref_total, shares.get(page, 0.0))
    for key, counts in (("auth", reference["auth_counts"]),):
        total = sum(counts.values())
        got = summary.get("auth_counts", {})
        got_total = sum(got.values()) or 1
        for name, c in counts.items():
            add(f"{key} {name}", c / total, got.get(name, 0) / got_total)
    return rows

"""A tiny, hand-made Sparkify-like event log for tests (not the product simulator).

Users have an activity rate, a thumbs-down rate and a level; free users see more adverts; the daily
cancellation hazard rises with thumbs-down and adverts, so behaviour carries real churn signal. It writes
the same truth file the simulator writes (``contracts.truth``), so the best-possible forecast can be tested.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from contracts.truth import UserTruth, truth_path, write_truth

START_MS = 1_538_352_000_000  # 2018-10-01 00:00 UTC
DAY_MS = 86_400_000


def user_event(uid: str, ts: int, page: str, session: int, item: int, level: str, gender: str = "F",
               first: str = "Ann", last: str = "Lee", registration: int | None = None, length: float | None = None,
               auth: str = "Logged In", location: str = "Austin, TX") -> dict:
    """One identified event with all 18 fields."""
    return {"ts": int(ts), "userId": uid, "sessionId": session, "page": page, "auth": auth,
            "method": "PUT" if page in ("Thumbs Up", "Thumbs Down", "Logout") else "GET", "status": 200,
            "level": level, "itemInSession": item, "location": location, "userAgent": "Mozilla/5.0",
            "lastName": last, "firstName": first,
            "registration": START_MS - 30 * DAY_MS if registration is None else registration,
            "gender": gender, "artist": "A" if page == "NextSong" else None,
            "song": "S" if page == "NextSong" else None,
            "length": (length if length is not None else 240.0) if page == "NextSong" else None}


def hidden_event(ts: int, session: int, item: int) -> dict:
    return {"ts": int(ts), "userId": "", "sessionId": session, "page": "Home", "auth": "Logged Out",
            "method": "GET", "status": 200, "level": "free", "itemInSession": item, "location": None,
            "userAgent": None, "lastName": None, "firstName": None, "registration": None, "gender": None,
            "artist": None, "song": None, "length": None}


def make_log(n_users: int, days: int, seed: int) -> tuple[list[dict], list[UserTruth]]:
    """Events (time-ordered) and the latent truth of ``n_users`` users over ``days`` days."""
    rng = np.random.default_rng(seed)
    events: list[dict] = []
    truths: list[UserTruth] = []
    session_id = 0
    for u in range(n_users):
        uid = str(1000 + u)
        gender = "M" if rng.random() < 0.5 else "F"
        level = "paid" if rng.random() < 0.6 else "free"
        registration = START_MS - int(rng.uniform(1, 200) * DAY_MS)
        sessions_per_day = float(np.exp(rng.normal(-0.3, 0.6)))
        # a fifth of the users are frustrated (many thumbs down, a high hazard): a signal a few hundred users can show
        td = float(rng.beta(6, 34)) if rng.random() < 0.2 else float(rng.beta(1.5, 60))
        tu = float(rng.beta(3, 40))
        hazard = {lv: float(0.0005 + 0.25 * td + (0.006 if lv == "free" else 0.0)) for lv in ("free", "paid")}
        truth = UserTruth(uid, "fake", 90.0, 86400.0 / sessions_per_day, registration,
                          level_history=[[START_MS, level]], daily_hazard=hazard)
        first, last = f"F{u}", f"L{u}"
        loc = ["Austin, TX", "Boston, MA", "Reno, NV"][u % 3]
        kw = dict(gender=gender, first=first, last=last, registration=registration, location=loc)
        cancelled = False
        for d in range(days):
            day0 = START_MS + d * DAY_MS
            n_sessions = rng.poisson(sessions_per_day)
            starts = np.sort(rng.uniform(0, DAY_MS - 4 * 3600_000, n_sessions)).astype(np.int64)
            for s_start in starts:
                session_id += 1
                t = int(day0 + s_start) // 1000 * 1000
                item = 0
                if rng.random() < 0.2:  # begins logged out
                    events.append(hidden_event(t, session_id, item))
                    item, t = item + 1, t + 1000
                else:
                    events.append(user_event(uid, t, "Home", session_id, item, level, **kw))
                    item, t = item + 1, t + 5000
                for _ in range(rng.poisson(12 if level == "paid" else 6) + 1):
                    events.append(user_event(uid, t, "NextSong", session_id, item, level, **kw,
                                             length=float(rng.normal(240, 60))))
                    item, t = item + 1, t + 240_000
                    r = rng.random()
                    if r < td:
                        events.append(user_event(uid, t, "Thumbs Down", session_id, item, level, **kw))
                        item, t = item + 1, t + 2000
                    elif r < td + tu:
                        events.append(user_event(uid, t, "Thumbs Up", session_id, item, level, **kw))
                        item, t = item + 1, t + 2000
                    if rng.random() < (0.08 if level == "free" else 0.002):
                        events.append(user_event(uid, t, "Roll Advert", session_id, item, level, **kw))
                        item, t = item + 1, t + 30_000
                if level == "free" and rng.random() < 0.03:
                    events.append(user_event(uid, t, "Submit Upgrade", session_id, item, level, **kw))
                    level = "paid"
                    truth.level_history.append([t + 1, level])
                    item, t = item + 1, t + 1000
                elif level == "paid" and rng.random() < 0.01:
                    events.append(user_event(uid, t, "Downgrade", session_id, item, level, **kw))
                    events.append(user_event(uid, t + 1000, "Submit Downgrade", session_id, item + 1, level, **kw))
                    level = "free"
                    truth.level_history.append([t + 1001, level])
                    item, t = item + 2, t + 2000
                if rng.random() < 1 - np.exp(-hazard[level] / max(sessions_per_day, 1e-3)):
                    events.append(user_event(uid, t, "Cancel", session_id, item, level, **kw))
                    events.append(user_event(uid, t + 1000, "Cancellation Confirmation", session_id, item + 1,
                                             level, **{**kw}, auth="Cancelled"))
                    truth.cancel_ts = t + 1000
                    cancelled = True
                    break
                if rng.random() < 0.3:
                    events.append(user_event(uid, t, "Logout", session_id, item, level, **kw))
            if cancelled:
                break
        truths.append(truth)
    events.sort(key=lambda e: e["ts"])
    return events, truths


def write_log(path: str | Path, n_users: int, days: int, seed: int) -> Path:
    """Write a fake log (JSON lines) and its truth file beside it; returns the log path."""
    path = Path(path)
    events, truths = make_log(n_users, days, seed)
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, separators=(",", ":")) + "\n")
    write_truth(truth_path(path), truths)
    return path

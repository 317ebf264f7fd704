"""Tiny hand-made Sparkify logs for the replay tests (no simulator needed, seconds to write)."""
from __future__ import annotations

import json
import random
from pathlib import Path

T0 = 1_538_352_000_000  # 2018-10-01T00:00:00Z
PAGES = ("NextSong", "NextSong", "NextSong", "Home", "Thumbs Up", "Add to Playlist", "Logout")


def event(ts: int, user: str, session: int, page: str = "NextSong", item: int = 0) -> dict:
    song = page == "NextSong"
    return {"ts": ts, "userId": user, "sessionId": session, "page": page,
            "auth": "Logged In" if user else "Logged Out", "method": "PUT" if song else "GET", "status": 200,
            "level": "free", "itemInSession": item, "location": "Bakersfield, CA" if user else None,
            "userAgent": "Mozilla/5.0" if user else None, "lastName": "Doe" if user else None,
            "firstName": "Jo" if user else None, "registration": T0 - 86_400_000 if user else None,
            "gender": "F" if user else None, "artist": "Some Artist" if song else None,
            "song": "Some Song" if song else None, "length": 200.5 if song else None}


def make_events(n: int, users: int = 20, seed: int = 0, t0: int = T0, step_ms: int = 1000,
                hidden_every: int = 0) -> list[dict]:
    """``n`` events in ts order over ``users`` users; every ``hidden_every``-th one is hidden (userId "")."""
    rng = random.Random(seed)
    out = []
    ts = t0
    for i in range(n):
        ts += rng.randint(0, step_ms)
        if hidden_every and i % hidden_every == hidden_every - 1:
            out.append(event(ts, "", 900 + i % 3, "Home", i))
        else:
            u = rng.randrange(users)
            out.append(event(ts, str(u + 1), 100 + u, rng.choice(PAGES), i))
    return out


def write_log(path: Path, events: list[dict], bad_lines: dict[int, bytes] | None = None) -> list[bytes]:
    """Write events as JSON lines (with ``bad_lines`` inserted before the given indexes); return the good lines."""
    bad_lines = bad_lines or {}
    good = [json.dumps(e, separators=(",", ":")).encode() for e in events]
    with open(path, "wb") as fh:
        for i, line in enumerate(good):
            if i in bad_lines:
                fh.write(bad_lines[i] + b"\n")
            fh.write(line + b"\n")
    return good


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list:
    """Every committed record of ``topic`` (all partitions, from the start, read_committed as every reader of the
    replay's topics must) until ``expected`` arrived or time runs out."""
    import time

    from confluent_kafka import Consumer, KafkaError

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}-{random.random()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "enable.partition.eof": False,
                  "isolation.level": "read_committed"})
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + timeout
    idle_until = None
    try:
        while time.monotonic() < deadline:
            msgs = c.consume(5000, timeout=0.5)
            for m in msgs:
                if m.error() is None:
                    out.append(m)
                elif m.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(m.error())
            if len(out) >= expected:
                # keep reading briefly: a duplicate would show up as more than expected
                idle_until = idle_until or time.monotonic() + 1.0
                if time.monotonic() >= idle_until:
                    break
    finally:
        c.close()
    return out

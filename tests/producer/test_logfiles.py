"""The log loader: simulator output, eventsim-style copies, .gz, folders, globs and garbage lines."""
from __future__ import annotations

import gzip
import json
import random

import pytest

from contracts.validation import classify
from producer.logfiles import LogPathError, expand_paths, iter_lines
from producer.simulator import SimConfig, generate

EVENTSIM_STYLE = [  # alphabetical keys, explicit nulls, float registration (other copies of eventsim output)
    {"artist": "Martha Tilston", "auth": "Logged In", "firstName": "Colin", "gender": "M", "itemInSession": 50,
     "lastName": "Freeman", "length": 277.89016, "level": "paid", "location": "Bakersfield, CA", "method": "PUT",
     "page": "NextSong", "registration": 1538173362000.0, "sessionId": 29, "song": "Rockpools", "status": 200,
     "ts": 1538352117000, "userAgent": "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0",
     "userId": "30"},
    {"artist": None, "auth": "Logged Out", "firstName": None, "gender": None, "itemInSession": 0, "lastName": None,
     "length": None, "level": "free", "location": None, "method": "GET", "page": "Home", "registration": None,
     "sessionId": 31, "song": None, "status": 200, "ts": 1538352118000, "userAgent": None, "userId": ""},
    {"artist": None, "auth": "Cancelled", "firstName": "Ann", "gender": "F", "itemInSession": 3, "lastName": "Lee",
     "length": None, "level": "free", "location": "Raleigh, NC", "method": "GET",
     "page": "Cancellation Confirmation", "registration": 1537000000000.0, "sessionId": 7, "song": None,
     "status": 200, "ts": 1538352119000, "userAgent": "Mozilla/5.0", "userId": "100010"},
]


def test_reads_simulator_output_plain_and_gz(tmp_path):
    result = generate(SimConfig(users=10, days=5, seed=2, workers=1), tmp_path / "sim.json.gz")
    raw = gzip.decompress(result.path.read_bytes()).splitlines()
    lines = list(iter_lines([result.path]))
    assert [x.raw for x in lines] == raw and len(lines) == result.events
    assert [x.lineno for x in lines] == list(range(1, len(raw) + 1))
    assert all(classify(x.raw).ok for x in lines)
    # the truth file beside the log is not a log
    assert expand_paths([tmp_path]) == [result.path]


def test_reads_eventsim_style_copies(tmp_path):
    path = tmp_path / "eventsim.json"
    path.write_text("\n".join(json.dumps(e) for e in EVENTSIM_STYLE) + "\n")
    verdicts = [classify(x.raw) for x in iter_lines([path])]
    assert [v.status for v in verdicts] == ["valid", "hidden", "valid"]
    assert verdicts[0].event["registration"] == 1538173362000.0


def test_garbage_lines_are_reported_and_the_rest_loads(tmp_path):
    rng = random.Random(7)
    good = [json.dumps(EVENTSIM_STYLE[i % 3] | {"ts": 1538352117000 + 1000 * i}) for i in range(2000)]
    garbage = [b"\x00\xff binary", b"{not json", b"[]", b'{"ts": 1538352117000}', b"x" * 70_000,
               b'{"ts": 1538352117000, "page": "Moonwalk"}']
    lines: list[bytes] = []
    bad_at: list[int] = []
    for g in good:
        lines.append(g.encode())
        if rng.random() < 0.01:
            lines.append(rng.choice(garbage))
            bad_at.append(len(lines))
    lines.insert(10, b"   ")  # blank lines are skipped, line numbers stay true
    bad_at = [n + 1 if n > 10 else n for n in bad_at]
    path = tmp_path / "dirty.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    loaded, bad = [], []
    for x in iter_lines([str(tmp_path / "*.json")]):
        v = classify(x.raw)
        (loaded if v.ok else bad).append((x.source, x.lineno, v.reason))
    assert 10 <= len(bad_at) <= 40
    assert [(s, n) for s, n, _ in bad] == [(str(path), n) for n in bad_at]
    assert len(loaded) == len(good)


def test_missing_paths_are_one_line_errors(tmp_path):
    with pytest.raises(LogPathError, match="no such file"):
        expand_paths([tmp_path / "nope.json"])
    with pytest.raises(LogPathError, match="no file matches"):
        expand_paths([str(tmp_path / "*.json")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(LogPathError, match="no log files"):
        expand_paths([tmp_path / "empty"])

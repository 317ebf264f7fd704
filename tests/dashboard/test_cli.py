"""``python -m dashboard``: help, one-line errors, and the seed command against a real Redis."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def test_help_exits_0_and_names_the_flags():
    out = run("--help")
    assert out.returncode == 0 and "--host" in out.stdout and "--port" in out.stdout and "seed" in out.stdout


@pytest.mark.parametrize("args,env,needle", [
    (("--port", "70000"), {}, "--port 70000 is not a TCP port"),
    ((), {"SPARKIFY_DASHBOARD_PORT": "abc"}, "SPARKIFY_DASHBOARD_PORT='abc' is not a valid int"),
    (("seed", "--users", "-3"), {}, "--users must be >= 0"),
])
def test_bad_input_is_one_line_without_traceback(args, env, needle):
    out = run(*args, **env)
    assert out.returncode == 2
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.integration
def test_seed_writes_users_into_redis(redis_server, redis_client):
    out = run("seed", "--users", "40", SPARKIFY_REDIS_URL=redis_server.url, SPARKIFY_REDIS_PREFIX="cli")
    assert out.returncode == 0, out.stderr
    assert redis_client.zcard("cli:risk") + redis_client.zcard("cli:churned") == 40
    assert redis_client.hget("cli:model", "version") == "seed-1"


def test_seed_into_a_missing_redis_is_one_line():
    out = run("seed", "--users", "5", SPARKIFY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert out.returncode == 2 and "cannot write to Redis" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("args,needle", [
    (("export", "--out", "x.csv"), "the following arguments are required: --min-risk"),
    (("export", "--min-risk", "high", "--out", "x.csv"), "argument --min-risk: invalid float value: 'high'"),
    (("export", "--min-risk", "0.8", "--max-risk", "0.2", "--out", "x.csv"), "minimum risk 0.8 is above the maximum 0.2"),
    (("export", "--min-risk", "1.5", "--out", "x.csv"), "risk bounds must be between 0 and 1"),
    (("export", "--min-risk", "0.5", "--level", "gold", "--out", "x.csv"), "unknown level 'gold'"),
    (("export", "--min-risk", "0.5", "--band", "hot", "--out", "x.csv"), "unknown band 'hot'"),
    (("export", "--min-risk", "0.5", "--out", "/no/such/folder/x.csv"), "folder /no/such/folder does not exist"),
])
def test_export_bad_arguments_are_one_line(args, needle):
    out = run(*args)
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_export_from_a_missing_redis_is_one_line(tmp_path):
    out = run("export", "--min-risk", "0.5", "--out", str(tmp_path / "t.csv"),
              SPARKIFY_REDIS_URL=f"redis://:secret@127.0.0.1:{free_port()}/0")
    assert out.returncode == 2 and "cannot read Redis at redis://:***@127.0.0.1" in out.stderr
    assert "Traceback" not in out.stderr and "secret" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "t.csv").exists()


@pytest.mark.integration
def test_export_writes_the_filtered_users(redis_server, redis_client, tmp_path):
    import csv

    from contracts.redis_keys import RedisKeys
    from dashboard.seed import seed

    result = seed(redis_client, RedisKeys("exp"), 600, seed=4)
    target = tmp_path / "targets.csv"
    out = run("export", "--min-risk", "0.3", "--max-risk", "0.7", "--level", "paid", "--out", str(target),
              SPARKIFY_REDIS_URL=redis_server.url, SPARKIFY_REDIS_PREFIX="exp")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(target.open()))
    expected = sorted((u for u in result.active if u.level == "paid" and 0.3 <= u.risk <= 0.7), key=lambda u: -u.risk)
    assert [r["id"] for r in rows] == [u.user_id for u in expected] and len(rows) > 20
    assert f"wrote {len(rows):,} users to {target}" in out.stdout
    cancelled = tmp_path / "cancelled.csv"
    out = run("export", "--min-risk", "0", "--status", "cancelled", "--out", str(cancelled),
              SPARKIFY_REDIS_URL=redis_server.url, SPARKIFY_REDIS_PREFIX="exp")
    assert out.returncode == 0, out.stderr
    assert {r["id"] for r in csv.DictReader(cancelled.open())} == {u.user_id for u in result.users if u.churned}

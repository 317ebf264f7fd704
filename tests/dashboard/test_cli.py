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

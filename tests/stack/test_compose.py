"""The compose file is valid, every service runs a command that exists, every setting it uses is documented."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from contracts.redis_keys import RedisKeys
from contracts.settings import documented_env_vars
from devstack.services import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
KAFKA3 = ROOT / "scripts" / "compose" / "kafka3.yml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose not installed (make setup installs it)")
@pytest.mark.parametrize("files", [[], ["-f", str(KAFKA3)]], ids=["kafka1", "kafka3"])
@pytest.mark.parametrize("profile", [[], ["--profile", "cluster"]], ids=["default", "cluster"])
def test_compose_file_validates(profile, files):
    result = subprocess.run(["docker-compose", "-f", str(COMPOSE), *files, *profile, "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _python_module_calls(command) -> list[list[str]]:
    """Every `python -m ...` invocation in a service command (list form or inside `sh -c`)."""
    text = " ".join(command) if isinstance(command, list) else command
    calls = []
    for part in re.split(r";|&&|\|\||\bthen\b|\belse\b|\bfi\b", text):
        words = shlex.split(part.replace("$$", "$"), posix=True) if "python" in part else []
        if "python" in words and "-m" in words:
            i = words.index("-m")
            calls.append(words[i + 1:])
    return calls


def test_every_service_command_exists():
    checked = 0
    for name, svc in _services().items():
        for call in _python_module_calls(svc.get("command") or []):
            module, rest = call[0], call[1:]
            sub = [rest[0]] if rest and not rest[0].startswith("-") and module == "producer" else []
            help_out = subprocess.run([sys.executable, "-m", module, *sub, "--help"], capture_output=True,
                                      text=True, cwd=ROOT, timeout=120)
            assert help_out.returncode == 0, f"{name}: python -m {module} {' '.join(sub)} --help failed: {help_out.stderr}"
            for opt in (w for w in rest if w.startswith("--")):
                assert opt in help_out.stdout, f"{name}: {module} {' '.join(sub)} has no option {opt}"
            checked += 1
    assert checked >= 5


def test_every_referenced_setting_is_documented():
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{?\$?(SPARKIFY_[A-Z0-9_]+)", text)) | set(re.findall(r"^\s+(SPARKIFY_[A-Z0-9_]+):", text, re.M))
    known = set(documented_env_vars())
    readme = (ROOT / "docs" / "configuration.md").read_text()
    assert used, "the compose file uses no settings?"
    assert not used - known, f"not settings: {sorted(used - known)}"
    assert not {v for v in used if v not in readme}, f"not in docs/configuration.md: {sorted(v for v in used if v not in readme)}"


def test_base_image_defaults_agree():
    """The Dockerfile's ARG defaults and the compose file's ${VAR:-default} are the same upstream images."""
    dockerfile = dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M))
    compose = dict(re.findall(r"\$\{(\w+_IMAGE):-([^}]+)\}", COMPOSE.read_text()))
    assert set(dockerfile) == {"PYTHON_IMAGE", "MAVEN_IMAGE"}
    assert set(compose) == {"PYTHON_IMAGE", "MAVEN_IMAGE", "KAFKA_IMAGE", "REDIS_IMAGE"}
    assert {k: compose[k] for k in dockerfile} == dockerfile


# ---- the stack for real: `make test-compose` (podman + docker-compose v1, scripts/compose/test.sh) ----------
LIVE = os.environ.get("COMPOSE_LIVE_TEST") == "1" and bool(os.environ.get("DOCKER_HOST"))
ARTIFACTS = ROOT / "artifacts" / "compose"
KEYS = RedisKeys()


class Stack:
    """One compose project with a set of profiles: up, commands inside its services, logs, down."""

    def __init__(self, name: str, profiles: list[str], env: dict[str, str], files: tuple[Path, ...] = ()):
        self.name, self.profiles, self.env, self.files = name, profiles, env, (COMPOSE, *files)
        self.timings: dict[str, float] = {}

    def compose(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker-compose", *[a for f in self.files for a in ("-f", str(f))],
               *[a for p in self.profiles for a in ("--profile", p)], *args]
        result = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[3:])} failed ({result.returncode}): {result.stderr[-3000:]}")
        return result

    def up(self) -> None:
        start = time.monotonic()
        self.compose("up", "-d", "--build", timeout=1200)
        self.timings["up_s"] = round(time.monotonic() - start, 1)

    def down(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        logs = self.compose("logs", "--no-color", "--tail", "400", timeout=120, check=False)
        (ARTIFACTS / f"{self.name}.log").write_text(logs.stdout + logs.stderr)
        self.compose("down", "-v", "--remove-orphans", timeout=300, check=False)

    def exec(self, service: str, *cmd: str, timeout: float = 60) -> str:
        return self.compose("exec", "-T", service, *cmd, timeout=timeout).stdout

    def redis(self, *cmd: str) -> str:
        return self.exec("redis", "redis-cli", "--no-auth-warning", *cmd).strip()

    def state(self, service: str) -> str:
        """The State column of `docker-compose ps` ("Up", "Exit 0", ...), "" when there is no container."""
        out = self.compose("ps", service, check=False).stdout.splitlines()
        for row in reversed([line for line in out[2:] if line.strip()]):  # the Command column may hold 2 spaces
            states = [f for f in re.split(r"\s{2,}", row.strip()) if re.match(r"(Up|Exit|Restarting|Paused)\b", f)]
            if states:
                return states[0]
        return ""

    def url_json(self, service: str, url: str) -> dict:
        code = f"import urllib.request,sys; sys.stdout.write(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
        return json.loads(self.exec(service, "python", "-c", code))


def _wait(what: str, probe, timeout: float, stack: Stack, every: float = 3.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (AssertionError, subprocess.TimeoutExpired, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r}); "
                         f"logs in {ARTIFACTS / (stack.name + '.log')}")


def _log_users_and_events(stack: Stack) -> tuple[int, int]:
    code = ("import glob,json; lines=[l for f in sorted(glob.glob('/data/log/*.json')) for l in open(f) if l.strip()]; "
            "print(len(lines), len({json.loads(l).get('userId') for l in lines} - {'', None}))")
    events, users = stack.exec("streaming", "python", "-c", code, timeout=120).split()
    return int(users), int(events)


def _replayed_and_scored(stack: Stack) -> dict:
    """Waits until the replay exited 0, streaming counted every line of the log and scored every user."""
    _wait("the replay finished", lambda: stack.state("producer") == "Exit 0" or None, 900, stack)
    users, events = _log_users_and_events(stack)
    _wait(f"streaming read all {events} events",
          lambda: int(stack.redis("HGET", KEYS.health, "events_in") or 0) >= events or None, 600, stack)
    health = dict(zip(*[iter(stack.redis("HGETALL", KEYS.health).splitlines())] * 2))
    scored = _wait(f"{users} users scored",
                   lambda: (lambda n: n if n >= users else None)(
                       int(stack.redis("ZCARD", KEYS.ranking)) + int(stack.redis("ZCARD", KEYS.churned))), 300, stack)
    assert int(health["events_in"]) == events, health  # no event counted twice
    assert scored == users
    return {"users": users, "events": events}


def _dashboard_shows_top_user(stack: Stack, port: int) -> Path:
    from playwright.sync_api import expect

    from devstack.screenshot import browser_page

    top = stack.redis("ZREVRANGE", KEYS.ranking, "0", "0")
    assert top, "no active user in the ranking"
    shot = ARTIFACTS / f"dashboard-{stack.name}.png"
    with browser_page(height=1800) as page:
        page.goto(f"http://127.0.0.1:{port}", wait_until="domcontentloaded")
        grid = page.get_by_test_id("stDataFrame").first
        expect(grid.get_by_test_id("glide-cell-1-0")).to_have_text(top, timeout=90_000)
        expect(page.get_by_text(f"User {top}", exact=False).first).to_be_visible(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 30_000
    return shot


def _env(port: int) -> dict[str, str]:
    return dict(os.environ, SPARKIFY_DASHBOARD_PUBLISH=f"127.0.0.1:{port}",
                SPARKIFY_DEMO_USERS=os.environ.get("SPARKIFY_DEMO_USERS", "300"),
                SPARKIFY_DEMO_DAYS=os.environ.get("SPARKIFY_DEMO_DAYS", "30"),
                SPARKIFY_REPLAY_SPEED=os.environ.get("SPARKIFY_REPLAY_SPEED", "200000"))


@pytest.fixture
def stack_for(request):
    made: list[Stack] = []

    def make(name: str, profiles: list[str], port: int, files: tuple[Path, ...] = ()) -> Stack:
        stack = Stack(name, profiles, _env(port), files)
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)  # leftovers of a killed run
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.down()


def _report(stack: Stack, **figures) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"profile": stack.name, **stack.timings, **figures})
    with open(ARTIFACTS / "timings.jsonl", "a") as f:
        f.write(line + "\n")
    print(line)


def live(test):
    """Marks a test that runs the stack for real (skipped outside `make test-compose`)."""
    for mark in (pytest.mark.integration, pytest.mark.slow, pytest.mark.browser,
                 pytest.mark.skipif(not LIVE, reason="the live compose run needs `make test-compose` (podman, images)")):
        test = mark(test)
    return test


@live
def test_live_default_profile(stack_for):
    port = free_port()
    stack = stack_for("default", [], port)
    stack.up()
    start = time.monotonic()
    counts = _replayed_and_scored(stack)
    stack.timings["up_to_scored_s"] = round(stack.timings["up_s"] + time.monotonic() - start, 1)
    shot = _dashboard_shows_top_user(stack, port)
    _report(stack, screenshot=str(shot.relative_to(ROOT)), **counts)


#: What a run leaves in Redis, read inside the streaming container (it holds the model): every user's hash
#: fields, packed raw aggregates, and the largest difference between its stored risk and the model applied to its
#: raw aggregates at its own ``as_of``; the user alerts in feed order; the alert kinds; the health hash.
_STATE_DUMP = """
import collections, json, os, numpy as np, redis
from contracts.artifact import load_artifact
from contracts.features import model_features
from contracts.raw_codec import unpack
from contracts.redis_keys import ALERT_KIND_USER, AlertEntry, RedisKeys
k = RedisKeys()
r = redis.Redis.from_url(os.environ['SPARKIFY_REDIS_URL'], password=os.environ.get('SPARKIFY_REDIS_PASSWORD') or None,
                         decode_responses=True)
fields = ('risk', 'n_events', 'churned', 'level', 'as_of', 'alerting')
users = {key[len(k.user_prefix):]: r.hmget(key, *fields) for key in r.scan_iter(k.user_prefix + '*', count=1000)}
raw = r.hgetall(k.raw)
ids = sorted(set(users) & set(raw))
art = load_artifact(os.environ['SPARKIFY_MODEL_DIR'])
frame = unpack(ids, [raw[u] for u in ids])
as_of = np.array([int(users[u][4]) for u in ids], dtype='int64')
want = art.predict(model_features(frame, as_of, art.epoch_ms)[list(art.feature_names)])
got = np.array([float(users[u][0]) for u in ids])
feed = [AlertEntry.from_hash(f) for _, f in r.xrange(k.alerts)]
print(json.dumps({'users': users, 'raw': raw, 'threshold': art.threshold,
                  'rescored_worst': float(np.max(np.abs(got - want))) if ids else 0.0,
                  'user_alerts': [[e.user, e.direction, e.as_of] for e in feed if e.kind == ALERT_KIND_USER],
                  'alert_kinds': collections.Counter(e.kind for e in feed),
                  'health': r.hgetall(k.health)}))
"""


def _redis_state(stack: Stack) -> dict:
    return json.loads(stack.exec("streaming", "python", "-c", _STATE_DUMP, timeout=180))


def _assert_consistent(state: dict, run: str) -> None:
    """One run's state is what the model says of the log, and its alert feed follows its scores.

    Every user's stored risk is the model applied to its raw aggregates at its own ``as_of``; per user, alerts
    alternate up/down starting with up, none is raised twice for one score, and an active user at or above the
    threshold has its latest alert up.
    """
    users = state["users"]
    assert set(state["raw"]) == set(users), f"{run}: users without raw aggregates or the reverse"
    assert state["rescored_worst"] <= 1e-9, f"{run}: a stored risk differs from the model's by {state['rescored_worst']}"
    seen: set[tuple[str, str, int]] = set()
    last: dict[str, str] = {}
    for user, direction, as_of in state["user_alerts"]:
        assert (user, direction, as_of) not in seen, f"{run}: alert raised twice: {user} {direction} at {as_of}"
        seen.add((user, direction, as_of))
        assert direction == ("down" if last.get(user) == "up" else "up"), f"{run}: {user}: {direction} after {last.get(user)}"
        last[user] = direction
    for uid, (risk, _, churned, _, _, alerting) in users.items():
        if churned == "0" and float(risk) >= state["threshold"]:
            assert alerting == "1" and last.get(uid) == "up", f"{run}: {uid} at {risk} without an up alert"


def _assert_same_state(faulted: dict, clean: dict) -> dict:
    """The faulted run read the same events into the same aggregates, and each run's scores follow from them.

    Scores are as of the micro-batch clock (a user's ``as_of``), and where batches end depends on timing, so two
    runs without faults differ there too: risks are compared where the two ``as_of`` are the same; elsewhere each
    run's risk must be the model's at its own ``as_of`` (:func:`_assert_consistent`). The raw aggregates do not
    depend on batches: they must agree to 1e-9. The alert count depends on the scores a user passed through, so
    it is reported, not compared.
    """
    from contracts.raw_codec import unpack

    for state, run in ((clean, "clean"), (faulted, "faulted")):
        _assert_consistent(state, run)
    assert set(faulted["users"]) == set(clean["users"]), "different users"
    assert {u: v[1:4] for u, v in faulted["users"].items()} == {u: v[1:4] for u, v in clean["users"].items()}, \
        "per-user event counts, churn or level differ"
    ids = sorted(clean["raw"])
    a = unpack(ids, [clean["raw"][u] for u in ids]).drop(columns="userId")
    b = unpack(ids, [faulted["raw"][u] for u in ids]).drop(columns="userId")
    for column in a.columns:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        if x.dtype == object:
            assert list(x) == list(y), f"raw aggregate {column} differs"
        else:
            same = (x == y) | (np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=1e-9, atol=1e-9)
            assert same.all(), f"raw aggregate {column} differs for {np.array(ids)[~same][:5]}"
    same_as_of = [u for u in ids if clean["users"][u][4] == faulted["users"][u][4]]
    worst = max((abs(float(faulted["users"][u][0]) - float(clean["users"][u][0])) for u in same_as_of), default=0.0)
    assert worst <= 1e-9, f"risks at the same as_of differ by up to {worst}"
    for field in ("events_in", "valid_events", "dead_letters"):
        assert faulted["health"].get(field) == clean["health"].get(field), field
    return {"users_same_as_of": len(same_as_of), "alerts_clean": len(clean["user_alerts"]),
            "alerts_faulted": len(faulted["user_alerts"])}


def _cluster_runs_the_job(stack: Stack) -> dict:
    """The master's JSON: two live workers, the streaming app running, its executors on both workers."""
    master = stack.url_json("spark-master", "http://spark-master:8080/json/")
    alive = [w for w in master["workers"] if w["state"] == "ALIVE"]
    apps = [a for a in master["activeapps"] if a["name"] == "sparkify-streaming" and a["state"] == "RUNNING"]
    assert len(alive) == 2, master["workers"]
    assert len(apps) == 1, master["activeapps"]
    hosts = []
    for worker in alive:
        info = stack.url_json("spark-master", f"{worker['webuiaddress']}/json/")
        assert any(e["appid"] == apps[0]["id"] for e in info["executors"]), (worker["host"], info["executors"])
        hosts.append(worker["host"])
    return {"workers": sorted(hosts), "app": apps[0]["id"]}


def _reset_keeping_log_and_model(stack: Stack) -> None:
    """Down, and forget everything the replay and streaming wrote (Kafka, checkpoints, Redis, resume state)."""
    stack.compose("down", timeout=300)
    project = stack.env.get("COMPOSE_PROJECT_NAME", "sparkify-compose-test")
    for volume in ("redis-data", "checkpoints", "kafka-data", "kafka-2-data", "kafka-3-data"):
        subprocess.run(["podman", "volume", "rm", "-f", f"{project}_{volume}"], capture_output=True, timeout=60)
    stack.compose("run", "--rm", "-T", "--no-deps", "data", "sh", "-c", "rm -rf /data/.local", timeout=120)


@live
def test_live_cluster_profile_and_faults(stack_for):
    port = free_port()
    stack = stack_for("cluster", ["cluster"], port, (KAFKA3,))
    stack.env["SPARKIFY_REPLAY_SPEED"] = os.environ.get("COMPOSE_FAULT_REPLAY_SPEED", "20000")
    stack.up()
    start = time.monotonic()
    counts = _replayed_and_scored(stack)
    stack.timings["up_to_scored_s"] = round(stack.timings["up_s"] + time.monotonic() - start, 1)
    cluster = _wait("executors on both workers", lambda: _cluster_runs_the_job(stack), 120, stack)
    clean = _redis_state(stack)
    _report(stack, **counts, **cluster, alerts=len(clean["user_alerts"]))

    # the same log and model again, with one broker and one Spark worker killed in the middle of the replay
    _reset_keeping_log_and_model(stack)
    stack.up()
    start = time.monotonic()
    # mid-replay: the replay has been sending for a while (on a loaded machine the streaming job can lag it
    # by a minute, so its counters do not say where the replay is)
    _wait("the replay running", lambda: stack.state("producer").startswith("Up") or None, 600, stack, every=1.0)
    time.sleep(float(os.environ.get("COMPOSE_FAULT_AFTER_S", "20")))
    assert stack.state("producer").startswith("Up"), "the replay ended before the faults"
    stack.compose("kill", "kafka-2", "spark-worker-2")
    killed_at = int(stack.redis("HGET", KEYS.health, "events_in") or 0)
    time.sleep(15)
    stack.compose("start", "kafka-2", "spark-worker-2", timeout=300)
    _replayed_and_scored(stack)
    stack.timings["up_to_scored_s"] = round(stack.timings["up_s"] + time.monotonic() - start, 1)
    faulted = _redis_state(stack)
    compared = _assert_same_state(faulted, clean)
    stack.name = "faults"
    _report(stack, killed_at_events=killed_at, **counts, **compared)

"""Security: every component authenticates to a password-protected Redis from SPARKIFY_REDIS_PASSWORD, no secret
is in the code, the compose file or a log, Kafka security settings reach the producer, and the dashboard binds
to loopback unless told otherwise.

Passwords here are random per run, so a leak found in a log can only come from the run itself.
"""
from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis

from contracts.redis_keys import RedisKeys
from contracts.settings import Settings
from contracts.validation import classify
from devstack.services import RedisServer, free_port
from tests.reliability.common import (ROOT, job_cmd, job_env, model_for_log, start_job, synthetic_model,
                                      wait_exit)
from tests.streaming.helpers import log_lines, produce_lines, simulate_log

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(900)]

#: a literal assignment to a password-like name, in code (`name = "..."`), dicts and JSON (`"name": "..."`), YAML and
#: env files (`NAME: ...`, `NAME=...`). Groups: the name, the opening quote of the value if any, the value.
SECRET_ASSIGNMENT = re.compile(
    r"""(?ix)(password|passwd|pwd|secret|token|api[_-]?key|sasl[_.]password)["']?\s*[:=]\s*(["']?)"""
    r"""(?!\$\{|\s|["']|os\.environ|settings\.|self\.|args\.|none|null|true|false|<|\*|\{)([^"'\s,)}]{6,})""")
#: an unquoted value that refers to a secret instead of being one: an ENV_NAME, a lower-case variable or attribute
#: (`tmp_path`, `cfg.redis_password`), or a value computed by a call or subscript (`secrets.token_urlsafe(18)`,
#: `os.getenv(...)`, `env[...]`). A quoted value is a string literal and is never allowed.
NOT_A_LITERAL = re.compile(r"[A-Z][A-Z0-9_]*|[a-z_.]+|[A-Za-z_][A-Za-z0-9_.]*[(\[].*")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}")


@pytest.fixture
def locked_redis(tmp_path):
    password = secrets.token_urlsafe(18)
    server = RedisServer("redis", free_port(), tmp_path / "redis", password=password).start()
    yield server, password
    server.stop()


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / p for p in out if not p.endswith((".png", ".jpg", ".gz", ".jar", ".pkl", ".joblib", ".parquet"))]


def secret_findings(text: str) -> list[tuple[int, str]]:
    """(line number, what) for every literal secret assignment and private or cloud key in ``text``."""
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in SECRET_ASSIGNMENT.finditer(line):
            quote, value = m.group(2), m.group(3)
            if quote or not NOT_A_LITERAL.fullmatch(value):
                found.append((lineno, line.strip()[:120]))
        if PRIVATE_KEY.search(line):
            found.append((lineno, "private key or cloud key"))
    return found


def test_no_secret_literals_in_code_or_compose():
    hits = []
    files = _tracked_text_files() + [ROOT / "docker-compose.yml"]
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except (OSError, IsADirectoryError):
            continue
        hits += [f"{path.relative_to(ROOT)}:{lineno}: {what}" for lineno, what in secret_findings(text)]
    assert len(files) > 50 and ROOT / "tests" / "reliability" / "test_security.py" in files  # this file is scanned
    assert not hits, "\n".join(hits)


#: literals the scan must flag. The password-like name is written as `{k}` and filled in at run time, so that this
#: file, which the scan reads like any other, holds none of them as written.
PLANTED = [('redis_{k} = "hunter2hunter2"', "pass" "word"), ("SPARKIFY_REDIS_{k}: s3cr3tvalue", "PASS" "WORD"),
           ('{{"sasl.{k}": "abcdef123"}}', "pass" "word"), ("{k}='xoxb-1234567890'", "to" "ken"),
           ('{k} = "changeme"', "pass" "word"), ("API_{k}=AbC123xYz789", "K" "EY"),
           ("-----BEGIN RSA PRIVATE {k}-----", "K" "EY"), ("aws_key = AKIA{k}", "ABCDEFGHIJ012345")]
#: values that refer to a secret, or compute one, and are fine
FINE = ["SPARKIFY_REDIS_PASSWORD: ${SPARKIFY_REDIS_PASSWORD:-}", "password=settings.redis_password",
        'kw["password"] = self.redis_password', "password = secrets.token_urlsafe(18)",
        'token = os.environ["SPARKIFY_TOKEN"]', 'pwd = os.getenv("SPARKIFY_PWD", "")', "password: <your password>",
        "password = cfg.redis_password", "secret = tmp_path / 'secret'", "SPARKIFY_REDIS_PASSWORD=REDIS_PASSWORD"]


def test_the_scan_finds_a_planted_secret(tmp_path):
    """The scan above must be able to fail: it flags the kinds of literal it is there to catch, line by line and in
    a file read the way the scan reads tracked files, and lets through values that are not literals."""
    planted = [template.format(k=k) for template, k in PLANTED]
    for line in planted:
        assert secret_findings(line), line
    leaky = tmp_path / "leaky.py"
    leaky.write_text("\n".join(["import os", *planted, *FINE]) + "\n")
    assert [lineno for lineno, _ in secret_findings(leaky.read_text())] == list(range(2, len(planted) + 2))
    for line in FINE:
        assert not secret_findings(line), line


def test_compose_file_takes_secrets_from_the_environment_only():
    compose = (ROOT / "docker-compose.yml").read_text()
    for line in compose.splitlines():
        if re.search(r"PASSWORD\s*:", line):
            assert re.search(r":\s*\$\{[A-Z_]+(:-)?\}\s*$", line), line


def test_streaming_job_and_dashboard_authenticate_with_the_password_and_never_log_it(locked_redis, kafka_broker,
                                                                                    tmp_path):
    server, password = locked_redis
    with pytest.raises(redis.AuthenticationError):  # the server really is locked
        redis.Redis(port=server.port).ping()
    log = simulate_log(tmp_path / "sim.json", users=8, days=5, seed=31)
    lines = log_lines(log)
    topic, prefix = f"sec-{uuid.uuid4().hex[:8]}", "sec"
    produce_lines(kafka_broker.bootstrap, topic, lines)
    model_dir = model_for_log(log, tmp_path / "models")
    env = job_env(prefix, SPARKIFY_REDIS_PASSWORD=password)

    job_log = tmp_path / "job.log"
    proc = start_job(job_cmd(kafka_broker.bootstrap, topic, server.url, model_dir, tmp_path / "ckpt", 5000,
                             extra=("--log-level", "DEBUG")), env, job_log)
    assert wait_exit(proc, 600, job_log) == 0, job_log.read_text(errors="replace")[-2000:]
    client = server.client()
    keys = RedisKeys(prefix)
    assert int(client.hget(keys.health, "events_in")) == len(lines)
    users = {v.event["userId"] for v in map(classify, lines) if v.status == "valid"}
    assert client.zcard(keys.ranking) + client.zcard(keys.churned) == len(users) > 0  # executors' writers too

    seed = subprocess.run([sys.executable, "-m", "dashboard", "seed", "--users", "5"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**env, "SPARKIFY_REDIS_URL": server.url,
                                                       "SPARKIFY_REDIS_PREFIX": "dash"})
    assert seed.returncode == 0, seed.stderr
    from dashboard.data import snapshot

    settings = Settings.from_env({"SPARKIFY_REDIS_URL": server.url, "SPARKIFY_REDIS_PASSWORD": password})
    # the client the page builds (dashboard/app.py redis_client), then the page's data layer through it
    client_like_page = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=2.0,
                                            **dict(tuple(sorted(settings.redis_kwargs().items()))))
    snap = snapshot(client_like_page, RedisKeys(prefix))
    assert not snap.empty and snap.top and snap.headline.active_users + snap.headline.churned == len(users)

    wrong = subprocess.run([sys.executable, "-m", "dashboard", "seed", "--users", "1"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env={**env, "SPARKIFY_REDIS_URL": server.url,
                                                        "SPARKIFY_REDIS_PASSWORD": "not-" + password})
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    for text in (job_log.read_text(errors="replace"), seed.stdout, seed.stderr, wrong.stdout, wrong.stderr):
        assert password not in text
    assert "streaming: batch" in job_log.read_text(errors="replace")  # the job did log (at --log-level DEBUG)


def test_job_with_a_wrong_password_fails_fast_with_one_line(locked_redis, kafka_broker, tmp_path):
    """A wrong password is not an outage: no 10-minute retry loop, exit 2 with one line and no secret in it."""
    server, password = locked_redis
    model_dir = synthetic_model(tmp_path / "models", 1538352000000)
    wrong = "wrong-" + secrets.token_hex(8)
    started = time.monotonic()
    run = subprocess.run(job_cmd(kafka_broker.bootstrap, "nothing", server.url, model_dir, tmp_path / "ckpt", 100),
                         cwd=ROOT, env=job_env("x", SPARKIFY_REDIS_PASSWORD=wrong), capture_output=True, text=True,
                         timeout=400)
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert run.returncode == 2 and len(errors) == 1 and "Redis" in errors[0], run.stderr[-1500:]
    assert wrong not in run.stderr + run.stdout and password not in run.stderr + run.stdout
    assert time.monotonic() - started < 300


def test_kafka_security_settings_reach_the_producer_and_the_spark_source():
    from producer.kafka_out import client_config, producer_config

    s = Settings.from_env({"SPARKIFY_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SPARKIFY_KAFKA_SASL_MECHANISM": "PLAIN",
                           "SPARKIFY_KAFKA_SASL_USERNAME": "u", "SPARKIFY_KAFKA_SASL_PASSWORD": "p-" + uuid.uuid4().hex,
                           "SPARKIFY_KAFKA_SSL_CAFILE": "/ca.pem"})
    for cfg in (client_config(s), producer_config(s)):
        assert cfg["security.protocol"] == "SASL_SSL" and cfg["sasl.password"] == s.kafka_sasl_password
        assert cfg["ssl.ca.location"] == "/ca.pem"
    opts = s.spark_kafka_options()
    assert opts["kafka.security.protocol"] == "SASL_SSL" and s.kafka_sasl_password in opts["kafka.sasl.jaas.config"]
    assert s.kafka_sasl_password not in repr(s)  # a logged settings object shows no secret
    job_source = (ROOT / "streaming" / "job.py").read_text()
    assert "options(**s.spark_kafka_options())" in job_source  # the source reads with them (and dead letters too)
    dead_letters = job_source.split("def _dead_letters", 1)[1]
    assert "spark_kafka_options()" in dead_letters and "spark_kafka_options(sink=True)" in dead_letters  # read, write


def test_dashboard_binds_loopback_by_default(tmp_path):
    from dashboard.cli import _parser

    assert Settings.from_env({}).dashboard_host == "127.0.0.1"
    assert _parser(Settings.from_env({})).parse_args([]).host == "127.0.0.1"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SPARKIFY_DASHBOARD_HOST"}
    env.update(SPARKIFY_DASHBOARD_PORT=str(port), SPARKIFY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    proc = subprocess.Popen([sys.executable, "-m", "dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        listening: list = []
        while time.monotonic() < deadline and not listening:
            assert proc.poll() is None, "dashboard exited"
            procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            listening = [c for p in procs for c in p.net_connections("inet")
                         if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
            time.sleep(0.5)
        assert listening, "the dashboard never listened"
        assert {c.laddr.ip for c in listening} <= {"127.0.0.1", "::1"}
        with socket.socket() as s:  # reachable on loopback
            assert s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(timeout=10)


def _audit_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sparkify_audit", ROOT / "scripts" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_audit_says_when_nothing_was_audited_and_fails_on_a_vulnerable_pin():
    """`make audit` (scripts/audit.py) on pip-audit's JSON: all pins skipped is one UNREACHABLE line, not a pass."""
    audit = _audit_module()
    skipped = [{"name": n, "skip_reason": f"{audit.NOT_FOUND} and could not be audited: {n} (1.0)"} for n in "abc"]
    status, lines = audit.verdict({"dependencies": skipped, "fixes": []})
    assert status == 0 and len(lines) == 1 and lines[0].startswith("audit: UNREACHABLE") and " 3 " in lines[0]

    vuln = {"id": "PYSEC-2099-1", "fix_versions": ["2.0"], "aliases": ["CVE-2099-1"], "description": "x"}
    status, lines = audit.verdict({"dependencies": [{"name": "d", "version": "1.0", "vulns": [vuln]}, *skipped]})
    assert status == 1 and lines[0] == "d==1.0: PYSEC-2099-1 (CVE-2099-1); fixed in 2.0", lines
    assert "1 known vulnerabilities in 1 of 1 audited pins" in lines[-1] and "not audited" in lines[-1]

    status, lines = audit.verdict({"dependencies": [{"name": "d", "version": "1.0", "vulns": []}, skipped[0]]})
    assert status == 0 and lines == ["audit: no known vulnerabilities in 1 audited pins; not audited "
                                     "(dependency not found on pypi): a"]


def test_audit_ignore_entries_need_a_reason():
    audit = _audit_module()
    assert audit.read_ignores(audit.IGNORE_FILE.read_text()) == {}  # the project's file: nothing accepted today
    assert audit.read_ignores("# note\n\nGHSA-xxxx-1 not reachable: we never parse untrusted YAML\n") == {
        "GHSA-xxxx-1": "not reachable: we never parse untrusted YAML"}
    with pytest.raises(ValueError, match="PYSEC-2099-1 has no reason"):
        audit.read_ignores("PYSEC-2099-1\n")


def test_audit_without_network_is_one_unreachable_line_and_a_crash_is_an_error(monkeypatch, capsys):
    audit = _audit_module()
    for stderr, status, stream in [
            ("Traceback ...\nrequests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org', port=443): "
             "Max retries exceeded (Caused by NameResolutionError(...))", 0, "out"),
            ("Traceback ...\nKeyError: 'info'", 2, "err")]:
        monkeypatch.setattr(audit.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", stderr))
        assert audit.main() == status
        out = capsys.readouterr()
        text = out.out if stream == "out" else out.err
        assert len(text.strip().splitlines()) == 1, text
        assert text.startswith("audit: UNREACHABLE" if status == 0 else "audit: error: pip-audit exited 1"), text

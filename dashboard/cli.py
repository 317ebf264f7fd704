"""``python -m dashboard``: serve the page (default), ``seed`` fake users, or ``screenshot`` the page.

Serving goes through Streamlit's own CLI entry point, with the host and port from the flags or from
``Settings`` (``SPARKIFY_DASHBOARD_HOST`` / ``_PORT``, loopback by default, so the page is not exposed
unless asked). Errors a user can fix print one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contracts.settings import Settings, SettingsError

APP = Path(__file__).resolve().parent / "app.py"


def _parser(settings: Settings) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description=(
        "Live churn-risk dashboard over the streaming job's Redis state. Without a command it serves the page."))
    p.add_argument("--host", default=settings.dashboard_host, help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=settings.dashboard_port, help="port to serve on (default %(default)s)")
    sub = p.add_subparsers(dest="command", metavar="{serve,seed,screenshot}")
    sub.add_parser("serve", help="serve the dashboard (the default)")
    s = sub.add_parser("seed", help="write N fake scored users into Redis (demo, screenshots)")
    s.add_argument("--users", type=int, default=2000, help="how many users (default %(default)s)")
    s.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    s.add_argument("--threshold", type=float, default=0.5, help="model threshold to publish (default %(default)s)")
    s.add_argument("--artifact-dir", default="", help="model artifact folder to publish in the model hash")
    shot = sub.add_parser("screenshot", help="seed a throwaway Redis, serve, and save a PNG of the page")
    shot.add_argument("--out", type=Path, default=Path("docs/dashboard.png"), help="PNG path (default %(default)s)")
    shot.add_argument("--users", type=int, default=22_000, help="users to seed (default %(default)s)")
    return p


def serve(host: str, port: int) -> int:
    """Run ``streamlit run dashboard/app.py`` in this process (headless, no usage statistics)."""
    from streamlit.web import cli as stcli

    sys.argv = ["streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
                "--server.headless", "true", "--browser.gatherUsageStats", "false",
                "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer", "--global.developmentMode", "false"]
    return stcli.main()


def seed_command(settings: Settings, users: int, seed: int, threshold: float, artifact_dir: str) -> int:
    import redis

    from contracts.redaction import redact_url
    from contracts.redis_keys import RedisKeys
    from dashboard.seed import seed as write

    if users < 0 or not 0 < threshold < 1:
        print("error: --users must be >= 0 and --threshold between 0 and 1", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, **settings.redis_kwargs())
    try:
        write(client, RedisKeys(settings.redis_prefix), users, seed=seed, threshold=threshold, artifact_dir=artifact_dir)
    except redis.RedisError as exc:
        print(f"error: cannot write to Redis at {redact_url(settings.redis_url)}: {exc}", file=sys.stderr)
        return 2
    print(f"seeded {users} users under prefix '{settings.redis_prefix}'")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = _parser(settings).parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
        return 2
    if args.command == "seed":
        return seed_command(settings, args.users, args.seed, args.threshold, args.artifact_dir)
    if args.command == "screenshot":
        from dashboard.screenshot import main as shoot

        return shoot(args.out, args.users)
    return serve(args.host, args.port)

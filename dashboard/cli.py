"""``python -m dashboard``: serve the page (default), ``seed`` fake users, or ``export`` a target list as CSV.

(The README screenshot is made by ``python -m devstack.screenshot``: it starts local services, which the
dashboard does not.)

Serving goes through Streamlit's own CLI entry point, with the host and port from the flags or from
``Settings`` (``SPARKIFY_DASHBOARD_HOST`` / ``_PORT``, loopback by default, so the page is not exposed
unless asked). Errors a user can fix print one line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contracts.settings import Settings, settings_or_report

APP = Path(__file__).resolve().parent / "app.py"


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (no usage block), exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


def _parser(settings: Settings) -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dashboard", description=(
        "Live churn-risk dashboard over the streaming job's Redis state. Without a command it serves the page."))
    p.add_argument("--host", default=settings.dashboard_host, help="address to bind (default %(default)s)")
    p.add_argument("--port", type=int, default=settings.dashboard_port, help="port to serve on (default %(default)s)")
    sub = p.add_subparsers(dest="command", metavar="{serve,seed,export}")
    sub.add_parser("serve", help="serve the dashboard (the default)")
    s = sub.add_parser("seed", help="write N fake scored users into Redis (demo, screenshots)")
    s.add_argument("--users", type=int, default=2000, help="how many users (default %(default)s)")
    s.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    s.add_argument("--threshold", type=float, default=0.5, help="model threshold to publish (default %(default)s)")
    s.add_argument("--artifact-dir", default="", help="model artifact folder to publish in the model hash")
    e = sub.add_parser("export", help="write the users matching a filter as CSV (the page's target list)")
    e.add_argument("--min-risk", type=float, required=True, help="lowest risk, 0-1")
    e.add_argument("--max-risk", type=float, default=1.0, help="highest risk, 0-1 (default %(default)s)")
    e.add_argument("--level", action="append", default=[], help="subscription level (free or paid; repeatable)")
    e.add_argument("--band", action="append", default=[], help="risk band (low, medium or high; repeatable)")
    e.add_argument("--status", default="active", help="active (default) or cancelled (risk before cancelling)")
    e.add_argument("--out", type=Path, required=True, help="CSV file to write")
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


def export_command(settings: Settings, min_risk: float, max_risk: float, levels: list[str], bands: list[str],
                   status: str, out: Path) -> int:
    import redis

    from contracts.redis_keys import RedisKeys
    from dashboard.data import DEFAULT_THRESHOLD, parse_model
    from dashboard.export import write_csv_file
    from dashboard.formatting import redact_url
    from dashboard.targets import LEVELS, FilterError, TargetFilter, TargetReader

    try:
        filt = TargetFilter(min_risk, max_risk, tuple(bands), tuple(levels), status).check()
    except FilterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if unknown := [lv for lv in levels if lv not in LEVELS]:
        print(f"error: unknown level {unknown[0]!r} (one of {', '.join(LEVELS)})", file=sys.stderr)
        return 2
    if not out.parent.is_dir():
        print(f"error: --out {out}: folder {out.parent} does not exist", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=30,
                                  **settings.redis_kwargs())
    keys = RedisKeys(settings.redis_prefix)
    try:
        model = parse_model(client.hgetall(keys.model))
        threshold = model.threshold if model else DEFAULT_THRESHOLD
        n = write_csv_file(TargetReader(client, keys).iter_all(filt, threshold), out)
    except redis.RedisError as exc:
        print(f"error: cannot read Redis at {redact_url(settings.redis_url)}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {n:,} users to {out} (prefix '{settings.redis_prefix}', threshold {threshold:.2f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = settings_or_report()
    if settings is None:
        return 2
    args = _parser(settings).parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a TCP port (1-65535)", file=sys.stderr)
        return 2
    if args.command == "seed":
        return seed_command(settings, args.users, args.seed, args.threshold, args.artifact_dir)
    if args.command == "export":
        return export_command(settings, args.min_risk, args.max_risk, args.level, args.band, args.status, args.out)
    return serve(args.host, args.port)

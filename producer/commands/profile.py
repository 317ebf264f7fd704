"""`python -m producer profile`: statistics of event logs, optionally compared with the mini log."""
from __future__ import annotations

import argparse
import json
import sys

from producer.cli import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("profile", help="statistics of event logs (streamed; malformed lines counted)",
                              description="Profile JSON-lines event logs (files, .gz, folders, globs): events, "
                                          "users, churn, pages, auth/level, sessions, songs, malformed lines.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--compare", choices=["mini"], help="print a table against the published mini-log figures")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(run=run)


def _fmt(value: float) -> str:
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:,.1f}"


def format_text(summary: dict) -> str:
    """A human-readable report of a profile summary."""
    s = summary
    out = [f"events {s['events']:,} (lines {s['lines']:,}, malformed {s['malformed']:,})",
           f"users {s['users']:,}, churned {s['churned_users']:,}"
           + (f" ({100 * s['churn_rate']:.1f}%)" if s["churn_rate"] is not None else ""),
           f"days {s['first_day']} .. {s['last_day']} ({s['days']} days)"]
    if s["events"]:
        out.append("pages:")
        for page, count in s["page_counts"].items():
            out.append(f"  {page:<26} {count:>12,} {100 * s['page_shares'][page]:6.2f}%")
        out.append("auth: " + ", ".join(f"{k} {v:,}" for k, v in s["auth_counts"].items()))
        out.append("level (events): " + ", ".join(f"{k} {v:,}" for k, v in s["level_counts"].items()))
        for key in ("paid_share", "paid_share_logged_in", "sessions_per_user_mean", "sessions_per_user_max",
                    "songs_per_session", "songs_per_session_free", "songs_per_session_paid", "song_length_mean",
                    "song_length_sd"):
            if s.get(key) is not None:
                out.append(f"{key.replace('_', ' ')}: {_fmt(s[key])}")
        out.append("gender (users): " + ", ".join(f"{k} {v:,}" for k, v in s["gender_counts"].items()))
    if s["malformed"]:
        out.append("malformed lines: " + ", ".join(f"{k} {v:,}" for k, v in s["malformed_reasons"].items()))
        for m in s["malformed_examples"]:
            out.append(f"  {m['source']}:{m['lineno']}: {m['reason']}: {m['detail']}")
        if s["malformed"] > len(s["malformed_examples"]):
            out.append(f"  ... and {s['malformed'] - len(s['malformed_examples']):,} more")
    return "\n".join(out)


def format_comparison(rows) -> str:
    out = [f"{'metric':<34} {'mini log':>12} {'this log':>12} {'diff':>8}"]
    for name, ref, val, rel in rows:
        diff = "" if rel is None else f"{100 * rel:+.0f}%"
        out.append(f"{name:<34} {_fmt(ref):>12} {_fmt(val):>12} {diff:>8}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from producer.logfiles import LogPathError, iter_lines
    from producer.profile import comparison_rows, profile

    try:
        summary = profile(iter_lines(args.paths))
    except LogPathError as exc:
        raise UserError(str(exc)) from None
    except (OSError, EOFError) as exc:  # e.g. a truncated or corrupt .gz
        raise UserError(f"cannot read the log: {exc}") from None
    if args.json:
        if args.compare:
            summary = {**summary, "compare": {"reference": args.compare, "rows": [
                {"metric": n, "reference": r, "value": v, "relative_diff": d}
                for n, r, v, d in comparison_rows(summary)]}}
        print(json.dumps(summary, separators=(",", ":")))
        return 0
    print(format_text(summary))
    if args.compare:
        print()
        print(format_comparison(comparison_rows(summary)))
    if summary["malformed"]:
        print(f"{summary['malformed']:,} malformed line(s) skipped", file=sys.stderr)
    return 0

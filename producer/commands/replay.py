"""`python -m producer replay PATH...`: replay event logs into Kafka (see ``producer.replay``).

The Kafka, pacing and resume options are shared with `python -m producer simulate` (``add_send_args``).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from contracts.settings import Settings
from producer.cli import UserError
from producer.kafka_out import BrokerUnreachable
from producer.progress import Progress
from producer.replay import ReplayOptions, StopFlag, run_replay
from producer.stream import StreamOptions
from producer.timeparse import parse_event_time


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "replay", help="replay event logs into Kafka in event-time order",
        description="Replay JSON-lines event logs (files, .gz, folders, globs) into Kafka. Several files are "
                    "merged into one event-time order; each file must be sorted by ts (out-of-order lines are "
                    "counted and sent where they stand).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="log files, .gz files, folders or globs")
    add_send_args(p)
    p.set_defaults(run=run)


def add_send_args(p: argparse.ArgumentParser) -> None:
    """Where to send, how fast, which part, and resume: the options replay and simulate share."""
    p.add_argument("--topic", help="event topic (default: SPARKIFY_TOPIC or sparkify-events)")
    p.add_argument("--partitions", type=int, help="partitions when the topic is created (default: settings)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="event time runs X times faster than wall time")
    pace.add_argument("--rate", type=float, help="events per second")
    pace.add_argument("--max", action="store_true", help="as fast as possible (the default)")
    p.add_argument("--from", dest="from_", metavar="T", help="first event time (ISO date/time or epoch ms)")
    p.add_argument("--until", metavar="T", help="stop before this event time (ISO date/time or epoch ms)")
    p.add_argument("--limit", type=int, help="send at most N events")
    p.add_argument("--loop", action="store_true",
                   help="replay again and again, shifting ts forward by the log's span + 1 s each pass")
    p.add_argument("--dead-letter-topic", metavar="T", help="send invalid lines there (reason in a header)")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: settings)")
    p.add_argument("--resume", action="store_true",
                   help="continue after the last committed event of the previous run of the same input")
    p.add_argument("--state", type=Path, metavar="PATH",
                   help="progress file for --resume (default: <local_state_dir>/replay/<hash of input>.json)")
    p.add_argument("--state-every", type=float, default=1.0, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="give up when no broker answers within S seconds (default 10)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of sending")
    p.add_argument("--progress-every", type=float, metavar="S",
                   help="seconds between progress lines (default: 0.25 on a terminal, 10 otherwise)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line on stdout")
    p.add_argument("--parse-workers", type=int, default=0, metavar="N",
                   help="processes validating lines of inputs over 16 MB (default 0: validate in the main process; "
                        "with orjson, workers cost more CPU than they save on 2 cores)")


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    return settings.replace(kafka_bootstrap=args.bootstrap) if args.bootstrap else settings


def options_from(args: argparse.Namespace, settings: Settings, paths: list[str], **extra: Any) -> ReplayOptions:
    for name in ("speed", "rate", "limit", "partitions", "duration", "connect_timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be > 0 (got {value})")
    try:
        stream = StreamOptions(
            from_ms=parse_event_time(args.from_) if args.from_ else None,
            until_ms=parse_event_time(args.until) if args.until else None,
            limit=args.limit, loop=args.loop)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return ReplayOptions(
        paths=paths, topic=args.topic or settings.topic,
        partitions=args.partitions or settings.topic_partitions,
        speed=args.speed, rate=args.rate, stream=stream, dead_letter_topic=args.dead_letter_topic,
        resume=args.resume, state_path=args.state, state_every_s=args.state_every, duration_s=args.duration,
        connect_timeout_s=args.connect_timeout, parse_workers=max(0, args.parse_workers), **extra)


def execute(opts: ReplayOptions, settings: Settings, args: argparse.Namespace) -> int:
    """Run with Ctrl-C/SIGTERM as a clean stop, print the summary; exit 1 if anything was not committed."""
    stop = StopFlag()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set(signal.Signals(signum).name))
    progress = Progress(interval=args.progress_every)
    try:
        summary = run_replay(opts, settings, stop=stop, progress=progress,
                             note=lambda s: print(f"replay: {s}", file=sys.stderr))
    except (BrokerUnreachable, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(summary.render(), file=sys.stderr)
    if args.json:
        print(summary.to_json(), flush=True)
    if summary.aborted:
        print(f"error: replay stopped: {summary.aborted}; the topic and {summary.state_file} hold what was "
              f"committed before: run the same command with --resume to send the rest", file=sys.stderr)
    return 1 if (summary.failed or summary.unconfirmed or summary.aborted) else 0


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return execute(options_from(args, settings, args.paths), settings, args)

"""`python -m producer generate`: simulate a Sparkify event log (and its latent truth) to a file."""
from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

from producer.cli import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="simulate a Sparkify event log (eventsim's model) to a file",
                              description="Simulate users, sessions and pages with eventsim's model and a "
                                          "mixture of cohorts; write JSON lines sorted by ts (.gz if OUT ends "
                                          "with .gz) and the latent truth beside it (<name>.truth.jsonl).")
    add_simulation_args(p)
    p.add_argument("--out", required=True, help="output file (.json, .jsonl, or .gz)")
    p.set_defaults(run=run)


def add_simulation_args(p: argparse.ArgumentParser) -> None:
    """What to simulate: the options `generate` and `simulate` share (defaults from ``producer.simulator.config``)."""
    from producer.simulator.config import DEFAULT_GROWTH, DEFAULT_PAID_WEIGHT

    p.add_argument("--users", type=int, default=225, help="initial users (default 225)")
    p.add_argument("--days", type=int, default=63, help="days simulated (default 63)")
    p.add_argument("--start", default="2018-10-01", help="first day, YYYY-MM-DD, 00:00 UTC (default 2018-10-01)")
    p.add_argument("--growth", type=float, default=None,
                   help=f"compound annual growth of users (default {DEFAULT_GROWTH:g})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cohorts", default="default",
                   help="cohort mix name=weight,... (names: Accordion, Banjo..Lute, Marimba..Zither); "
                        "default: the mix calibrated to the mini log")
    p.add_argument("--paid-weight", type=float, default=None,
                   help=f"initial users' paid weight against free 10 (default {DEFAULT_PAID_WEIGHT:g}; "
                        f"eventsim's template: 2)")
    p.add_argument("--workers", type=int, default=2, help="simulation processes (default 2)")


def build_config(args: argparse.Namespace):
    """The SimConfig the arguments describe; bad values raise UserError (one line)."""
    from producer.simulator import CohortError, SimConfig, parse_mix
    from producer.simulator.config import DEFAULT_GROWTH, DEFAULT_PAID_WEIGHT

    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise UserError(f"--start {args.start!r} is not a date (YYYY-MM-DD)") from None
    if args.users < 1:
        raise UserError("--users must be at least 1")
    if args.days < 1:
        raise UserError("--days must be at least 1")
    growth = DEFAULT_GROWTH if args.growth is None else args.growth
    if not 0 <= growth <= 100:
        raise UserError("--growth must be between 0 and 100 (a fraction per year, 0.2 = 20%)")
    paid = DEFAULT_PAID_WEIGHT if args.paid_weight is None else args.paid_weight
    if not paid >= 0:
        raise UserError("--paid-weight must be >= 0")
    try:
        mix = parse_mix(args.cohorts)
    except CohortError as exc:
        raise UserError(str(exc)) from None
    return SimConfig(users=args.users, days=args.days, start=start, growth=growth, seed=args.seed,
                     cohorts=mix, paid_weight=paid, workers=max(1, args.workers))


def run(args: argparse.Namespace) -> int:
    from producer.simulator import generate

    config = build_config(args)
    if Path(args.out).is_dir() or args.out.endswith(("/", os.sep)):
        raise UserError(f"--out {args.out} is a folder; give a file name, e.g. {Path(args.out) / 'sim.json'}")
    t0 = time.perf_counter()
    result = generate(config, args.out)
    secs = time.perf_counter() - t0
    print(f"wrote {result.events:,} events of {result.users:,} users ({result.churned:,} churned) to "
          f"{result.path} in {secs:.1f} s ({result.events / max(secs, 1e-9):,.0f} events/s); truth: "
          f"{result.truth_path}")
    return 0

"""`python -m producer simulate`: the simulator streaming straight into Kafka, no file in between.

Same simulation options as `generate` and the same sending options as `replay` (pacing, window, limit,
loop, dead letters, resume). The simulator is deterministic for a config, so positions, and with them
``--resume``, work exactly as for files.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Iterator

from producer.commands.generate import add_simulation_args, build_config
from producer.commands.replay import add_send_args, execute, options_from, settings_from
from producer.merge import Merged, ReadStats
from producer.verdicts import line_verdict


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="simulate Sparkify users straight into Kafka",
                              description="Run the simulator (eventsim's model, see `generate`) and send its "
                                          "events to Kafka in event-time order, like `replay`.")
    add_simulation_args(p)
    add_send_args(p)
    p.set_defaults(run=run)


def simulator_source(config):
    """A ``stream.Source`` running the simulator once per pass."""
    from producer.simulator import simulate

    def one_pass(stats: ReadStats) -> Iterator[Merged]:
        for n, (ts, line) in enumerate(simulate(config), 1):
            stats.lines += 1
            stats.bytes += len(line) + 1
            yield ts, line, line_verdict(line), "simulator", n

    return one_pass


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    settings = settings_from(args)
    identity = {k: (str(v) if not isinstance(v, (int, float, str, dict)) else v)
                for k, v in dataclasses.asdict(config).items() if k != "workers"}
    opts = options_from(args, settings, [], source=simulator_source(config), source_identity={"simulator": identity})
    return execute(opts, settings, args)

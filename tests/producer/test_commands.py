"""`generate` and `simulate` take the same simulation options, with the simulator's own defaults."""
from __future__ import annotations

import argparse

from producer.commands import generate, simulate
from producer.simulator.config import DEFAULT_GROWTH, DEFAULT_PAID_WEIGHT

SIMULATION = ("users", "days", "start", "growth", "seed", "cohorts", "paid_weight", "workers")


def _parser(command) -> argparse.ArgumentParser:
    sub = argparse.ArgumentParser().add_subparsers()
    command.add_parser(sub)
    return next(iter(sub.choices.values()))


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.dest in SIMULATION}


def test_generate_and_simulate_share_the_simulation_options():
    gen, sim = _options(_parser(generate)), _options(_parser(simulate))
    assert set(gen) == set(sim) == set(SIMULATION)
    for name in SIMULATION:
        assert (gen[name].default, gen[name].help, gen[name].type) == (sim[name].default, sim[name].help, sim[name].type)


def test_the_help_states_the_simulators_defaults():
    for command in (generate, simulate):
        help_text = _parser(command).format_help().replace("\n", " ")
        assert f"default {DEFAULT_PAID_WEIGHT:g};" in " ".join(help_text.split())
        assert f"(default {DEFAULT_GROWTH:g})" in " ".join(help_text.split())

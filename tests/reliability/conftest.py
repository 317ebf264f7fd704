"""Reliability-suite reporting (how many hostile inputs were tried, shown in pytest's summary without ``-s``)
and clean-up: no streaming job outlives its test."""
from __future__ import annotations

from collections import Counter

import pytest

#: filled by tests/reliability/test_hostile_input.py: inputs tried per level, and one line per end-to-end run
HOSTILE_TRIED = pytest.StashKey[Counter]()
HOSTILE_NOTES = pytest.StashKey[list]()


@pytest.fixture(autouse=True)
def no_job_left_behind():
    """A test that fails, or that pytest-timeout stops, while a job runs would leave the job (a Spark JVM and
    its Python workers) running into the next tests; kill it after every test, and say so."""
    from tests.reliability.common import kill_leftover_jobs

    yield
    left = kill_leftover_jobs()
    if left:
        print(f"killed {len(left)} job(s) still running after the test: pids {left}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tried = config.stash.get(HOSTILE_TRIED, None)
    if not tried:
        return
    terminalreporter.write_sep("-", "hostile inputs tried")
    for level, n in tried.items():
        terminalreporter.write_line(f"{level}: {n:,}")
    terminalreporter.write_line(f"total: {sum(tried.values()):,}")
    for note in config.stash.get(HOSTILE_NOTES, []):
        terminalreporter.write_line(note)

"""Reliability-suite reporting: how many hostile inputs were tried, shown in pytest's summary (no ``-s`` needed)."""
from __future__ import annotations

from collections import Counter

import pytest

#: filled by tests/reliability/test_hostile_input.py: inputs tried per level, and one line per end-to-end run
HOSTILE_TRIED = pytest.StashKey[Counter]()
HOSTILE_NOTES = pytest.StashKey[list]()


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

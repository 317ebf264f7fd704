"""`python -m producer simulate`: the simulator's events reach Kafka exactly as `simulate()` yields them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from producer.simulator import SimConfig, simulate
from tests.producer.replay_logs import read_topic

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_simulate_streams_the_simulated_log_into_kafka(kafka_broker, topic, tmp_path):
    config = SimConfig(users=4, days=3, seed=5, workers=1)
    expected = [line for _, line in simulate(config)]
    assert expected
    out = subprocess.run([sys.executable, "-m", "producer", "simulate", "--users", "4", "--days", "3", "--seed", "5",
                          "--workers", "1", "--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--json",
                          "--state", str(tmp_path / "s.json")], cwd=ROOT, capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    summary = json.loads(out.stdout.decode().splitlines()[-1])
    assert summary["acknowledged"] == len(expected)
    records = read_topic(kafka_broker.bootstrap, topic, len(expected))
    assert sorted(r.value() for r in records) == sorted(expected)
    assert all(r.timestamp()[1] == json.loads(r.value())["ts"] for r in records)

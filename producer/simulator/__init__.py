"""A Sparkify event-log simulator following eventsim's model (design notes section 4).

Users have per-user rates (alpha = 90 s x L, beta = 7 d x L, L log-normal of mean 1), sessions start
after exponential(beta) + 30 min gaps warped towards 15:00 and thinned on weekends and US holidays, and
pages follow eventsim's transition tables (``tables.py``), with users drawn from a configurable mixture of
cohorts (``cohorts.py``: the template, timing and behaviour variants) so that behaviour carries churn
signal. Output is the exact Sparkify JSON-lines format, globally sorted by ts, and beside it the latent
truth (``contracts.truth``) including each user's exact daily cancellation hazard (``chain.py``).

Python API (for replay and tests)::

    from producer.simulator import SimConfig, simulate, generate

    config = SimConfig(users=225, days=63, start=datetime.date(2018, 10, 1), growth=0.2, seed=1,
                       cohorts={"Accordion": 0.5, "Zither": 0.5}, workers=2)
    for ts_ms, line in simulate(config):   # ts-ordered; line = one JSON object as UTF-8 bytes, no newline
        ...
    result = generate(config, "data/sim.json")   # file (+ data/sim.truth.jsonl); ".gz" => gzip

``simulate(config, truths=None)``: if ``truths`` is a list, the users' ``UserTruth`` records are appended
to it before the first event is yielded. Same config => same events and bytes, whatever ``workers`` is.
The simulation runs in user shards (``workers`` processes) into temporary files in the system temp folder
(as large as the log itself); they are removed when the iterator is exhausted or closed. The first event
comes once every user has been simulated (a few seconds for hundreds of users).
"""
from __future__ import annotations

from typing import Iterator

from contracts.truth import UserTruth
from producer.simulator.cohorts import COHORT_NAMES, DEFAULT_MIX, CohortError, parse_mix
from producer.simulator.config import SimConfig
from producer.simulator.engine import ShardFolder, merged_lines, run_shards, worker_pool
from producer.simulator.output import GenerateResult, generate

__all__ = ["SimConfig", "simulate", "generate", "GenerateResult", "parse_mix", "DEFAULT_MIX", "COHORT_NAMES",
           "CohortError"]


def simulate(config: SimConfig, truths: list[UserTruth] | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(ts_ms, json_line_bytes)`` of the simulated log in ts order (no trailing newline)."""
    pool = worker_pool(config)
    with ShardFolder() as folder:
        try:
            results = run_shards(config, folder, pool)
        finally:
            if pool is not None:
                pool.shutdown()
        if truths is not None:
            truths.extend(t for r in results for t in r.truths)
        for line in merged_lines(results):
            yield int(line[6:19]), line.rstrip(b"\n")

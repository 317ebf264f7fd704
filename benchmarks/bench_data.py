"""Data benchmark (`make bench-data`): simulator throughput and peak memory.

Runs `python -m producer generate` as a child process (2 simulation workers by default) several times and
reports, per run and as the median: wall seconds, events/s, output size, and the peak resident memory of
the whole process tree (parent + workers, sampled every 0.2 s with psutil). The default is the full scale
of the public log (22,278 users, 60 days, ~28M events, ~13 GB); the log and its truth file are left at
--out (data/full/sparkify_full.json) for the training and streaming benchmarks.

Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def one_run(args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "producer", "generate", "--users", str(args.users), "--days", str(args.days),
           "--seed", str(args.seed), "--workers", str(args.workers), "--out", str(args.out)]
    t0 = time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # generate's summary line is on stdout, its errors on stderr: both are read (a few lines, after it exits)
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss(proc))
        except psutil.Error:
            pass
        time.sleep(0.2)
    seconds = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # generate + its (reaped) worker processes
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    out = child.stdout.read() if child.stdout else ""
    if child.returncode != 0:
        sys.exit(f"generate failed ({child.returncode}): {out.strip()[-500:]}")
    m = re.search(r"wrote ([\d,]+) events of ([\d,]+) users \(([\d,]+) churned\)", out)
    events = int(m.group(1).replace(",", "")) if m else 0
    return {"seconds": round(seconds, 1), "events": events, "events_per_s": round(events / seconds),
            "cpu_seconds": round(cpu, 1), "events_per_cpu_s": round(events / max(cpu, 1e-9)),
            # the wall time the same CPU work needs on 2 idle cores (the machine is shared: see load average)
            "idle_2core_seconds_est": round(cpu / 2, 1),
            "peak_rss_mb": round(peak / 2**20), "bytes": Path(args.out).stat().st_size,
            "users": int(m.group(2).replace(",", "")) if m else None,
            "churned": int(m.group(3).replace(",", "")) if m else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=22_278)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "full" / "sparkify_full.json")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"generate --users {args.users} --days {args.days} --workers {args.workers}, {args.runs} run(s); "
          f"load average {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores", flush=True)
    runs = []
    for k in range(args.runs):
        r = one_run(args)
        runs.append(r)
        print(f"run {k + 1}: {r['events']:,} events in {r['seconds']:.1f} s = {r['events_per_s']:,} events/s, "
              f"peak RSS {r['peak_rss_mb']:,} MB, {r['bytes'] / 1e9:.2f} GB, CPU {r['cpu_seconds']:.0f} s "
              f"({r['events_per_cpu_s']:,} events per CPU-s) "
              f"(load average {psutil.getloadavg()[0]:.1f})", flush=True)
    med = {key: statistics.median(r[key] for r in runs)
           for key in ("seconds", "events_per_s", "peak_rss_mb", "cpu_seconds", "events_per_cpu_s")}
    print(f"median: {med['seconds']:.1f} s, {med['events_per_s']:,.0f} events/s, peak RSS {med['peak_rss_mb']:,.0f} MB, "
          f"CPU {med['cpu_seconds']:.0f} s ({med['events_per_cpu_s']:,.0f} events per CPU-s)")
    print(json.dumps({"benchmark": "data", "users": args.users, "days": args.days, "workers": args.workers,
                      "runs": len(runs), "events": runs[-1]["events"], "bytes": runs[-1]["bytes"],
                      "seconds_median": med["seconds"], "events_per_s_median": med["events_per_s"],
                      "peak_rss_mb_median": med["peak_rss_mb"], "cpu_seconds_median": med["cpu_seconds"],
                      "events_per_cpu_s_median": med["events_per_cpu_s"],
                      "load_average": round(psutil.getloadavg()[0], 1), "out": str(args.out),
                      "per_run": runs}))


if __name__ == "__main__":
    main()

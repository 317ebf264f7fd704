"""Training benchmark: `python -m training` on a simulated log; prints stage seconds and the goal figures.

Usage: .venv/bin/python benchmarks/bench_training.py [--size mini|full] [--data PATH]
  mini: 225 users, 63 days (goal < 2 min); full: data/full/sparkify_full.json (~22k users, 60 days; goal
  < 15 min), generated with `python -m producer generate` when missing. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SIZES = {"mini": (ROOT / "data/mini-sim/sparkify_mini.json", 225, 63, 120),
         "full": (ROOT / "data/full/sparkify_full.json", 22_000, 60, 900)}


def ensure_log(path: Path, users: int, days: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ({users} users, {days} days)", flush=True)
    subprocess.run([PY, "-m", "producer", "generate", "--users", str(users), "--days", str(days), "--seed", "1",
                    "--out", str(path)], check=True, cwd=ROOT)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="mini")
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=str(ROOT / "bench-results/models"))
    args = ap.parse_args()
    path, users, days, goal_s = SIZES[args.size]
    path = Path(args.data) if args.data else path
    ensure_log(path, users, days)
    start = time.perf_counter()
    proc = subprocess.run([PY, "-m", "training", "--data", str(path), "--out", args.out, "--no-latest"],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("[training]")))
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        print(json.dumps({"size": args.size, "ok": False, "total_s": round(wall, 1)}))
        return 1
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    metrics = json.loads((Path(result["path"]) / "metrics.json").read_text())
    best = metrics.get("best_possible", {})
    wh = metrics["whole_history_baseline"]
    summary = {
        "size": args.size, "log": str(path), "total_s": round(wall, 1), "goal_s": goal_s, "within_goal": wall < goal_s,
        **{f"{k}_s": v for k, v in result["stages"].items()},
        "model": metrics["model"], "f1": metrics["f1"], "auroc": metrics["auroc"], "auroc_ci": metrics["auroc_ci"],
        "average_precision": metrics["average_precision"], "average_precision_ci": metrics["average_precision_ci"],
        "ece": metrics["ece"], "ece_before_calibration": metrics["calibration"]["ece_before"],
        "calibration": metrics["calibration"]["method"],
        "auroc_minus_whole_history_ci": metrics["selected_minus_baseline"]["auroc_ci"],
        "candidates_oof_log_loss": {k: c["validation"]["log_loss"] for k, c in metrics["candidates"].items()},
        "whole_history_auroc": wh["auroc"], "whole_history_f1": wh["f1"], "best_possible_auroc": best.get("auroc"),
        "auroc_gain_over_whole_history": metrics["auroc"] - wh["auroc"],
        "fraction_of_best_auroc": metrics.get("fraction_of_best_auroc"),
        "backtest_auroc": metrics["backtest"].get("auroc"), "shap_ms_per_row": metrics.get("shap_ms_per_row"),
    }
    for k, v in summary.items():
        print(f"{k}: {v}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m training``: train, evaluate and publish a churn-risk model from an event log.

Errors a user can fix (bad arguments, missing data, a log too short or without cancellations) are one line
on stderr with exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from training.evaluation import choose_threshold
from training.pipeline import ALL_MODELS, Config, Stages, run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training",
                                description="Train the churn-risk model on point-in-time snapshots of a Sparkify log "
                                            "and write a versioned artifact (models/<version>/, models/latest).")
    p.add_argument("--data", required=True, nargs="+", help="event log file(s), JSON lines")
    p.add_argument("--out", default="models", help="model folder (default models/)")
    p.add_argument("--horizon-days", type=int, default=14, help="label: cancels within this many days (default 14)")
    p.add_argument("--cutoff-every-days", type=int, default=3, help="days between cutoffs (default 3)")
    p.add_argument("--min-history-days", type=int, default=7, help="days of log before the first cutoff (default 7)")
    p.add_argument("--test-fraction", type=float, default=0.25, help="share of users held out (default 0.25)")
    p.add_argument("--folds", type=int, default=3, help="user-grouped CV folds (default 3)")
    p.add_argument("--models", default=",".join(ALL_MODELS),
                   help=f"comma-separated candidates (default all: {','.join(ALL_MODELS)})")
    p.add_argument("--threshold-rule", default="best_f1",
                   help="alert threshold on the calibrated out-of-fold risks: best_f1 (default), precision:P "
                        "(the lowest threshold reaching precision P) or top:S (flag the share S of highest risks)")
    p.add_argument("--with-gender", action="store_true",
                   help="let the model use gender (a protected attribute, left out by default; it stays a "
                        "display and segment attribute either way)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates for the 95%% intervals "
                                                                 "(resampling test users; default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-latest", action="store_true", help="do not move models/latest to the new version")
    p.add_argument("--master", default=None, help="Spark master (default: SPARKIFY_SPARK_MASTER or local[2])")
    return p


class UsageError(ValueError):
    pass


def config_from_args(args: argparse.Namespace) -> Config:
    for path in args.data:
        if not Path(path).is_file():
            raise UsageError(f"no such log file: {path}")
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in ALL_MODELS]
    if unknown or not models:
        raise UsageError(f"unknown model(s) {unknown}; choose from {','.join(ALL_MODELS)}")
    for name in ("horizon_days", "cutoff_every_days", "folds"):
        if getattr(args, name) < (2 if name == "folds" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be at least {2 if name == 'folds' else 1}")
    if args.min_history_days < 0:
        raise UsageError("--min-history-days must be >= 0")
    if not 0 < args.test_fraction < 1:
        raise UsageError("--test-fraction must be between 0 and 1")
    if args.bootstrap < 100:
        raise UsageError("--bootstrap must be at least 100")
    try:
        choose_threshold(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]), args.threshold_rule)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return Config(data=[str(p) for p in args.data], out=Path(args.out), horizon_days=args.horizon_days,
                  cutoff_every_days=args.cutoff_every_days, min_history_days=args.min_history_days,
                  test_fraction=args.test_fraction, folds=args.folds, models=models, seed=args.seed,
                  make_latest=not args.no_latest, threshold_rule=args.threshold_rule, with_gender=args.with_gender,
                  bootstrap_replicates=args.bootstrap)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config_from_args(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from contracts.settings import Settings
    from contracts.spark_session import build_session

    stages = Stages()
    start = time.perf_counter()
    settings = Settings.from_env()
    spark = stages.run("spark_session", build_session, "sparkify-training", master=args.master or settings.spark_master,
                       shuffle_partitions=max(2, settings.shuffle_partitions))
    try:
        art = run(cfg, spark, stages)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    total = round(time.perf_counter() - start, 2)
    m = art.metrics
    print(f"[training] model {art.version} ({m['model']}) -> {art.path}")
    lo, hi = m["auroc_ci"]
    d_lo, d_hi = m["selected_minus_baseline"]["auroc_ci"]
    print(f"[training] test: F1 {m['f1']:.3f} AP {m['average_precision']:.3f} AUROC {m['auroc']:.3f} "
          f"[{lo:.3f}, {hi:.3f}] ECE {m['ece']:.4f} (before calibration {m['calibration']['ece_before']:.4f}); "
          f"whole-history AUROC {m['whole_history_baseline']['auroc']:.3f} (difference [{d_lo:+.3f}, {d_hi:+.3f}]); "
          f"best possible AUROC {m.get('best_possible', {}).get('auroc', float('nan')):.3f}")
    print(json.dumps({"version": art.version, "path": str(art.path), "total_s": total, "stages": stages.seconds}))
    return 0

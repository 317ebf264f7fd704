"""`python -m producer download`: fetch a public Sparkify log (mini, medium or full), streamed.

The file is written to ``<name>.part`` and renamed when complete, so an interrupted download never
looks like a finished one. Network failures are one line (exit 2), never a traceback.
"""
from __future__ import annotations

import argparse
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from producer.cli import UserError

BASE_URL = "https://udacity-dsnd.s3.amazonaws.com/sparkify/"


@dataclass(frozen=True)
class Dataset:
    name: str
    file: str
    approx_bytes: int  # published/expected size, for the progress line and a sanity check
    events: int


DATASETS: dict[str, Dataset] = {
    "mini": Dataset("mini", "mini_sparkify_event_data.json", 128 * 10**6, 286_500),
    "medium": Dataset("medium", "medium-sparkify-event-data.json", 243 * 10**6, 543_705),
    "full": Dataset("full", "sparkify_event_data.json", 12 * 10**9, 26_259_199),
}
CHUNK = 1 << 20


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("download", help="download a public Sparkify log (mini, medium, full)",
                              description="Stream a public Sparkify event log to --out, with progress. "
                                          "Sizes: mini ~128 MB, medium ~243 MB, full ~12 GB.")
    p.add_argument("dataset", nargs="?", default="mini", choices=sorted(DATASETS))
    p.add_argument("--out", default="data/", help="folder (or file name) to write to (default data/)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the server (default 20)")
    p.add_argument("--url", help=argparse.SUPPRESS)  # override the source (tests, mirrors)
    p.set_defaults(run=run)


def target_path(out: str, dataset: Dataset) -> Path:
    p = Path(out)
    if out.endswith(os.sep) or p.is_dir() or not p.suffix:
        return p / dataset.file
    return p


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return str(exc) or type(exc).__name__


def download(url: str, dest: Path, timeout: float, progress=sys.stderr) -> int:
    """Stream ``url`` to ``dest`` (via ``dest.part``); return the bytes written. Raises UserError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    written = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            t0 = last = time.monotonic()
            with open(part, "wb") as fh:
                while True:
                    block = resp.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    written += len(block)
                    now = time.monotonic()
                    if progress is not None and (now - last > 1.0):
                        last = now
                        pct = f" {100 * written / total:5.1f}%" if total else ""
                        rate = written / max(now - t0, 1e-9) / 1e6
                        print(f"\r{dest.name}: {written / 1e6:,.0f} MB{pct} ({rate:.1f} MB/s)",
                              end="", file=progress, flush=True)
        if total and written != total:
            raise UserError(f"download of {url} stopped at {written:,} of {total:,} bytes; run it again")
    except UserError:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"cannot download {url}: {_reason(exc)} (offline? try again with network access, "
                        f"or use `python -m producer generate` for a simulated log)") from None
    os.replace(part, dest)
    if progress is not None:
        print(f"\r{dest.name}: {written / 1e6:,.1f} MB done{' ' * 20}", file=progress)
    return written


def run(args: argparse.Namespace) -> int:
    dataset = DATASETS[args.dataset]
    url = args.url or BASE_URL + dataset.file
    dest = target_path(args.out, dataset)
    print(f"downloading {dataset.name} ({url}, about {dataset.approx_bytes / 1e6:,.0f} MB) to {dest}",
          file=sys.stderr)
    written = download(url, dest, args.timeout)
    if args.url is None and written < dataset.approx_bytes // 2:
        print(f"warning: {dest} is {written:,} bytes, expected about {dataset.approx_bytes:,}", file=sys.stderr)
    return 0

"""Serve the dashboard in a subprocess and drive it with headless Chromium (the browser tests and the
README screenshot share this code).

Usage: ``python -m devstack.screenshot [--out docs/dashboard.png] [--users 22000] [--width 1600]``

Starts a throwaway Redis on a free port, seeds it (users, and the monitoring's cohorts and drift), serves ``python -m dashboard`` against it, opens the top
user's drill-down and saves a PNG of the whole page. It uses Debian's ``/usr/bin/chromium`` through
Playwright (headless, never ``playwright install``). It lives in ``devstack``, not in ``dashboard``, because it
starts the project's local services, which the dashboard does not depend on.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parent.parent
MAX_HEIGHT = 4200


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextmanager
def serve_dashboard(port: int, redis_url: str, prefix: str = "sparkify", log: Path | None = None,
                    refresh_seconds: float = 2.0, timeout: float = 60) -> Iterator[str]:
    """``python -m dashboard --port port`` against ``redis_url``; yields the page URL, stops it after."""
    env = dict(os.environ, SPARKIFY_REDIS_URL=redis_url, SPARKIFY_REDIS_PREFIX=prefix,
               SPARKIFY_DASHBOARD_REFRESH_SECONDS=str(refresh_seconds))
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "dashboard", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited with code {proc.returncode} (log: {log})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard did not answer within {timeout:.0f} s (log: {log})")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def browser_page(width: int = 1600, height: int = 1300) -> Iterator[object]:
    """A Playwright page in Debian's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_for_page(page, url: str, user_id: str, timeout_ms: int = 60_000) -> None:
    """Load the page and wait until the table and ``user_id``'s drill-down (the default: the top user) show."""
    page.goto(url, wait_until="domcontentloaded")
    grid = page.get_by_test_id("stDataFrame").first
    grid.get_by_test_id("glide-cell-1-0").wait_for(state="attached", timeout=timeout_ms)  # a hidden DOM mirror
    page.get_by_text(f"User {user_id}", exact=False).first.wait_for(timeout=timeout_ms)
    page.get_by_text("Model card").wait_for(timeout=timeout_ms)


def shoot(out: Path, users: int = 22_000, width: int = 1600) -> int:
    """Seed a temporary Redis, serve, screenshot the page with the top user opened."""
    from contracts.redis_keys import RedisKeys
    from dashboard.seed import seed, seed_monitoring
    from devstack.services import RedisServer, ServiceError, free_port

    with tempfile.TemporaryDirectory() as tmp:
        try:
            server = RedisServer("redis", free_port(), Path(tmp)).start()
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            result = seed(server.client(), RedisKeys("sparkify"), users)
            seed_monitoring(server.client(), RedisKeys("sparkify"), cohorts=30, threshold=result.threshold)
            top = max(result.active, key=lambda u: u.risk)
            with serve_dashboard(free_port(), server.url, log=Path(tmp) / "dashboard.log") as url, \
                    browser_page(width=width, height=2000) as page:
                wait_for_page(page, url, top.user_id)
                page.get_by_text("SHAP dependence").first.wait_for()
                # the page scrolls inside Streamlit's main block: grow the window to all of it (bounded)
                height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
                page.set_viewport_size({"width": width, "height": min(int(height) + 40, MAX_HEIGHT)})
                time.sleep(3)  # let the charts finish drawing at the new size
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
        except Exception as exc:  # noqa: BLE001 - a tool for people: one line, not a traceback
            print(f"error: screenshot failed: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 2
        finally:
            server.stop()
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devstack.screenshot", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/dashboard.png"), help="PNG path (default %(default)s)")
    p.add_argument("--users", type=int, default=22_000, help="users to seed (default %(default)s)")
    p.add_argument("--width", type=int, default=1600, help="browser width in px (default %(default)s)")
    args = p.parse_args(argv)
    if args.users < 1 or args.width < 800:
        print("error: --users must be >= 1 and --width >= 800", file=sys.stderr)
        return 2
    return shoot(args.out, args.users, args.width)


if __name__ == "__main__":
    sys.exit(main())

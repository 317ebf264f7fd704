"""A real browser on a real server: ``python -m dashboard`` against a seeded Redis, driven by headless
Chromium through Playwright. It must show the riskiest user first, open a drill-down on a row click,
refresh in place when Redis changes, show event text literally, and render a screenshot."""
from __future__ import annotations

import shutil
import time

import pytest

from contracts.redis_keys import RedisKeys
from dashboard.screenshot import CHROMIUM, browser_page, serve_dashboard
from dashboard.seed import seed
from devstack.services import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed")]
PREFIX = "browser"
TIMEOUT_MS = 45_000


def test_dashboard_in_a_real_browser(redis_server, redis_client, tmp_path):
    from playwright.sync_api import expect

    keys = RedisKeys(PREFIX)
    result = seed(redis_client, keys, 2000, seed=5)
    ranked = sorted(result.active, key=lambda u: -u.risk)
    top, second = ranked[0], ranked[1]
    tricky = "[click](http://evil.example) **boss** <b>x</b>"
    redis_client.hset(keys.user(second.user_id), "name", tricky)

    with serve_dashboard(free_port(), redis_server.url, prefix=PREFIX, log=tmp_path / "dashboard.log",
                         refresh_seconds=1.0) as url, browser_page(height=1800) as page:
        page.goto(url, wait_until="domcontentloaded")
        grid = page.get_by_test_id("stDataFrame").first  # the at-risk table is the page's first grid
        first_cell = grid.get_by_test_id("glide-cell-1-0")  # column 1 (user) of row 0 in the grid's DOM mirror
        expect(first_cell).to_have_text(top.user_id, timeout=TIMEOUT_MS)
        expect(grid.get_by_test_id("glide-cell-1-1")).to_have_text(second.user_id)
        expect(page.get_by_text(f"User {top.user_id}", exact=False).first).to_be_visible()

        # open the second user's drill-down by clicking its row's selection box
        box = grid.bounding_box()  # header row and body rows are 35 px high; the box column is left
        page.mouse.click(box["x"] + 14, box["y"] + 35 + 35 + 17)
        expect(page.get_by_text(f"User {second.user_id}", exact=False).first).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(tricky, exact=False).first).to_be_visible()  # shown literally ...
        assert page.locator('a[href="http://evil.example"]').count() == 0  # ... not as a link

        page.wait_for_timeout(1500)  # let the charts draw
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 30_000

        # the live fragment refreshes the table in place: no page reload (the window marker survives)
        page.evaluate("window.__noReload = 42")
        riser = ranked[-1]
        redis_client.hset(keys.user(riser.user_id), mapping={"risk": "0.999", "band": "high"})
        redis_client.zadd(keys.ranking, {riser.user_id: 0.999})
        expect(first_cell).to_have_text(riser.user_id, timeout=TIMEOUT_MS)
        assert page.evaluate("window.__noReload") == 42

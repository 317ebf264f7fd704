"""A real browser on a real server: ``python -m dashboard`` against a seeded Redis, driven by headless
Chromium through Playwright. It must show the riskiest user first, open a drill-down on a row click,
refresh in place when Redis changes, show event text literally, and render a screenshot; and at 1,280 and
1,920 px: draw the SHAP dependence view, change the count when a filter changes, download a CSV holding the
filtered users, and cut no tile's text (checked in the page: no element wider inside than its box); and draw the
monitoring panels (realized figures per cohort, reliability diagram, drift bars) over seeded monitoring state."""
from __future__ import annotations

import shutil
import time

import pytest

from contracts.redis_keys import RedisKeys
from dashboard.population import SAMPLE_SIZE
from devstack.screenshot import CHROMIUM, browser_page, serve_dashboard
from dashboard.seed import seed, seed_monitoring
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


# ------------------------------------------------------------ the target list, dependence view, catch rate, fit

#: Every element inside a metric tile whose text is wider than its box: what the browser cuts with an ellipsis.
ELIDED_JS = """() => [...document.querySelectorAll('[data-testid="stMetric"] *')]
    .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
    .map(e => e.textContent.trim())"""
#: The points of the chart under the "SHAP dependence" header (Vega draws one SVG path per point).
POINTS_JS = """() => {
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
        .filter(c => c.closest('[data-testid="stVerticalBlock"]').innerText.startsWith('SHAP dependence'));
    return charts.length ? charts[0].querySelectorAll('g.mark-symbol path').length : -1;
}"""
WIDTHS = (1280, 1920)
FIT_DB = 4


@pytest.fixture(scope="module")
def served(redis_server, tmp_path_factory):
    """One dashboard over 3,000 seeded users for the tests below (each opens its own browser page)."""
    from contracts.redis_keys import band_for

    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=FIT_DB, decode_responses=True)
    client.flushdb()  # a database of its own: other tests flush database 0
    result = seed(client, RedisKeys("fit"), 3000, seed=9, threshold=0.45)
    monitoring = seed_monitoring(client, RedisKeys("fit"), seed=9, cohorts=20, pending=3, users=500, threshold=0.45)
    log = tmp_path_factory.mktemp("dash") / "dashboard.log"
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{FIT_DB}"
    with serve_dashboard(free_port(), redis_url, prefix="fit", log=log, refresh_seconds=2.0) as url:
        yield url, result, band_for, monitoring
    client.flushdb()
    client.close()


def _open(page, url, result):
    from devstack.screenshot import wait_for_page

    top = max(result.active, key=lambda u: u.risk)
    wait_for_page(page, url, top.user_id, timeout_ms=TIMEOUT_MS)
    page.get_by_text("SHAP dependence").first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("Usage summary").first.wait_for(timeout=TIMEOUT_MS)


def _count_line(page) -> str:
    return page.get_by_text(" users match ·").first.inner_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_no_tile_text_is_elided_and_the_dependence_view_draws(served, width):
    from playwright.sync_api import expect

    url, result, _, _ = served
    with browser_page(width=width, height=1400) as page:
        _open(page, url, result)
        expect(page.get_by_test_id("stMetric")).to_have_count(4 + 4 + 4 + 2 + 8, timeout=TIMEOUT_MS)
        page.wait_for_timeout(1500)  # fonts and charts settle
        assert page.evaluate(ELIDED_JS) == [], f"elided at {width} px"
        sampled = min(SAMPLE_SIZE, len(result.active))
        page.wait_for_function(f"({POINTS_JS})() === {sampled}", timeout=TIMEOUT_MS)


@pytest.mark.parametrize("width", WIDTHS)
def test_filters_change_the_count_and_the_csv_holds_the_filtered_users(served, width, tmp_path):
    import csv

    from playwright.sync_api import expect

    url, result, band_for, _ = served
    with browser_page(width=width, height=1400) as page:
        _open(page, url, result)
        expect(page.get_by_text(" users match ·").first).to_contain_text(f"{len(result.active):,} active users match")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Cancelled", exact=True).click()
        churned = [u for u in result.users if u.churned]
        expect(page.get_by_text(" users match ·").first).to_contain_text(f"{len(churned):,} cancelled users match",
                                                                       timeout=TIMEOUT_MS)
        sidebar.get_by_test_id("stMultiSelect").first.click()  # Band
        page.get_by_role("option", name="high").click()
        page.keyboard.press("Escape")
        high = sorted((u for u in churned if band_for(u.risk_before_cancel, result.threshold) == "high"),
                      key=lambda u: (u.risk_before_cancel, u.user_id), reverse=True)
        assert 0 < len(high) < len(churned)
        expect(page.get_by_text(" users match ·").first).to_contain_text(
            f"{len(high):,} cancelled users match · risk 0.00–1.00 · band high", timeout=TIMEOUT_MS)

        page.get_by_role("button", name=f"Prepare CSV of {len(high):,} users").click()
        download_button = page.get_by_role("button", name=f"Download {len(high):,} users (CSV)")
        download_button.wait_for(timeout=TIMEOUT_MS)
        with page.expect_download(timeout=TIMEOUT_MS) as info:
            download_button.click()
        path = tmp_path / "targets.csv"
        info.value.save_as(path)
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        assert [r["id"] for r in rows] == [u.user_id for u in high]
        assert {r["band"] for r in rows} == {"high"} and all(r["as_of"] for r in rows)
        assert [float(r["risk"]) for r in rows] == pytest.approx([u.risk_before_cancel for u in high], abs=1e-4)
        assert page.evaluate(ELIDED_JS) == [], f"elided at {width} px"


#: Per chart on the page, how many data marks of a kind (``mark-rect``: bars, ``mark-symbol``: points) it draws
#: (Vega draws one SVG path per mark; legends are not data marks).
MARKS_JS = """(mark) => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .map(c => c.querySelectorAll(`g.${mark}.role-mark path`).length)"""


def test_the_monitoring_panels_draw(served):
    from playwright.sync_api import expect

    url, result, _, mon = served
    with browser_page(width=1280, height=2400) as page:
        _open(page, url, result)
        expect(page.get_by_role("heading", name="Did the predictions come true?")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Drift", exact=True)).to_be_visible()
        pooled = page.get_by_text("Pooled over ", exact=False).first
        expect(pooled).to_contain_text(f"Pooled over 20 resolved cohorts ({mon.realized.users:,} user-scores")
        expect(pooled).to_contain_text(f"AUROC {mon.realized.auroc:.3f} (offline 0.871)")
        expect(page.get_by_text("Prediction PSI", exact=False).first).to_contain_text(
            f"Prediction PSI {mon.drift.prediction_psi:.3f} · above the threshold (0.20): days since last activity")
        tile = page.get_by_test_id("stMetric").filter(has_text="Realized AUROC")
        expect(tile).to_contain_text(f"{mon.realized.auroc:.3f}")
        expect(page.get_by_test_id("stMetric").filter(has_text="Oldest score")).to_contain_text("20.0 h")
        # realized: 3 figures x 20 cohorts as points; reliability: 10 bins; drift: one bar per feature + prediction
        bars = len(mon.drift.feature_psi) + 1
        page.wait_for_function(f"({MARKS_JS})('mark-rect').includes({bars})", timeout=TIMEOUT_MS)
        points = page.evaluate(MARKS_JS, "mark-symbol")
        assert 3 * 20 in points and 10 in points, points
        assert page.evaluate(ELIDED_JS) == []

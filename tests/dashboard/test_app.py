"""The Streamlit page, run in-process by Streamlit's AppTest against a real Redis: empty, down, normal."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from contracts.redis_keys import RedisKeys
from dashboard import data
from dashboard.seed import seed
from devstack.services import free_port

pytestmark = pytest.mark.integration
APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PREFIX = "apptest"


@pytest.fixture
def page(monkeypatch, redis_server):
    monkeypatch.setenv("SPARKIFY_REDIS_URL", redis_server.url)
    monkeypatch.setenv("SPARKIFY_REDIS_PREFIX", PREFIX)

    def run(**session) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        for k, v in session.items():
            at.session_state[k] = v
        at.run()
        assert not at.exception, at.exception
        return at

    return run


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def test_empty_redis_says_it_waits_for_the_stream(page, redis_client):
    at = page()
    assert "Waiting for the stream" in _texts(at.info)
    assert "No model metadata" in _texts(at.caption)
    assert not at.dataframe and not at.error


def test_redis_down_shows_a_banner(page, monkeypatch):
    monkeypatch.setenv("SPARKIFY_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    at = page()
    banner = _texts(at.error)
    assert "unreachable" in banner and "retrying every" in banner
    assert not at.dataframe and not at.metric


def test_bad_setting_is_one_clear_line(page, monkeypatch):
    monkeypatch.setenv("SPARKIFY_DASHBOARD_REFRESH_SECONDS", "often")
    at = page()
    assert "SPARKIFY_DASHBOARD_REFRESH_SECONDS='often' is not a valid float" in _texts(at.error)


@pytest.fixture
def seeded(redis_client):
    result = seed(redis_client, RedisKeys(PREFIX), 300, seed=21)
    return result, sorted(result.active, key=lambda u: -u.risk)


def test_normal_state_shows_figures_table_and_drill_down(page, seeded, redis_client):
    result, ranked = seeded
    top = ranked[0]
    # event text with Markdown/HTML in it must come out escaped
    redis_client.hset(RedisKeys(PREFIX).user(top.user_id), mapping={
        "name": "[click](http://evil.example) **boss**", "location": "<img src=x onerror=alert(1)>"})
    at = page()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Active users"] == f"{len(result.active):,}"
    assert metrics["Churned so far"] == f"{len(result.users) - len(result.active):,}"
    assert metrics["At high risk"] == f"{sum(u.risk >= result.threshold for u in result.active):,}"
    table = at.dataframe[0].value
    assert list(table["user"][:25]) == [u.user_id for u in ranked[:25]]
    assert (table["change"] == 0).all()
    md = _texts(at.markdown)
    assert f"**User {top.user_id}**" in md
    # names and locations go through st.text (never interpreted), never through Markdown
    assert "[click](http://evil.example) **boss** · <img src=x onerror=alert(1)>" in _texts(at.text)
    assert "click" not in md and "img" not in md
    assert "songs per day **" in md and "days since last activity **" in md  # key activity figures
    assert "Model **seed\\-1**" in md
    churned = [u for u in result.users if u.churned]
    caught = [u for u in churned if u.first_high_ts is not None and u.first_high_ts <= u.churned_ts]
    assert metrics["Caught before cancelling"] == f"{len(caught) / len(churned) * 100:.0f} %"
    assert f"**{len(result.active):,}** active users match" in md
    usage = {m.label: m for m in at.metric}
    assert usage["Status"].value == "Active" and usage["Level"].value == top.level
    assert usage["Account age"].value.endswith(" d") and "vs avg" in usage["Account age"].delta
    assert [s.label for s in at.selectbox] == ["Feature", "Colour by"]
    assert at.selectbox[0].value == data.snapshot(redis_client, RedisKeys(PREFIX)).importance[0].feature


def test_cancelled_users_are_listed_by_their_risk_before_cancelling(page, seeded):
    result, _ = seeded
    at = page(status="cancelled")
    table = at.dataframe[0].value
    churned = sorted((u for u in result.users if u.churned), key=lambda u: (u.risk_before_cancel, u.user_id), reverse=True)
    assert list(table["user"]) == [u.user_id for u in churned[:25]]
    assert list(table["caught"]) == [u.first_high_ts is not None for u in churned[:25]]
    assert any(table["caught"]) and not all(table["caught"])
    assert f"**{len(churned):,}** cancelled users match" in _texts(at.markdown)


def test_the_csv_is_prepared_on_request(page, seeded):
    result, ranked = seeded
    at = page(levels=["free"])
    assert not at.get("download_button")
    free = [u for u in ranked if u.level == "free"]
    button = next(b for b in at.button if b.label.startswith("Prepare CSV"))
    assert button.label == f"Prepare CSV of {len(free):,} users"
    button.click().run()
    assert not at.exception
    assert at.get("download_button")


def test_change_since_first_view_follows_the_session(page, seeded, redis_client):
    _, ranked = seeded
    top = ranked[0]
    at = page()
    redis_client.zadd(RedisKeys(PREFIX).ranking, {top.user_id: top.risk - 0.01})  # the stream lowers the risk
    at.run()
    table = at.dataframe[0].value.set_index("user")
    assert table.loc[top.user_id, "change"] == pytest.approx(-0.01)


def test_filters_and_search(page, seeded):
    result, ranked = seeded
    at = page(levels=["paid"], risk_range=(0.3, 0.6))
    table = at.dataframe[0].value
    matching = [u.user_id for u in ranked if u.level == "paid" and 0.3 <= u.risk <= 0.6]
    assert list(table["user"]) == matching[:25] and set(table["level"]) == {"paid"}
    assert f"**{len(matching):,}** active users match" in _texts(at.markdown)

    at = page(bands=["high"])
    high = [u for u in ranked if u.risk >= result.threshold]
    assert list(at.dataframe[0].value["user"]) == [u.user_id for u in high[:25]]
    assert f"**{len(high):,}** active users match" in _texts(at.markdown)

    churned = next(u for u in result.users if u.churned)
    at = page(search=churned.user_id)
    assert list(at.dataframe[0].value["user"]) == [churned.user_id]
    assert "Churned at" in _texts(at.warning)
    assert f"**User {churned.user_id}**" in _texts(at.markdown)
    assert [e for e in at.metric if e.label.startswith("Risk")]  # the drill-down opened on the found user

    at = page(search="nobody-here")
    assert "No user with id nobody\\-here" in _texts(at.warning)
    assert list(at.dataframe[0].value["user"]) == [u.user_id for u in ranked[:25]]


def test_missing_model_metadata_is_stated(page, redis_client):
    seed(redis_client, RedisKeys(PREFIX), 50, seed=2, with_model=False)
    at = page()
    assert "No model metadata in Redis yet" in _texts(at.info)
    assert not at.get("imgs")
    assert at.dataframe  # the rest of the page still works


def test_training_plots_show_when_the_artifact_folder_exists(page, redis_client, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "roc_curve.png")
    plt.close(fig)
    (tmp_path / "model_card.md").write_text("# Model card\nTrained on mini log.")
    seed(redis_client, RedisKeys(PREFIX), 50, seed=2, artifact_dir=str(tmp_path))
    at = page()
    assert "Trained on mini log." in _texts(at.markdown)
    assert len(at.get("imgs")) == 1
    assert "artifact folder not available" not in _texts(at.caption)


def test_monitoring_panels_without_resolved_cohorts_say_when_labels_arrive(page, seeded):
    at = page()
    headers = [h.value for h in at.subheader]
    assert "Did the predictions come true?" in headers and "Drift" in headers
    captions = _texts(at.caption)
    assert "No resolved cohorts yet (labels arrive 10 days after a refresh)." in captions
    assert "No drift computed yet" in captions
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Oldest score"] == "—" and metrics["Realized AUROC"] == "—"


def test_monitoring_panels_show_the_realized_figures_and_the_drift(page, seeded, redis_client):
    from dashboard.seed import seed_monitoring

    mon = seed_monitoring(redis_client, RedisKeys(PREFIX), seed=4, cohorts=8, pending=2, users=300)
    at = page()
    metrics = {m.label: m for m in at.metric}
    assert metrics["Oldest score"].value == "20.0 h"
    assert metrics["Realized AUROC"].value == f"{mon.realized.auroc:.3f}"
    assert metrics["Realized AUROC"].delta == f"{mon.realized.auroc - 0.871:+.3f} vs offline"
    assert metrics["Largest feature PSI"].delta == "1 above 0.20"
    md = _texts(at.markdown)
    assert f"Pooled over **8** resolved cohorts (**{mon.realized.users:,}** user-scores" in md
    assert f"AUROC **{mon.realized.auroc:.3f}** (offline 0.871)" in md
    assert f"Prediction PSI **{mon.drift.prediction_psi:.3f}**" in md and "**days since last activity**" in md
    cohorts = next(d.value for d in at.dataframe if "cohort" in d.value.columns)
    assert list(cohorts["users"]) == [c.users for c in reversed(mon.cohorts)]
    alerts = next(d.value for d in at.dataframe if "what" in d.value.columns)
    drift_rows = alerts[alerts["kind"] == "drift"]
    assert list(drift_rows["about"]) == ["days since last activity"]
    assert (alerts[alerts["kind"] == "user"]["about"].str.startswith("user ")).all()

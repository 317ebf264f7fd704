"""The Streamlit page: live churn risk from Redis, refreshed in place by a fragment every few seconds.

Only drawing lives here; every Redis read goes through ``dashboard.data`` (one ``snapshot`` per refresh
plus one ``user_detail`` for the drill-down). The Redis connection is created once per server process
(``st.cache_resource``) and reconnects by itself, so a Redis outage shows a banner and the next refresh
retries. Event text (names, locations, ids) only reaches Markdown escaped.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import redis  # noqa: E402
import streamlit as st  # noqa: E402

from contracts.redis_keys import RedisKeys  # noqa: E402
from contracts.settings import Settings, SettingsError  # noqa: E402
from dashboard import charts, data  # noqa: E402
from dashboard.changes import risk_changes  # noqa: E402
from dashboard.labels import KEY_FEATURES, feature_label  # noqa: E402
from dashboard.formatting import (escape_markdown, fmt_ago, fmt_clock, fmt_number, fmt_span, fmt_time,  # noqa: E402
                                  fmt_value, redact_url)

LEVELS = ("free", "paid")


@st.cache_resource(show_spinner=False)
def redis_client(url: str, kwargs: tuple[tuple[str, object], ...]) -> redis.Redis:
    """One client (and connection pool) per server process; short timeouts so an outage shows quickly."""
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=15,
                                **dict(kwargs))


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        st.error(f"Configuration error: {exc}")
        st.stop()
        raise  # unreachable: st.stop() ends the run


def sidebar(settings: Settings) -> tuple[data.Filters, str]:
    """Filters (outside the live fragment: changing one reruns the page once)."""
    with st.sidebar:
        st.header("Filters")
        limit = st.slider("Users in the table", 5, 200, 25, step=5, key="limit")
        levels = st.multiselect("Level", LEVELS, default=[], key="levels", placeholder="any level")
        min_risk = st.slider("Minimum risk", 0.0, 1.0, 0.0, step=0.05, key="min_risk")
        search = st.text_input("Find user id", key="search", placeholder="e.g. 100042").strip()
        st.divider()
        st.caption(f"Redis {escape_markdown(redact_url(settings.redis_url))} · prefix "
                   f"{escape_markdown(settings.redis_prefix)} · refresh every {settings.dashboard_refresh_seconds:g} s")
    return data.Filters(limit=limit, min_risk=min_risk, levels=tuple(levels)), search


def headline(snap: data.Snapshot, now_ms: int) -> None:
    h, hl = snap.health, snap.headline
    cols = st.columns([1, 1, 1, 1, 1.7, 1.1, 0.9])
    cols[0].metric("Active users", fmt_number(hl.active_users), border=True)
    cols[1].metric("At high risk", fmt_number(hl.high_risk), border=True,
                   help=f"Active users with risk at or above the model threshold ({hl.threshold:.2f}).")
    cols[2].metric("Churned so far", fmt_number(hl.churned), border=True)
    cols[3].metric("Events / s", fmt_number(h.events_per_s, 0), border=True,
                   help=f"Events read in total: {fmt_number(h.events_in)}; dead letters: {fmt_number(h.dead_letters)}.")
    cols[4].metric("Event-time clock", fmt_clock(h.clock_ms), border=True,
                   help=f"Latest event time the streaming job has seen: {fmt_time(h.clock_ms)} UTC.")
    cols[5].metric("Last score", fmt_ago(h.last_batch_wall_ms, now_ms), border=True,
                   help=f"Wall-clock age of the last scored batch (batch {fmt_number(h.batch_id)}, "
                        f"took {fmt_span(h.batch_ms)}).")
    cols[6].metric("Lag", fmt_number(h.lag), border=True, help="Backlog reported by the streaming job's health record.")


def _remember_selection(table_key: str) -> None:
    """Row click -> drill-down user, then a fresh table widget so the highlight cannot drift to whoever
    takes that row at the next refresh."""
    rows = st.session_state[table_key].selection.rows
    shown = st.session_state.get("shown_ids", [])
    if rows and rows[0] < len(shown):
        st.session_state["drill_user"] = shown[rows[0]]
    st.session_state["table_gen"] = st.session_state.get("table_gen", 0) + 1


def at_risk_table(rows: list[data.UserRow], snap: data.Snapshot) -> None:
    seen = st.session_state.setdefault("risk_seen", {})
    changes = risk_changes([(r.user_id, r.risk) for r in rows], seen)
    clock = snap.health.clock_ms
    frame = pd.DataFrame({
        "user": [r.user_id for r in rows], "level": [r.level for r in rows], "risk": [r.risk for r in rows],
        "change": changes, "band": [r.band for r in rows], "alert": [r.alerting for r in rows],
        "top drivers": [r.drivers_text for r in rows],
        "last activity": [fmt_ago(r.last_ts, clock) for r in rows]})
    st.session_state["shown_ids"] = [r.user_id for r in rows]
    key = f"table-{st.session_state.get('table_gen', 0)}"
    st.dataframe(frame, hide_index=True, key=key, on_select=lambda: _remember_selection(key),
                 selection_mode="single-row", column_config={
                     "user": st.column_config.TextColumn("User", width="small"),
                     "level": st.column_config.TextColumn("Level", width="small"),
                     "risk": st.column_config.ProgressColumn("Risk", min_value=0.0, max_value=1.0, format="%.2f"),
                     "change": st.column_config.NumberColumn("Δ risk", format="%+.3f", width="small",
                                                             help="Change since this browser session first showed the user (since you opened the page)."),
                     "band": st.column_config.TextColumn("Band", width="small"),
                     "alert": st.column_config.CheckboxColumn("Alert", width="small",
                                                              help="Alerting: crossed the threshold (with hysteresis)."),
                     "top drivers": st.column_config.TextColumn("Top drivers", width="large"),
                     "last activity": st.column_config.TextColumn("Last activity", help="Event time before the clock.")})
    st.caption(f"Click a row to open it below. Read {snap.scanned:,} ranked users to fill the table.")


def drill_down(client: redis.Redis, keys: RedisKeys, user_id: str, snap: data.Snapshot, now_ms: int) -> None:
    detail = data.user_detail(client, keys, user_id)
    if detail is None:
        st.info(f"User {escape_markdown(user_id)} is no longer in Redis.")
        return
    row, threshold = detail.row, snap.headline.threshold
    st.markdown(f"**User {escape_markdown(row.user_id)}**")
    # st.text, not Markdown: even escaped Markdown turns a URL in a name into a link (GFM autolinks)
    st.text(" · ".join(v for v in (row.name or "unknown name", detail.location or "unknown location",
                                    row.level, detail.gender) if v))
    if row.churned:
        st.warning(f"Churned at {fmt_time(detail.churned_ts)} (UTC, event time); last score kept below.")
    c = st.columns([1.4, 1, 1])
    c[0].metric("Risk", f"{row.risk:.2f}", delta=f"{row.risk - threshold:+.2f} vs {threshold:.2f}",
                delta_color="inverse", border=True,
                help=f"Churn probability; the delta is the distance to the alert threshold ({threshold:.2f}).")
    c[1].metric("Events", fmt_number(detail.n_events), border=True)
    c[2].metric("Band", row.band or "—", border=True)
    st.caption(f"Last activity {fmt_time(row.last_ts)} UTC ({fmt_ago(row.last_ts, snap.health.clock_ms)} on the "
               f"event-time clock) · scored {fmt_ago(detail.scored_at, now_ms)} by model "
               f"{escape_markdown(detail.model_version or '?')} as of {fmt_time(detail.as_of)}")
    key = [(k, detail.features[k]) for k in KEY_FEATURES if k in detail.features]
    if key:
        st.markdown(" · ".join(f"{escape_markdown(feature_label(k))} **{escape_markdown(fmt_value(v))}**"
                               for k, v in key))
    st.altair_chart(charts.waterfall_chart(charts.waterfall_frame(detail), threshold), use_container_width=True)
    with st.expander("All features of this user"):
        feats = pd.DataFrame([{"feature": feature_label(k), "value": fmt_value(v), "SHAP": detail.shap.get(k)}
                              for k, v in detail.features.items()])
        if not feats.empty:
            feats = feats.sort_values("SHAP", key=lambda s: -s.abs().fillna(0))
        st.dataframe(feats, hide_index=True, column_config={"SHAP": st.column_config.NumberColumn(format="%+.3f")})


def alert_feed(alerts: list[data.Alert], now_ms: int) -> None:
    if not alerts:
        st.caption("No threshold crossings yet.")
        return
    frame = pd.DataFrame([{"when": fmt_ago(a.added_ms, now_ms), "user": a.user,
                           "direction": "⬆ crossed up" if a.direction == "up" else "⬇ dropped below",
                           "risk": a.risk, "threshold": a.threshold, "level": a.level,
                           "event time": fmt_time(a.as_of)} for a in alerts])
    st.dataframe(frame, hide_index=True, height=300,
                 column_config={"risk": st.column_config.NumberColumn(format="%.2f"),
                                "threshold": st.column_config.NumberColumn(format="%.2f")})


def model_card(model: data.ModelInfo | None, now_ms: int) -> None:
    if model is None:
        st.info("No model metadata in Redis yet: the streaming job publishes it when it loads a model.")
        return
    st.markdown(f"Model **{escape_markdown(model.version)}** · threshold **{model.threshold:.2f}** · horizon "
                f"**{escape_markdown(model.horizon_days or '?')} days** · loaded {fmt_ago(model.loaded_at, now_ms)}")
    rows = data.flatten_metrics(model.metrics)
    if rows:
        table = pd.DataFrame(rows, columns=["section", "metric", "value"]).pivot_table(
            index="metric", columns="section", values="value", aggfunc="first", sort=False)
        st.dataframe(table, column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns})
    else:
        st.caption("The model hash carries no metrics.")
    folder = Path(model.artifact_dir) if model.artifact_dir else None
    if folder is None or not folder.is_dir():
        st.caption("Training plots: artifact folder not available on this host.")
        return
    pngs = sorted(folder.glob("*.png"))
    for png in pngs:
        st.image(str(png), caption=png.stem.replace("_", " "), width="stretch")
    card = folder / "model_card.md"
    if card.is_file():
        with st.expander("model_card.md"):
            st.markdown(card.read_text(errors="replace"))


def live(client: redis.Redis, keys: RedisKeys, settings: Settings, filters: data.Filters, search: str) -> None:
    """One refresh of everything that changes; runs again every ``dashboard_refresh_seconds``."""
    now_ms = int(time.time() * 1000)
    try:
        snap = data.snapshot(client, keys, filters)
        found = data.find_user(client, keys, search) if search else None
    except redis.RedisError as exc:
        st.error(f"Redis at {redact_url(settings.redis_url)} is unreachable ({type(exc).__name__}); "
                 f"retrying every {settings.dashboard_refresh_seconds:g} s.", icon="🚨")
        return
    if snap.empty:
        st.info(f"Waiting for the stream: no scored users under prefix '{settings.redis_prefix}' yet. "
                f"This page refreshes by itself every {settings.dashboard_refresh_seconds:g} s.", icon="⏳")
        if snap.model is None:
            st.caption("No model metadata in Redis yet either.")
        return
    headline(snap, now_ms)
    rows = snap.top
    if search and found is None:
        st.warning(f"No user with id {escape_markdown(search)} in Redis; showing the top users instead.")
    elif found is not None:
        rows = [found]
    drill = (found.user_id if found else None) or st.session_state.get("drill_user") or (rows[0].user_id if rows else None)

    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.subheader("Users most at risk")
        if rows:
            at_risk_table(rows, snap)
        else:
            st.caption("No active user passes the filters.")
    with right:
        st.subheader("Why this user?")
        if drill:
            drill_down(client, keys, drill, snap, now_ms)
    a, b = st.columns(2, gap="medium")
    with a:
        st.subheader("What drives risk now")
        if snap.importance:
            st.altair_chart(charts.importance_chart(snap.importance), use_container_width=True)
            st.caption(f"Mean |SHAP| over {snap.headline.active_users:,} active users, live.")
        else:
            st.caption("No importance figures yet.")
    with b:
        st.subheader("Risk distribution")
        st.altair_chart(charts.histogram_chart(snap.histogram, snap.headline.threshold), use_container_width=True)
    a, b = st.columns(2, gap="medium")
    with a:
        st.subheader("Alert feed")
        alert_feed(snap.alerts, now_ms)
    with b:
        st.subheader("Model card")
        model_card(snap.model, now_ms)


def main() -> None:
    st.set_page_config(page_title="Sparkify churn risk", page_icon="🎧", layout="wide")
    settings = load_settings()
    client = redis_client(settings.redis_url, tuple(sorted(settings.redis_kwargs().items())))
    keys = RedisKeys(settings.redis_prefix)
    filters, search = sidebar(settings)
    st.title("Sparkify churn risk · live")
    fragment = st.fragment(run_every=settings.dashboard_refresh_seconds)(live)
    fragment(client, keys, settings, filters, search)


main()

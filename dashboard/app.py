"""The Streamlit page: live churn risk from Redis, refreshed in place by a fragment every few seconds.

Only drawing lives here; every Redis read goes through ``dashboard.refresh.read_refresh`` (one per
refresh) plus one ``data.user_detail`` for the drill-down, and the CSV export when asked for. The Redis connection is created once per server process
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
from contracts.redis_keys import BANDS  # noqa: E402
from dashboard import charts, data  # noqa: E402
from dashboard.catch import CatchRate  # noqa: E402
from dashboard.changes import risk_changes  # noqa: E402
from dashboard.export import csv_bytes  # noqa: E402
from dashboard.monitoring import (Monitoring, alert_words, calibration_frame, cohort_frame, cohort_table,  # noqa: E402
                                  drift_frame, drift_subject, offline_figures)
from dashboard.formatting import (escape_markdown, fmt_ago, fmt_clock_time, fmt_count, fmt_day, fmt_number, fmt_span,  # noqa: E402
                                  fmt_time, fmt_value, redact_url)
from contracts.features import KEY_FEATURES, feature_label  # noqa: E402
from dashboard.population import Sample, dependence_frame  # noqa: E402
from dashboard.refresh import read_refresh  # noqa: E402
from dashboard.targets import LEVELS, STATUSES, Target, TargetFilter, TargetReader  # noqa: E402
from dashboard.usage import usage_tiles  # noqa: E402


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


STATUS_WORDS = {"active": "Active", "cancelled": "Cancelled"}
#: A delta that is a fact, not a change ("55 % paid", "2018 · 14:05 UTC") gets no up/down arrow.
PLAIN_DELTA_CSS = '<style>[class*="st-key-plain-"] [data-testid^="stMetricDeltaIcon"] {display: none;}</style>'


def plain_metric(where, key: str, label: str, value: str, delta: str | None, help: str) -> None:
    """A tile whose second line is grey and arrowless (its container's key is styled by ``PLAIN_DELTA_CSS``)."""
    with where.container(key=f"plain-{key}"):
        st.metric(label, value, delta=delta, delta_color="off", border=True, help=help)


def sidebar(settings: Settings) -> tuple[TargetFilter, int, str]:
    """Filters (outside the live fragment: changing one reruns the page once)."""
    with st.sidebar:
        st.header("Filters")
        status = st.radio("Users", STATUSES, format_func=STATUS_WORDS.__getitem__, horizontal=True, key="status",
                          help="Cancelled users are filtered and listed by the last risk they had before cancelling.")
        lo, hi = st.slider("Risk range", 0.0, 1.0, (0.0, 1.0), step=0.05, key="risk_range")
        bands = st.multiselect("Band", BANDS, default=[], key="bands", placeholder="any band",
                               help="high: at or above the model threshold; medium: above half of it; low: below.")
        levels = st.multiselect("Level", LEVELS, default=[], key="levels", placeholder="any level")
        limit = st.slider("Users in the table", 5, 200, 25, step=5, key="limit")
        search = st.text_input("Find user id", key="search", placeholder="e.g. 100042").strip()
        st.divider()
        st.caption(f"Redis {escape_markdown(redact_url(settings.redis_url))} · prefix "
                   f"{escape_markdown(settings.redis_prefix)} · refresh every {settings.dashboard_refresh_seconds:g} s")
    return TargetFilter(float(lo), float(hi), tuple(bands), tuple(levels), status), limit, search


def headline(snap: data.Snapshot, catch: CatchRate, mon: Monitoring, now_ms: int) -> None:
    """Three rows of four tiles: wide enough at 1,280 px that no value or label is cut."""
    h, hl = snap.health, snap.headline
    row = st.columns(4)
    row[0].metric("Active users", fmt_number(hl.active_users), border=True)
    row[1].metric("At high risk", fmt_number(hl.high_risk), border=True,
                  help=f"Active users with risk at or above the model threshold ({hl.threshold:.2f}).")
    row[2].metric("Churned so far", fmt_number(hl.churned), border=True)
    rate = f"{catch.rate * 100:.0f} %" if catch.rate is not None else "—"
    lead = f"median {fmt_span(catch.median_lead_ms)} ahead" if catch.median_lead_ms is not None else None
    plain_metric(row[3], "catch", "Caught before cancelling", rate, lead,
                 f"Of {catch.cancelled:,} users who cancelled so far, {catch.caught:,} had scored at or above the "
                 f"threshold before they did; below: the median time between the two (event time).")
    row = st.columns(4)
    row[0].metric("Events / s", fmt_number(h.events_per_s, 0), border=True,
                  help=f"Events read in total: {fmt_number(h.events_in)}; dead letters: {fmt_number(h.dead_letters)}.")
    plain_metric(row[1], "clock", "Event-time clock", fmt_day(h.clock_ms), fmt_clock_time(h.clock_ms),
                 f"Latest event time the streaming job has seen: {fmt_time(h.clock_ms)} UTC.")
    row[2].metric("Last score", fmt_ago(h.last_batch_wall_ms, now_ms), border=True,
                  help=f"Wall-clock age of the last scored batch (batch {fmt_number(h.batch_id)}, "
                       f"took {fmt_span(h.batch_ms)}).")
    row[3].metric("Lag", fmt_number(h.lag), border=True, help="Backlog reported by the streaming job's health record.")
    monitoring_tiles(snap, mon)


def monitoring_tiles(snap: data.Snapshot, mon: Monitoring) -> None:
    """The refresh's health and the monitoring's headline figures, four tiles like the rows above."""
    h, real, drift = snap.health, mon.realized, mon.drift
    row = st.columns(4)
    age = None if h.max_score_age_ms is None else f"{h.max_score_age_ms / 3_600_000:.1f} h"
    row[0].metric("Oldest score", age or "—", border=True,
                  help="Largest score age over active users: the event-time clock minus the time each one's score "
                       f"is as of. Users ranked after the last refresh: {fmt_number(h.active_users)}.")
    plain_metric(row[1], "refresh", "Last refresh", fmt_day(h.refresh_as_of_ms), fmt_clock_time(h.refresh_as_of_ms),
                 f"Event time of the last refresh, when every active user was rescored as of one clock "
                 f"({fmt_number(h.refresh_users)} users, took {fmt_span(h.refresh_ms)}).")
    offline = offline_figures(snap.model)["auroc"]
    delta = (f"{real.auroc - offline:+.3f} vs offline" if real.auroc is not None and offline is not None else None)
    row[2].metric("Realized AUROC", fmt_number(real.auroc, 3), delta=delta, border=True,
                  help=f"AUROC of the live scores against what happened next, pooled over "
                       f"{fmt_number(real.cohorts)} resolved cohorts; the delta is against the model's offline test "
                       f"AUROC ({fmt_number(offline, 3)}).")
    top = max(drift.feature_psi.values(), default=None)
    above = len(drift.alerts)
    plain_metric(row[3], "drift", "Largest feature PSI", fmt_number(top, 2),
                 f"{above} above {drift.threshold:.2f}" if drift.threshold is not None and mon.has_drift else None,
                 "Population stability index of the features against the training reference at the last refresh; "
                 "above 0.2 usually means the population has shifted.")


def _remember_selection(table_key: str) -> None:
    """Row click -> drill-down user, then a fresh table widget so the highlight cannot drift to whoever
    takes that row at the next refresh."""
    rows = st.session_state[table_key].selection.rows
    shown = st.session_state.get("shown_ids", [])
    if rows and rows[0] < len(shown):
        st.session_state["drill_user"] = shown[rows[0]]
    st.session_state["table_gen"] = st.session_state.get("table_gen", 0) + 1


def filter_words(filt: TargetFilter) -> str:
    parts = [f"risk {filt.min_risk:.2f}–{filt.max_risk:.2f}"]
    if filt.bands:
        parts.append("band " + "/".join(filt.bands))
    if filt.levels:
        parts.append("level " + "/".join(filt.levels))
    return " · ".join(parts)


def target_table(rows: list[Target], filt: TargetFilter, clock: int | None) -> None:
    cancelled = filt.status == "cancelled"
    frame = pd.DataFrame({
        "user": [t.user_id for t in rows], "level": [t.row.level for t in rows], "risk": [t.row.risk for t in rows],
        "band": [t.row.band for t in rows], "top drivers": [t.row.drivers_text for t in rows],
        "last activity": [fmt_ago(t.row.last_ts, clock) for t in rows]})
    config = {
        "user": st.column_config.TextColumn("User", width="small"),
        "level": st.column_config.TextColumn("Level", width="small"),
        "risk": st.column_config.ProgressColumn("Risk before cancelling" if cancelled else "Risk", min_value=0.0,
                                                max_value=1.0, format="%.2f"),
        "band": st.column_config.TextColumn("Band", width="small"),
        "top drivers": st.column_config.TextColumn("Top drivers", width="large"),
        "last activity": st.column_config.TextColumn("Last activity", help="Event time before the clock.")}
    if cancelled:
        frame.insert(4, "caught", [t.first_high_ts is not None and t.churned_ts is not None
                                   and t.first_high_ts <= t.churned_ts for t in rows])
        config["caught"] = st.column_config.CheckboxColumn("Caught", width="small",
                                                           help="Scored high before cancelling.")
    else:
        seen = st.session_state.setdefault("risk_seen", {})
        frame.insert(3, "change", risk_changes([(t.user_id, t.row.risk) for t in rows], seen))
        frame.insert(5, "alert", [t.row.alerting for t in rows])
        config["change"] = st.column_config.NumberColumn(
            "Δ risk", format="%+.3f", width="small",
            help="Change since this browser session first showed the user (since you opened the page).")
        config["alert"] = st.column_config.CheckboxColumn("Alert", width="small",
                                                          help="Alerting: crossed the threshold (with hysteresis).")
    st.session_state["shown_ids"] = [t.user_id for t in rows]
    key = f"table-{st.session_state.get('table_gen', 0)}"
    st.dataframe(frame, hide_index=True, key=key, on_select=lambda: _remember_selection(key),
                 selection_mode="single-row", column_config=config)
    st.caption("Click a row to open it on the right and in the usage summary below.")


def csv_download(reader: TargetReader, filt: TargetFilter, threshold: float, count: int) -> None:
    """The filtered users as CSV: built on request (a whole list is a read of every match), kept for the filter."""
    if st.button(f"Prepare CSV of {count:,} users", key="csv_prepare", disabled=count == 0):
        body, n = csv_bytes(reader.iter_all(filt, threshold))
        st.session_state["csv"] = (filt, body, n)
    prepared = st.session_state.get("csv")
    if prepared and prepared[0] == filt:
        st.download_button(f"Download {prepared[2]:,} users (CSV)", data=prepared[1], file_name="sparkify-targets.csv",
                           mime="text/csv", on_click="ignore", key="csv_download", type="primary")


def drill_down(client: redis.Redis, keys: RedisKeys, user_id: str, snap: data.Snapshot,
               now_ms: int) -> data.UserDetail | None:
    detail = data.user_detail(client, keys, user_id)
    if detail is None:
        st.info(f"User {escape_markdown(user_id)} is no longer in Redis.")
        return None
    row, threshold = detail.row, snap.headline.threshold
    st.markdown(f"**User {escape_markdown(row.user_id)}**")
    # st.text, not Markdown: even escaped Markdown turns a URL in a name into a link (GFM autolinks)
    st.text(" · ".join(v for v in (row.name or "unknown name", detail.location or "unknown location",
                                    row.level, detail.gender) if v))
    if row.churned:
        st.warning(f"Churned at {fmt_time(detail.churned_ts)} (UTC, event time); last score kept below.")
    c = st.columns(2)
    c[0].metric("Risk", f"{row.risk:.2f}", delta=f"{row.risk - threshold:+.2f} · {row.band or '?'}",
                delta_color="inverse", border=True,
                help=f"Churn probability and band; the delta is the distance to the alert threshold ({threshold:.2f}).")
    c[1].metric("Events", fmt_count(detail.n_events), border=True, help=f"{fmt_number(detail.n_events)} events.")
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
    return detail


def usage_summary(detail: data.UserDetail | None, sample: Sample) -> None:
    if detail is None:
        st.caption("Open a user to see their usage.")
        return
    st.caption(f"User {detail.user_id}: each figure against the mean over active users "
               f"(a sample of {sample.size:,} of {sample.population:,}, spread over the risk ranking).")
    tiles = usage_tiles(detail, sample)
    for start in range(0, len(tiles), 4):
        cols = st.columns(4)
        for i, (col, t) in enumerate(zip(cols, tiles[start:start + 4])):
            if t.plain:
                plain_metric(col, f"usage-{start + i}", t.label, t.value, t.delta, t.help)
            else:
                col.metric(t.label, t.value, delta=t.delta, delta_color="off", border=True, help=t.help)


def dependence_view(sample: Sample, importance: list[data.Importance]) -> None:
    features = sample.features()
    if not features:
        st.caption("No SHAP values to plot yet.")
        return
    ranked = [i.feature for i in importance if i.feature in features] + [f for f in features
                                                                        if f not in {i.feature for i in importance}]
    left, right = st.columns(2)
    feature = left.selectbox("Feature", ranked, index=0, format_func=feature_label, key="dep_feature")
    colour = right.selectbox("Colour by", ranked, index=min(1, len(ranked) - 1), format_func=feature_label,
                             key="dep_colour")
    frame = dependence_frame(sample, feature, colour)
    st.altair_chart(charts.dependence_chart(frame, feature_label(feature), feature_label(colour)),
                    use_container_width=True)
    st.caption(f"{len(frame):,} active users sampled across the risk ranking (of {sample.population:,}).")


def catch_list(catch: CatchRate) -> None:
    if not catch.cancelled:
        st.caption("Nobody has cancelled yet.")
        return
    rate = f"{catch.rate * 100:.0f} %" if catch.rate is not None else "—"
    st.markdown(f"**{catch.caught:,}** of **{catch.cancelled:,}** users who cancelled had scored high before "
                f"they did (**{rate}**)" + (f", a median **{fmt_span(catch.median_lead_ms)}** ahead."
                                             if catch.median_lead_ms is not None else "."))
    frame = pd.DataFrame([{"user": c.user_id, "level": c.level, "cancelled": fmt_time(c.cancelled_ts),
                           "risk before": c.risk_before, "caught": c.lead_ms is not None,
                           "high since": fmt_span(c.lead_ms) + " before" if c.lead_ms is not None else "—"}
                          for c in catch.recent])
    st.dataframe(frame, hide_index=True, column_config={
        "risk before": st.column_config.NumberColumn("Risk before", format="%.2f",
                                                     help="The last risk scored while the user was active."),
        "caught": st.column_config.CheckboxColumn("Caught", help="Scored at or above the threshold before cancelling."),
        "high since": st.column_config.TextColumn("High since", help="First score at or above the threshold, "
                                                                     "before the cancellation (event time).")})
    st.caption("The most recent cancellations (event time, UTC).")


def alert_feed(alerts: list[data.Alert], now_ms: int) -> None:
    if not alerts:
        st.caption("No threshold crossings or monitoring alerts yet.")
        return
    words = [alert_words(a) for a in alerts]
    frame = pd.DataFrame([{"when": fmt_ago(a.added_ms, now_ms), "kind": w.kind, "about": w.subject, "what": w.what,
                           "level": a.level, "event time": fmt_time(a.as_of)} for a, w in zip(alerts, words)])
    st.dataframe(frame, hide_index=True, height=300, column_config={
        "about": st.column_config.TextColumn("About", help="The user; for drift, what drifted; for realized AUROC, "
                                                           "the cohort (when it was scored)."),
        "what": st.column_config.TextColumn("What happened", width="large")})


def outcomes(mon: Monitoring, model: data.ModelInfo | None) -> None:
    """Did the predictions come true? Each resolved cohort's realized figures beside the offline ones."""
    st.subheader("Did the predictions come true?")
    horizon = model.horizon_days if model and model.horizon_days else "H"
    if not mon.cohorts:
        pending = f" {mon.pending:,} cohorts are waiting for their labels." if mon.pending else ""
        st.caption(f"No resolved cohorts yet (labels arrive {escape_markdown(horizon)} days after a refresh).{pending}")
        return
    real, offline = mon.realized, offline_figures(model)
    st.markdown(f"Pooled over **{fmt_number(real.cohorts or len(mon.cohorts))}** resolved cohorts "
                f"(**{fmt_number(real.users)}** user-scores, **{fmt_number(real.positives)}** cancelled within "
                f"{escape_markdown(horizon)} days): AUROC **{fmt_number(real.auroc, 3)}** (offline "
                f"{fmt_number(offline['auroc'], 3)}) · AP **{fmt_number(real.average_precision, 3)}** (offline "
                f"{fmt_number(offline['average_precision'], 3)}) · top-decile lift "
                f"**{fmt_number(real.top_decile_lift, 2)}** (offline {fmt_number(offline['top_decile_lift'], 2)}) · "
                f"Brier **{fmt_number(real.brier, 3)}** · calibration error "
                f"**{fmt_number(real.expected_calibration_error, 3)}**")
    st.altair_chart(charts.realized_chart(cohort_frame(mon.cohorts, offline)))
    st.caption("Each point is a cohort: the users scored at one refresh, labelled by whether they cancelled "
               f"within the next {escape_markdown(horizon)} days; its size is the cohort's user count. Dashed: "
               "the model's offline test figure. Small cohorts are noisy.")
    with st.expander(f"The {len(mon.cohorts):,} resolved cohorts"):
        st.dataframe(cohort_table(mon.cohorts), hide_index=True, column_config={
            c: st.column_config.NumberColumn(format="%.3f") for c in ("AUROC", "AP", "lift", "precision", "recall")})


def reliability(mon: Monitoring) -> None:
    st.subheader("Do the probabilities hold?")
    bins = calibration_frame(mon.realized.calibration)
    if bins.empty:
        st.caption("No resolved cohorts to pool yet.")
        return
    st.altair_chart(charts.reliability_chart(bins), use_container_width=True)
    st.caption("Reliability of the pooled resolved cohorts: of the users scored about x, the share who cancelled "
               "(10 equal-count bins, sized by user-scores). On the dashed diagonal the probabilities hold; they are "
               "only as good as the model's calibration.")


def drift_panel(mon: Monitoring) -> None:
    st.subheader("Drift")
    drift = mon.drift
    if not mon.has_drift:
        st.caption("No drift computed yet: at each refresh the streaming job compares the active users with the "
                   "model's training reference (switched off for a model without one).")
        return
    flagged = ", ".join(drift_subject(n) for n in drift.alerts) or "nothing"
    st.markdown(f"Prediction PSI **{fmt_number(drift.prediction_psi, 3)}** · above the threshold "
                f"({fmt_number(drift.threshold, 2)}): **{escape_markdown(flagged)}** · "
                f"{fmt_number(drift.users)} active users at {fmt_time(drift.as_of_ms)} UTC")
    st.altair_chart(charts.drift_chart(drift_frame(drift), drift.threshold), use_container_width=True)
    st.caption("Population stability index of each feature's (and the predicted risk's) distribution over the "
               "active users against the training snapshots' deciles. Under 0.1: stable; 0.1–0.2: moderate; above "
               "0.2: shifted.")


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


def live(client: redis.Redis, keys: RedisKeys, settings: Settings, filt: TargetFilter, limit: int,
         search: str) -> None:
    """One refresh of everything that changes; runs again every ``dashboard_refresh_seconds``."""
    now_ms = int(time.time() * 1000)
    try:
        page = read_refresh(client, keys, filt, limit, search)
    except redis.RedisError as exc:
        st.error(f"Redis at {redact_url(settings.redis_url)} is unreachable ({type(exc).__name__}); "
                 f"retrying every {settings.dashboard_refresh_seconds:g} s.", icon="🚨")
        return
    snap = page.snap
    if snap.empty:
        st.info(f"Waiting for the stream: no scored users under prefix '{settings.redis_prefix}' yet. "
                f"This page refreshes by itself every {settings.dashboard_refresh_seconds:g} s.", icon="⏳")
        if snap.model is None:
            st.caption("No model metadata in Redis yet either.")
        return
    headline(snap, page.catch, page.monitoring, now_ms)
    rows = page.targets.rows
    if search and page.found is None:
        st.warning(f"No user with id {escape_markdown(search)} in Redis; showing the filtered list instead.")
    elif page.found is not None:
        rows = [page.found]
    drill = ((page.found.user_id if page.found else None) or st.session_state.get("drill_user")
             or (rows[0].user_id if rows else None))

    left, right = st.columns([3, 2], gap="medium")
    detail = None
    with left:
        st.subheader("Target list")
        who = STATUS_WORDS[filt.status].lower()
        st.markdown(f"**{page.targets.count:,}** {who} users match · {escape_markdown(filter_words(filt))}")
        if rows:
            target_table(rows, filt, snap.health.clock_ms)
        else:
            st.caption(f"No {who} user passes the filters.")
        csv_download(TargetReader(client, keys), filt, page.threshold, page.targets.count)
    with right:
        st.subheader("Why this user?")
        if drill:
            detail = drill_down(client, keys, drill, snap, now_ms)
    st.subheader("Usage summary")
    usage_summary(detail, page.sample)
    a, b = st.columns(2, gap="medium")
    with a:
        st.subheader("What drives risk now")
        if snap.importance:
            st.altair_chart(charts.importance_chart(snap.importance), use_container_width=True)
            st.caption(f"Mean |SHAP| over {snap.headline.active_users:,} active users, live.")
        else:
            st.caption("No importance figures yet.")
    with b:
        st.subheader("SHAP dependence")
        dependence_view(page.sample, snap.importance)
    a, b = st.columns(2, gap="medium")
    with a:
        st.subheader("Risk distribution")
        st.altair_chart(charts.histogram_chart(snap.histogram, snap.headline.threshold), use_container_width=True)
    with b:
        st.subheader("Did we see it coming?")
        catch_list(page.catch)
    outcomes(page.monitoring, snap.model)
    a, b = st.columns(2, gap="medium")
    with a:
        reliability(page.monitoring)
    with b:
        drift_panel(page.monitoring)
    a, b = st.columns(2, gap="medium")
    with a:
        st.subheader("Alert feed")
        alert_feed(snap.alerts, now_ms)
    with b:
        st.subheader("Model card")
        model_card(snap.model, now_ms)


def main() -> None:
    st.set_page_config(page_title="Sparkify churn risk", page_icon="🎧", layout="wide")
    st.html(PLAIN_DELTA_CSS)
    settings = load_settings()
    client = redis_client(settings.redis_url, tuple(sorted(settings.redis_kwargs().items())))
    keys = RedisKeys(settings.redis_prefix)
    filt, limit, search = sidebar(settings)
    st.title("Sparkify churn risk · live")
    fragment = st.fragment(run_every=settings.dashboard_refresh_seconds)(live)
    fragment(client, keys, settings, filt, limit, search)


main()

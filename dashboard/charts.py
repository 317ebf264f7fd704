"""Altair charts for the page, each built from a small pandas frame that a pure function prepares.

The waterfall explains one user's score in the model's own units (log-odds): it starts at the model's
base value, adds each driver's SHAP contribution, lumps the remaining features into one step, and ends
at logit(risk), next to the alert threshold on the same scale.
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from dashboard.data import Bucket, Importance, UserDetail
from dashboard.formatting import fmt_value

UP, DOWN, TOTAL = "#d62728", "#2ca02c", "#7f7f7f"


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def waterfall_frame(detail: UserDetail) -> pd.DataFrame:
    """Steps (label, start, end, kind) from the base value through each driver to the final log-odds."""
    base = detail.base_log_odds()
    final = logit(detail.row.risk)
    if base is None:  # no full SHAP vector: start the drivers from where they must end
        base = final - sum(d.contribution for d in detail.row.drivers)
    steps = [("model base value", 0.0, base, "total")]
    level = base
    for d in detail.row.drivers:
        value = detail.features.get(d.feature, d.value)
        steps.append((f"{d.label} = {fmt_value(value)}", level, level + d.contribution, "up" if d.contribution > 0 else "down"))
        level += d.contribution
    rest = final - level
    if abs(rest) > 1e-9:
        others = max(len(detail.shap) - len(detail.row.drivers), 0)
        steps.append((f"{others} other features", level, final, "up" if rest > 0 else "down"))
    steps.append((f"score (risk {detail.row.risk:.2f})", 0.0, final, "total"))
    frame = pd.DataFrame(steps, columns=["step", "start", "end", "kind"])
    frame["order"] = range(len(frame))
    frame["delta"] = frame["end"] - frame["start"]
    return frame


def waterfall_chart(frame: pd.DataFrame, threshold: float) -> alt.LayerChart:
    color = alt.Color("kind:N", scale=alt.Scale(domain=["up", "down", "total"], range=[UP, DOWN, TOTAL]),
                      legend=alt.Legend(title=None, orient="bottom", labelExpr=(
                          "datum.label == 'up' ? 'raises risk' : datum.label == 'down' ? 'lowers risk' : 'total'")))
    y = alt.Y("step:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False))
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("start:Q", title="log-odds of churn (SHAP units)"), x2="end:Q", y=y, color=color,
        tooltip=[alt.Tooltip("step:N"), alt.Tooltip("delta:Q", format="+.3f", title="contribution")])
    rule = alt.Chart(pd.DataFrame({"x": [logit(threshold)], "what": [f"alert threshold {threshold:.2f}"]})).mark_rule(
        strokeDash=[4, 3], color="black").encode(x="x:Q", tooltip=["what:N"])
    return (bars + rule).properties(height=alt.Step(30))


def importance_chart(items: list[Importance], top: int = 12) -> alt.Chart:
    frame = pd.DataFrame([{"feature": i.label, "mean |SHAP|": i.mean_abs_shap} for i in items[:top]])
    return alt.Chart(frame).mark_bar(color="#1f77b4").encode(
        x=alt.X("mean |SHAP|:Q", title="mean |SHAP| (log-odds)"),
        y=alt.Y("feature:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
        tooltip=["feature:N", alt.Tooltip("mean |SHAP|:Q", format=".3f")]).properties(height=alt.Step(22))


def histogram_chart(buckets: list[Bucket], threshold: float) -> alt.LayerChart:
    frame = pd.DataFrame([{"lo": b.lo, "hi": b.hi, "users": b.count,
                           "band": "at or above threshold" if b.lo >= threshold else "below threshold"}
                          for b in buckets])
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("lo:Q", bin="binned", title="risk", scale=alt.Scale(domain=[0, 1])), x2="hi:Q",
        y=alt.Y("users:Q", title="active users"),
        color=alt.Color("band:N", scale=alt.Scale(domain=["below threshold", "at or above threshold"],
                                                  range=["#9ecae1", UP]), legend=alt.Legend(orient="bottom", title=None)),
        tooltip=[alt.Tooltip("lo:Q", format=".2f", title="from"), alt.Tooltip("hi:Q", format=".2f", title="to"), "users:Q"])
    rule = alt.Chart(pd.DataFrame({"x": [threshold]})).mark_rule(strokeDash=[4, 3], color="black").encode(x="x:Q")
    return (bars + rule).properties(height=260)


def dependence_chart(frame: pd.DataFrame, feature_label: str, colour_label: str) -> alt.Chart:
    """SHAP dependence: each sampled user's value of a feature against its SHAP contribution, coloured by a
    second feature (the interaction a single curve would hide)."""
    return alt.Chart(frame).mark_circle(size=18, opacity=0.7).encode(
        x=alt.X("value:Q", title=feature_label, scale=alt.Scale(zero=False)),
        y=alt.Y("shap:Q", title=f"SHAP of {feature_label} (log-odds)"),
        color=alt.Color("colour:Q", title=colour_label, scale=alt.Scale(scheme="viridis"),
                        legend=alt.Legend(orient="bottom", gradientLength=220, titleLimit=300)),
        tooltip=[alt.Tooltip("user:N"), alt.Tooltip("value:Q", format=".4g", title=feature_label),
                 alt.Tooltip("shap:Q", format="+.3f", title="SHAP"),
                 alt.Tooltip("colour:Q", format=".4g", title=colour_label)]).properties(height=300)


#: Width of each realized figure's row (a faceted chart cannot stretch to its container; this fits 1,280 px).
REALIZED_WIDTH = 640


def realized_chart(frame: pd.DataFrame) -> alt.FacetChart:
    """Each tracked figure per resolved cohort over event time (points sized by the cohort's users), one row per
    figure on its own scale, with the model's offline test figure as a dashed reference line."""
    base = alt.Chart(frame)
    line = base.mark_line(point=False, color="#1f77b4").encode(
        x=alt.X("as_of:T", title="cohort scored at (event time)"), y=alt.Y("value:Q", title=None,
                                                                         scale=alt.Scale(zero=False)))
    points = base.mark_circle(color="#1f77b4", opacity=0.9).encode(
        x="as_of:T", y="value:Q", size=alt.Size("users:Q", title="users in cohort", legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("as_of:T", title="cohort", format="%Y-%m-%d %H:%M"), "metric:N",
                 alt.Tooltip("value:Q", format=".3f", title="realized"),
                 alt.Tooltip("offline:Q", format=".3f", title="offline (test)"), "users:Q",
                 alt.Tooltip("positives:Q", title="cancelled")])
    offline = base.transform_filter("isValid(datum.offline)").mark_rule(strokeDash=[4, 3], color="black").encode(
        y="mean(offline):Q", tooltip=[alt.Tooltip("mean(offline):Q", format=".3f", title="offline (test)")])
    return alt.layer(line, points, offline).properties(height=110, width=REALIZED_WIDTH).facet(
        row=alt.Row("metric:N", title=None, sort=["AUROC", "average precision", "top-decile lift"],
                    header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold"))
    ).resolve_scale(y="independent")


def reliability_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Observed cancellation rate against mean predicted risk per bin, pooled over the resolved cohorts, with the
    diagonal a calibrated model lies on."""
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 3], color="black").encode(x="x:Q", y="y:Q")
    scale = alt.Scale(domain=[0, 1])
    line = alt.Chart(frame).mark_line(color=UP).encode(
        x=alt.X("mean_predicted:Q", title="mean predicted risk", scale=scale),
        y=alt.Y("observed_rate:Q", title="observed cancellation rate", scale=scale))
    points = alt.Chart(frame).mark_circle(color=UP, opacity=0.9).encode(
        x="mean_predicted:Q", y="observed_rate:Q", size=alt.Size("count:Q", title="user-scores",
                                                                 legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("mean_predicted:Q", format=".3f", title="mean predicted"),
                 alt.Tooltip("observed_rate:Q", format=".3f", title="observed"), alt.Tooltip("count:Q", title="n")])
    return (diagonal + line + points).properties(height=300)


def drift_chart(frame: pd.DataFrame, threshold: float | None) -> alt.LayerChart:
    """PSI per feature (and of the predicted risk) as bars, red above the alert threshold, the threshold a line."""
    bars = alt.Chart(frame.assign(order=range(len(frame)))).mark_bar().encode(
        x=alt.X("psi:Q", title="population stability index (PSI)"),
        y=alt.Y("label:N", sort=alt.SortField("order"), title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
        color=alt.Color("alert:N", scale=alt.Scale(domain=[False, True], range=["#9ecae1", UP]),
                        legend=alt.Legend(title=None, orient="bottom",
                                          labelExpr="datum.label == 'true' ? 'above threshold' : 'below threshold'")),
        tooltip=[alt.Tooltip("label:N", title="what"), alt.Tooltip("psi:Q", format=".3f", title="PSI")])
    if threshold is None:
        return alt.layer(bars).properties(height=alt.Step(22))
    rule = alt.Chart(pd.DataFrame({"x": [threshold], "what": [f"alert threshold {threshold:.2f}"]})).mark_rule(
        strokeDash=[4, 3], color="black").encode(x="x:Q", tooltip=["what:N"])
    return (bars + rule).properties(height=alt.Step(22))

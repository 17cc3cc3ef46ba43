"""Figures of the action-items page: closure by cohort against the target, overdue ageing, time to close."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from delivery_health.metrics.actions import OVERDUE_BUCKETS

BUCKET_COLOURS = ("#fdd49e", "#fc8d59", "#d7301f", "#7f0000")
NO_OWNER = "(no owner)"
TARGET = "#d62728"
SQUAD_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22")


def _totals(cohorts: pd.DataFrame) -> pd.DataFrame:
    return cohorts[cohorts["squad"].isna()].sort_values("period_start")


def closure(cohorts: pd.DataFrame, target: float) -> go.Figure:
    """Closure and on-time closure rate of each cohort (all selected squads), with the target line."""
    t = _totals(cohorts)
    x = [str(p) for p in t["period_start"]]
    fig = go.Figure([
        go.Bar(x=x, y=t["closure_rate"], name="closure rate", marker_color="#1f77b4",
               customdata=t[["resolved", "items"]], texttemplate="%{y:.0%}",
               hovertemplate="cohort %{x}<br>closure %{y:.0%} (%{customdata[0]} of %{customdata[1]})<extra></extra>"),
        go.Bar(x=x, y=t["on_time_closure_rate"], name="on-time closure rate", marker_color="#9ecae1",
               customdata=t[["resolved_on_time", "with_due_date"]], texttemplate="%{y:.0%}",
               hovertemplate="cohort %{x}<br>on time %{y:.0%} (%{customdata[0]} of %{customdata[1]} with a due date)"
                             "<extra></extra>"),
    ])
    fig.add_hline(y=target, line_dash="dash", line_color=TARGET)
    # The target's legend entry (an annotation on the line would sit on top of the bars).
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"target {target:.0%}",
                             line={"dash": "dash", "color": TARGET}))
    fig.update_layout(title="Closure by cohort (items created in the period)", barmode="group",
                      yaxis={"tickformat": ".0%", "range": [0, 1.08], "title": "share of the cohort"},
                      xaxis={"title": "cohort (period the items were created in)", "type": "category"},
                      legend={"orientation": "h", "y": -0.25}, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def overdue_ageing(items: pd.DataFrame, by: str = "squad") -> go.Figure:
    """Overdue items per squad or owner, stacked by how many days past their due date."""
    overdue = items[items["overdue"]]
    who = overdue[by].fillna(NO_OWNER if by == "owner" else "unassigned").astype(str)
    names = sorted(set(who))
    fig = go.Figure()
    for (label, _, _), colour in zip(OVERDUE_BUCKETS, BUCKET_COLOURS):
        counts = who[overdue["overdue_bucket"] == label].value_counts()
        fig.add_trace(go.Bar(y=[html.escape(n) for n in names], x=[int(counts.get(n, 0)) for n in names],
                             name=label, orientation="h", marker_color=colour,
                             hovertemplate="%{y}: %{x} items " + label + " overdue<extra></extra>"))
    fig.update_layout(title=f"Overdue action items by {by}, by days past due", barmode="stack",
                      xaxis={"title": "overdue items", "dtick": 1}, yaxis={"autorange": "reversed"},
                      height=max(300, 36 * len(names) + 180),
                      legend={"orientation": "h", "y": -0.35, "traceorder": "normal"},
                      margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def time_to_close(cohorts: pd.DataFrame) -> go.Figure:
    """Median days from creation to resolution per cohort: one line per squad, the total bold."""
    fig = go.Figure()
    frame = cohorts.sort_values("period_start")
    periods = sorted({str(p) for p in frame["period_start"]})
    for n, squad in enumerate(sorted(frame["squad"].dropna().unique())):
        part = frame[frame["squad"] == squad]
        fig.add_trace(go.Scatter(x=[str(p) for p in part["period_start"]], y=part["time_to_close_median_hours"] / 24,
                                 mode="lines+markers", name=html.escape(str(squad)), connectgaps=False,
                                 line={"color": SQUAD_COLOURS[n % len(SQUAD_COLOURS)]},
                                 hovertemplate="%{x}: median %{y:.1f} days<extra>" + html.escape(str(squad)) + "</extra>"))
    t = _totals(cohorts)
    fig.add_trace(go.Scatter(x=[str(p) for p in t["period_start"]], y=t["time_to_close_median_hours"] / 24,
                             mode="lines+markers", name="all selected", line={"width": 4, "color": "#333"},
                             hovertemplate="%{x}: median %{y:.1f} days<extra>all selected</extra>"))
    fig.update_layout(title="Median days to close, by cohort",
                      xaxis={"title": "cohort", "type": "category", "categoryorder": "array", "categoryarray": periods},
                      yaxis={"title": "median days", "rangemode": "tozero"},
                      legend={"orientation": "h", "y": -0.25}, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig

"""Plotly figures of the DORA trends page, built from ``metrics.dora`` frames (no queries here)."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

TIER_COLORS = {"elite": "#1a9850", "high": "#91cf60", "medium": "#fdae61", "low": "#d73027", None: "#d9d9d9"}
TIER_RANK = {"elite": 0, "high": 1, "medium": 2, "low": 3}
_BLUE, _GREY = "#1f77b4", "#7f7f7f"


def _total(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["squad"].isna()].sort_values("period_start")


def _layout(fig: go.Figure, title: str, y_title: str, percent: bool = False) -> go.Figure:
    fig.update_layout(title=title, height=320, margin={"l": 50, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.2}, hovermode="x unified")
    fig.update_yaxes(title=y_title, rangemode="tozero", tickformat=".0%" if percent else None)
    fig.update_xaxes(title=None)
    return fig


def deployments_figure(rows: pd.DataFrame) -> go.Figure:
    """Deployments per week per period (bars) with failed attempts (line), whole selection."""
    t = _total(rows)
    fig = go.Figure([
        go.Bar(x=t["period_start"], y=t["deploys_per_week"], name="deployments per week", marker_color=_BLUE,
               customdata=t[["deployments", "deployment_days"]],
               hovertemplate="%{y:.1f} per week (%{customdata[0]} deployments on %{customdata[1]} days)<extra></extra>"),
        go.Scatter(x=t["period_start"], y=t["failed_attempts"], name="failed attempts (not DORA failures)",
                   mode="lines+markers", line={"color": _GREY, "dash": "dot"}),
    ])
    return _layout(fig, "Deployment frequency", "per week / count")


def lead_time_figure(rows: pd.DataFrame) -> go.Figure:
    """Median lead time (line) inside a p75-p90 band, hours, whole selection."""
    t = _total(rows)
    fig = go.Figure([
        go.Scatter(x=t["period_start"], y=t["lead_time_p75_hours"], name="p75", mode="lines",
                   line={"color": "rgba(31,119,180,0.4)", "width": 1}),
        go.Scatter(x=t["period_start"], y=t["lead_time_p90_hours"], name="p75–p90 band", mode="lines", fill="tonexty",
                   fillcolor="rgba(31,119,180,0.15)", line={"color": "rgba(31,119,180,0.4)", "width": 1}),
        go.Scatter(x=t["period_start"], y=t["lead_time_median_hours"], name="median", mode="lines+markers",
                   line={"color": _BLUE, "width": 3}),
    ])
    return _layout(fig, "Lead time for changes", "hours")


def rates_figure(rows: pd.DataFrame) -> go.Figure:
    """Change failure rate and rework rate per period, whole selection."""
    t = _total(rows)
    fig = go.Figure([
        go.Scatter(x=t["period_start"], y=t["change_failure_rate"], name="change failure rate", mode="lines+markers",
                   line={"color": "#d62728"}),
        go.Scatter(x=t["period_start"], y=t["rework_rate"], name="rework rate", mode="lines+markers",
                   line={"color": "#ff7f0e", "dash": "dash"}),
    ])
    return _layout(fig, "Instability: change failure and rework rates", "share of deployments", percent=True)


def recovery_figure(rows: pd.DataFrame) -> go.Figure:
    """Median recovery time (line, hours) and incidents still open (bars), whole selection."""
    t = _total(rows)
    fig = go.Figure([
        go.Bar(x=t["period_start"], y=t["open_incidents"], name="incidents still open", marker_color="#c7c7c7",
               yaxis="y2"),
        go.Scatter(x=t["period_start"], y=t["recovery_median_hours"], name="median recovery (resolved)",
                   mode="lines+markers", line={"color": "#9467bd", "width": 3}),
    ])
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "title": "open", "rangemode": "tozero",
                              "showgrid": False})
    return _layout(fig, "Failed deployment recovery time", "hours")


# (column, label, value column, format)
_COMPARISON = (
    ("deployment_frequency_tier", "Deployment frequency", "deploys_per_week", "{:.1f}/wk"),
    ("lead_time_tier", "Lead time", "lead_time_median_hours", "{:.1f} h"),
    ("change_failure_rate_tier", "Change failure rate", "change_failure_rate", "{:.0%}"),
    ("recovery_time_tier", "Recovery time", "recovery_median_hours", "{:.1f} h"),
)


def _fmt(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    return fmt.format(value)


def squad_comparison_figure(window: pd.DataFrame) -> go.Figure:
    """A squads x metrics grid coloured by DORA tier, each cell showing the value (``dora_window`` frame)."""
    w = window.copy()
    w["label"] = w["squad"].fillna("All selected")
    labels = [lab for _, lab, _, _ in _COMPARISON]
    z, text = [], []
    for _, row in w.iterrows():
        z.append([TIER_RANK.get(row[tier], math.nan) for tier, _, _, _ in _COMPARISON])
        text.append([f"{_fmt(row[col], fmt)}<br>{row[tier] or '–'}" for tier, _, col, fmt in _COMPARISON])
    scale = [[0.0, TIER_COLORS["elite"]], [0.33, TIER_COLORS["high"]], [0.67, TIER_COLORS["medium"]],
             [1.0, TIER_COLORS["low"]]]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=list(w["label"]), text=text, texttemplate="%{text}", zmin=0, zmax=3,
                               colorscale=scale, showscale=False, xgap=3, ygap=3, hoverinfo="text"))
    fig.update_layout(title="Squads by DORA tier over the window", height=120 + 45 * len(w),
                      margin={"l": 120, "r": 20, "t": 50, "b": 30}, plot_bgcolor=TIER_COLORS[None])
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="top")
    return fig


def format_value(key: str, value: float | None) -> str:
    """A headline value for people: rates as %, durations in h or days, frequency per week."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if key in ("change_failure_rate", "rework_rate"):
        return f"{value:.0%}"
    if key in ("lead_time", "recovery_time"):
        return f"{value / 24:.1f} days" if abs(value) >= 48 else f"{value:.1f} h"
    return f"{value:.1f}/wk"


def format_change(key: str, change: float | None) -> str | None:
    """The change vs the previous window, signed, in the value's unit (None when not comparable)."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return None
    if key in ("change_failure_rate", "rework_rate"):
        return f"{change * 100:+.0f} pts"
    if key in ("lead_time", "recovery_time"):
        return f"{change:+.1f} h"
    return f"{change:+.1f}/wk"

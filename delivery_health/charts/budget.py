"""Budget burn figures: the S-curve of one currency, variance bars, the SOW consumed-vs-elapsed chart."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

_PLANNED, _ACTUAL, _FORECAST, _BUDGET = "#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c"
_OVER, _UNDER = "#d62728", "#2ca02c"


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      legend={"orientation": "h", "y": -0.15}, hovermode="x unified")
    return fig


def s_curve(series: pd.DataFrame, totals: dict[str, Any], as_of: date) -> go.Figure:
    """Cumulative planned, actual and forecast spend of one currency over the budget period.

    ``series`` is ``budget.burn_view(...).series`` for one currency; ``totals`` its ``burn_totals`` row.
    The planned line runs straight between month ends, so at the as-of date it passes through
    planned to date (the pro-rata rule is linear in days)."""
    currency = series["currency"].iloc[0]
    start = series["month"].iloc[0]
    x_planned = [start] + list(series["month_end"])
    fig = go.Figure()
    fig.add_scatter(x=x_planned, y=[0.0] + list(series["planned_cum"]), name="Planned (cumulative budget)",
                    line={"color": _PLANNED, "dash": "dash"}, mode="lines+markers")
    actual = series[series["actual_cum"].notna()]
    if not actual.empty:
        x_actual = [start] + [min(d, as_of) for d in actual["month_end"]]
        fig.add_scatter(x=x_actual, y=[0.0] + list(actual["actual_cum"]), name="Actual (burn to date)",
                        line={"color": _ACTUAL, "width": 3}, mode="lines+markers")
    ahead = series[series["forecast_cum"].notna()]
    if not ahead.empty:
        anchor = max(as_of, start - timedelta(days=1))
        fig.add_scatter(x=[anchor] + list(ahead["month_end"]),
                        y=[totals["burn_to_date"]] + list(ahead["forecast_cum"]),
                        name="Forecast at the run rate", line={"color": _FORECAST, "dash": "dot", "width": 3},
                        mode="lines")
    fig.add_hline(y=totals["budget_total"], line={"color": _BUDGET, "width": 1},
                  annotation_text=f"Total budget {totals['budget_total']:,.0f} {currency}",
                  annotation_position="top left")
    if series["month"].iloc[0] <= as_of <= series["month_end"].iloc[-1]:
        _vline(fig, as_of, f"as of {as_of:%d %b %Y}", _ACTUAL, "bottom right")
    if totals.get("exhaustion_date") is not None:
        _vline(fig, totals["exhaustion_date"], f"budget exhausted {totals['exhaustion_date']:%d %b %Y}",
               _OVER, "top right")
    fig.update_yaxes(title=f"{currency} (cumulative)", tickformat=",.0f", rangemode="tozero")
    return _layout(fig, f"Cumulative spend vs plan, {currency}", height=440)


def _vline(fig: go.Figure, day: date, text: str, color: str, position: str) -> None:
    # add_vline's annotation cannot handle date axes on every plotly version: draw a shape + note.
    fig.add_shape(type="line", x0=day, x1=day, y0=0, y1=1, yref="paper", line={"color": color, "dash": "dot"})
    fig.add_annotation(x=day, y=1 if position.startswith("top") else 0, yref="paper", text=text, showarrow=False,
                       xanchor="left" if position.endswith("right") else "right",
                       yanchor="bottom" if position.startswith("top") else "bottom",
                       font={"color": color})


def variance_bars(frame: pd.DataFrame, label: str, currency: str, title: str) -> go.Figure:
    """Variance (burn - planned to date) per ``label`` value of one currency: red over plan, green under."""
    frame = frame.sort_values("variance")
    colors = [_OVER if v > 0 else _UNDER for v in frame["variance"]]
    pct = [f"{p:+.0%} of plan" if pd.notna(p) else "no plan to date" for p in frame["variance_pct"]]
    fig = go.Figure(go.Bar(x=frame["variance"], y=frame[label].astype(str), orientation="h", marker_color=colors,
                           text=pct, textposition="auto",
                           customdata=frame[["burn_to_date", "planned_to_date"]].to_numpy(),
                           hovertemplate="%{y}: variance %{x:,.0f}<br>burn %{customdata[0]:,.0f}"
                                         " vs planned %{customdata[1]:,.0f}<extra></extra>"))
    fig.update_xaxes(title=f"{currency}: burn to date - planned to date", tickformat=",.0f", zeroline=True)
    fig = _layout(fig, title, height=max(220, 60 + 40 * len(frame)))
    fig.update_layout(hovermode="closest")
    return fig


def sow_chart(sows: pd.DataFrame) -> go.Figure:
    """Per SOW: share of its time elapsed (grey) vs share of its value invoiced (red when flagged)."""
    sows = sows.iloc[::-1]  # plotly draws the first row at the bottom
    labels = [f"{r.sow_id} · {r.vendor or ''}" for r in sows.itertuples()]
    fig = go.Figure()
    fig.add_bar(y=labels, x=sows["elapsed_pct"], orientation="h", name="Time elapsed", marker_color=_PLANNED,
                offsetgroup="elapsed",
                hovertemplate="%{y}: %{x:.0%} of time elapsed<extra></extra>")
    # Two traces (not one with per-bar colours) so that the legend explains the red.
    for flagged, name, color in ((False, "Value invoiced (consumed)", _ACTUAL),
                                 (True, "Value invoiced, flagged SOW", _OVER)):
        x = [v if f == flagged else None for v, f in zip(sows["consumed_pct"], sows["flagged"])]
        fig.add_bar(y=labels, x=x, orientation="h", name=name, marker_color=color, offsetgroup="consumed",
                    text=[f"{v:.0%}" if v is not None and v == v else "" for v in x], textposition="outside",
                    hovertemplate="%{y}: %{x:.0%} of value invoiced<extra></extra>")
    fig.add_vline(x=1.0, line={"color": "black", "width": 1, "dash": "dot"})
    fig.update_xaxes(tickformat=".0%", title="share of the SOW (100 % = all its value / all its time)")
    fig = _layout(fig, "Vendor SOWs: consumed vs elapsed (red = flagged)", height=max(240, 80 + 50 * len(sows)))
    fig.update_layout(barmode="group", hovermode="closest", legend={"orientation": "h", "y": 1.0, "x": 0,
                                                                     "yanchor": "bottom"})
    return fig

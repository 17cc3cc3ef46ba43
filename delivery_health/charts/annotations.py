"""Release and freeze-window annotations drawn on every trend chart (from ``overview.events_in_window``)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go

_LINE = {"color": "#6b7280", "width": 1, "dash": "dash"}
_WINDOW_FILL = "rgba(107, 114, 128, 0.12)"


def with_events(fig: go.Figure, events: pd.DataFrame | None) -> go.Figure:
    """``fig`` with a dashed line per one-day event and a shaded band per window (freeze), each labelled.

    Shapes and annotations are added one by one (not ``add_vline``'s annotation helper, which
    cannot place text on a date axis), on the x axis's dates, across the whole plot height.
    """
    if events is None or events.empty:
        return fig
    for n, e in enumerate(events.itertuples()):
        label = f"{e.label} ({e.squad})" if isinstance(e.squad, str) and e.squad else e.label
        if pd.notna(e.end_date):
            fig.add_shape(type="rect", xref="x", yref="paper", x0=e.date, x1=e.end_date + timedelta(days=1), y0=0, y1=1,
                          fillcolor=_WINDOW_FILL, line_width=0, layer="below")
        else:
            fig.add_shape(type="line", xref="x", yref="paper", x0=e.date, x1=e.date, y0=0, y1=1, line=_LINE)
        # Alternate heights so labels of nearby events do not sit on each other.
        fig.add_annotation(x=e.date, xref="x", y=1.0 - 0.08 * (n % 3), yref="paper", text=label, showarrow=False,
                           xanchor="left", yanchor="top", font={"size": 10, "color": "#374151"},
                           hovertext=f"{e.kind}: {label}", bgcolor="rgba(255,255,255,0.7)")
    return fig

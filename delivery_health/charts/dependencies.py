"""Figures of the dependency-risk page: the squad-by-squad matrix and the network of blocking chains."""

from __future__ import annotations

import html
from collections import defaultdict

import pandas as pd
import plotly.graph_objects as go

AT_RISK = "#d62728"
IN_CYCLE = "#ff7f0e"
OK = "#7f8c8d"
NODE = "#1f77b4"


def squad_matrix(pairs: pd.DataFrame) -> go.Figure:
    """Blocker squad (rows) x blocked squad (columns): colour = at-risk dependencies, text = "at risk / open"."""
    blockers = sorted(set(pairs["blocker_squad"]))
    blocked = sorted(set(pairs["blocked_squad"]))
    cell = {(r.blocker_squad, r.blocked_squad): (int(r.open), int(r.at_risk)) for r in pairs.itertuples()}
    z = [[cell.get((b, d), (0, 0))[1] for d in blocked] for b in blockers]
    text = [[(f"{cell[(b, d)][1]} / {cell[(b, d)][0]}" if (b, d) in cell else "") for d in blocked] for b in blockers]
    fig = go.Figure(go.Heatmap(
        z=z, x=[html.escape(d) for d in blocked], y=[html.escape(b) for b in blockers], text=text,
        texttemplate="%{text}", colorscale=[[0, "#f7f7f7"], [1, AT_RISK]], zmin=0, xgap=2, ygap=2,
        showscale=False,
        hovertemplate="%{y} blocks %{x}<br>at risk / open: %{text}<extra></extra>"))
    fig.update_layout(title="Squad pairs: at risk / open",
                      xaxis_title="blocked squad (waits)", yaxis_title="blocker squad (must deliver)",
                      yaxis_autorange="reversed", height=max(320, 60 * len(blockers) + 160),
                      margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def layout(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Deterministic positions: x = the item's chain depth (blockers left), y = its rank in that column
    ordered by squad then key, centred on 0."""
    depth: dict[str, int] = {}
    squad: dict[str, str] = {}
    for r in rows.itertuples():
        depth[r.blocker_key] = int(r.blocker_depth)
        depth[r.blocked_key] = int(r.depth)
        squad[r.blocker_key] = r.blocker_squad
        squad[r.blocked_key] = r.blocked_squad
    columns: dict[int, list[str]] = defaultdict(list)
    for key, d in depth.items():
        columns[d].append(key)
    pos = {}
    for d, keys in columns.items():
        keys.sort(key=lambda k: (str(squad[k]), k))
        for i, key in enumerate(keys):
            pos[key] = (float(d), (len(keys) - 1) / 2 - i)
    return pos


NETWORK_MAX_EDGES = 150  # more arrows than this are no longer readable (and slow to draw)


def network_edges(rows: pd.DataFrame, limit: int = NETWORK_MAX_EDGES) -> pd.DataFrame:
    """The dependencies the network draws: all of them up to ``limit``, else the at-risk and cyclic ones
    first, then the deepest chains (the full list stays in the table below the chart)."""
    if len(rows) <= limit:
        return rows
    order = rows.assign(_risk=rows["at_risk"].astype(int), _cycle=rows["in_cycle"].astype(int))
    order = order.sort_values(["_risk", "_cycle", "depth", "blocked_key"], ascending=[False, False, False, True],
                              kind="stable")
    return order.head(limit).drop(columns=["_risk", "_cycle"])


def network(rows: pd.DataFrame) -> go.Figure:
    """Blocking chains: an arrow from blocker to blocked, at-risk ones red, cycle edges orange.
    At most ``NETWORK_MAX_EDGES`` arrows (``network_edges``); the title says when some are left out."""
    total = len(rows)
    rows = network_edges(rows)
    pos = layout(rows)
    fig = go.Figure()
    for style, colour, width, dash in (("ok", OK, 1, "solid"), ("cycle", IN_CYCLE, 2, "dash"), ("risk", AT_RISK, 3, "solid")):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for r in rows.itertuples():
            kind = "risk" if r.at_risk else ("cycle" if r.in_cycle else "ok")
            if kind == style:
                (x0, y0), (x1, y1) = pos[r.blocker_key], pos[r.blocked_key]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        name = {"ok": "blocks", "cycle": "blocks (in a cycle)", "risk": "blocks, at risk"}[style]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "width": width, "dash": dash},
                                 name=name, hoverinfo="skip", visible=True if xs else "legendonly"))
    arrows = []  # arrowheads show the direction: blocker -> blocked (set at once: add_annotation is O(n) each)
    for r in rows.itertuples():
        (x0, y0), (x1, y1) = pos[r.blocker_key], pos[r.blocked_key]
        colour = AT_RISK if r.at_risk else (IN_CYCLE if r.in_cycle else OK)
        arrows.append({"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x", "ayref": "y",
                       "text": "", "showarrow": True, "arrowhead": 3, "arrowsize": 1.2, "arrowcolor": colour,
                       "standoff": 9, "startstandoff": 9})
    fig.update_layout(annotations=arrows)
    info: dict[str, str] = {}
    risky: set[str] = set()
    for r in rows.itertuples():
        for key, summary, sq, status in ((r.blocker_key, r.blocker_summary, r.blocker_squad, r.blocker_status),
                                         (r.blocked_key, r.blocked_summary, r.blocked_squad, r.blocked_status)):
            info[key] = "<br>".join(html.escape(str(v)) for v in (key, summary if pd.notna(summary) else "(not in the export)",
                                                                   f"squad: {sq}", f"status: {status if pd.notna(status) else 'unknown'}"))
        if r.at_risk:
            risky |= {r.blocker_key, r.blocked_key}
    keys = sorted(pos)
    fig.add_trace(go.Scatter(
        x=[pos[k][0] for k in keys], y=[pos[k][1] for k in keys], mode="markers+text", name="work item",
        text=[html.escape(k) for k in keys], textposition="top center", hovertext=[info[k] for k in keys],
        hoverinfo="text", marker={"size": 14, "color": [AT_RISK if k in risky else NODE for k in keys],
                                  "line": {"width": 1, "color": "white"}}))
    depth_max = int(max((p[0] for p in pos.values()), default=0))
    fig.update_layout(
        title="Blocking chains" if len(rows) == total else
              f"Blocking chains: the {len(rows)} most at risk of {total} (all are in the table below)",
        xaxis={"tickmode": "array", "tickvals": list(range(depth_max + 1)),
               "ticktext": [f"depth {d}" for d in range(depth_max + 1)], "zeroline": False, "showgrid": False},
        yaxis={"visible": False}, height=max(360, 40 * max(len(v) for v in _column_sizes(pos).values()) + 140),
        legend={"orientation": "h", "y": -0.08}, margin={"l": 10, "r": 10, "t": 60, "b": 40})
    return fig


def _column_sizes(pos: dict[str, tuple[float, float]]) -> dict[float, list[str]]:
    cols: dict[float, list[str]] = defaultdict(list)
    for key, (x, _) in pos.items():
        cols[x].append(key)
    return cols or {0.0: []}

"""The blocking-chains network stays readable: past its limit it draws the riskiest dependencies and says so."""

from __future__ import annotations

import pandas as pd

from delivery_health.charts.dependencies import network, network_edges


def _rows(n: int) -> pd.DataFrame:
    # Dependency k: K-k blocks W-k. Every 10th is at risk, every 25th in a cycle; depth k % 4.
    return pd.DataFrame([{
        "blocker_key": f"K-{k}", "blocked_key": f"W-{k}", "blocker_squad": "Platform", "blocked_squad": "Checkout",
        "blocker_status": "In Progress", "blocked_status": "To Do", "blocker_summary": "s", "blocked_summary": "s",
        "at_risk": k % 10 == 0, "in_cycle": k % 25 == 0, "depth": k % 4, "blocker_depth": 0,
    } for k in range(n)])


def test_a_small_network_is_drawn_whole() -> None:
    fig = network(_rows(12))
    assert len(fig.layout.annotations) == 12  # one arrow per dependency
    assert fig.layout.title.text == "Blocking chains"


def test_a_large_network_keeps_the_riskiest_and_says_how_many_are_left_out() -> None:
    rows = _rows(1000)
    kept = network_edges(rows, limit=150)
    # The 100 at risk (k = 0, 10, ..., 990) come first, then the 20 in a cycle but not at risk
    # (k = 25, 75, ..., 975: multiples of 25 but not of 10), then 30 of the deepest (depth 3).
    assert len(kept) == 150
    assert kept["at_risk"].sum() == 100
    rest = kept[~kept["at_risk"]]
    assert rest["in_cycle"].sum() == 20 and set(rest["in_cycle"].head(20)) == {True}
    assert set(rest[~rest["in_cycle"]]["depth"]) == {3}
    fig = network(rows)
    assert len(fig.layout.annotations) == 150
    assert fig.layout.title.text == "Blocking chains: the 150 most at risk of 1000 (all are in the table below)"

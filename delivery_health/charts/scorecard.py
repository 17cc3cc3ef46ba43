"""The quarterly scorecard as a table for people: tiers with their move, rates with their change in points."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd

from delivery_health.metrics.quarterly import TIERS, tier_change

TIER_LABELS = {"deployment_frequency": "Deploy frequency", "lead_time": "Lead time",
               "change_failure_rate": "Change failure", "recovery_time": "Recovery"}
ORGANISATION = "All squads"
# What the columns of ``scorecard_table`` mean: shown with the table on the home page and in the review pack.
COLUMNS_EXPLAINED = (
    "DORA tiers are the DORA 2023 clusters over each quarter (▲/▼ = moved up/down since the previous one); "
    "at-risk dependencies are the open ones today (exports carry no link history, so no change is shown); "
    "budget variance is burn minus plan for the quarter's year as of its end, as a share of plan; closure is the "
    "share of the quarter's action items resolved by its end.")


# Link columns of ``scorecard_table``: column -> (page, what the link says). Relative links, so they work
# behind any host; each opens the page with the row's squad and the quarter, where its figure is drilled into.
LINKS = {"dora_link": ("DORA_trends", "DORA trends"), "dependencies_link": ("Dependency_risk", "Dependencies"),
         "budget_link": ("Budget_burn", "Budget"), "actions_link": ("Action_items", "Action items")}


def _tier(now: str | None, before: str | None) -> str:
    if now is None:
        return "–" if before is None else f"– (was {before})"
    move = tier_change(now, before)
    arrow = "" if move is None else " ▲" if move > 0 else " ▼" if move < 0 else " ="
    return f"{now}{arrow}" + (f" (was {before})" if move else "")


def _rate(now: float | None, before: float | None, signed: bool = False) -> str:
    if now is None or pd.isna(now):
        return "–"
    text = f"{now:+.0%}" if signed else f"{now:.0%}"
    if before is None or pd.isna(before):
        return text
    return f"{text} ({(now - before) * 100:+.0f} pts)"


def scorecard_table(frame: pd.DataFrame, quarter: str) -> pd.DataFrame:
    """Display columns of ``quarterly.squad_scorecard`` plus the ``LINKS`` columns: links to each page for that
    squad and quarter."""
    rows = []
    for r in frame.to_dict("records"):
        squad = r["squad"] or ORGANISATION
        row = {"Squad": squad}
        for t in TIERS:
            row[TIER_LABELS[t]] = _tier(r[f"{t}_tier"], r[f"{t}_tier_previous"])
        row["At-risk dependencies (now)"] = r["at_risk_dependencies"]
        currency = f" {r['budget_currency']}" if r["budget_currency"] else ""
        row["Budget variance"] = (_rate(r["budget_variance_pct"], r["budget_variance_pct_previous"], signed=True)
                                  + (currency if r["budget_variance_pct"] is not None else ""))
        row["Action-item closure"] = _rate(r["closure_rate"], r["closure_rate_previous"])
        query = {"period": quarter, **({"squad": r["squad"]} if r["squad"] else {})}
        row.update({column: f"{page}?{urlencode(query)}" for column, (page, _) in LINKS.items()})
        rows.append(row)
    return pd.DataFrame(rows)

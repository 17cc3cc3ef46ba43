"""The quarterly review: per squad, each page's headline figure for a quarter and the change vs the one before.

Every figure is the page's own function over the quarter, or one reading the same definitions (SQL expressions,
rules) for the scorecard's rows only (tests hold each equal to the page's), so the scorecard, the pages and the
CLI cannot disagree:

- DORA tiers: ``dora.dora_window``'s over the quarter (to the as-of date while it runs); both quarters
  from one read of the facts (``dora.dora_windows_reads``, run beside the scorecard's other parts).
- Open at-risk dependencies: ``dependencies.at_risk_by_squad_pair`` (``dependency_risk``'s at-risk flag) as of
  the as-of date, counting a dependency for a squad when either side belongs to it (the dependency page's squad
  filter).
  Exports hold the issues' *current* status and no link history, so a past quarter's count
  cannot be rebuilt: the change column stays empty rather than show a made-up number.
- Budget variance: ``budget.variance_pct_by_squad`` (``burn_totals`` per squad) for the quarter's (fiscal) year as
  of the quarter's end (or the as-of date), as a fraction of planned; only for a squad budgeting in one currency
  (variance fractions of two currencies are not one number).
- Action-item closure: ``actions.cohorts`` for the items created in the quarter, resolved by the
  quarter's end (or the as-of date).

Columns (``squad_scorecard``): ``squad``, ``{deployment_frequency,lead_time,change_failure_rate,
recovery_time}_tier`` and ``..._tier_previous``; ``at_risk_dependencies``; ``budget_currency``,
``budget_variance_pct``, ``budget_variance_pct_previous``; ``closure_rate``, ``closure_rate_previous``,
``action_items``. Tiers are elite|high|medium|low or None; fractions in [0, 1] (variance may exceed).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine

from delivery_health import selection, store
from delivery_health.metrics import actions, budget, dependencies, dora
from delivery_health.metrics.overview import squad_names
from delivery_health.settings import Settings

TIERS = ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time")
TIER_RANK = {"low": 0, "medium": 1, "high": 2, "elite": 3}
COLUMNS = (["squad"] + [f"{t}_tier" for t in TIERS] + [f"{t}_tier_previous" for t in TIERS]
           + ["at_risk_dependencies", "budget_currency", "budget_variance_pct", "budget_variance_pct_previous",
              "closure_rate", "closure_rate_previous", "action_items"])


def review_quarters(quarter: str, as_of: date, fiscal_start: int = 1) -> dict[str, tuple[date, date]]:
    """``{"current": (start, end), "previous": (start, end)}``: a running quarter ends at ``as_of``."""
    start, end = selection.quarter_bounds(quarter, fiscal_start)
    prev_start, prev_end = selection.quarter_bounds(selection.previous_quarter(quarter, fiscal_start), fiscal_start)
    return {"current": (start, min(end, as_of)), "previous": (prev_start, prev_end)}


def _tiers(windows: list[pd.DataFrame]) -> list[dict[str | None, dict]]:
    """For each ``dora_windows`` frame: squad (None: the organisation) -> its four tiers."""
    out = []
    for window in windows:
        frame = dora.tiers_of(window)
        # String columns hold a missing tier as NaN: make it None, like the other figures.
        out.append({None if pd.isna(row["squad"]) else row["squad"]:
                    {k: None if pd.isna(v) else v for k, v in row.items()} for row in frame.to_dict("records")})
    return out


def _variances(engine: Engine, settings: Settings, names: list[str], dates: list[date]) -> list[dict[str, tuple]]:
    """For each date: squad -> (currency or currencies, variance fraction or None when several currencies or no
    plan)."""
    return [{squad: (rows[0] if len(rows) == 1 else (", ".join(c for c, _ in rows), None))
             for squad, rows in per_squad.items()}
            for per_squad in budget.variance_pct_by_squad(engine, settings, names, dates)]


def _at_risk(engine: Engine, settings: Settings, as_of: date) -> dict[str | None, int]:
    """squad (None: the organisation) -> open at-risk dependencies with either side in it."""
    counts: dict[str | None, int] = {None: 0}
    for blocker, blocked, n in dependencies.at_risk_by_squad_pair(engine, settings, as_of):
        counts[None] += n
        for squad in {blocker, blocked}:
            counts[squad] = counts.get(squad, 0) + n
    return counts


def _closure(engine: Engine, settings: Settings, window: tuple[date, date]) -> dict[str | None, dict]:
    frame = actions.cohorts(engine, settings, window[0], window[1], as_of=window[1], by="quarter")
    return {None if pd.isna(row["squad"]) else row["squad"]: row for row in frame.to_dict("records")}


def squad_scorecard(engine: Engine, settings: Settings, quarter: str, as_of: date,
                    squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per squad (the selected ones, else every known squad) plus ``squad`` None for the whole
    organisation; see the module docstring for the columns. ``for_squads`` of the whole scorecard: every
    figure of a squad is its own, so a selection only picks rows (the home page keeps the whole scorecard
    cached and picks from it when the squad filter changes)."""
    return for_squads(_whole_scorecard(engine, settings, quarter, as_of), squads)


def for_squads(card: pd.DataFrame, squads: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``squads`` of a whole scorecard, in that order, then the organisation's; a squad without a
    row (nothing of it loaded) gets an empty one, as the whole scorecard would have given it."""
    if not squads:
        return card
    known = {squad: row for squad, row in zip(card["squad"], card.to_dict("records"))}
    rows = [known.get(squad) or _row(squad, {}, {}, {}, {}, {}, {}, {}) for squad in [*squads, None]]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return _none_stays_none(frame, rows)


def _whole_scorecard(engine: Engine, settings: Settings, quarter: str, as_of: date) -> pd.DataFrame:
    quarters = review_quarters(quarter, as_of, settings.fiscal_year_start_month)
    now, before = quarters["current"], quarters["previous"]
    names = squad_names(engine, settings)
    # The DORA tiers' queries beside the other parts, not inside one of them (where they would run one after
    # another): on PostgreSQL every read runs at once, the longest (lead times) first.
    tier_reads = dora.dora_windows_reads(engine, settings, [before, now])
    done = store.concurrently(
        engine, *tier_reads.calls,
        lambda: _closure(engine, settings, now), lambda: _closure(engine, settings, before),
        lambda: _at_risk(engine, settings, as_of),
        lambda: _variances(engine, settings, names, [before[1], now[1]]))
    n = len(tier_reads.calls)
    tiers_before, tiers_now = _tiers(tier_reads.finish(done[:n]))
    closure_now, closure_before, risk, (variance_before, variance_now) = done[n:]
    rows = [_row(squad, tiers_now, tiers_before, closure_now, closure_before, risk, variance_now, variance_before)
            for squad in [*names, None]]
    return _none_stays_none(pd.DataFrame(rows, columns=COLUMNS), rows)


def _row(squad: str | None, tiers_now: dict, tiers_before: dict, closure_now: dict, closure_before: dict,
         risk: dict[str | None, int], variance_now: dict, variance_before: dict) -> dict:
    """One squad's (None: the organisation's) row from the parts (empty parts: a squad with nothing loaded)."""
    row: dict = {"squad": squad}
    for t in TIERS:
        row[f"{t}_tier"] = tiers_now.get(squad, {}).get(t)
        row[f"{t}_tier_previous"] = tiers_before.get(squad, {}).get(t)
    row["at_risk_dependencies"] = risk.get(squad, 0)
    if squad is None:
        row["budget_currency"], row["budget_variance_pct"], row["budget_variance_pct_previous"] = None, None, None
    else:
        row["budget_currency"], row["budget_variance_pct"] = variance_now.get(squad, (None, None))
        row["budget_variance_pct_previous"] = variance_before.get(squad, (None, None))[1]
    row["closure_rate"] = closure_now.get(squad, {}).get("closure_rate")
    row["closure_rate_previous"] = closure_before.get(squad, {}).get("closure_rate")
    row["action_items"] = int(closure_now.get(squad, {}).get("items") or 0)
    return row


def _none_stays_none(frame: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    for col in [c for c in COLUMNS if c.endswith(("_tier", "_tier_previous", "squad", "currency"))]:
        frame[col] = pd.Series([r[col] for r in rows], index=frame.index, dtype=object)  # None stays None
    return frame


def tier_change(now: str | None, before: str | None) -> int | None:
    """+n when the tier improved by n steps, -n when it fell, None when either is missing."""
    if now is None or before is None:
        return None
    return TIER_RANK[now] - TIER_RANK[before]

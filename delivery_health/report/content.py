"""The quarterly review pack's content as plain data (no HTML): the metric functions the pages call.

Each section calls exactly the functions its page calls, with the quarter as the window, so
a figure in the pack equals the page's and ``python -m delivery_health metrics ... --format json``'s
for the same window:

- Squads at a glance: ``quarterly.squad_scorecard`` for the quarter as of "today", the home page's
  call: tiers per squad with the previous quarter's, at-risk dependencies today, budget variance
  and action-item closure.
- DORA: ``dora_headline`` over the quarter (value and tier) and ``dora_window`` over the previous
  quarter (the row the headline reads its values from: "previous"; change = this -
  previous, so not the headline's own equal-length window), ``dora_tiers_frame`` per squad,
  ``dora_trends`` by week over both quarters for the charts, ``dora_drill.data_quality``, and the
  release/freeze events over those weeks (``overview.events_in_window``) drawn on the charts.
- Dependency risk: ``dependency_risk`` + ``summary`` as of the quarter end, the at-risk list (top
  ``AT_RISK_TOP``) and the squad pairs. No previous-quarter column: exports hold each issue's
  current status and no link history, so the dependencies open at an earlier date cannot be
  rebuilt (only the staleness cut-off would move) and a made-up comparison is worse than none.
- Budget burn: budget period = the (fiscal) year of the quarter, as of the quarter end:
  ``budget.burn_view`` (totals per currency, per scope, the S-curve, with the events of the
  budget period), ``sow_ledger``;
  the previous quarter's totals use its own (fiscal) year, as of its end.
- Action items: monthly cohorts created in the quarter as of its end (``cohorts``, ``items``,
  ``repeat_incidents``, ``headline``), and the same for the previous quarter.

Quarters are fiscal when ``Settings.fiscal_year_start_month`` is not 1 (``selection``).
A quarter still in progress is measured up to the as-of date (default today, UTC): its window
and "as of" end there, so a rate per week is not diluted by days that have not happened yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from delivery_health import selection, store
from delivery_health.metrics import actions, budget, dependencies, dora, dora_drill, overview, quarterly
from delivery_health.metrics.params import json_value
from delivery_health.settings import Settings

AT_RISK_TOP = 15  # at-risk dependencies listed in the pack (all of them are counted)
OVERDUE_TOP = 15  # overdue action items listed


class ReportError(ValueError):
    """A report request that cannot be met, in words for the person who asked (bad quarter, no chromium...)."""


def parse_quarter(text: str, fiscal_start: int = 1) -> tuple[date, date]:
    """``"2026Q3"`` -> ``(date(2026, 7, 1), date(2026, 9, 30))``: a quarter's first and last day
    (``selection.quarter_bounds``, the filter bar's reading of a quarter); ReportError otherwise."""
    try:
        return selection.quarter_bounds(text or "", fiscal_start)
    except ValueError:  # also a year date() cannot hold, e.g. 0000Q1 or 9999Q4's successor
        example = selection.quarter_label(date(2026, 7, 1), fiscal_start).replace(" ", "")
        fiscal = " (the year is the fiscal year)" if fiscal_start > 1 else ""
        raise ReportError(f"invalid quarter {text!r}: expected YYYYQn with n from 1 to 4{fiscal}, "
                          f"e.g. {example}") from None


@dataclass(frozen=True)
class Window:
    """A quarter: ``label`` like 2026 Q3 (FY2027 Q1), its first and last day, and the day figures are as of."""

    label: str
    start: date
    end: date
    as_of: date

    @property
    def in_progress(self) -> bool:
        return self.as_of < self.end


def quarter_window(text: str, today: date, fiscal_start: int = 1) -> Window:
    """The quarter ``text`` measured up to ``min(quarter end, today)``; a quarter not yet started is an error."""
    start, end = parse_quarter(text, fiscal_start)
    if start > today:
        raise ReportError(f"quarter {text.strip()} has not started yet (as of {today.isoformat()})")
    return Window(selection.quarter_label(start, fiscal_start), start, end, min(end, today))


def previous_window(w: Window, fiscal_start: int = 1) -> Window:
    """The quarter before ``w``, complete (as of its last day)."""
    label = selection.previous_quarter(w.label, fiscal_start)
    start, end = selection.quarter_bounds(label, fiscal_start)
    return Window(label, start, end, end)


def _no_events() -> pd.DataFrame:
    return pd.DataFrame(columns=overview.EVENT_COLUMNS)


@dataclass
class ScorecardSection:
    """``card``: ``quarterly.squad_scorecard`` rows (every squad, then the organisation as ``squad`` None) for
    the quarter with at-risk dependencies as of ``today``, exactly as the home page computes them."""

    today: date
    card: pd.DataFrame
    empty: str | None = None


@dataclass
class DoraSection:
    """``headline``: one dict per key (``key, label, unit, higher_is_better, value, tier, previous,
    previous_tier, change``); ``tiers``: ``dora.TIER_KEYS``; ``trends``: weekly ``dora.ROW_KEYS`` over
    both quarters; ``checks``: data-quality ``check, count, detail``; ``events``: the releases and
    freezes of the trends' weeks (``overview.EVENT_COLUMNS``)."""

    headline: list[dict[str, Any]]
    tiers: pd.DataFrame
    trends: pd.DataFrame
    checks: pd.DataFrame
    events: pd.DataFrame = field(default_factory=_no_events)
    empty: str | None = None


@dataclass
class DependencySection:
    """``summary``: ``dependencies.summary`` as of the quarter end; ``at_risk``: the first
    ``AT_RISK_TOP`` at-risk rows (earliest need date first) of ``at_risk_total``."""

    summary: dict[str, Any]
    at_risk: pd.DataFrame
    at_risk_total: int
    squad_pairs: pd.DataFrame
    cycles: list[list[str]]
    empty: str | None = None


@dataclass
class BudgetSection:
    """Per currency ``totals`` (``currency`` + ``budget.FIGURES``) this quarter and ``previous_totals``;
    ``by_scope`` rows; ``series``: the S-curve rows of every currency; ``sows``: the SOW ledger;
    ``events``: the releases and freezes of the budget period, drawn on the S-curves."""

    period: tuple[date, date]
    previous_period: tuple[date, date]
    totals: pd.DataFrame
    previous_totals: pd.DataFrame
    by_scope: pd.DataFrame
    series: pd.DataFrame
    sows: pd.DataFrame
    events: pd.DataFrame = field(default_factory=_no_events)
    empty: str | None = None


@dataclass
class ActionsSection:
    """``headline``/``previous``: ``actions.headline`` of each quarter's monthly cohorts; ``cohorts``: this
    quarter's ``actions.COLUMNS`` rows; ``overdue``: the first ``OVERDUE_TOP`` overdue items of
    ``overdue_total``; ``repeats``: repeat incidents."""

    target: float
    headline: dict[str, Any]
    previous: dict[str, Any]
    cohorts: pd.DataFrame
    overdue: pd.DataFrame
    overdue_total: int
    repeats: pd.DataFrame
    empty: str | None = None


@dataclass
class QuarterlyReport:
    """The whole pack: the quarter, the one it is compared with, the squads (empty = all), the squads' scorecard
    and four sections."""

    quarter: Window
    previous: Window
    squads: tuple[str, ...]
    generated_at: datetime
    store_empty: bool
    scorecard: ScorecardSection
    dora: DoraSection
    dependencies: DependencySection
    budget: BudgetSection
    actions: ActionsSection


def _selection(squads: tuple[str, ...]) -> str:
    return f" for {', '.join(squads)}" if squads else ""


def _scorecard(engine: Engine, settings: Settings, q: Window, p: Window, today: date,
               squads: tuple[str, ...]) -> ScorecardSection:
    card = quarterly.squad_scorecard(engine, settings, q.label, today, squads)
    # A figure is anything but a missing value; no at-risk dependency and no action item show as 0 on every row.
    figures = [c for c in quarterly.COLUMNS if c not in ("squad", "at_risk_dependencies", "action_items")]
    shown = bool(card[figures].notna().to_numpy().any() or card["at_risk_dependencies"].any()
                 or card["action_items"].any())
    empty = None if shown else (
        f"No DORA tiers, at-risk dependencies, budget lines or action items for {q.label} or {p.label}"
        f"{_selection(squads)}, so no squad has a figure to show. The sections below say what each one needs.")
    return ScorecardSection(today, card, empty)


def _dora(engine: Engine, settings: Settings, q: Window, p: Window, squads: tuple[str, ...]) -> DoraSection:
    now = dora.dora_headline(engine, settings, q.start, q.as_of, squads)
    if now.empty:
        return DoraSection([], pd.DataFrame(columns=dora.TIER_KEYS), pd.DataFrame(columns=dora.ROW_KEYS),
                           pd.DataFrame(columns=["check", "count", "detail"]), empty=(
            f"No production deployments, deployment attempts or incidents in {q.label} ({q.start} – {q.as_of})"
            f"{_selection(squads)}, so there is nothing to measure. DORA figures come from deployments (GitHub "
            "Actions runs, deployments CSV), commit history and incidents: load them with "
            "`python -m delivery_health ingest PATH...`."))
    # The previous quarter's figures are its dora_window's, the row dora_headline reads its values from.
    before = dora.dora_window(engine, settings, p.start, p.as_of, squads)
    prev = before[before["squad"].isna()].to_dict("records")[0] if not before.empty else {}
    columns = {key: (col, tier) for key, _, col, _, _, tier in dora.HEADLINE}
    headline = []
    for r in now.to_dict("records"):
        col, tier = columns[r["key"]]
        value, previous = json_value(r["value"]), json_value(prev.get(col))
        headline.append({"key": r["key"], "label": r["label"], "unit": r["unit"],
                         "higher_is_better": bool(r["higher_is_better"]), "value": value, "tier": r["tier"],
                         "previous": previous, "previous_tier": prev.get(tier) if tier else None,
                         "change": value - previous if value is not None and previous is not None else None})
    return DoraSection(
        headline=headline,
        tiers=dora.dora_tiers_frame(engine, settings, q.start, q.as_of, squads),
        trends=dora.dora_trends(engine, settings, p.start, q.as_of, "week", squads),
        checks=dora_drill.data_quality(engine, settings, q.start, q.as_of, squads),
        events=overview.events_in_window(engine, settings, p.start, q.as_of, squads))


def _dependencies(engine: Engine, settings: Settings, q: Window, squads: tuple[str, ...]) -> DependencySection:
    result = dependencies.dependency_risk(engine, settings, q.as_of, squads)
    rows = result.rows
    at_risk = rows[rows["at_risk"].astype(bool)] if not rows.empty else rows
    # Soonest need first (undated last), then the longest chains: what to chase first.
    order = sorted(range(len(at_risk)), key=lambda i: (
        pd.isna(at_risk["need_date"].iloc[i]), str(at_risk["need_date"].iloc[i]), -int(at_risk["depth"].iloc[i]),
        at_risk["blocked_key"].iloc[i], at_risk["blocker_key"].iloc[i]))
    ranked = at_risk.iloc[order]
    empty = None if not result.empty else (
        f"No open dependencies as of {q.as_of}{_selection(squads)}. Dependencies are Jira issue links of a "
        "blocking kind (Blocks, Depends on) where neither side is Done: load a Jira CSV or JSON export with "
        "`python -m delivery_health ingest PATH`.")
    return DependencySection(dependencies.summary(result),
                             ranked.head(AT_RISK_TOP)[dependencies.COLUMNS].reset_index(drop=True),
                             int(len(at_risk)), result.squad_pairs, result.cycles, empty)


def _budget(engine: Engine, settings: Settings, q: Window, p: Window, squads: tuple[str, ...]) -> BudgetSection:
    period = budget.budget_period(None, None, q.as_of, settings.fiscal_year_start_month)  # the quarter's year
    previous_period = budget.budget_period(None, None, p.as_of, settings.fiscal_year_start_month)
    args = {"start": period[0], "end": period[1], "as_of": q.as_of, "squads": squads}
    view = budget.burn_view(engine, settings, **args)
    totals = view.totals
    sows = budget.sow_ledger(engine, settings, **args)
    empty = None
    if totals.empty and sows.empty:
        empty = (f"No budget lines, spend lines or vendor SOWs for {period[0]:%b %Y} – {period[1]:%b %Y}"
                 f"{_selection(squads)}. Load them with `python -m delivery_health ingest budget.csv spend.csv "
                 "sows.csv` (budget-csv, spend-csv and sows-csv files).")
    return BudgetSection(
        period=period, previous_period=previous_period, totals=totals,
        previous_totals=budget.burn_totals(engine, settings, previous_period[0], previous_period[1], p.as_of, squads),
        by_scope=view.by_scope, series=view.series, sows=sows,
        events=overview.events_in_window(engine, settings, period[0], period[1], squads), empty=empty)


def _cohort_figures(engine: Engine, settings: Settings, w: Window, squads: tuple[str, ...],
                    lists: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Cohorts, items, repeat incidents (with the ids behind their counts when ``lists``) and the headline."""
    args = {"start": w.start, "end": w.as_of, "as_of": w.as_of, "squads": squads}
    cohorts = actions.cohorts(engine, settings, by="month", **args)
    items = actions.items(engine, settings, by="month", **args)
    repeats = (actions.repeat_item_lists if lists else actions.repeat_incidents)(engine, settings, **args)
    return cohorts, items, repeats, actions.headline(cohorts, items, repeats)


def _actions(engine: Engine, settings: Settings, q: Window, p: Window, squads: tuple[str, ...]) -> ActionsSection:
    cohorts, items, repeats, head = _cohort_figures(engine, settings, q, squads, lists=True)
    previous = _cohort_figures(engine, settings, p, squads)[3]
    overdue = items[items["overdue"].astype(bool)] if not items.empty else items
    overdue = overdue.sort_values(["days_overdue", "item_id"], ascending=[False, True], kind="stable")
    empty = None if not cohorts.empty else (
        f"No incident action items were created in {q.label} ({q.start} – {q.as_of}){_selection(squads)}. "
        "Load an action-items CSV (`item_id,incident_id,squad,title,created_at,due_date,resolved_at,status`) or "
        "Jira issues labelled as action items with `python -m delivery_health ingest PATH`.")
    return ActionsSection(settings.closure_target, head, previous, cohorts, overdue.head(OVERDUE_TOP).reset_index(
        drop=True), int(len(overdue)), repeats, empty)


def gather(engine: Engine, settings: Settings, quarter: str, squads: tuple[str, ...] = (),
           as_of: date | None = None) -> QuarterlyReport:
    """Every section of the pack for ``quarter`` (e.g. "2026Q3") and the squads (empty = all)."""
    now = datetime.now(timezone.utc)
    today = as_of or now.date()
    q = quarter_window(quarter, today, settings.fiscal_year_start_month)
    p = previous_window(q, settings.fiscal_year_start_month)
    squads = tuple(squads)
    return QuarterlyReport(
        quarter=q, previous=p, squads=squads, generated_at=now.replace(microsecond=0),
        store_empty=store.is_empty(engine),
        scorecard=_scorecard(engine, settings, q, p, today, squads),
        dora=_dora(engine, settings, q, p, squads),
        dependencies=_dependencies(engine, settings, q, squads),
        budget=_budget(engine, settings, q, p, squads),
        actions=_actions(engine, settings, q, p, squads))

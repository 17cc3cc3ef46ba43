"""Budget burn (METRICS.md "Budget burn"): burn vs plan, run rate, forecast, exhaustion, vendor SOWs.

Definitions, exactly as computed here:

- The **budget period** is whole calendar months: ``start`` is moved to the first day of its
  month and ``end`` to the last day of its month (default: the fiscal year of the as-of date, the
  calendar year unless ``Settings.fiscal_year_start_month`` says otherwise).
- The **as-of day counts as elapsed**: spend dated on the as-of date is in burn to date, and the
  as-of month's budget is planned pro rata ``as_of.day / days_in_month`` (on 10 March, 10/31).
- **Burn to date** = sum of spend lines dated in ``[period start, min(as-of, period end)]``.
- **Planned to date** = the budget of every period month ending on or before the as-of date, plus
  the as-of month's budget × ``as_of.day / days_in_month``.
- **Variance** = burn - planned; **variance_pct** = variance / planned (a fraction; null when
  planned is 0).
- **Run rate** = (actuals of the last 3 complete months) / 3. A month is complete when its last day
  is on or before the as-of date (so on 31 March, March is complete). The months may lie before the
  period start (it is a spending rate, not a period figure); a month without spend counts as 0.
- **Remaining months** = the period months after the as-of month, each 1, plus the as-of month's
  remaining fraction ``(days_in_month - as_of.day) / days_in_month``; all period months when the
  as-of date is before the period, 0 when it is after it.
- **Forecast at completion** = burn to date + run rate × remaining months.
- **Exhaustion date** = the first day at whose end cumulative spend reaches the total budget: the
  actual spend day when burn to date already has; otherwise the forecast, which spends the run rate
  evenly over the days of each future month (``run_rate / days_in_month`` a day). Null when the
  forecast stays below the total budget up to the period end (it is never extrapolated beyond the
  period), or when the total budget is 0 (nothing to exhaust: see the variance instead).
- Amounts are summed per currency only; scopes (and categories) are grouped case-insensitively and
  shown with one spelling; a spend line without a category is ``uncategorised``.
- **Squad filter**: a scope is selected when it, or the squad its name maps to by the mapping's
  ``jira_project`` rules (a scope may be a project), equals a selected squad, case-insensitively.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from delivery_health import squads as squad_rules
from delivery_health import selection, store
from delivery_health.metrics.frames import read_frame
from delivery_health.metrics.params import MetricParams, frame_records
from delivery_health.settings import Settings

RUN_RATE_MONTHS = 3  # METRICS.md: "the last 3 complete months"
UNCATEGORISED = "uncategorised"
_EPS = 1e-6  # currency units: float sums that differ by less are equal
FIGURES = ["budget_total", "planned_to_date", "burn_to_date", "variance", "variance_pct", "run_rate_monthly",
           "forecast_at_completion", "exhaustion_date"]
SPEND_COLUMNS = ["date", "scope", "category", "vendor", "amount", "currency", "reference", "source_file",
                 "in_burn_to_date", "in_run_rate"]
BUDGET_COLUMNS = ["month", "scope", "category", "amount", "currency", "elapsed_fraction", "planned_to_date",
                  "source_file"]
SERIES_COLUMNS = ["currency", "month", "month_end", "budget", "actual", "planned_cum", "actual_cum", "forecast_cum"]


# --- calendar ---------------------------------------------------------------------------------

def month_end(m: date) -> date:
    nxt = date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _add_months(m: date, n: int) -> date:
    k = m.year * 12 + m.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def budget_period(start: date | None, end: date | None, as_of: date, fiscal_start: int = 1) -> tuple[date, date]:
    """Whole months: default the (fiscal) year of ``as_of``; one bound alone gives 12 months."""
    if start is None and end is None:
        start = selection.year_start(as_of, fiscal_start)
    first = start.replace(day=1) if start else _add_months(end.replace(day=1), -11)  # type: ignore[union-attr]
    last = month_end(end) if end else month_end(_add_months(first, 11))
    return first, last


def _months(start: date, end: date) -> list[date]:
    out, m = [], start.replace(day=1)
    while m <= end:
        out.append(m)
        m = _add_months(m, 1)
    return out


def elapsed_fraction(m: date, as_of: date) -> float:
    """Share of month ``m`` elapsed at the end of the as-of day (the as-of day counts)."""
    if month_end(m) <= as_of:
        return 1.0
    if m > as_of:
        return 0.0
    return as_of.day / month_end(m).day


def run_rate_months(as_of: date) -> list[date]:
    """The last 3 complete months: a month is complete when it ends on or before the as-of date."""
    last = as_of.replace(day=1) if month_end(as_of) == as_of else _add_months(as_of.replace(day=1), -1)
    return [_add_months(last, -i) for i in range(RUN_RATE_MONTHS - 1, -1, -1)]


def remaining_months(start: date, end: date, as_of: date) -> float:
    return sum(1.0 - elapsed_fraction(m, as_of) for m in _months(start, end))


# --- data ---------------------------------------------------------------------------------------

def variance_fraction(burn: float, planned: float) -> float | None:
    """(burn - planned) / planned; None when nothing is planned."""
    return (burn - planned) / planned if abs(planned) > _EPS else None


def scope_filter(settings: Settings, selected: tuple[str, ...], scope: ColumnElement) -> ColumnElement:
    """A scope is selected when it, or the squad its project maps to, is a selected squad (any case)."""
    if not selected:
        return sa.true()
    wanted = sorted({s.lower() for s in selected})
    mapped = _scope_squad(squad_rules.load_rules(settings.squads_path), scope)
    return sa.or_(sa.func.lower(scope).in_(wanted), sa.func.lower(mapped).in_(wanted))


def _scope_squad(rules: list[squad_rules.Rule], scope: ColumnElement) -> ColumnElement:
    """The squad a scope's name maps to (a scope may be a Jira project or a team)."""
    return squad_rules.squad_case(rules, {"jira_project": scope}, team=scope)


def _budget_lines(engine: Engine, settings: Settings, start: date, end: date, squads: tuple[str, ...]) -> pd.DataFrame:
    b = store.budget_lines
    q = (sa.select(b.c.month, b.c.scope, b.c.category, b.c.amount, b.c.currency, b.c.source_file)
         .where(b.c.month >= start, b.c.month <= end, scope_filter(settings, squads, b.c.scope))
         .order_by(b.c.month, b.c.scope, b.c.category, b.c.currency))
    with engine.connect() as conn:
        frame = read_frame(conn, q, ["month", "scope", "category", "amount", "currency", "source_file"])
    return frame.astype({"amount": float})


def _spend_lines(engine: Engine, settings: Settings, first: date, last: date, squads: tuple[str, ...]) -> pd.DataFrame:
    s = store.spend_lines
    q = (sa.select(s.c.date, s.c.scope, s.c.category, s.c.vendor, s.c.amount, s.c.currency, s.c.reference,
                   s.c.source_file)
         .where(s.c.date >= first, s.c.date <= last, scope_filter(settings, squads, s.c.scope))
         .order_by(s.c.date, s.c.scope, s.c.id))
    with engine.connect() as conn:
        frame = read_frame(conn, q, SPEND_COLUMNS[:8]).astype({"amount": float})
    frame["category"] = frame["category"].fillna(UNCATEGORISED)
    return frame


def _canonical(frames: list[pd.DataFrame], col: str) -> None:
    """One spelling per case-insensitive value (the first in sort order), in place."""
    values = pd.concat([f[col] for f in frames]) if frames else pd.Series(dtype=object)
    spelling: dict[str, str] = {}
    for v in sorted(values.dropna().unique()):
        spelling.setdefault(v.lower(), v)
    for f in frames:
        canonical = f[col].str.lower().map(spelling)
        f[col] = canonical.where(canonical.notna(), f[col])


def _month_starts(days: pd.Series) -> pd.Series:
    """The first day of each date's month (one computation per distinct date)."""
    return days.map({d: d.replace(day=1) for d in days.unique()})


class _Data:
    """Budget and spend lines for a period, as-of date and squad selection (scopes/categories canonical)."""

    def __init__(self, engine: Engine, settings: Settings, start: date | None, end: date | None, as_of: date,
                 squads: tuple[str, ...]):
        self.start, self.end = budget_period(start, end, as_of, settings.fiscal_year_start_month)
        self.as_of = as_of
        self.rr_months = run_rate_months(as_of)
        first = min(self.start, self.rr_months[0])
        if not store.database_exists(engine):
            self.budget = pd.DataFrame(columns=BUDGET_COLUMNS[:4] + ["currency", "source_file"])
            self.spend = pd.DataFrame(columns=SPEND_COLUMNS[:8])
        else:
            self.budget = _budget_lines(engine, settings, self.start, self.end, squads)
            self.spend = _spend_lines(engine, settings, first, as_of, squads)
        _canonical([self.budget, self.spend], "scope")
        _canonical([self.budget, self.spend], "category")
        burn_end = min(as_of, self.end)
        days = self.spend["date"]
        self.spend["in_burn_to_date"] = ((days >= self.start) & (days <= burn_end)).astype(bool)
        # The run-rate months are consecutive: one date range.
        self.spend["in_run_rate"] = ((days >= self.rr_months[0]) & (days <= month_end(self.rr_months[-1]))).astype(bool)
        months = self.budget["month"]
        fractions = {m: elapsed_fraction(m, as_of) for m in months.unique()}
        self.budget["elapsed_fraction"] = months.map(fractions).astype(float)
        self.budget["planned_to_date"] = self.budget["amount"] * self.budget["elapsed_fraction"]

    def groups(self, keys: list[str]) -> list[tuple[tuple, pd.DataFrame, pd.DataFrame]]:
        """(key values, budget lines, spend lines) per combination of ``keys`` present in either table."""
        present = pd.concat([self.budget[keys], self.spend[keys]]).drop_duplicates()
        # One groupby per table, not a mask per combination: a squad rollup has hundreds of combinations.
        budget_of = {values: lines for values, lines in self.budget.groupby(keys, sort=False)}
        spend_of = {values: lines for values, lines in self.spend.groupby(keys, sort=False)}
        no_budget, no_spend = self.budget.iloc[:0], self.spend.iloc[:0]
        return [(values, budget_of.get(values, no_budget), spend_of.get(values, no_spend))
                for values in sorted(present.itertuples(index=False, name=None),
                                     key=lambda t: [str(v).lower() for v in t])]

    def figures(self, budget: pd.DataFrame, spend: pd.DataFrame) -> dict[str, Any]:
        burn_lines = spend[spend["in_burn_to_date"]]
        return self.figures_of(float(budget["amount"].sum()), float(budget["planned_to_date"].sum()),
                               float(burn_lines["amount"].sum()),
                               float(spend.loc[spend["in_run_rate"], "amount"].sum()) / RUN_RATE_MONTHS,
                               lambda: burn_lines.groupby("date")["amount"].sum().sort_index().cumsum().items())

    def figures_of(self, total: float, planned: float, burn: float, run_rate: float,
                   cumulative: Callable[[], Iterable[tuple[date, float]]]) -> dict[str, Any]:
        """FIGURES from the sums; ``cumulative`` gives (day, burn to the end of that day) in day order, asked
        for only when the exhaustion day is among them (burn to date already reached the total)."""
        variance = burn - planned
        return {
            "budget_total": total, "planned_to_date": planned, "burn_to_date": burn, "variance": variance,
            "variance_pct": variance_fraction(burn, planned),
            "run_rate_monthly": run_rate,
            "forecast_at_completion": burn + run_rate * remaining_months(self.start, self.end, self.as_of),
            "exhaustion_date": self._exhaustion(total, burn, run_rate, cumulative),
        }

    def _exhaustion(self, total: float, burn: float, run_rate: float,
                    cumulative: Callable[[], Iterable[tuple[date, float]]]) -> date | None:
        if total <= _EPS:
            return None
        if burn >= total - _EPS:  # already spent: the day the actuals reached it
            return next(day for day, spent in cumulative() if spent >= total - _EPS)
        if run_rate <= _EPS:
            return None
        need = total - burn
        for m in _months(self.start, self.end):
            first, last = max(m, self.as_of + timedelta(days=1)), month_end(m)
            if first > last:
                continue
            per_day = run_rate / last.day
            days = (last - first).days + 1
            if need <= per_day * days + _EPS:
                return first + timedelta(days=max(1, math.ceil(need / per_day - 1e-9)) - 1)
            need -= per_day * days
        return None


def _figure_frame(data: _Data, keys: list[str], currency: str | None) -> pd.DataFrame:
    """FIGURES per combination of ``keys`` present in either table (``keys`` hold ``currency`` when one is
    kept), ordered case-insensitively: sums grouped once per table, not filtered per combination."""
    budget, spend = data.budget, data.spend
    if currency is not None:
        budget, spend = budget[budget["currency"] == currency], spend[spend["currency"] == currency]
    spend = spend.assign(burn=spend["amount"].where(spend["in_burn_to_date"], 0.0),
                         run=spend["amount"].where(spend["in_run_rate"], 0.0))
    sums = (budget.groupby(keys, sort=False)[["amount", "planned_to_date"]].sum()
            .join(spend.groupby(keys, sort=False)[["burn", "run"]].sum(), how="outer").fillna(0.0))
    by_day: dict[tuple, list[tuple[date, float]]] = {}

    def cumulative(values: tuple) -> list[tuple[date, float]]:
        if not by_day:  # one pass over every combination's days, the first time one is asked for
            daily = spend[spend["in_burn_to_date"]].groupby(keys + ["date"])["amount"].sum()
            for (*key, day), spent in daily.groupby(level=list(range(len(keys)))).cumsum().items():
                by_day.setdefault(tuple(key), []).append((day, spent))
        return by_day[values]

    rows = []
    for values, total, planned, burn, run in sums.itertuples(name=None):
        values = values if isinstance(values, tuple) else (values,)
        figures = data.figures_of(float(total), float(planned), float(burn), float(run) / RUN_RATE_MONTHS,
                                  lambda v=values: cumulative(v))
        rows.append({**dict(zip(keys, values)), **figures})
    rows.sort(key=lambda r: [str(r[k]).lower() for k in keys])
    return pd.DataFrame(rows, columns=keys + FIGURES)


# --- public -------------------------------------------------------------------------------------

def burn_by_scope(engine: Engine, settings: Settings, start: date | None = None, end: date | None = None,
                  as_of: date | None = None, squads: tuple[str, ...] = (),
                  currency: str | None = None) -> pd.DataFrame:
    """One row per (scope, currency): ``scope, currency`` + FIGURES (amounts in that currency,
    variance_pct a fraction, run rate per month, exhaustion_date a date or None)."""
    data = _Data(engine, settings, start, end, as_of or date.today(), squads)
    return _figure_frame(data, ["scope", "currency"], currency)


def burn_totals(engine: Engine, settings: Settings, start: date | None = None, end: date | None = None,
                as_of: date | None = None, squads: tuple[str, ...] = (),
                  currency: str | None = None) -> pd.DataFrame:
    """One row per currency over every selected scope: ``currency`` + FIGURES."""
    data = _Data(engine, settings, start, end, as_of or date.today(), squads)
    return _figure_frame(data, ["currency"], currency)


def variance_pct_by_squad(engine: Engine, settings: Settings, squads: list[str],
                          dates: list[date]) -> list[dict[str, list[tuple[str, float | None]]]]:
    """For each of ``dates``: squad -> [(currency, variance_pct)] in currency order, for ``dates``' (fiscal)
    year as of it; a squad without lines has no entry. The rows and ``variance_pct`` of ``burn_totals`` with
    ``squads=(squad,)``, from two grouped reads for every squad and date (the scorecard's quarter ends):
    the scorecard needs burn and planned sums only, not the lines."""
    if not dates or not store.database_exists(engine):
        return [{} for _ in dates]
    rules = squad_rules.load_rules(settings.squads_path)
    periods = [budget_period(None, None, d, settings.fiscal_year_start_month) for d in dates]
    # What makes a (scope, currency) present at a date, as in _Data: budget months in its period, or spend
    # from the period start or its run-rate months, whichever is first, to the date.
    firsts = [min(start, run_rate_months(d)[0]) for (start, _), d in zip(periods, dates)]
    budget = _grouped(engine, rules, store.budget_lines, "month", min(p[0] for p in periods),
                      max(p[1] for p in periods), [(start, end) for start, end in periods], with_day=True)
    # Spend spans: first each date's presence span, then its burn-to-date span (its amount is the burn).
    spend = _grouped(engine, rules, store.spend_lines, "date", min(firsts), max(dates),
                     [(first, d) for first, d in zip(firsts, dates)] +
                     [(start, min(d, end)) for (start, end), d in zip(periods, dates)], with_day=False)
    out = []
    for i, ((start, end), d) in enumerate(zip(periods, dates)):
        sums: dict[tuple[str, str, str], list[float]] = {}  # (scope, mapped squad, currency) -> [planned, burn]
        for (scope, mapped, currency, month), (present, amount) in budget.items():
            if present[i]:
                sums.setdefault((scope, mapped, currency), [0.0, 0.0])[0] += amount[i] * elapsed_fraction(month, d)
        for (scope, mapped, currency, _), (present, amount) in spend.items():
            if present[i]:
                sums.setdefault((scope, mapped, currency), [0.0, 0.0])[1] += amount[len(dates) + i]
        mine: dict[str, list[tuple[str, float | None]]] = {}
        for squad in squads:
            per_currency: dict[str, list[float]] = {}
            for (scope, mapped, currency), (planned, burn) in sums.items():
                if squad.lower() in (scope, mapped):
                    total = per_currency.setdefault(currency, [0.0, 0.0])
                    total[0], total[1] = total[0] + planned, total[1] + burn
            if per_currency:
                mine[squad] = [(currency, variance_fraction(burn, planned)) for currency, (planned, burn)
                               in sorted(per_currency.items(), key=lambda c: c[0].lower())]
        out.append(mine)
    return out


def _grouped(engine: Engine, rules: list[squad_rules.Rule], table: sa.Table, day_col: str, first: date, last: date,
             spans: list[tuple[date, date]], with_day: bool) -> dict[tuple, tuple[list[bool], list[float]]]:
    """(lower-case scope, lower-case squad its name maps to, currency, day or None) -> (lines in each of ``spans``
    or not, their amount in each): ``table``'s lines from ``first`` to ``last``, summed in the database."""
    day = table.c[day_col]
    lines = (sa.select(table.c.scope, _scope_squad(rules, table.c.scope).label("squad"), table.c.currency,
                       day.label("day"), table.c.amount)
             .where(day >= first, day <= last).subquery())
    inside = [sa.and_(lines.c.day >= lo, lines.c.day <= hi) for lo, hi in spans]
    keys = [lines.c.scope, lines.c.squad, lines.c.currency, *([lines.c.day] if with_day else [])]
    q = (sa.select(*keys, *(sa.func.sum(sa.case((cond, 1), else_=0)) for cond in inside),
                   *(sa.func.sum(sa.case((cond, lines.c.amount), else_=0)) for cond in inside))
         .group_by(*keys))
    found: dict[tuple, tuple[list[bool], list[float]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(q):
            key = (row[0].lower(), row[1].lower(), row[2], row[3] if with_day else None)
            counts, amounts = row[len(keys):len(keys) + len(spans)], row[len(keys) + len(spans):]
            present, total = found.setdefault(key, ([False] * len(spans), [0.0] * len(spans)))
            for j, (n, amount) in enumerate(zip(counts, amounts)):
                present[j] = present[j] or n > 0
                total[j] += float(amount)
    return found


def _series(data: _Data, currency: str | None) -> pd.DataFrame:
    """``BurnView.series``."""
    rows = []
    for (cur,), budget, spend in data.groups(["currency"]):
        if currency is not None and cur != currency:
            continue
        burn_lines = spend[spend["in_burn_to_date"]]
        fig = data.figures(budget, spend)
        budget_of = budget.groupby("month")["amount"].sum().to_dict()
        actual_of = burn_lines.groupby(_month_starts(burn_lines["date"]))["amount"].sum().to_dict()
        planned_cum = actual_cum = 0.0
        ahead = 0.0  # remaining months counted so far
        for m in _months(data.start, data.end):
            m_budget = float(budget_of.get(m, 0.0))
            m_actual = float(actual_of.get(m, 0.0))
            planned_cum += m_budget
            actual_cum += m_actual
            ahead += 1.0 - elapsed_fraction(m, data.as_of)
            rows.append({
                "currency": cur, "month": m, "month_end": month_end(m), "budget": m_budget, "actual": m_actual,
                "planned_cum": planned_cum, "actual_cum": actual_cum if m <= data.as_of else None,
                "forecast_cum": (fig["burn_to_date"] + fig["run_rate_monthly"] * ahead
                                 if month_end(m) >= data.as_of else None),
            })
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


@dataclass(frozen=True)
class BurnView:
    """What the budget page (and the review pack) draws for one currency, or every currency, from one read of
    the lines."""

    totals: pd.DataFrame  # ``burn_totals`` for the same arguments
    # The S-curve, one row per (currency, period month): ``budget`` and ``actual`` of the month, ``planned_cum``
    # (cumulative budget at the month end), ``actual_cum`` (cumulative actuals through min(month end, as-of);
    # null for months after the as-of month), ``forecast_cum`` (burn to date + run rate × remaining months up
    # to the month end; null for months ending before the as-of date): SERIES_COLUMNS.
    series: pd.DataFrame
    by_scope: pd.DataFrame  # ``burn_by_scope`` for the same arguments
    by_category: pd.DataFrame  # one row per (currency, category): ``currency, category`` + FIGURES


def burn_view(engine: Engine, settings: Settings, start: date | None = None, end: date | None = None,
              as_of: date | None = None, squads: tuple[str, ...] = (), currency: str | None = None) -> BurnView:
    """``BurnView``: four figures from one read of the lines (at 1M issues 40 ms a read; the page made one
    per figure before). ``currency`` keeps one currency only."""
    data = _Data(engine, settings, start, end, as_of or date.today(), squads)
    return BurnView(_figure_frame(data, ["currency"], currency), _series(data, currency),
                    _figure_frame(data, ["scope", "currency"], currency),
                    _figure_frame(data, ["currency", "category"], currency))


def _drill(frame: pd.DataFrame, currency: str | None, scope: str | None, category: str | None) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    for col, value in (("currency", currency), ("scope", scope), ("category", category)):
        if value is not None:
            keep &= frame[col].str.lower() == value.lower()
    return frame[keep].reset_index(drop=True)


def lines_behind(engine: Engine, settings: Settings, start: date | None = None, end: date | None = None,
                 as_of: date | None = None, squads: tuple[str, ...] = (), currency: str | None = None,
                 scope: str | None = None, category: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lines behind the figures: the spend lines behind burn to date and the run rate (SPEND_COLUMNS, two
    flags saying which) and the budget lines behind budget total and planned to date (BUDGET_COLUMNS: planned =
    amount × share of the month elapsed)."""
    data = _Data(engine, settings, start, end, as_of or date.today(), squads)
    return (_drill(data.spend, currency, scope, category)[SPEND_COLUMNS],
            _drill(data.budget, currency, scope, category)[BUDGET_COLUMNS])


def _sow_shares(row: Any, as_of: date) -> tuple[float | None, float | None, int | None]:
    """(consumed share, elapsed share, days to end) of one SOW at the as-of date."""
    consumed = (row.invoiced_to_date / row.value
                if row.invoiced_to_date is not None and row.value is not None and row.value > 0 else None)
    elapsed = None
    if row.start_date is not None and row.end_date is not None and row.end_date >= row.start_date:
        total = (row.end_date - row.start_date).days + 1  # both ends inclusive
        elapsed = min(max((as_of - row.start_date).days + 1, 0), total) / total  # the as-of day counts
    days_to_end = (row.end_date - as_of).days if row.end_date is not None else None
    return consumed, elapsed, days_to_end


def sow_ledger(engine: Engine, settings: Settings, start: date | None = None, end: date | None = None,
               as_of: date | None = None, squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """Vendor SOWs overlapping the budget period (undated ones included), one row each.

    ``consumed_pct`` = invoiced_to_date / value and ``elapsed_pct`` = elapsed days / total days
    (start and end inclusive, the as-of day elapsed) are fractions like every rate (0.42 = 42 %);
    consumed can exceed 1 (over-invoiced), null when value is missing or 0. ``flagged`` when
    consumed - elapsed > settings.sow_overconsumption_margin (strictly: exactly 10 points is not
    flagged) or when the SOW ends within settings.sow_ending_days days (0 <= end - as-of <= 60; an
    SOW that has already ended is not flagged for ending). ``flag_reason`` says which, in words.
    """
    as_of = as_of or date.today()
    cols = ["sow_id", "vendor", "scope", "currency", "value", "invoiced_to_date", "start_date", "end_date",
            "consumed_pct", "elapsed_pct", "days_to_end", "over_consumed", "ending_soon", "flagged", "flag_reason"]
    if not store.database_exists(engine):
        return pd.DataFrame(columns=cols)
    first, last = budget_period(start, end, as_of, settings.fiscal_year_start_month)
    w = store.sows
    q = (sa.select(w.c.id.label("sow_id"), w.c.vendor, w.c.scope, w.c.currency, w.c.value, w.c.invoiced_to_date,
                   w.c.start_date, w.c.end_date)
         .where(sa.or_(w.c.start_date.is_(None), w.c.start_date <= last),
                sa.or_(w.c.end_date.is_(None), w.c.end_date >= first),
                scope_filter(settings, squads, sa.func.coalesce(w.c.scope, "")))
         .order_by(w.c.currency, w.c.vendor, w.c.id))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    out = []
    margin = settings.sow_overconsumption_margin
    for row in rows:
        consumed, elapsed, days_to_end = _sow_shares(row, as_of)
        # round: 0.61 - 0.51 is 0.0999..., a float artefact must not decide a boundary
        over = consumed is not None and elapsed is not None and round(consumed - elapsed, 9) > margin
        ending = days_to_end is not None and 0 <= days_to_end <= settings.sow_ending_days
        reasons = []
        if over:
            reasons.append(f"consumed {consumed:.0%} of its value with {elapsed:.0%} of its time elapsed "
                           f"(more than {margin * 100:g} points ahead)")
        if ending:
            reasons.append(f"ends in {days_to_end} days ({row.end_date.isoformat()}), "
                           f"within {settings.sow_ending_days}")
        out.append({**row._asdict(), "consumed_pct": consumed, "elapsed_pct": elapsed, "days_to_end": days_to_end,
                    "over_consumed": over, "ending_soon": ending, "flagged": over or ending,
                    "flag_reason": "; ".join(reasons) or None})
    return pd.DataFrame(out, columns=cols)


SOW_SUMMARY = ["sow_id", "vendor", "currency", "value", "invoiced_to_date", "consumed_pct", "elapsed_pct", "flagged",
               "scope", "start_date", "end_date", "days_to_end", "flag_reason"]


def cli_result(engine: Engine, settings: Settings, params: MetricParams) -> dict[str, Any]:
    """`metrics budget`: rows per (scope, currency); summary: SOW ledger and per-currency totals."""
    start, end = budget_period(params.start, params.end, params.as_of, settings.fiscal_year_start_month)
    kwargs = {"start": start, "end": end, "as_of": params.as_of, "squads": params.squads}
    return {
        "metric": "budget",
        "params": {**params.as_json(), "period_start": start.isoformat(), "period_end": end.isoformat()},
        "rows": frame_records(burn_by_scope(engine, settings, **kwargs)),
        "summary": {
            "sows": frame_records(sow_ledger(engine, settings, **kwargs)[SOW_SUMMARY]),
            "totals": frame_records(burn_totals(engine, settings, **kwargs)),
        },
    }

"""DORA trends: the five keys per period and squad, performance tiers, headline figures.

Definitions are METRICS.md's, and only those; the SQL building blocks are in
``dora_sql`` (production deployments, commit inclusion, incident attribution), tier
boundaries in ``dora_tiers`` and the rows behind the figures in ``dora_drill``.

Row columns (``dora_trends``; one row per period and squad with data, plus one per
period with ``squad`` None for the whole selection):

- ``period_start`` (date): ISO week (Monday), calendar month or quarter start (fiscal quarters when configured).
- ``deployments``: production deployments (production environment, outcome success)
  finished in the period; ``deployment_days``: distinct UTC dates among them.
- ``deploys_per_week``: deployments / days × 7, where days are the period's days inside
  the selected window: a partial first or last period is clipped to the window, so a
  3-day stub is not compared with a 7-day week.
- ``failed_attempts``: production-environment runs whose outcome is ``failure``, at their
  finished_at (started_at when they never finished). Cancelled runs are not counted: a
  cancellation is someone's decision, not a failed change. Not a DORA "failed deployment".
- ``lead_time_median_hours``, ``..._p75_hours``, ``..._p90_hours``: over the commits whose
  (first including) deployment finished in the period; negatives clamped to 0.
- ``change_failure_rate`` = ``failed_deployments`` / ``deployments`` (null without
  deployments); a deployment is failed when an incident is attributed to it.
- ``incidents``: incidents (by the incident's squad) started in the period;
  ``open_incidents``: those not resolved; ``recovery_median_hours``: median of
  resolved_at - started_at over the resolved ones (open ones are counted, not in the median).
- ``rework_deployments`` and ``rework_rate`` = rework / deployments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Subquery

from delivery_health import squads as squad_rules
from delivery_health import store
from delivery_health.metrics import dora_facts, dora_sql, dora_tiers
from delivery_health.metrics.params import MetricParams, frame_records, json_value
from delivery_health.metrics.periods import (  # noqa: F401 - re-exported for pages and tests
    GRAINS, instants, next_period_start, period_bounds, period_start_of, periods)
from delivery_health.metrics.sql_functions import period_start
from delivery_health.settings import Settings

ROW_KEYS = ["period_start", "squad", "deployments", "deployment_days", "deploys_per_week", "failed_attempts",
            "lead_time_median_hours", "lead_time_p75_hours", "lead_time_p90_hours", "change_failure_rate",
            "failed_deployments", "incidents", "open_incidents", "recovery_median_hours", "rework_deployments",
            "rework_rate"]
TIER_KEYS = ["squad", "deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"]
_COUNTS = ["deployments", "deployment_days", "failed_attempts", "failed_deployments", "incidents", "open_incidents",
           "rework_deployments", "commits", "clamped_commits"]
_MEDIANS = ["lead_time_median_hours", "lead_time_p75_hours", "lead_time_p90_hours", "recovery_median_hours"]
_COLUMNS = ROW_KEYS + ["commits", "clamped_commits"]
_DTYPES = {"period_start": object, "squad": object, **{c: "int64" for c in _COUNTS}}  # the rest float64
_TOTAL = "\x00all"  # the whole selection's key among the squads (no squad is called this)


# ---- aggregation -----------------------------------------------------------------------------------

def _hours(seconds: sa.ColumnElement) -> sa.ColumnElement:
    return seconds / dora_sql.HOUR


def _pct(q: float, col: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.percentile_cont(q).within_group(col)


def _bases(src: dora_sql.DoraSources, rules: list[squad_rules.Rule], lo: datetime,
           hi: datetime) -> list[tuple[Subquery, Callable]]:
    """(subquery with columns ``t`` and ``squad``, measures over it) for each kind of fact, at least the facts
    in [lo, hi)."""
    days = src.deploy_days if src.precomputed else dora_sql.deploy_days(src.production, src.attribution, lo, hi)
    deps = (sa.select(days.c.day.label("t"), days.c.squad, days.c.deployments.label("n"), days.c.rework, days.c.failed)
            .where(days.c.day >= lo, days.c.day < hi).subquery())
    runs = src.runs
    fails = sa.select(runs.c.run_at.label("t"), runs.c.squad).where(runs.c.outcome == "failure").subquery()
    lead = src.lead
    commits = sa.select(lead.c.finished_at.label("t"), lead.c.squad, lead.c.lead_seconds).subquery()
    # Computed in the query, recovery time needs no attribution (which sorts every deployment).
    inc = src.incidents if src.precomputed else dora_sql.incidents_with_recovery(rules)
    incs = sa.select(inc.c.started_at.label("t"), inc.c.squad, inc.c.resolved_at, inc.c.recovery_seconds).subquery()

    def lead_measures(w):
        clamped = _hours(sa.case((w.c.lead_seconds < 0, 0.0), else_=w.c.lead_seconds))
        return [_pct(0.5, clamped).label("lead_time_median_hours"), _pct(0.75, clamped).label("lead_time_p75_hours"),
                _pct(0.9, clamped).label("lead_time_p90_hours"), sa.func.count().label("commits"),
                dora_sql.count_where(w.c.lead_seconds < 0).label("clamped_commits")]

    return [
        (deps, lambda w: [sa.func.sum(w.c.n).label("deployments"),
                          sa.func.count(sa.distinct(w.c.t)).label("deployment_days"),
                          sa.func.sum(w.c.failed).label("failed_deployments"),
                          sa.func.sum(w.c.rework).label("rework_deployments")]),
        (fails, lambda w: [sa.func.count().label("failed_attempts")]),
        (commits, lead_measures),
        (incs, lambda w: [sa.func.count().label("incidents"),
                          dora_sql.count_where(w.c.resolved_at.is_(None)).label("open_incidents"),
                          _pct(0.5, _hours(sa.case((w.c.resolved_at.isnot(None), w.c.recovery_seconds)))
                               ).label("recovery_median_hours")]),
    ]


Window = tuple[date, date]  # inclusive dates


def _aggregate(conn: Connection, base: Subquery, measures: Callable, grains: tuple[str | None, ...],
               windows: list[Window], selected: tuple[str, ...],
               fiscal_start: int) -> list[dict[str | None, list[dict]]]:
    """For each window (not overlapping), for each grain (a period, or None for the whole window): the measures per
    (period_start, squad) and per period for the selection (squad = _TOTAL), as records. One query for them all
    (GROUPING SETS, each set keyed on the window as well), so the facts are read once, and a week crossing two
    windows counts in each only its days inside it, as a query per window would."""
    bounds = [instants(start, end) for start, end in windows]
    inside = [sa.and_(base.c.t >= lo, base.c.t < hi) for lo, hi in bounds]
    period_grains = [g for g in dict.fromkeys(grains) if g]
    q = (sa.select(base, sa.case(*((cond, i) for i, cond in enumerate(inside))).label("_window"),
                   *(period_start(g, base.c.t, fiscal_start).label(f"_p_{g}") for g in period_grains))
         .where(base.c.t >= min(lo for lo, _ in bounds), base.c.t < max(hi for _, hi in bounds)))
    if any(hi < lo for (_, hi), (lo, _) in zip(sorted(bounds), sorted(bounds)[1:])):
        q = q.where(sa.or_(*inside))  # not the gap between two windows
    if selected:
        q = q.where(base.c.squad.in_(selected))
    w = q.subquery("w")
    group_keys = {g: [w.c._window, *([w.c[f"_p_{g}"]] if g else [])] for g in dict.fromkeys(grains)}
    sets = [s for cols in group_keys.values() for s in (sa.tuple_(*cols, w.c.squad), sa.tuple_(*cols))]
    q = (sa.select(w.c._window, *(w.c[f"_p_{g}"] for g in period_grains), w.c.squad,
                   sa.func.grouping(w.c.squad).label("_total"),
                   *(sa.func.grouping(w.c[f"_p_{g}"]).label(f"_g_{g}") for g in period_grains),
                   *measures(w))
         .select_from(w).group_by(sa.func.grouping_sets(*sets)))
    # Plain records, not a frame: a few hundred rows, routed to their window and grain in one pass.
    out: list[dict[str | None, list[dict]]] = [{g: [] for g in dict.fromkeys(grains)} for _ in windows]
    result = conn.execute(q)
    names = list(result.keys())
    for values in result:
        row = dict(zip(names, values))
        # A row is of the period grain whose column it is grouped on, else of the whole window.
        grain = next((g for g in period_grains if row[f"_g_{g}"] == 0), None)
        figures = {k: v for k, v in row.items() if not k.startswith("_") and k != "squad"}
        out[row["_window"]][grain].append({
            **figures, "period_start": row[f"_p_{grain}"] if grain else windows[row["_window"]][0],
            "squad": row["squad"] if row["_total"] == 0 else _TOTAL})
    return out


Request = tuple[Window, tuple[str, ...], bool]  # a window, its trend grains, whether its tiers are wanted


class Reads(NamedTuple):
    """Independent reads and what makes their results the answer, for a caller that runs them at once with its
    own (``store.concurrently``): the scorecard's DORA tiers beside its other parts."""

    calls: list[Callable[[], Any]]
    finish: Callable[[list[Any]], Any]

    def run(self, engine: Engine) -> Any:
        return self.finish(store.concurrently(engine, *self.calls))


def _frames(engine: Engine, settings: Settings, requests: list[Request],
            selected: tuple[str, ...]) -> list[dict[str | None, pd.DataFrame]]:
    """For each requested window (not overlapping), for each grain: every measure per period (or the whole window
    for None) and squad; empty without data. With tiers, the deployments are also counted by week (the
    deployment-frequency tier's input): that "week" frame holds every measure only when week is a trend grain."""
    return _frame_reads(engine, settings, requests, selected).run(engine)


def _frame_reads(engine: Engine, settings: Settings, requests: list[Request], selected: tuple[str, ...]) -> Reads:
    """``_frames`` as reads."""
    empty = pd.DataFrame(columns=_COLUMNS)
    if not store.database_exists(engine):
        return Reads([], lambda _: [{g: empty for g in (None, *grains, *(["week"] if tiers else []))}
                                    for _, grains, tiers in requests])
    rules = squad_rules.load_rules(settings.squads_path)
    fiscal_start = settings.fiscal_year_start_month
    lo, hi = min(instants(*w)[0] for w, _, _ in requests), max(instants(*w)[1] for w, _, _ in requests)
    with engine.connect() as conn:
        src = dora_facts.sources(conn, settings, rules, hi)
    bases = _bases(src, rules, lo, hi)  # deployments first
    # One query per kind of fact and set of grains, for every window wanting those grains (the facts read once;
    # the scorecard's two quarters share one). A window that needs no weeks (the previous one the DORA page
    # compares with) is not grouped by week: on PostgreSQL the lead-time percentiles sort in every grouping set.
    jobs: dict[tuple[int, tuple[str | None, ...]], list[int]] = {}
    for k in range(len(bases)):
        for i, (_, grains, tiers) in enumerate(requests):
            wanted = tuple(dict.fromkeys((None, *grains, *(["week"] if tiers and k == 0 else []))))
            jobs.setdefault((k, wanted), []).append(i)

    def part(k: int, grains: tuple[str | None, ...], windows: list[Window]) -> list[dict[str | None, list[dict]]]:
        with engine.connect() as conn:
            return _aggregate(conn, *bases[k], grains, windows, selected, fiscal_start)

    def finish(done: list[list[dict[str | None, list[dict]]]]) -> list[dict[str | None, pd.DataFrame]]:
        parts: list[dict[str | None, list[list[dict]]]] = [{} for _ in requests]
        for ((_, grains), idx), found in zip(jobs.items(), done):
            for j, i in enumerate(idx):
                for g in grains:
                    parts[i].setdefault(g, []).append(found[j][g])
        return [{g: _rows(p, start, end, g, fiscal_start) if any(p) else empty for g, p in parts[i].items()}
                for i, ((start, end), _, _) in enumerate(requests)]

    return Reads([lambda k=k, g=g, idx=idx: part(k, g, [requests[i][0] for i in idx]) for (k, g), idx in jobs.items()],
                 finish)


def _rows(parts: list[list[dict]], start: date, end: date, by: str | None, fiscal_start: int) -> pd.DataFrame:
    """One grain's measures of every kind of fact, on the full grid of periods and squads, with the ratios.

    In plain Python: a grain has at most a few hundred (period, squad) rows, fewer than the cost of a pandas
    step each (this way 5 ms, not 13 ms, for a quarter's weeks)."""
    measures: dict[tuple[date, str], dict[str, Any]] = {}
    for part in parts:
        for row in part:
            period = row["period_start"]
            day = period.date() if isinstance(period, datetime) else period
            measures.setdefault((day, row["squad"]), {}).update(row)
    starts = periods(start, end, by, fiscal_start) if by else [start]
    squads = sorted({squad for _, squad in measures if squad != _TOTAL}) + [_TOTAL]
    days = {p: (min(next_period_start(p, by) - timedelta(days=1), end) - max(p, start)).days + 1 if by
            else (end - start).days + 1 for p in starts}
    columns: dict[str, list] = {c: [] for c in _COLUMNS}
    for squad in squads:
        for p in starts:
            m = measures.get((p, squad), {})
            row = {c: 0 if m.get(c) is None or m[c] != m[c] else int(m[c]) for c in _COUNTS}  # NaN != NaN
            row.update({c: math.nan if m.get(c) is None else float(m[c]) for c in _MEDIANS})
            n = row["deployments"]
            row.update(period_start=p, squad=None if squad == _TOTAL else squad, deploys_per_week=n / days[p] * 7,
                       change_failure_rate=row["failed_deployments"] / n if n else math.nan,
                       rework_rate=row["rework_deployments"] / n if n else math.nan)
            for c in _COLUMNS:
                columns[c].append(row[c])
    return pd.DataFrame({c: pd.Series(v, dtype=_DTYPES.get(c, "float64")) for c, v in columns.items()})


# ---- public API ------------------------------------------------------------------------------------

def dora_trends(engine: Engine, settings: Settings, start: date, end: date, by: str = "week",
                squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """The ``ROW_KEYS`` rows (see the module docstring) for [start, end]; empty when the window holds no data."""
    if by not in GRAINS:
        raise ValueError(f"unknown period {by!r} (one of {', '.join(GRAINS)})")
    return _frames(engine, settings, [((start, end), (by,), False)], tuple(squads))[0][by][ROW_KEYS]


def dora_window(engine: Engine, settings: Settings, start: date, end: date, squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """The same measures over the whole window, one row per squad with data and one with squad None
    (``period_start`` = start), plus ``commits`` and ``clamped_commits`` and the four tier columns
    ``deployment_frequency_tier, lead_time_tier, change_failure_rate_tier, recovery_time_tier``.

    Deployment-frequency tier: the median of deployment days per ISO week over the weeks
    lying wholly inside the window (every week touching it when none does), zero weeks included.
    """
    return dora_windows(engine, settings, [(start, end)], squads)[0]


def dora_windows(engine: Engine, settings: Settings, windows: list[Window],
                 squads: tuple[str, ...] = ()) -> list[pd.DataFrame]:
    """``dora_window`` of each of ``windows`` (not overlapping), from one read of the facts (the scorecard's two
    quarters)."""
    return dora_windows_reads(engine, settings, windows, squads).run(engine)


def dora_windows_reads(engine: Engine, settings: Settings, windows: list[Window],
                       squads: tuple[str, ...] = ()) -> Reads:
    """``dora_windows`` as reads, to run at once with a caller's other reads."""
    reads = _frame_reads(engine, settings, [(w, (), True) for w in windows], tuple(squads))
    return Reads(reads.calls, lambda done: [_with_tiers(f[None], f["week"], start, end)
                                            for f, (start, end) in zip(reads.finish(done), windows)])


def previous_window(start: date, end: date) -> Window:
    """The window of equal length just before ``start``: what the headline compares with."""
    length = end - start + timedelta(days=1)
    return start - length, start - timedelta(days=1)


class DoraView(NamedTuple):
    """What the DORA page shows."""

    trends: pd.DataFrame  # dora_trends by the page's period
    window: pd.DataFrame  # dora_window
    previous: pd.DataFrame  # dora_window's measures (no tiers) over previous_window


def dora_view(engine: Engine, settings: Settings, start: date, end: date, by: str = "week",
              squads: tuple[str, ...] = ()) -> DoraView:
    """The trends, the window with its tiers and the previous window, from one read of the facts."""
    if by not in GRAINS:
        raise ValueError(f"unknown period {by!r} (one of {', '.join(GRAINS)})")
    before, now = _frames(engine, settings, [(previous_window(start, end), (), False), ((start, end), (by,), True)],
                          tuple(squads))
    return DoraView(now[by][ROW_KEYS], _with_tiers(now[None], now["week"], start, end), before[None])


def _with_tiers(out: pd.DataFrame, weekly: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """The window's rows with the four tier columns (``dora_window``), from its weekly rows."""
    if out.empty:
        return out.assign(**{f"{k}_tier": None for k in TIER_KEYS[1:]})
    full = weekly[(weekly["period_start"] >= start) & (weekly["period_start"] + timedelta(days=6) <= end)]
    weekly = full if not full.empty else weekly
    window_days = (end - start).days + 1
    days_of: dict[str | None, list[int]] = {}
    for squad, days in zip(weekly["squad"], weekly["deployment_days"]):
        days_of.setdefault(squad, []).append(int(days))
    freq = [dora_tiers.deployment_frequency_tier(days_of.get(squad, []), int(deployments), window_days)
            for squad, deployments in zip(out["squad"], out["deployments"])]
    tiers = {"deployment_frequency_tier": freq,
             "lead_time_tier": [dora_tiers.lead_time_tier(v) for v in out["lead_time_median_hours"]],
             "change_failure_rate_tier": [dora_tiers.change_failure_rate_tier(v) for v in out["change_failure_rate"]],
             "recovery_time_tier": [dora_tiers.recovery_time_tier(v) for v in out["recovery_median_hours"]]}
    for col, values in tiers.items():  # object columns: a missing tier stays None, not NaN
        out[col] = pd.Series(values, index=out.index, dtype=object)
    return out


def dora_tiers_frame(engine: Engine, settings: Settings, start: date, end: date,
                     squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """``TIER_KEYS``: per squad and for the selection (squad None), each elite|high|medium|low|None."""
    return tiers_of(dora_window(engine, settings, start, end, squads))


def tiers_of(window: pd.DataFrame) -> pd.DataFrame:
    """``dora_tiers_frame``'s columns of a ``dora_window`` frame."""
    return pd.DataFrame({"squad": window["squad"], **{k: window[f"{k}_tier"] for k in TIER_KEYS[1:]}},
                        columns=TIER_KEYS)


# key, label, window column, unit, higher is better, tier column
HEADLINE = (
    ("deployment_frequency", "Deploy frequency", "deploys_per_week", "per week", True, "deployment_frequency_tier"),
    ("lead_time", "Lead time", "lead_time_median_hours", "hours (median)", False, "lead_time_tier"),
    ("change_failure_rate", "Change failure rate", "change_failure_rate", "fraction", False, "change_failure_rate_tier"),
    ("recovery_time", "Recovery time", "recovery_median_hours", "hours (median)", False,
     "recovery_time_tier"),
    ("rework_rate", "Rework rate", "rework_rate", "fraction", False, None),
)


HEADLINE_COLUMNS = ["key", "label", "value", "previous", "change", "unit", "higher_is_better", "tier"]


def dora_headline(engine: Engine, settings: Settings, start: date, end: date, squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """The five keys for the selection: ``key, label, value, previous, change, unit, higher_is_better, tier``.

    ``previous`` is the same measure over the window of equal length just before
    ``start``; ``change`` = value - previous (None when either is missing). Rework rate
    has no DORA tier (tier None). Empty when the window holds no data.
    """
    before, now = dora_windows(engine, settings, [previous_window(start, end), (start, end)], squads)
    return headline_rows(now, before)


def headline_rows(window: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """``dora_headline``'s rows from a ``dora_window`` frame and one over ``previous_window`` (a page
    that shows the window already has it)."""
    if window.empty:
        return pd.DataFrame(columns=HEADLINE_COLUMNS)
    cur = window[window["squad"].isna()].iloc[0]
    prev = previous[previous["squad"].isna()].iloc[0] if not previous.empty else None
    rows = []
    for key, label, col, unit, higher, tier_col in HEADLINE:
        value = json_value(cur[col])
        before = json_value(prev[col]) if prev is not None else None
        change = value - before if value is not None and before is not None else None
        rows.append({"key": key, "label": label, "value": value, "previous": before, "change": change, "unit": unit,
                     "higher_is_better": higher, "tier": cur[tier_col] if tier_col else None})
    frame = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    frame["tier"] = pd.Series([r["tier"] for r in rows], dtype=object)  # None, never NaN
    return frame


def cli_result(engine: Engine, settings: Settings, params: MetricParams) -> dict[str, Any]:
    """``{"metric": "dora", "params", "rows", "tiers"}`` over the selected window (default: the last
    ``default_window_days`` days up to as-of)."""
    start, end = params.window(settings.default_window_days)
    rows = dora_trends(engine, settings, start, end, params.by, params.squads)
    tiers = dora_tiers_frame(engine, settings, start, end, params.squads)
    return {"metric": "dora", "params": {**params.as_json(), "start": start.isoformat(), "end": end.isoformat()},
            "rows": frame_records(rows), "tiers": frame_records(tiers)}


# "How this is computed", per headline key: shown beside each figure on the page.
HOW_COMPUTED = {
    "deployment_frequency": (
        "Production deployments (environment in the configured production environments, outcome success) "
        "per week over the window, at their finish time. Tier: median deployment days per ISO week >= 5 elite, "
        ">= 1 high; else at least one deployment per month medium; else low. Failed or cancelled runs are "
        "deployment attempts, not deployments."),
    "lead_time": (
        "Median of deployment finish - commit time over the commits first shipped by a production deployment in "
        "the window: every commit after the service's previous production deployment's head up to this one's "
        "head, or only the head commit when no commit history is loaded for the service. Negative values (clock "
        "skew) count as 0. Tier: < 1 day elite, up to 1 week high, up to 30 days medium, beyond low."),
    "change_failure_rate": (
        "Failed production deployments / production deployments. A deployment failed when an incident is "
        "attributed to it: the deployment id or head sha the incident names, else its service's latest "
        "production deployment finished at most the attribution window before the incident started. "
        "Tier: <= 5 % elite, <= 10 % high, <= 15 % medium, beyond low."),
    "recovery_time": (
        "Median of resolved - started over the incidents that started in the window and are resolved; open "
        "incidents are counted beside it, not in the median. Tier: < 1 hour elite, < 1 day high, up to 1 week "
        "medium, beyond low."),
    "rework_rate": (
        "Production deployments that are rework (hotfix, rollback or revert by the configured pattern on branch, "
        "workflow, tag or head-commit message) / production deployments. DORA publishes no tiers for it."),
}

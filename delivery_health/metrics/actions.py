"""Incident action items (METRICS.md "Incident action items"): closure by cohort, overdue ageing, repeat incidents.

A cohort is the items *created* in a period (an item without a creation time is in none) (ISO week from Monday, calendar month or
quarter of the fiscal year). The window ``[start, end]`` is widened to whole periods so a cohort's numbers
do not depend on where the window starts, and nothing created after the as-of date counts.
"Resolved" means ``resolved_at`` on or before the as-of date (the whole as-of day counts);
an item without ``resolved_at`` is open, whatever its status text says.

Squads come from ``squads.action_item_squad`` (the export's own squad column, else the
mapping rules on the item's Jira issue, else ``unassigned``). Finding the item's issue joins the items with
every Jira issue (1M at the benchmark's largest size): ``refresh_squads`` (with the DORA building blocks, after
every ingest) writes each item's squad to ``action_item_squads``, read while it holds the current data and
squad rules; otherwise the squads are computed in the query.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from delivery_health import squads as squad_rules
from delivery_health import store
from delivery_health.metrics.frames import read_frame
from delivery_health.metrics.params import MetricParams, frame_records
from delivery_health.metrics.periods import GRAINS, next_period_start, period_start_of
from delivery_health.metrics.sql_functions import id_list, period_start
from delivery_health.settings import Settings

NAME = "actions"
REPEATS_NAME, REPEATS_VERSION = "repeats", "2"  # in ``derived_state``; bump the version when a repeat's definition changes
SQUADS_NAME, SQUADS_VERSION = "action item squads", 1  # the same for an item's squad
COLUMNS = ["period_start", "squad", "items", "resolved", "closure_rate", "with_due_date", "resolved_on_time",
           "on_time_closure_rate", "overdue", "time_to_close_median_hours"]
ITEM_COLUMNS = ["item_id", "incident_id", "squad", "owner", "title", "status", "period_start", "created_at",
                "due_date", "resolved_at", "resolved", "on_time", "overdue", "days_overdue", "overdue_bucket",
                "hours_to_close"]
REPEAT_COLUMNS = ["incident_id", "service", "squad", "started_at", "title", "open_item_count", "earlier_incident_count"]
# With the ids behind the counts (comma-separated): at 1M issues 1.4M (incident, item) pairs in all, so they are
# listed for a window (the report, a download) or one incident (``repeat_incident_items``), never stored.
REPEAT_LIST_COLUMNS = REPEAT_COLUMNS + ["open_items", "earlier_incidents"]
REPEAT_ITEM_COLUMNS = ["earlier_incident_id", "item_id", "title", "owner", "squad", "status", "created_at", "due_date",
                       "resolved_at"]
# Overdue ageing buckets: (label, first day, last day or None = no upper bound). Days overdue =
# as-of date - due date, so an overdue item is at least 1 day overdue.
OVERDUE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-7 days", 1, 7), ("8-30 days", 8, 30), ("31-90 days", 31, 90), (">90 days", 91, None))


def _bounds(start: date, end: date, as_of: date, by: str, fiscal_start: int) -> tuple[datetime, datetime]:
    """Half-open [from, to) of creation times: whole periods, nothing after the as-of day."""
    lo = period_start_of(start, by, fiscal_start)
    hi = min(next_period_start(period_start_of(end, by, fiscal_start), by), as_of + timedelta(days=1))
    return datetime.combine(lo, time()), datetime.combine(hi, time())


def _squads_fingerprint(rules: list[squad_rules.Rule]) -> str:
    return squad_rules.fingerprint(rules, version=SQUADS_VERSION)


def squads_current(conn: Connection, rules: list[squad_rules.Rule]) -> bool:
    """True when ``action_item_squads`` holds exactly what ``_live_squads`` gives for the data loaded now."""
    return store.derived_is_current(conn, SQUADS_NAME, _squads_fingerprint(rules))


def _live_squads(rules: list[squad_rules.Rule]) -> sa.Subquery:
    """``store.action_item_squads``'s rows computed from the data tables: every item's squad."""
    ai = squad_rules.action_items_with_jira()
    return (sa.select(ai.c.id.label("item_id"), squad_rules.action_item_squad(rules, ai).label("squad"))
            .subquery("squads"))


def refresh_squads(conn: Connection, rules: list[squad_rules.Rule]) -> int:
    """Write every item's squad (in the caller's transaction); returns the items written."""
    written = store.replace_rows(conn, store.action_item_squads, _live_squads(rules))
    store.record_derived(conn, SQUADS_NAME, _squads_fingerprint(rules))
    return written


def _items_with_squads(conn: Connection, settings: Settings) -> sa.Subquery:
    """Every action-item column plus ``item_squad``, the item's squad: precomputed while current."""
    rules = squad_rules.load_rules(settings.squads_path)
    ai = store.action_items
    squads = store.action_item_squads if squads_current(conn, rules) else _live_squads(rules)
    return (sa.select(ai, squads.c.squad.label("item_squad"))
            .select_from(ai.outerjoin(squads, squads.c.item_id == ai.c.id)).subquery("items"))


def _item_columns(settings: Settings, ai: sa.Subquery, as_of: date, by: str) -> dict[str, Any]:
    """Per-item SQL expressions over ``ai`` (``_items_with_squads``) shared by the cohort table and the item list."""
    as_of_end = datetime.combine(as_of + timedelta(days=1), time())
    resolved = sa.and_(ai.c.resolved_at.is_not(None), ai.c.resolved_at < as_of_end)
    return {
        "squad": ai.c.item_squad,
        "period_start": period_start(by, ai.c.created_at, settings.fiscal_year_start_month),
        "resolved": resolved,
        "on_time": sa.and_(resolved, ai.c.due_date.is_not(None), sa.cast(ai.c.resolved_at, sa.Date) <= ai.c.due_date),
        "overdue": sa.and_(sa.not_(resolved), ai.c.due_date.is_not(None), ai.c.due_date < as_of),
        "hours": sa.case((resolved, sa.cast(sa.extract("epoch", ai.c.resolved_at - ai.c.created_at), sa.Double) / 3600.0)),
    }


def _count(cond: Any) -> Any:
    return sa.func.sum(sa.case((cond, 1), else_=0))


def cohorts(engine: Engine, settings: Settings, start: date, end: date, as_of: date, by: str = "month",
            squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per (cohort period, squad) plus a ``squad=None`` total per period: ``COLUMNS``.

    ``items`` created in the period; ``resolved`` by the as-of date; ``closure_rate`` =
    resolved / items; ``with_due_date``; ``resolved_on_time`` (resolved on or before the due
    date, by the as-of date); ``on_time_closure_rate`` = resolved_on_time / with_due_date
    (null without due dates); ``overdue`` = open with a due date before the as-of date;
    ``time_to_close_median_hours`` = median of resolved_at - created_at over resolved items.
    """
    if by not in GRAINS:
        raise ValueError(f"unknown period {by!r} (one of {', '.join(GRAINS)})")
    if not store.database_exists(engine):
        return pd.DataFrame(columns=COLUMNS)
    with engine.connect() as conn:
        frame = read_frame(conn, _cohort_stats(conn, settings, start, end, as_of, by, squads))
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame["_total"] = frame["_total"] == 1
    frame["squad"] = frame["squad"].astype(object).where(~frame["_total"], None)
    for col in ("items", "resolved", "with_due_date", "resolved_on_time", "overdue"):
        frame[col] = frame[col].astype(int)
    frame["closure_rate"] = frame["resolved"] / frame["items"]
    frame["on_time_closure_rate"] = (frame["resolved_on_time"] / frame["with_due_date"].where(frame["with_due_date"] > 0))
    frame["time_to_close_median_hours"] = frame["time_to_close_median_hours"].astype(float)
    frame = frame.sort_values(["period_start", "_total", "squad"], na_position="last", kind="stable")
    return frame[COLUMNS].reset_index(drop=True)


def _cohort_stats(conn: Connection, settings: Settings, start: date, end: date, as_of: date, by: str,
                  squads: tuple[str, ...]) -> sa.Select:
    ai = _items_with_squads(conn, settings)
    c = _item_columns(settings, ai, as_of, by)
    lo, hi = _bounds(start, end, as_of, by, settings.fiscal_year_start_month)
    base = (sa.select(ai.c.id, ai.c.due_date, c["squad"].label("squad"), c["period_start"].label("period_start"),
                      sa.case((c["resolved"], 1), else_=0).label("is_resolved"),
                      sa.case((c["on_time"], 1), else_=0).label("is_on_time"),
                      sa.case((c["overdue"], 1), else_=0).label("is_overdue"), c["hours"].label("hours"))
            .where(ai.c.created_at >= lo, ai.c.created_at < hi).subquery())
    if squads:
        base = sa.select(base).where(base.c.squad.in_(squads)).subquery()

    # Per squad and per period for the whole selection in one read (GROUPING SETS).
    return sa.select(
        base.c.period_start, base.c.squad, sa.func.grouping(base.c.squad).label("_total"),
        sa.func.count().label("items"), sa.func.sum(base.c.is_resolved).label("resolved"),
        sa.func.count(base.c.due_date).label("with_due_date"),
        sa.func.sum(base.c.is_on_time).label("resolved_on_time"), sa.func.sum(base.c.is_overdue).label("overdue"),
        sa.func.percentile_cont(0.5).within_group(base.c.hours).label("time_to_close_median_hours"),
    ).group_by(sa.func.grouping_sets(sa.tuple_(base.c.period_start, base.c.squad), sa.tuple_(base.c.period_start)))


def _bucket(days: float) -> str | None:
    if pd.isna(days):
        return None
    for label, first, last in OVERDUE_BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    return None


def items(engine: Engine, settings: Settings, start: date, end: date, as_of: date, by: str = "month",
          squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """The items behind ``cohorts`` (same selection), one row each: ``ITEM_COLUMNS``.

    ``days_overdue`` = as-of date - due date for overdue items (else null), ``overdue_bucket``
    its ``OVERDUE_BUCKETS`` label, ``hours_to_close`` for resolved items.
    """
    if not store.database_exists(engine):
        return pd.DataFrame(columns=ITEM_COLUMNS)
    with engine.connect() as conn:
        frame = read_frame(conn, _item_rows(conn, settings, start, end, as_of, by, squads))
    if frame.empty:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    for col in ("resolved", "on_time", "overdue"):
        frame[col] = frame[col].fillna(False).astype(bool)
    frame["days_overdue"] = [(as_of - d).days if o else None for d, o in zip(frame["due_date"], frame["overdue"])]
    frame["overdue_bucket"] = frame["days_overdue"].map(_bucket)
    frame["hours_to_close"] = frame["hours_to_close"].astype(float)
    return frame[ITEM_COLUMNS]


def _item_rows(conn: Connection, settings: Settings, start: date, end: date, as_of: date, by: str,
               squads: tuple[str, ...]) -> sa.Select:
    ai = _items_with_squads(conn, settings)
    c = _item_columns(settings, ai, as_of, by)
    lo, hi = _bounds(start, end, as_of, by, settings.fiscal_year_start_month)
    q = (sa.select(ai.c.id.label("item_id"), ai.c.incident_id, c["squad"].label("squad"), ai.c.owner, ai.c.title,
                   ai.c.status, c["period_start"].label("period_start"), ai.c.created_at, ai.c.due_date,
                   ai.c.resolved_at, c["resolved"].label("resolved"), c["on_time"].label("on_time"),
                   c["overdue"].label("overdue"), c["hours"].label("hours_to_close"))
         .where(ai.c.created_at >= lo, ai.c.created_at < hi).subquery())
    sel = sa.select(q)
    if squads:
        sel = sel.where(q.c.squad.in_(squads))
    return sel.order_by(q.c.created_at, q.c.item_id)


def _pairs(lo: datetime | None = None, hi: datetime | None = None, incident_id: str | None = None) -> sa.Select:
    """One row per (incident started in ``[lo, hi)`` or the incident ``incident_id``, action item open when it
    started, from an earlier incident of its service): ``incident_id, item_id, earlier_incident_id``."""
    ai, earlier, later = store.action_items, store.incidents.alias("earlier"), store.incidents.alias("later")
    window = [later.c.started_at >= lo] if lo is not None else []
    window += [later.c.started_at < hi] if hi is not None else []
    window += [later.c.id == incident_id] if incident_id is not None else []
    return (sa.select(later.c.id.label("incident_id"), ai.c.id.label("item_id"),
                      earlier.c.id.label("earlier_incident_id"))
            .select_from(later.join(earlier, sa.and_(earlier.c.service == later.c.service, earlier.c.id != later.c.id,
                                                     earlier.c.started_at < later.c.started_at))
                         .join(ai, ai.c.incident_id == earlier.c.id))
            .where(*window,
                   sa.or_(ai.c.created_at.is_(None), ai.c.created_at <= later.c.started_at),
                   sa.or_(ai.c.resolved_at.is_(None), ai.c.resolved_at > later.c.started_at)))


# Order of the events of one instant in the sweep (``_live_repeats``): an item opening at its creation (it is
# open at that instant) and an item resolved then (it is not) come before an incident starting then; an item
# opening when its own incident starts (open only after that instant) comes after it.
_OPENS_AT, _CLOSES, _STARTS, _OPENS_AFTER = 0, 1, 2, 3


def _live_repeats() -> sa.Subquery:
    """``store.incident_repeats``'s rows computed from the data tables: every repeat incident with its counts.

    Counted by one sweep per service over its items' open intervals and its incidents' starts, not by pairing
    each incident with every earlier one: the pairs grow with the square of the incidents of a service (136M at
    10M issues, 4 minutes), the sweep with their number. An item of incident e is open at t when e started
    before t, it was created at or before t (or has no creation time) and not resolved by t: it opens at its
    creation when that is after e's start, else just after e's start, and closes when resolved.
    """
    ai, e, inc = store.action_items, store.incidents, store.incidents
    after_start = sa.and_(ai.c.created_at.isnot(None), ai.c.created_at > e.c.started_at)
    opens = sa.case((after_start, ai.c.created_at), else_=e.c.started_at)
    intervals = (sa.select(e.c.service, e.c.id.label("earlier_id"), opens.label("opens"),
                           sa.case((after_start, _OPENS_AT), else_=_OPENS_AFTER).label("opens_rank"),
                           ai.c.resolved_at.label("closes"))
                 .select_from(e.join(ai, ai.c.incident_id == e.c.id))
                 .where(e.c.service.isnot(None), e.c.started_at.isnot(None))
                 .subquery("intervals"))
    # An item resolved before it opens is never open: no events (they would leave a -1 before a +1).
    live = sa.or_(intervals.c.closes.is_(None), intervals.c.closes > intervals.c.opens)
    item_events = sa.union_all(
        sa.select(intervals.c.service, intervals.c.earlier_id, intervals.c.opens.label("t"),
                  intervals.c.opens_rank.label("rank"), sa.literal(1).label("delta")).where(live),
        sa.select(intervals.c.service, intervals.c.earlier_id, intervals.c.closes.label("t"),
                  sa.literal(_CLOSES).label("rank"), sa.literal(-1).label("delta"))
        .where(live, intervals.c.closes.isnot(None)),
    ).subquery("item_events")
    # Per earlier incident: its open items after each instant's events; it turns open (0 -> n) or closed (n -> 0).
    per_incident = (sa.select(item_events.c.service, item_events.c.earlier_id, item_events.c.t, item_events.c.rank,
                              sa.func.sum(item_events.c.delta).label("delta"))
                    .group_by(item_events.c.service, item_events.c.earlier_id, item_events.c.t, item_events.c.rank)
                    .subquery("per_incident"))
    open_after = sa.func.sum(per_incident.c.delta).over(
        partition_by=per_incident.c.earlier_id, order_by=[per_incident.c.t, per_incident.c.rank], rows=(None, 0))
    running = sa.select(per_incident, open_after.label("open_after")).subquery("running")
    turns = sa.case((sa.and_(running.c.open_after > 0, running.c.open_after == running.c.delta), 1),
                    (sa.and_(running.c.open_after == 0, running.c.delta < 0), -1), else_=0)
    zero = sa.literal(0)
    no_incident = sa.cast(sa.null(), sa.String).label("incident_id")
    events = sa.union_all(
        sa.select(item_events.c.service, item_events.c.t, item_events.c.rank,
                  item_events.c.delta.label("item_delta"), zero.label("incident_delta"), no_incident),
        sa.select(running.c.service, running.c.t, running.c.rank,
                  zero.label("item_delta"), turns.label("incident_delta"), no_incident).where(turns != 0),
        sa.select(inc.c.service, inc.c.started_at.label("t"), sa.literal(_STARTS).label("rank"),
                  zero.label("item_delta"), zero.label("incident_delta"), inc.c.id.label("incident_id"))
        .where(inc.c.service.isnot(None), inc.c.started_at.isnot(None)),
    ).subquery("events")
    order = [events.c.t, events.c.rank]
    swept = (sa.select(events.c.incident_id,
                       sa.func.sum(events.c.item_delta).over(partition_by=events.c.service, order_by=order,
                                                             rows=(None, 0)).label("open_item_count"),
                       sa.func.sum(events.c.incident_delta).over(partition_by=events.c.service, order_by=order,
                                                                 rows=(None, 0)).label("earlier_incident_count"))
             .subquery("swept"))
    return (sa.select(swept.c.incident_id, sa.cast(swept.c.open_item_count, sa.BigInteger).label("open_item_count"),
                      sa.cast(swept.c.earlier_incident_count, sa.BigInteger).label("earlier_incident_count"))
            .where(swept.c.incident_id.isnot(None), swept.c.open_item_count > 0)
            .subquery("repeats"))


def repeats_current(conn: Connection) -> bool:
    """True when ``incident_repeats`` holds exactly what ``_live_repeats`` gives for the data loaded now."""
    return store.derived_is_current(conn, REPEATS_NAME, REPEATS_VERSION)


def refresh_repeats(conn: Connection) -> int:
    """Write every repeat incident's counts (in the caller's transaction); returns the incidents written."""
    written = store.replace_rows(conn, store.incident_repeats, _live_repeats())
    store.record_derived(conn, REPEATS_NAME, REPEATS_VERSION)
    return written


def _window(start: date, end: date, as_of: date) -> tuple[datetime, datetime]:
    """Half-open [from, to) of incident starts: ``start`` to the end of min(end, as-of)."""
    return datetime.combine(start, time()), datetime.combine(min(end, as_of) + timedelta(days=1), time())


def repeat_incidents(engine: Engine, settings: Settings, start: date, end: date, as_of: date,
                     squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """Incidents started in ``[start, end]`` (and by the as-of day) on a service that, when they started, still
    had open action items from an earlier incident of the same service: ``REPEAT_COLUMNS``, by start time.

    An item is open at time t when it was created at or before t (an item without a creation
    time is taken to exist since its incident) and not resolved by t. ``open_item_count`` and
    ``earlier_incident_count`` count those items and their incidents; ``repeat_incident_items`` lists them.
    Read from ``incident_repeats`` while it is current, else computed in the query.
    """
    if not store.database_exists(engine):
        return pd.DataFrame(columns=REPEAT_COLUMNS)
    inc = squad_rules.incidents_with_jira()
    rules = squad_rules.load_rules(settings.squads_path)
    lo, hi = _window(start, end, as_of)
    squad = squad_rules.incident_squad(rules, inc)
    with engine.connect() as conn:
        counts = store.incident_repeats if repeats_current(conn) else _live_repeats()
        q = (sa.select(inc.c.id, inc.c.service, squad, inc.c.started_at, inc.c.title, counts.c.open_item_count,
                       counts.c.earlier_incident_count)
             .join(counts, counts.c.incident_id == inc.c.id)
             .where(inc.c.started_at >= lo, inc.c.started_at < hi, squad.in_(squads) if squads else sa.true())
             .order_by(inc.c.started_at, inc.c.id))
        return read_frame(conn, q, REPEAT_COLUMNS)


def repeat_item_lists(engine: Engine, settings: Settings, start: date, end: date, as_of: date,
                      squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """``repeat_incidents`` plus ``open_items`` and ``earlier_incidents``: the ids behind the counts,
    comma-separated (``REPEAT_LIST_COLUMNS``)."""
    repeats = repeat_incidents(engine, settings, start, end, as_of, squads)
    if repeats.empty:
        return pd.DataFrame(columns=REPEAT_LIST_COLUMNS)
    pairs = _pairs(*_window(start, end, as_of)).subquery("pairs")
    q = (sa.select(pairs.c.incident_id, id_list(pairs.c.item_id).label("open_items"),
                   id_list(pairs.c.earlier_incident_id).label("earlier_incidents"))
         .group_by(pairs.c.incident_id))
    with engine.connect() as conn:
        lists = read_frame(conn, q)
    return repeats.merge(lists, on="incident_id", how="left")[REPEAT_LIST_COLUMNS]


def repeat_incident_items(engine: Engine, settings: Settings, incident_id: str) -> pd.DataFrame:
    """The action items open when incident ``incident_id`` started, from earlier incidents of its service:
    ``REPEAT_ITEM_COLUMNS``, by earlier incident and item."""
    if not store.database_exists(engine):
        return pd.DataFrame(columns=REPEAT_ITEM_COLUMNS)
    pairs = _pairs(incident_id=incident_id).subquery("pairs")
    ai = store.action_items
    q = (sa.select(pairs.c.earlier_incident_id, ai.c.id, ai.c.title, ai.c.owner, ai.c.squad, ai.c.status,
                   ai.c.created_at, ai.c.due_date, ai.c.resolved_at)
         .join(ai, ai.c.id == pairs.c.item_id)
         .order_by(pairs.c.earlier_incident_id, ai.c.id))
    with engine.connect() as conn:
        return read_frame(conn, q, REPEAT_ITEM_COLUMNS)


def headline(cohort_frame: pd.DataFrame, item_frame: pd.DataFrame, repeats: pd.DataFrame) -> dict[str, Any]:
    """Whole-window figures for the page: items, resolved, closure and on-time rates (pooled over the cohorts,
    not an average of rates), overdue items and repeat incidents."""
    totals = cohort_frame[cohort_frame["squad"].isna()]
    n, resolved = int(totals["items"].sum()), int(totals["resolved"].sum())
    due, on_time = int(totals["with_due_date"].sum()), int(totals["resolved_on_time"].sum())
    return {"items": n, "resolved": resolved, "closure_rate": resolved / n if n else None,
            "on_time_closure_rate": on_time / due if due else None,
            "overdue": int(item_frame["overdue"].sum()) if not item_frame.empty else 0,
            "repeat_incidents": int(len(repeats))}


def cli_result(engine: Engine, settings: Settings, params: MetricParams) -> dict[str, Any]:
    """The JSON object of `metrics actions`: cohorts by ``--by`` over the window, overdue keys, repeat incidents."""
    start, end = params.window(settings.default_window_days)
    args = dict(start=start, end=end, as_of=params.as_of, squads=params.squads)
    frame = cohorts(engine, settings, by=params.by, **args)
    listed = items(engine, settings, by=params.by, **args)
    repeats = repeat_incidents(engine, settings, **args)
    return {"metric": NAME, "params": params.as_json(), "rows": frame_records(frame),
            "summary": {"target": settings.closure_target,
                        "overdue_items": sorted(listed.loc[listed["overdue"], "item_id"]) if not listed.empty else [],
                        "repeat_incidents": list(repeats["incident_id"])}}

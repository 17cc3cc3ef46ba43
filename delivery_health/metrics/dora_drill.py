"""The rows behind every DORA figure (deployments, commits, incidents) and the data-quality checks.

Same building blocks as ``dora``, so a drill-down always adds up to the figure above it.
Each function takes the inclusive window [start, end] and the selected squads (empty = all).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import FromClause, Subquery

from delivery_health import squads as squad_rules
from delivery_health import store
from delivery_health.metrics import dora_facts, dora_sql
from delivery_health.metrics.dora import instants
from delivery_health.metrics.frames import read_frame
from delivery_health.metrics.sql_functions import id_list
from delivery_health.settings import Settings

DEPLOYMENT_COLUMNS = ["id", "service", "squad", "environment", "status", "outcome", "counted_as", "started_at",
                      "finished_at", "commit_sha", "ref", "is_rework", "failed", "incidents", "commits"]
COMMIT_COLUMNS = ["sha", "service", "squad", "committed_at", "deployment_id", "deployed_at", "lead_time_hours",
                  "clamped", "source"]
INCIDENT_COLUMNS = ["id", "service", "squad", "severity", "title", "started_at", "resolved_at", "status",
                    "recovery_hours", "deployment_id", "attributed_by", "deployment_ref"]


Query = Callable[[dora_sql.DoraSources, list[squad_rules.Rule]], sa.Select]


def _sources_query(engine: Engine, settings: Settings, query: Query, before: datetime | None,
                   read: Callable[[Connection, sa.Select], Any], empty: Any) -> Any:
    """``read(conn, query(sources, rules))`` over the precomputed building blocks when they are current."""
    if not store.database_exists(engine):
        return empty
    rules = squad_rules.load_rules(settings.squads_path)
    with engine.connect() as conn:
        return read(conn, query(dora_facts.sources(conn, settings, rules, before), rules))


def _read(engine: Engine, settings: Settings, query: Query, before: datetime | None, columns: list[str],
          limit: int | None) -> pd.DataFrame:
    """``query``'s rows as a frame (the first ``limit`` of them, in its order, when given)."""
    return _sources_query(engine, settings, query, before,
                          lambda conn, q: read_frame(conn, q if limit is None else q.limit(limit), columns),
                          pd.DataFrame(columns=columns))


def _count(engine: Engine, settings: Settings, query: Query, before: datetime | None) -> int:
    return _sources_query(engine, settings, query, before, lambda conn, q: conn.execute(
        sa.select(sa.func.count()).select_from(q.order_by(None).subquery())).scalar_one(), 0)


def _in(sub: Subquery, time_col: str, start: date, end: date, squads: tuple[str, ...]) -> list:
    lo, hi = instants(start, end)
    conds = [sub.c[time_col] >= lo, sub.c[time_col] < hi]
    return conds + ([sub.c.squad.in_(squads)] if squads else [])


def _counted_as(runs: FromClause) -> sa.ColumnElement:
    """How a production-environment run counts: ``deployment``, ``failed attempt`` or ``not counted``."""
    return sa.case((sa.and_(runs.c.outcome == "success", runs.c.finished_at.isnot(None)), "deployment"),
                   (runs.c.outcome == "failure", "failed attempt"), else_="not counted")


def _runs(start: date, end: date, squads: tuple[str, ...]) -> Query:
    """The window's production-environment runs (``service, squad, counted_as``), without the drill-down's joins."""
    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        runs = src.runs
        return sa.select(runs.c.service, runs.c.squad, _counted_as(runs).label("counted_as")).where(
            *_in(runs, "run_at", start, end, squads))

    return query


def _deployments(start: date, end: date, squads: tuple[str, ...], limit: int | None = None) -> Query:
    """Every production-environment run in the window, newest first (``deployments_in_window``); the first
    ``limit`` of them are picked before the joins when given, so only their commits are counted."""
    lo, hi = instants(start, end)

    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        runs = src.runs
        chosen = sa.select(runs).where(*_in(runs, "run_at", start, end, squads))
        if limit is not None:
            chosen = chosen.order_by(runs.c.run_at.desc(), runs.c.id).limit(limit)
        shown = chosen.cte("shown_runs")
        if src.precomputed:  # the counts were written with the runs
            joined, incidents, commits = shown, shown.c.incidents, shown.c.commits
        else:
            failed, lead = dora_sql.failed_deployment_ids(src.attribution), src.lead
            # A deployment's commits carry its finished_at: counting only the window's is the same count.
            per_dep = (sa.select(lead.c.deployment_id, sa.func.count().label("commits"))
                       .where(lead.c.finished_at >= lo, lead.c.finished_at < hi,
                              *([lead.c.deployment_id.in_(sa.select(shown.c.id))] if limit is not None else []))
                       .group_by(lead.c.deployment_id).subquery("per_dep"))
            joined = (shown.outerjoin(failed, failed.c.deployment_id == shown.c.id)
                      .outerjoin(per_dep, per_dep.c.deployment_id == shown.c.id))
            incidents, commits = sa.func.coalesce(failed.c.incidents, 0), sa.func.coalesce(per_dep.c.commits, 0)
        counted = _counted_as(shown)
        is_dep = counted == "deployment"
        return (sa.select(shown.c.id, shown.c.service, shown.c.squad, shown.c.environment, shown.c.status,
                          shown.c.outcome, counted.label("counted_as"), shown.c.started_at, shown.c.finished_at,
                          shown.c.commit_sha, shown.c.ref, shown.c.is_rework,
                          sa.and_(is_dep, incidents > 0).label("failed"),
                          sa.case((is_dep, incidents)).label("incidents"), sa.case((is_dep, commits)).label("commits"))
                .select_from(joined)
                .order_by(shown.c.run_at.desc(), shown.c.id))

    return query


def _commits(start: date, end: date, squads: tuple[str, ...]) -> Query:
    """Commits first shipped by a production deployment finished in the window, newest first."""
    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        lead = src.lead
        hours = sa.case((lead.c.lead_seconds < 0, 0.0), else_=lead.c.lead_seconds) / dora_sql.HOUR
        return (sa.select(lead.c.sha, lead.c.service, lead.c.squad, lead.c.committed_at, lead.c.deployment_id,
                          lead.c.finished_at.label("deployed_at"), hours.label("lead_time_hours"),
                          (lead.c.lead_seconds < 0).label("clamped"), lead.c.source)
                .where(*_in(lead, "finished_at", start, end, squads))
                .order_by(lead.c.finished_at.desc(), lead.c.committed_at.desc(), lead.c.sha))

    return query


def _incidents(start: date, end: date, squads: tuple[str, ...]) -> Query:
    """Incidents started in the window with their attribution, newest first."""
    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        inc = src.incidents
        return (sa.select(inc.c.id, inc.c.service, inc.c.squad, inc.c.severity, inc.c.title, inc.c.started_at,
                          inc.c.resolved_at,
                          sa.case((inc.c.resolved_at.is_(None), "open"), else_="resolved").label("status"),
                          (inc.c.recovery_seconds / dora_sql.HOUR).label("recovery_hours"), inc.c.deployment_id,
                          inc.c.attributed_by, inc.c.deployment_ref)
                .where(*_in(inc, "started_at", start, end, squads))
                .order_by(inc.c.started_at.desc(), inc.c.id))

    return query


def deployments_in_window(engine: Engine, settings: Settings, start: date, end: date,
                          squads: tuple[str, ...] = (), limit: int | None = None) -> pd.DataFrame:
    """Every production-environment run in the window (``DEPLOYMENT_COLUMNS``), newest first; the first
    ``limit`` of them when given.

    ``counted_as`` is ``deployment`` (success: counts for DORA), ``failed attempt``
    (outcome failure) or ``not counted`` (cancelled, running, other); ``failed`` = an
    incident is attributed to it; ``commits`` = the commits it includes (lead time).
    """
    out = _read(engine, settings, _deployments(start, end, squads, limit), instants(start, end)[1], DEPLOYMENT_COLUMNS,
                limit)
    return out.astype({"incidents": "Int64", "commits": "Int64"})


def commits_in_window(engine: Engine, settings: Settings, start: date, end: date,
                      squads: tuple[str, ...] = (), limit: int | None = None) -> pd.DataFrame:
    """Commits whose (first including) production deployment finished in the window (``COMMIT_COLUMNS``),
    newest first; the first ``limit`` of them when given.

    ``lead_time_hours`` is clamped to 0 (``clamped`` True when the raw value was
    negative); ``source`` is ``history`` or ``head commit`` (service without history).
    """
    return _read(engine, settings, _commits(start, end, squads), instants(start, end)[1], COMMIT_COLUMNS, limit)


def incidents_in_window(engine: Engine, settings: Settings, start: date, end: date,
                        squads: tuple[str, ...] = (), limit: int | None = None) -> pd.DataFrame:
    """Incidents started in the window (``INCIDENT_COLUMNS``), with the production deployment they
    are attributed to and how (``id`` | ``sha`` | ``window`` | ``none``); ``status`` open/resolved;
    newest first, the first ``limit`` of them when given."""
    return _read(engine, settings, _incidents(start, end, squads), None, INCIDENT_COLUMNS, limit)


DRILLS: dict[str, Callable[..., pd.DataFrame]] = {
    "deployments": deployments_in_window, "commits": commits_in_window, "incidents": incidents_in_window}


def row_counts(engine: Engine, settings: Settings, start: date, end: date, squads: tuple[str, ...] = (),
               kinds: tuple[str, ...] = tuple(DRILLS)) -> dict[str, int]:
    """How many rows each of ``DRILLS`` (those named in ``kinds``) has for the selection (a page shows the
    first few and says of how many)."""
    before = instants(start, end)[1]
    # The deployments drill-down's rows are the window's runs, one each: counted without its joins.
    queries = {"deployments": (_runs(start, end, squads), before), "commits": (_commits(start, end, squads), before),
               "incidents": (_incidents(start, end, squads), None)}
    return {kind: _count(engine, settings, *queries[kind]) for kind in kinds}


def data_quality(engine: Engine, settings: Settings, start: date, end: date,
                 squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """``check, count, detail``: only the checks that found something among the selection's drill-down rows.

    Checks: commits with a negative lead time (clamped to 0), deployments of services no
    squad rule maps (``unassigned``), incidents attributed to no deployment, and incident
    deployment refs that name no production deployment. Counted in the database, not on fetched rows.
    """
    before = instants(start, end)[1]

    def aggregate(query: Query, measures: Callable[[Subquery], list],
                  where: Callable[[Subquery], Any] | None = None) -> Callable[..., sa.Select]:
        def over(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
            rows = query(src, rules).order_by(None).subquery("rows")
            q = sa.select(*measures(rows))
            return q if where is None else q.where(where(rows))
        return over

    def read(conn: Connection, q: sa.Select) -> tuple:
        return tuple(conn.execute(q).one())

    def flagged(cond: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    def unmapped(d: Subquery) -> Any:
        return sa.and_(d.c.counted_as == "deployment", d.c.squad == squad_rules.UNASSIGNED)

    def dangling(i: Subquery) -> Any:
        return sa.and_(i.c.deployment_ref.is_not(None), sa.func.coalesce(i.c.attributed_by, "").not_in(["id", "sha"]))

    # Only the flagged rows are aggregated where that is all a check counts: the list's DISTINCT would sort every
    # run of the window otherwise.
    (clamped,), (unassigned, services), (unattributed, refs, ref_ids) = store.concurrently(
        engine,
        lambda: _sources_query(engine, settings, aggregate(_commits(start, end, squads), lambda c: [sa.func.count()],
                                                           where=lambda c: c.c.clamped), before, read, (0,)),
        lambda: _sources_query(engine, settings, aggregate(_runs(start, end, squads), lambda d: [
            sa.func.count(), id_list(d.c.service)], where=unmapped), before, read, (0, None)),
        lambda: _sources_query(engine, settings, aggregate(_incidents(start, end, squads), lambda i: [
            flagged(i.c.attributed_by == "none"), flagged(dangling(i)), id_list(sa.case((dangling(i), i.c.id)))]),
            None, read, (0, 0, None)))
    checks = [
        ("negative lead time", int(clamped),
         "commits committed after the deployment that shipped them (clock skew); their lead time counts as 0"),
        ("unassigned deployments", int(unassigned),
         "deployments of services no squad rule maps: " + (services or "")),
        ("unattributed incidents", int(unattributed),
         f"incidents naming no production deployment and with none of their service in the "
         f"{settings.attribution_window_days} days before they started: they count for recovery time only"),
        ("unknown deployment refs", int(refs),
         "incidents whose deployment_ref names no production deployment id or head sha: " + (ref_ids or "")),
    ]
    return pd.DataFrame([c for c in checks if c[1]], columns=["check", "count", "detail"])

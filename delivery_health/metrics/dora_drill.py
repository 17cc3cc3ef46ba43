"""The rows behind every DORA figure (deployments, commits, incidents) and the data-quality checks.

Same building blocks as ``dora``, so a drill-down always adds up to the figure above it.
Each function takes the inclusive window [start, end] and the selected squads (empty = all).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Subquery

from delivery_health import squads as squad_rules
from delivery_health import store
from delivery_health.metrics import dora_facts, dora_sql
from delivery_health.metrics.dora import instants
from delivery_health.metrics.frames import read_frame
from delivery_health.settings import Settings

DEPLOYMENT_COLUMNS = ["id", "service", "squad", "environment", "status", "outcome", "counted_as", "started_at",
                      "finished_at", "commit_sha", "ref", "is_rework", "failed", "incidents", "commits"]
COMMIT_COLUMNS = ["sha", "service", "squad", "committed_at", "deployment_id", "deployed_at", "lead_time_hours",
                  "clamped", "source"]
INCIDENT_COLUMNS = ["id", "service", "squad", "severity", "title", "started_at", "resolved_at", "status",
                    "recovery_hours", "deployment_id", "attributed_by", "deployment_ref"]


def _read(engine: Engine, settings: Settings, query: Callable[[dora_sql.DoraSources, list[squad_rules.Rule]], sa.Select],
          before: datetime | None, columns: list[str]) -> pd.DataFrame:
    """``query(sources, rules)`` as a frame, over the precomputed building blocks when they are current."""
    if not store.database_exists(engine):
        return pd.DataFrame(columns=columns)
    rules = squad_rules.load_rules(settings.squads_path)
    with engine.connect() as conn:
        q = query(dora_facts.sources(conn, settings, rules, before), rules)
        return read_frame(conn, q, columns)


def _in(sub: Subquery, time_col: str, start: date, end: date, squads: tuple[str, ...]) -> list:
    lo, hi = instants(start, end)
    conds = [sub.c[time_col] >= lo, sub.c[time_col] < hi]
    return conds + ([sub.c.squad.in_(squads)] if squads else [])


def deployments_in_window(engine: Engine, settings: Settings, start: date, end: date,
                          squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every production-environment run in the window (``DEPLOYMENT_COLUMNS``), newest first.

    ``counted_as`` is ``deployment`` (success: counts for DORA), ``failed attempt``
    (outcome failure) or ``not counted`` (cancelled, running, other); ``failed`` = an
    incident is attributed to it; ``commits`` = the commits it includes (lead time).
    """
    lo, hi = instants(start, end)

    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        runs, failed, lead = src.runs, dora_sql.failed_deployment_ids(src.attribution), src.lead
        # A deployment's commits carry its finished_at: counting only the window's is the same count.
        per_dep = (sa.select(lead.c.deployment_id, sa.func.count().label("commits"))
                   .where(lead.c.finished_at >= lo, lead.c.finished_at < hi)
                   .group_by(lead.c.deployment_id).subquery("per_dep"))
        counted = sa.case((sa.and_(runs.c.outcome == "success", runs.c.finished_at.isnot(None)), "deployment"),
                          (runs.c.outcome == "failure", "failed attempt"), else_="not counted")
        is_dep = counted == "deployment"
        return (sa.select(runs.c.id, runs.c.service, runs.c.squad, runs.c.environment, runs.c.status,
                          runs.c.outcome, counted, runs.c.started_at, runs.c.finished_at, runs.c.commit_sha, runs.c.ref,
                          runs.c.is_rework, sa.and_(is_dep, failed.c.deployment_id.isnot(None)),
                          sa.case((is_dep, sa.func.coalesce(failed.c.incidents, 0))),
                          sa.case((is_dep, sa.func.coalesce(per_dep.c.commits, 0))))
                .select_from(runs.outerjoin(failed, failed.c.deployment_id == runs.c.id)
                             .outerjoin(per_dep, per_dep.c.deployment_id == runs.c.id))
                .where(*_in(runs, "run_at", start, end, squads))
                .order_by(runs.c.run_at.desc(), runs.c.id))

    out = _read(engine, settings, query, hi, DEPLOYMENT_COLUMNS)
    return out.astype({"incidents": "Int64", "commits": "Int64"})


def commits_in_window(engine: Engine, settings: Settings, start: date, end: date,
                      squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """Commits whose (first including) production deployment finished in the window (``COMMIT_COLUMNS``).

    ``lead_time_hours`` is clamped to 0 (``clamped`` True when the raw value was
    negative); ``source`` is ``history`` or ``head commit`` (service without history).
    """
    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        lead = src.lead
        hours = sa.case((lead.c.lead_seconds < 0, 0.0), else_=lead.c.lead_seconds) / dora_sql.HOUR
        return (sa.select(lead.c.sha, lead.c.service, lead.c.squad, lead.c.committed_at, lead.c.deployment_id,
                          lead.c.finished_at, hours, lead.c.lead_seconds < 0, lead.c.source)
                .where(*_in(lead, "finished_at", start, end, squads))
                .order_by(lead.c.finished_at.desc(), lead.c.committed_at.desc(), lead.c.sha))

    return _read(engine, settings, query, instants(start, end)[1], COMMIT_COLUMNS)


def incidents_in_window(engine: Engine, settings: Settings, start: date, end: date,
                        squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """Incidents started in the window (``INCIDENT_COLUMNS``), with the production deployment they
    are attributed to and how (``id`` | ``sha`` | ``window`` | ``none``); ``status`` open/resolved."""
    def query(src: dora_sql.DoraSources, rules: list[squad_rules.Rule]) -> sa.Select:
        inc = dora_sql.incidents_attributed(src.attribution, rules)
        return (sa.select(inc.c.id, inc.c.service, inc.c.squad, inc.c.severity, inc.c.title, inc.c.started_at,
                          inc.c.resolved_at, sa.case((inc.c.resolved_at.is_(None), "open"), else_="resolved"),
                          inc.c.recovery_seconds / dora_sql.HOUR, inc.c.deployment_id, inc.c.attributed_by,
                          inc.c.deployment_ref)
                .where(*_in(inc, "started_at", start, end, squads))
                .order_by(inc.c.started_at.desc(), inc.c.id))

    return _read(engine, settings, query, None, INCIDENT_COLUMNS)


def data_quality(engine: Engine, settings: Settings, start: date, end: date,
                 squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """``check, count, detail``: only the checks that found something in the selection (``quality_checks``
    of the selection's commits, deployments and incidents)."""
    return quality_checks(settings, commits_in_window(engine, settings, start, end, squads),
                          deployments_in_window(engine, settings, start, end, squads),
                          incidents_in_window(engine, settings, start, end, squads))


def quality_checks(settings: Settings, commits: pd.DataFrame, deployments: pd.DataFrame,
                   incidents: pd.DataFrame) -> pd.DataFrame:
    """``check, count, detail`` from the drill-down frames of one selection (a page that shows those
    tables already has them): only the checks that found something.

    Checks: commits with a negative lead time (clamped to 0), deployments of services no
    squad rule maps (``unassigned``), incidents attributed to no deployment, and incident
    deployment refs that name no production deployment.
    """
    deps = deployments[deployments["counted_as"] == "deployment"]
    incs = incidents
    unmapped = sorted(set(deps.loc[deps["squad"] == squad_rules.UNASSIGNED, "service"]))
    dangling = incs[incs["deployment_ref"].notna() & ~incs["attributed_by"].isin(["id", "sha"])]
    checks = [
        ("negative lead time", int(commits["clamped"].astype(bool).sum()),
         "commits committed after the deployment that shipped them (clock skew); their lead time counts as 0"),
        ("unassigned deployments", int((deps["squad"] == squad_rules.UNASSIGNED).sum()),
         "deployments of services no squad rule maps: " + ", ".join(unmapped)),
        ("unattributed incidents", int((incs["attributed_by"] == "none").sum()),
         f"incidents naming no production deployment and with none of their service in the "
         f"{settings.attribution_window_days} days before they started: they count for recovery time only"),
        ("unknown deployment refs", len(dangling),
         "incidents whose deployment_ref names no production deployment id or head sha: " + ", ".join(dangling["id"])),
    ]
    return pd.DataFrame([c for c in checks if c[1]], columns=["check", "count", "detail"])

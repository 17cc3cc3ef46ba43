"""The set-based building blocks of the DORA metrics (METRICS.md "DORA: the five keys").

Each function returns a SQLAlchemy Core subquery; nothing here runs a query. Three of
them carry the definitions that are easy to get wrong:

- ``production``: success runs on a production environment, squad by service.
- ``lead_rows``: which commits each production deployment includes, one row per commit.
- ``attribution``: which production deployment each incident is attributed to, and how.

Both joins that look per-row (commit -> deployment, incident -> deployment) are computed
as one sorted event stream per service with a running window aggregate, so the cost is a
sort (n log n), never a query per row nor a deployments x commits range join.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.sql import FromClause, Subquery
from sqlalchemy.sql.elements import ColumnElement

from delivery_health import squads, store
from delivery_health.settings import Settings

HOUR = 3600.0


def count_where(cond: ColumnElement) -> ColumnElement:
    """An aggregate: the rows for which ``cond`` holds."""
    return sa.func.sum(sa.case((cond, 1), else_=0))


def seconds_between(later: ColumnElement, earlier: ColumnElement) -> ColumnElement:
    """``later - earlier`` in seconds as a double, on DuckDB and PostgreSQL alike."""
    return sa.cast(sa.extract("epoch", later - earlier), sa.Double)


def is_production_env(settings: Settings, env: ColumnElement) -> ColumnElement:
    return sa.func.lower(env).in_([e.lower() for e in settings.production_environments])


def production(settings: Settings, rules: list[squads.Rule], before: datetime | None = None) -> Subquery:
    """Production deployments: ``id, service, squad, finished_at, commit_sha, head_time, is_rework``.

    ``head_time`` is the head commit's time from the loaded history when the sha is there,
    else the deployment's own ``commit_time``. ``before`` drops deployments finished at or
    after it (later deployments never change what earlier ones include).
    """
    d, head = store.deployments, store.commits.alias("head")
    q = (sa.select(d.c.id, d.c.service, squads.service_squad(rules, d.c.service, d.c.repository).label("squad"),
                   d.c.finished_at, d.c.commit_sha, sa.func.coalesce(head.c.committed_at, d.c.commit_time).label("head_time"),
                   d.c.is_rework)
         .select_from(d.outerjoin(head, head.c.id == d.c.commit_sha))
         .where(is_production_env(settings, d.c.environment), d.c.outcome == "success", d.c.finished_at.isnot(None)))
    if before is not None:
        q = q.where(d.c.finished_at < before)
    return q.subquery("prod")


def attempts(settings: Settings, rules: list[squads.Rule]) -> Subquery:
    """Every production-environment run: ``id, service, squad, environment, outcome, started_at, run_at, ...``.

    ``run_at`` is ``finished_at`` (the run's time), falling back to ``started_at`` for a run
    that never reported an end.
    """
    d = store.deployments
    return (sa.select(d.c.id, d.c.service, squads.service_squad(rules, d.c.service, d.c.repository).label("squad"),
                      d.c.environment, d.c.status, d.c.outcome, d.c.started_at, d.c.finished_at,
                      sa.func.coalesce(d.c.finished_at, d.c.started_at).label("run_at"),
                      d.c.commit_sha, d.c.ref, d.c.is_rework)
            .where(is_production_env(settings, d.c.environment))
            .subquery("runs"))


def _history_services() -> sa.Select:
    c = store.commits
    return sa.select(c.c.service).where(c.c.service.isnot(None)).distinct()


def lead_rows(prod: FromClause) -> Subquery:
    """One row per (commit, the first production deployment including it), of ``prod``'s deployments (a
    ``production`` source).

    Columns: ``deployment_id, service, squad, finished_at, sha, committed_at, source
    ('history' | 'head commit'), lead_seconds`` (unclamped; may be negative).

    With history loaded for a service, deployment k (ordered by finished_at, id) includes
    the commits after the previous deployment's head (exclusive) up to its own head
    (inclusive); a commit counts for the first deployment including it. Those first
    inclusions are exactly the commits in ``(reach[k-1], head[k]]`` where ``reach`` is the
    running maximum of head times, i.e. a commit at ``t`` belongs to the smallest k with
    ``reach[k] >= t`` — a running MIN over the per-service stream of commits and
    deployments sorted by time. Without history, a deployment includes only its head
    commit, counted for the first deployment of that sha.
    """
    hist = _history_services()
    order = [prod.c.finished_at, prod.c.id]
    ranked = (sa.select(prod, sa.func.row_number().over(partition_by=prod.c.service, order_by=order).label("seq"),
                        sa.func.max(prod.c.head_time).over(partition_by=prod.c.service, order_by=order,
                                                           rows=(None, 0)).label("reach"))
              .where(prod.c.service.in_(hist)).subquery("ranked"))
    c = store.commits
    null_str = sa.cast(sa.null(), sa.String)
    events = sa.union_all(
        sa.select(ranked.c.service, ranked.c.reach.label("t"), sa.literal(1).label("kind"), ranked.c.seq,
                  null_str.label("sha")).where(ranked.c.reach.isnot(None)),
        sa.select(c.c.service, c.c.committed_at.label("t"), sa.literal(0).label("kind"),
                  sa.cast(sa.null(), sa.BigInteger).label("seq"), c.c.id.label("sha"))
        .where(c.c.committed_at.isnot(None), c.c.service.isnot(None)),
    ).subquery("events")
    # Walking the stream backwards, the running MIN(seq) from the end up to a commit is the
    # first deployment at or after it (deployments sort after commits at the same time:
    # the head commit itself is included). ROWS UNBOUNDED PRECEDING keeps it incremental.
    back = [events.c.t.desc(), events.c.kind.desc(), events.c.seq.desc()]
    assigned = (sa.select(events.c.service, events.c.sha, events.c.kind,
                          sa.func.min(events.c.seq).over(partition_by=events.c.service, order_by=back,
                                                         rows=(None, 0)).label("dep_seq"))
                .subquery("assigned"))
    from_history = (
        sa.select(ranked.c.id.label("deployment_id"), ranked.c.service, ranked.c.squad, ranked.c.finished_at,
                  c.c.id.label("sha"), c.c.committed_at, sa.literal("history").label("source"))
        .select_from(assigned.join(ranked, sa.and_(ranked.c.service == assigned.c.service,
                                                   ranked.c.seq == assigned.c.dep_seq))
                     .join(c, c.c.id == assigned.c.sha))
        .where(assigned.c.kind == 0))
    first_of_sha = sa.func.row_number().over(
        partition_by=[prod.c.service, sa.func.coalesce(prod.c.commit_sha, prod.c.id)], order_by=order)
    heads = (sa.select(prod.c.id.label("deployment_id"), prod.c.service, prod.c.squad, prod.c.finished_at,
                       prod.c.commit_sha.label("sha"), prod.c.head_time.label("committed_at"),
                       first_of_sha.label("rn"))
             .where(prod.c.service.notin_(hist), prod.c.head_time.isnot(None)).subquery("heads"))
    head_only = (sa.select(heads.c.deployment_id, heads.c.service, heads.c.squad, heads.c.finished_at, heads.c.sha,
                           heads.c.committed_at, sa.literal("head commit").label("source"))
                 .where(heads.c.rn == 1))
    both = sa.union_all(from_history, head_only).subquery("included")
    return (sa.select(both, seconds_between(both.c.finished_at, both.c.committed_at).label("lead_seconds"))
            .subquery("lead"))


def attribution(settings: Settings, prod: FromClause) -> Subquery:
    """One row per incident: ``incident_id, deployment_id (or NULL), attributed_by``, from ``prod``'s deployments
    (a ``production`` source of every deployment).

    ``attributed_by`` is ``id`` or ``sha`` (the incident's ``deployment_ref`` names a
    production deployment's id, or a production deployment's head sha: the earliest such
    deployment, preferring the incident's own service), else ``window`` (the latest
    production deployment of the incident's service finished at or before the incident
    started, at most ``attribution_window_days`` before), else ``none``. A ref naming no
    production deployment is ignored and the window rule applies.
    """
    i = store.incidents
    order = [prod.c.finished_at, prod.c.id]
    by_id = (sa.select(i.c.id.label("incident_id"), prod.c.id.label("deployment_id"), sa.literal(1).label("priority"),
                       sa.literal(1, sa.BigInteger).label("rank"))
             .join(prod, prod.c.id == i.c.deployment_ref))
    same_service = sa.case((prod.c.service == i.c.service, 0), else_=1)
    by_sha = (sa.select(i.c.id.label("incident_id"), prod.c.id.label("deployment_id"), sa.literal(2).label("priority"),
                        sa.func.row_number().over(partition_by=i.c.id, order_by=[same_service, *order]).label("rank"))
              .join(prod, prod.c.commit_sha == i.c.deployment_ref))
    by_window = _window_candidates(settings, prod)
    cand = sa.union_all(by_id, by_sha, by_window).subquery("cand")
    best = (sa.select(cand, sa.func.row_number().over(partition_by=cand.c.incident_id,
                                                      order_by=[cand.c.priority, cand.c.rank]).label("pick"))
            .subquery("best"))
    chosen = sa.select(best).where(best.c.pick == 1).subquery("chosen")
    how = sa.case((chosen.c.priority == 1, "id"), (chosen.c.priority == 2, "sha"), (chosen.c.priority == 3, "window"),
                  else_="none")
    return (sa.select(i.c.id.label("incident_id"), chosen.c.deployment_id, how.label("attributed_by"))
            .select_from(i.outerjoin(chosen, chosen.c.incident_id == i.c.id))
            .subquery("attribution"))


def _window_candidates(settings: Settings, prod: FromClause) -> sa.Select:
    """Per incident with a service: its service's latest production deployment finished at or
    before it started, kept when within the attribution window (a running MAX over one
    sorted stream of deployments and incidents per service)."""
    i = store.incidents
    seq = sa.func.row_number().over(partition_by=prod.c.service, order_by=[prod.c.finished_at, prod.c.id])
    numbered = sa.select(prod.c.id, prod.c.service, prod.c.finished_at, seq.label("seq")).subquery("numbered")
    events = sa.union_all(
        sa.select(numbered.c.service, numbered.c.finished_at.label("t"), sa.literal(0).label("kind"), numbered.c.seq,
                  sa.cast(sa.null(), sa.String).label("incident_id")),
        sa.select(i.c.service, i.c.started_at.label("t"), sa.literal(1).label("kind"),
                  sa.cast(sa.null(), sa.BigInteger).label("seq"), i.c.id.label("incident_id"))
        .where(i.c.service.isnot(None), i.c.started_at.isnot(None)),
    ).subquery("ievents")
    # Deployments sort before incidents at the same instant: "at or before" includes it.
    latest = (sa.select(events.c.service, events.c.t, events.c.kind, events.c.incident_id,
                        sa.func.max(events.c.seq).over(partition_by=events.c.service,
                                                       order_by=[events.c.t, events.c.kind, events.c.seq],
                                                       rows=(None, 0)).label("dep_seq"))
              .subquery("latest"))
    window = float(settings.attribution_window_days) * 86400.0
    return (sa.select(latest.c.incident_id, numbered.c.id.label("deployment_id"), sa.literal(3).label("priority"),
                      sa.literal(1, sa.BigInteger).label("rank"))
            .join(numbered, sa.and_(numbered.c.service == latest.c.service, numbered.c.seq == latest.c.dep_seq))
            .where(latest.c.kind == 1, seconds_between(latest.c.t, numbered.c.finished_at) <= window))


@dataclass(frozen=True)
class DoraSources:
    """The building blocks the DORA queries read: computed in the query (``live_sources``) or read
    from the tables ``dora_facts`` precomputed for the configured settings. Same columns either way."""

    runs: FromClause  # ``attempts``
    production: FromClause  # ``production``
    lead: FromClause  # ``lead_rows``
    attribution: FromClause  # ``attribution``
    incidents: FromClause  # ``incidents_attributed`` (the attribution's incidents with their squads)
    deploy_days: FromClause  # ``deploy_days``
    precomputed: bool


def live_sources(settings: Settings, rules: list[squads.Rule], before: datetime | None = None) -> DoraSources:
    """The building blocks computed in the query; ``before`` as in ``production`` (an upper bound on the
    deployments read, which changes none of the rows before it)."""
    attributed, prod = attribution(settings, production(settings, rules)), production(settings, rules, before)
    return DoraSources(attempts(settings, rules), prod, lead_rows(prod), attributed,
                       incidents_attributed(attributed, rules), deploy_days(prod, attributed), precomputed=False)


def failed_deployment_ids(a: FromClause) -> Subquery:
    """``deployment_id, incidents``: production deployments with at least one attributed incident
    (``a``: an ``attribution`` source)."""
    return (sa.select(a.c.deployment_id, sa.func.count().label("incidents"))
            .where(a.c.deployment_id.isnot(None)).group_by(a.c.deployment_id).subquery("failed"))


def runs_with_counts(runs: FromClause, lead: FromClause, a: FromClause) -> Subquery:
    """``runs``' columns (an ``attempts`` source) plus ``commits``, the commits a run shipped first (``lead``: a
    ``lead_rows`` source), and ``incidents``, those attributed to it (``a``: an ``attribution`` source): what the
    deployments drill-down shows per run, written with the runs so it reads no joins."""
    shipped = (sa.select(lead.c.deployment_id, sa.func.count().label("n")).group_by(lead.c.deployment_id)
               .subquery("shipped"))
    failed = failed_deployment_ids(a)
    return (sa.select(runs, sa.func.coalesce(shipped.c.n, 0).label("commits"),
                      sa.func.coalesce(failed.c.incidents, 0).label("incidents"))
            .select_from(runs.outerjoin(shipped, shipped.c.deployment_id == runs.c.id)
                         .outerjoin(failed, failed.c.deployment_id == runs.c.id))
            .subquery("runs_counted"))


def deploy_days(prod: FromClause, a: FromClause, lo: datetime | None = None, hi: datetime | None = None) -> Subquery:
    """``day, squad, deployments, rework, failed``: production deployments counted per UTC day and squad, those
    that are rework and those with an attributed incident (``prod``: a ``production`` source, ``a``: an
    ``attribution`` source); only deployments finished in [lo, hi) when given.

    What the DORA trends count deployments from: deployment days are distinct days, and windows and periods are
    whole days, so day rows fall into them as the deployments would, and a DISTINCT over day rows is far cheaper
    than over every deployment (PostgreSQL sorts for it in each grouping set)."""
    failed = failed_deployment_ids(a)
    day = sa.func.date_trunc("day", prod.c.finished_at)
    q = (sa.select(day.label("day"), prod.c.squad, sa.func.count().label("deployments"),
                   count_where(prod.c.is_rework).label("rework"),
                   count_where(failed.c.deployment_id.isnot(None)).label("failed"))
         .select_from(prod.outerjoin(failed, failed.c.deployment_id == prod.c.id)))
    if lo is not None:
        q = q.where(prod.c.finished_at >= lo)  # on the column, where an index or zone map is
    if hi is not None:
        q = q.where(prod.c.finished_at < hi)
    return q.group_by(day, prod.c.squad).subquery("deploy_days")


def incidents_with_recovery(rules: list[squads.Rule]) -> Subquery:
    """Incidents with squad and recovery seconds: ``id, squad, started_at, resolved_at, recovery_seconds``.

    What recovery time needs; without the attribution join, which only change failure rate and the
    drill-down need (and which costs a sort of every deployment).
    """
    i = squads.incidents_with_jira()
    return (sa.select(i.c.id, squads.incident_squad(rules, i).label("squad"), i.c.started_at, i.c.resolved_at,
                      seconds_between(i.c.resolved_at, i.c.started_at).label("recovery_seconds"))
            .subquery("inc"))


def incidents_attributed(a: FromClause, rules: list[squads.Rule]) -> Subquery:
    """Incidents with squad, recovery seconds and attribution (``a``: an ``attribution`` source): ``id,
    service, squad, severity, title, started_at, resolved_at, recovery_seconds, deployment_id,
    attributed_by, deployment_ref``."""
    i = squads.incidents_with_jira()
    return (sa.select(i.c.id, i.c.service, squads.incident_squad(rules, i).label("squad"), i.c.severity, i.c.title,
                      i.c.started_at, i.c.resolved_at, seconds_between(i.c.resolved_at, i.c.started_at).label("recovery_seconds"),
                      a.c.deployment_id, a.c.attributed_by, i.c.deployment_ref)
            .join(a, a.c.incident_id == i.c.id)
            .subquery("inc"))

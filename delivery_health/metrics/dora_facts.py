"""The DORA building blocks precomputed once per ingest, so pages read them instead of recomputing them.

Attributing incidents to deployments and commits to the deployments that shipped them sorts every
deployment and commit: ~0.4 s a query at 1M issues, and a DORA page makes a dozen such queries; an
incident's squad joins it with its Jira issue (0.03 s a query).
``refresh`` writes ``dora_sql.live_sources`` into the ``dora_*`` tables for the configured settings,
and ``sources`` hands a query those tables, or the live subqueries when they do not fit the question:
other production environments chosen in the filter bar, a squad mapping edited since, or data
ingested since. Either way the rows are the same; only the time differs.
``refresh`` also writes the data catalogue (``catalog``), which every page's filter bar reads, the
open dependencies (``dependencies.refresh``), the repeat incidents (``actions.refresh_repeats``) and the action
items' squads (``actions.refresh_squads``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from delivery_health import squads as squad_rules
from delivery_health import store
from delivery_health.metrics import actions, catalog, dependencies, dora_sql
from delivery_health.settings import Settings

NAME = "dora"
# Bump when a building block's definition changes: tables computed by an older version are then not read.
DEFINITION_VERSION = 4
# (table, the live building block it holds, the column it is kept in order of: DuckDB skips row groups
# outside a time filter)
_TABLES = (("production", store.dora_production, "finished_at"), ("lead", store.dora_lead, "finished_at"),
           ("attribution", store.dora_attribution, "incident_id"), ("incidents", store.dora_incidents, "started_at"),
           ("deploy_days", store.dora_deploy_days, "day"), ("runs", store.dora_runs, "run_at"))


def fingerprint(settings: Settings, rules: list[squad_rules.Rule]) -> str:
    """What the building blocks depend on besides the data: squad rules, production environments,
    attribution window and their definitions' version."""
    return squad_rules.fingerprint(rules, production=sorted({e.lower() for e in settings.production_environments}),
                                   window_days=settings.attribution_window_days, version=DEFINITION_VERSION)


def is_current(conn: Connection, settings: Settings, rules: list[squad_rules.Rule]) -> bool:
    """True when the precomputed tables hold exactly what the live building blocks would give now."""
    return store.derived_is_current(conn, NAME, fingerprint(settings, rules))


def sources(conn: Connection, settings: Settings, rules: list[squad_rules.Rule],
            before: datetime | None = None) -> dora_sql.DoraSources:
    """The precomputed tables when current, else ``dora_sql.live_sources(settings, rules, before)``."""
    if is_current(conn, settings, rules):
        return dora_sql.DoraSources(**{name: table for name, table, _ in _TABLES}, precomputed=True)
    return dora_sql.live_sources(settings, rules, before)


@dataclass(frozen=True)
class Refresh:
    rows: dict[str, int]
    seconds: float

    def summary_line(self) -> str:
        counts = ", ".join(f"{n:,} {name}" for name, n in self.rows.items())
        return (f"precomputed DORA building blocks, open dependencies, repeat incidents, action-item squads and the "
                f"data catalogue in {self.seconds:.1f} s: {counts}")


def refresh_if_stale(db: str | Engine, settings: Settings) -> Refresh | None:
    """``refresh`` unless the tables are current; None when they were. Every writer calls it after writing
    (ingest, demo, sync, uploads). ``db``: a URL (a read-write engine is made and disposed here) or an engine."""
    engine = store.make_engine(db) if isinstance(db, str) else db
    try:
        rules = squad_rules.load_rules(settings.squads_path)
        if store.database_exists(engine):
            with engine.connect() as conn:
                if (is_current(conn, settings, rules) and catalog.is_current(conn)
                        and dependencies.is_current(conn, rules) and actions.repeats_current(conn)
                        and actions.squads_current(conn, rules)):
                    return None
        return store.retry_while_busy(lambda: refresh(engine, settings))
    finally:
        if isinstance(db, str):
            engine.dispose()


def refresh(engine: Engine, settings: Settings) -> Refresh:
    """Recompute the tables from the live building blocks for ``settings``, in one transaction."""
    t0 = time.perf_counter()
    rules = squad_rules.load_rules(settings.squads_path)
    store.init_db(engine)
    live = dora_sql.live_sources(settings, rules)
    # Each block after the production deployments reads the blocks just written (before it in _TABLES) instead of
    # computing them again.
    prod = store.dora_production
    live = dataclasses.replace(live, lead=dora_sql.lead_rows(prod), attribution=dora_sql.attribution(settings, prod),
                               incidents=dora_sql.incidents_attributed(store.dora_attribution, rules),
                               deploy_days=dora_sql.deploy_days(prod, store.dora_attribution),
                               runs=dora_sql.runs_with_counts(live.runs, store.dora_lead, store.dora_attribution))
    rows = {}
    with engine.begin() as conn:
        for name, table, order in _TABLES:
            # Made anew with their rows: a store made before a column was added to one gets it.
            table.drop(conn, checkfirst=True)
            table.create(conn)
            rows[name] = store.replace_rows(conn, table, getattr(live, name), order_by=order)
        rows["catalog"] = catalog.refresh(conn)
        rows["dependencies"] = dependencies.refresh(conn, rules)
        rows["repeat incidents"] = actions.refresh_repeats(conn)
        rows["action item squads"] = actions.refresh_squads(conn, rules)
        store.record_derived(conn, NAME, fingerprint(settings, rules))
    store.vacuum_analyze(engine, [table for _, table, _ in _TABLES] + [
        store.data_catalog, store.dependency_edges, store.incident_repeats, store.action_item_squads])
    return Refresh(rows, time.perf_counter() - t0)

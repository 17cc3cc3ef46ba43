"""The canonical store: SQLAlchemy Core schema, engine, and the generic upsert.

Every table has a single string primary key built from the record's natural key,
so re-ingesting the same export is an upsert, never a duplicate. Times are naive
UTC ``TIMESTAMP`` values (converted at ingest), so DuckDB and PostgreSQL agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

SCHEMA_VERSION = 1

metadata = sa.MetaData()


def _pk() -> sa.Column:
    return sa.Column("id", sa.String, primary_key=True, autoincrement=False)


def _source() -> list[sa.Column]:
    return [sa.Column("source", sa.String), sa.Column("source_file", sa.String)]


schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime),
)

work_items = sa.Table(
    "work_items", metadata, _pk(),  # id = issue key
    sa.Column("issue_id", sa.String),
    sa.Column("project_key", sa.String),
    sa.Column("project_name", sa.String),
    sa.Column("issue_type", sa.String),
    sa.Column("summary", sa.String),
    sa.Column("status", sa.String),
    sa.Column("status_category", sa.String),  # "To Do" | "In Progress" | "Done"
    sa.Column("priority", sa.String),
    sa.Column("resolution", sa.String),
    sa.Column("assignee", sa.String),
    sa.Column("reporter", sa.String),
    sa.Column("team", sa.String),  # the Team field, squad fallback
    sa.Column("created_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("due_date", sa.Date),
    sa.Column("parent_key", sa.String),
    sa.Column("epic_key", sa.String),
    sa.Column("story_points", sa.Double),
    *_source(),
)

# Multi-valued issue fields: kind in component | label | fix_version | affects_version | sprint.
work_item_tags = sa.Table(
    "work_item_tags", metadata, _pk(),  # id = item|kind|value
    sa.Column("item_key", sa.String, nullable=False, index=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("value", sa.String, nullable=False),
)

status_transitions = sa.Table(
    "status_transitions", metadata, _pk(),  # id = item|changed_at|to_status
    sa.Column("item_key", sa.String, nullable=False, index=True),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("from_status", sa.String),
    sa.Column("to_status", sa.String),
    sa.Column("author", sa.String),
)

# Stored once per link: for blocking kinds from_key is the blocker and to_key the blocked
# issue; for other kinds from_key is the issue on the link's outward side.
issue_links = sa.Table(
    "issue_links", metadata, _pk(),  # id = from|link_type|to
    sa.Column("from_key", sa.String, nullable=False, index=True),
    sa.Column("to_key", sa.String, nullable=False, index=True),
    sa.Column("link_type", sa.String, nullable=False),
    sa.Column("is_blocking", sa.Boolean, nullable=False),
    *_source(),
)

releases = sa.Table(
    "releases", metadata, _pk(),  # id = project|version
    sa.Column("project_key", sa.String),
    sa.Column("version", sa.String),
    sa.Column("release_date", sa.Date),
    sa.Column("released", sa.Boolean),
    *_source(),
)

services = sa.Table(
    "services", metadata, _pk(),  # id = normalised service name
    sa.Column("repository", sa.String),
    *_source(),
)

deployments = sa.Table(
    "deployments", metadata, _pk(),  # id = source-specific deployment id
    sa.Column("service", sa.String, nullable=False, index=True),
    sa.Column("repository", sa.String),
    sa.Column("environment", sa.String),  # lower-case
    sa.Column("status", sa.String),  # the tool's own status, kept raw
    sa.Column("outcome", sa.String),  # success | failure | cancelled | running | other
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("commit_sha", sa.String),  # the head commit deployed
    sa.Column("commit_time", sa.DateTime),  # its commit time: the lead time when no history is loaded
    sa.Column("ref", sa.String),  # branch or tag
    sa.Column("workflow", sa.String),
    sa.Column("is_rework", sa.Boolean, nullable=False),
    *_source(),
)

# Commit history of a service (e.g. `git log`): lets a deployment include every commit since the previous one.
commits = sa.Table(
    "commits", metadata, _pk(),  # id = sha
    sa.Column("service", sa.String, index=True),
    sa.Column("committed_at", sa.DateTime),
    sa.Column("author", sa.String),
    sa.Column("message", sa.String),
    *_source(),
)

incidents = sa.Table(
    "incidents", metadata, _pk(),  # id = incident id (PagerDuty id, Jira key, CSV id)
    sa.Column("service", sa.String, index=True),
    sa.Column("severity", sa.String),
    sa.Column("title", sa.String),
    sa.Column("status", sa.String),
    sa.Column("started_at", sa.DateTime),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("deployment_ref", sa.String),  # explicit deployment id or commit sha
    sa.Column("jira_key", sa.String),  # when the incident is a Jira issue
    *_source(),
)

action_items = sa.Table(
    "action_items", metadata, _pk(),  # id = item id or Jira key
    sa.Column("incident_id", sa.String, index=True),
    sa.Column("squad", sa.String),  # explicit squad from the export, if any
    sa.Column("title", sa.String),
    sa.Column("owner", sa.String),
    sa.Column("status", sa.String),
    sa.Column("created_at", sa.DateTime),
    sa.Column("due_date", sa.Date),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("jira_key", sa.String),
    *_source(),
)

budget_lines = sa.Table(
    "budget_lines", metadata, _pk(),  # id = scope|category|month|currency
    sa.Column("scope", sa.String, nullable=False),
    sa.Column("category", sa.String, nullable=False),
    sa.Column("month", sa.Date, nullable=False),  # first day of the month
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("currency", sa.String, nullable=False),
    *_source(),
)

spend_lines = sa.Table(
    "spend_lines", metadata, _pk(),  # id = hash of the whole line
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("scope", sa.String, nullable=False),
    sa.Column("category", sa.String),
    sa.Column("vendor", sa.String),
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("currency", sa.String, nullable=False),
    sa.Column("reference", sa.String),
    *_source(),
)

sows = sa.Table(
    "sows", metadata, _pk(),  # id = sow_id
    sa.Column("vendor", sa.String),
    sa.Column("scope", sa.String),
    sa.Column("value", sa.Double),
    sa.Column("currency", sa.String),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("invoiced_to_date", sa.Double),
    *_source(),
)

ingest_runs = sa.Table(
    "ingest_runs", metadata, _pk(),  # id = run uuid
    sa.Column("format", sa.String, nullable=False),
    sa.Column("path", sa.String, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
)

# Rows of an accepted file that were not loaded, with the reason: shown in the data-quality panel.
skipped_rows = sa.Table(
    "skipped_rows", metadata, _pk(),  # id = run|row
    sa.Column("run_id", sa.String, nullable=False, index=True),
    sa.Column("format", sa.String, nullable=False),
    sa.Column("path", sa.String, nullable=False),
    sa.Column("row_ref", sa.String, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
)

# How far each live sync got (not a data table): the next run asks only for what changed since.
sync_state = sa.Table(
    "sync_state", metadata, _pk(),  # id = source|server|query
    sa.Column("source", sa.String, nullable=False),  # e.g. "jira"
    sa.Column("server", sa.String, nullable=False),
    sa.Column("query", sa.String, nullable=False),  # the query as given, without the incremental clause
    sa.Column("last_updated", sa.DateTime),  # newest `updated` (UTC) among the records synced so far
    sa.Column("synced_at", sa.DateTime, nullable=False),
)

DATA_TABLES: tuple[sa.Table, ...] = (
    work_items, work_item_tags, status_transitions, issue_links, releases, services,
    deployments, commits, incidents, action_items, budget_lines, spend_lines, sows,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def make_engine(url: str, read_only: bool = False) -> Engine:
    """An engine for ``url``. DuckDB gets short-lived connections (NullPool) so a reader
    never keeps the file locked while an ingest wants to write it."""
    if url.startswith("duckdb"):
        if url.startswith("duckdb:///") and ":memory:" not in url:
            from pathlib import Path
            Path(url[len("duckdb:///"):]).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"read_only": True} if read_only else {}
        return sa.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    return sa.create_engine(url, pool_pre_ping=True)


def init_db(engine: Engine) -> None:
    """Create missing tables and record the schema version (idempotent)."""
    metadata.create_all(engine)
    with engine.begin() as conn:
        have = conn.execute(sa.select(schema_version.c.version)).scalars().all()
        if SCHEMA_VERSION not in have:
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=utcnow()))


def database_exists(engine: Engine) -> bool:
    return sa.inspect(engine).has_table("schema_version")


def is_empty(engine: Engine) -> bool:
    """True when no data rows have been loaded (or the schema does not exist yet)."""
    if not database_exists(engine):
        return True
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(ingest_runs)).scalar_one() == 0


def _normalise(value: Any) -> Any:
    # DuckDB and PostgreSQL hand back the same Python types we insert, except that
    # numeric values may come back as float for int input; compare on floats.
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return float(value)
    return value


def _chunks(seq: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


PROVENANCE_COLUMNS = ("source", "source_file")


def upsert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert new rows, replace changed ones, leave identical ones alone.

    Returns (inserted, updated). Rows missing a column get NULL. The last row wins
    when a batch repeats an id. A row that differs only in its provenance (``source``,
    ``source_file``) is identical: e.g. a Jira link exported by both linked projects' files
    keeps the file that brought it first, so re-loading either file changes nothing.
    """
    if not rows:
        return 0, 0
    cols = [c.name for c in table.columns]
    compared = [n for n, c in enumerate(cols) if c not in PROVENANCE_COLUMNS]
    by_id: dict[str, dict[str, Any]] = {}
    for r in rows:
        by_id[r["id"]] = {c: r.get(c) for c in cols}
    ids = list(by_id)
    existing: dict[str, tuple] = {}
    for chunk in _chunks(ids, 5000):
        for row in conn.execute(sa.select(table).where(table.c.id.in_(chunk))):
            existing[row[0]] = tuple(_normalise(row[n]) for n in compared)
    new_rows, changed = [], []
    for i, r in by_id.items():
        if i not in existing:
            new_rows.append(r)
        elif tuple(_normalise(r[cols[n]]) for n in compared) != existing[i]:
            changed.append(r)
    for chunk in _chunks([r["id"] for r in changed], 5000):
        conn.execute(table.delete().where(table.c.id.in_(chunk)))
    bulk_insert(conn, table, new_rows + changed)
    return len(new_rows), len(changed)


def delete_missing(conn: Connection, table: sa.Table, owner_col: str, owners: list[str], keep_ids: set[str]) -> int:
    """Delete child rows of the given owners that the new batch no longer carries."""
    removed = 0
    col = table.c[owner_col]
    for chunk in _chunks(owners, 5000):
        stale = [i for i in conn.execute(sa.select(table.c.id).where(col.in_(chunk))).scalars() if i not in keep_ids]
        for sub in _chunks(stale, 5000):
            conn.execute(table.delete().where(table.c.id.in_(sub)))
        removed += len(stale)
    return removed


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast: DuckDB reads a registered DataFrame, others use executemany."""
    if not rows:
        return
    if conn.dialect.name == "duckdb" and len(rows) > 200:
        import pandas as pd

        cols = [c.name for c in table.columns]
        frame = pd.DataFrame.from_records(rows, columns=cols)
        raw = conn.connection.driver_connection
        name = f"_bulk_{table.name}"
        raw.register(name, frame)
        try:
            select_list = ", ".join(f'CAST("{c.name}" AS {c.type.compile(conn.dialect)})' for c in table.columns)
            raw.execute(f'INSERT INTO "{table.name}" SELECT {select_list} FROM {name}')
        finally:
            raw.unregister(name)
        return
    conn.execute(table.insert(), rows)

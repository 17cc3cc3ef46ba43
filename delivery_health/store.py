"""The canonical store: SQLAlchemy Core schema, engine, and the generic upsert.

Every data table has a single string id built from the record's natural key (the tags' computed from
their columns, COMPUTED_IDS), so re-ingesting the same export is an upsert, never a duplicate. Times are naive
UTC ``TIMESTAMP`` values (converted at ingest), so DuckDB and PostgreSQL agree.
"""

from __future__ import annotations

import threading
import uuid
import weakref
import time
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import contextmanager
from datetime import datetime, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import NullPool, StaticPool

SCHEMA_VERSION = 3  # 2: work_item_tags' id computed (COMPUTED_IDS); 3: and not indexed on PostgreSQL

T = TypeVar("T")

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

def _id() -> sa.Column:
    """A data table's id: unique, a key on PostgreSQL only (see DATA_TABLES)."""
    return sa.Column("id", sa.String, nullable=False)


work_items = sa.Table(
    "work_items", metadata, _id(),  # id = issue key
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
# Their id is computed from the other columns, not written: a virtual column on DuckDB (writing 3.5M ids at 1M
# issues cost 0.45 s of a load), a stored one on PostgreSQL (which computes no other kind before version 18).
# Neither item_key nor kind holds a `|`, so equal ids are equal columns. PostgreSQL looks tags up by their item_key
# index and does not index the id (see COMPUTED_IDS).
_TAG_ID_PARTS = ("item_key", "kind", "value")
work_item_tags = sa.Table(
    "work_item_tags", metadata,
    sa.Column("id", sa.String, sa.Computed(" || '|' || ".join(_TAG_ID_PARTS), persisted=True)),
    sa.Column("item_key", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("value", sa.String, nullable=False),
)
sa.Index("ix_work_item_tags_item_key", work_item_tags.c.item_key)

status_transitions = sa.Table(
    "status_transitions", metadata, _id(),  # id = item|changed_at|to_status
    sa.Column("item_key", sa.String, nullable=False, index=True),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("from_status", sa.String),
    sa.Column("to_status", sa.String),
    sa.Column("author", sa.String),
)

# Stored once per link: for blocking kinds from_key is the blocker and to_key the blocked
# issue; for other kinds from_key is the issue on the link's outward side.
issue_links = sa.Table(
    "issue_links", metadata, _id(),  # id = from|link_type|to
    sa.Column("from_key", sa.String, nullable=False, index=True),
    sa.Column("to_key", sa.String, nullable=False, index=True),
    sa.Column("link_type", sa.String, nullable=False),
    sa.Column("is_blocking", sa.Boolean, nullable=False),
    *_source(),
)

releases = sa.Table(
    "releases", metadata, _id(),  # id = project|version
    sa.Column("project_key", sa.String),
    sa.Column("version", sa.String),
    sa.Column("release_date", sa.Date),
    sa.Column("released", sa.Boolean),
    *_source(),
)

services = sa.Table(
    "services", metadata, _id(),  # id = normalised service name
    sa.Column("repository", sa.String),
    *_source(),
)

deployments = sa.Table(
    "deployments", metadata, _id(),  # id = source-specific deployment id
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
    "commits", metadata, _id(),  # id = sha
    sa.Column("service", sa.String, index=True),
    sa.Column("committed_at", sa.DateTime),
    sa.Column("author", sa.String),
    sa.Column("message", sa.String),
    *_source(),
)

incidents = sa.Table(
    "incidents", metadata, _id(),  # id = incident id (PagerDuty id, Jira key, CSV id)
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
    "action_items", metadata, _id(),  # id = item id or Jira key
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
    "budget_lines", metadata, _id(),  # id = scope|category|month|currency
    sa.Column("scope", sa.String, nullable=False),
    sa.Column("category", sa.String, nullable=False),
    sa.Column("month", sa.Date, nullable=False),  # first day of the month
    sa.Column("amount", sa.Double, nullable=False),
    sa.Column("currency", sa.String, nullable=False),
    *_source(),
)

spend_lines = sa.Table(
    "spend_lines", metadata, _id(),  # id = hash of the whole line
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
    "sows", metadata, _id(),  # id = sow_id
    sa.Column("vendor", sa.String),
    sa.Column("scope", sa.String),
    sa.Column("value", sa.Double),
    sa.Column("currency", sa.String),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("invoiced_to_date", sa.Double),
    *_source(),
)

# Releases, freeze windows and other dated events drawn on the trend charts (events-csv).
events = sa.Table(
    "events", metadata, _id(),  # id = date|kind|label|squad
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),  # None for a one-day event (a release); inclusive otherwise
    sa.Column("kind", sa.String, nullable=False),  # lower-case: release | freeze | ...
    sa.Column("label", sa.String, nullable=False),
    sa.Column("squad", sa.String),  # None: the whole organisation
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
# The data-quality panel shows the first rows in this order: PostgreSQL sorted all 25k of them at 1M issues for it
# (30 ms a view). DuckDB takes 8 ms without.
_SKIPPED_ORDER = (sa.Index("ix_skipped_rows_path_id", skipped_rows.c.path, skipped_rows.c.id)
                  .ddl_if(dialect="postgresql"))

# How far each live sync got (not a data table): the next run asks only for what changed since.
sync_state = sa.Table(
    "sync_state", metadata, _pk(),  # id = source|server|query
    sa.Column("source", sa.String, nullable=False),  # e.g. "jira"
    sa.Column("server", sa.String, nullable=False),
    sa.Column("query", sa.String, nullable=False),  # the query as given, without the incremental clause
    sa.Column("last_updated", sa.DateTime),  # newest `updated` (UTC) among the records synced so far
    sa.Column("synced_at", sa.DateTime, nullable=False),
)

# Derived tables, not data: the DORA building blocks (metrics.dora_sql) computed once after an ingest for the
# configured squads, production environments and attribution window (metrics.dora_facts), so a page reads
# them instead of recomputing the attribution. ``derived_state`` says what they were computed from; readers
# compute in the query instead while it does not match. Column for column the live subqueries' columns (the runs
# have two more).
dora_runs = sa.Table(
    "dora_runs", metadata,
    sa.Column("id", sa.String), sa.Column("service", sa.String), sa.Column("squad", sa.String),
    sa.Column("environment", sa.String), sa.Column("status", sa.String), sa.Column("outcome", sa.String),
    sa.Column("started_at", sa.DateTime), sa.Column("finished_at", sa.DateTime), sa.Column("run_at", sa.DateTime),
    sa.Column("commit_sha", sa.String), sa.Column("ref", sa.String), sa.Column("is_rework", sa.Boolean),
    # Not in the live runs: written with them for the drill-down (dora_sql.runs_with_counts).
    sa.Column("commits", sa.Integer), sa.Column("incidents", sa.Integer),
)
dora_production = sa.Table(
    "dora_production", metadata,
    sa.Column("id", sa.String), sa.Column("service", sa.String), sa.Column("squad", sa.String),
    sa.Column("finished_at", sa.DateTime), sa.Column("commit_sha", sa.String), sa.Column("head_time", sa.DateTime),
    sa.Column("is_rework", sa.Boolean),
)
dora_lead = sa.Table(
    "dora_lead", metadata,
    sa.Column("deployment_id", sa.String), sa.Column("service", sa.String), sa.Column("squad", sa.String),
    sa.Column("finished_at", sa.DateTime), sa.Column("sha", sa.String), sa.Column("committed_at", sa.DateTime),
    sa.Column("source", sa.String), sa.Column("lead_seconds", sa.Double),
)
dora_attribution = sa.Table(
    "dora_attribution", metadata,
    sa.Column("incident_id", sa.String), sa.Column("deployment_id", sa.String), sa.Column("attributed_by", sa.String),
)
dora_incidents = sa.Table(
    "dora_incidents", metadata,
    sa.Column("id", sa.String), sa.Column("service", sa.String), sa.Column("squad", sa.String),
    sa.Column("severity", sa.String), sa.Column("title", sa.String), sa.Column("started_at", sa.DateTime),
    sa.Column("resolved_at", sa.DateTime), sa.Column("recovery_seconds", sa.Double),
    sa.Column("deployment_id", sa.String), sa.Column("attributed_by", sa.String),
    sa.Column("deployment_ref", sa.String),
)
dora_deploy_days = sa.Table(
    "dora_deploy_days", metadata,
    sa.Column("day", sa.DateTime), sa.Column("squad", sa.String), sa.Column("deployments", sa.Integer),
    sa.Column("rework", sa.Integer), sa.Column("failed", sa.Integer),
)
# PostgreSQL reads a window of these by its time column through an index (the window's rows only: 0.14 -> 0.07 s
# for the DORA drill-down at 1M issues). DuckDB skips row groups by their min/max instead; an index would only
# slow the refresh's inserts there.
for _table, _column in ((dora_runs, "run_at"), (dora_production, "finished_at"), (dora_lead, "finished_at"),
                        (dora_incidents, "started_at")):
    sa.Index(f"{_table.name}_{_column}", _table.c[_column]).ddl_if(dialect="postgresql")
# The filter bar's and the inventory's summaries of what is loaded (metrics.catalog), one row per value:
# kind team | action_squad | environment (value), or inventory (value = kind of record, rows and time span).
data_catalog = sa.Table(
    "data_catalog", metadata,
    sa.Column("kind", sa.String, nullable=False), sa.Column("value", sa.String), sa.Column("rows", sa.BigInteger),
    sa.Column("first_at", sa.DateTime), sa.Column("last_at", sa.DateTime),
)
# The open blocking dependencies with what metrics.dependencies reads of their two ends (everything but
# staleness, which moves with the as-of date), precomputed with the DORA tables.
dependency_edges = sa.Table(
    "dependency_edges", metadata,
    sa.Column("blocker_key", sa.String, nullable=False), sa.Column("blocked_key", sa.String, nullable=False),
    sa.Column("blocker_squad", sa.String), sa.Column("blocked_squad", sa.String),
    sa.Column("blocker_status", sa.String), sa.Column("blocked_status", sa.String),
    sa.Column("blocker_summary", sa.String), sa.Column("blocked_summary", sa.String),
    sa.Column("need_date", sa.Date), sa.Column("need_release", sa.String),
    sa.Column("land_date", sa.Date), sa.Column("land_release", sa.String),
    sa.Column("blocker_updated_at", sa.DateTime),
)
# Per incident that started while earlier incidents of its service still had open action items: how many items
# and incidents (metrics.actions.repeat_incidents without the window), precomputed with the DORA tables. A store
# made before version 2 of the repeats also has the two id-list columns it no longer writes (left empty).
incident_repeats = sa.Table(
    "incident_repeats", metadata,
    sa.Column("incident_id", sa.String, nullable=False), sa.Column("open_item_count", sa.BigInteger),
    sa.Column("earlier_incident_count", sa.BigInteger),
)
action_item_squads = sa.Table(  # metrics.actions: each action item's squad
    "action_item_squads", metadata,
    sa.Column("item_id", sa.String, nullable=False), sa.Column("squad", sa.String),
)
derived_state = sa.Table(
    "derived_state", metadata, _pk(),  # id = the derived set's name: "dora", "catalog", "dependencies", "repeats", ...
    sa.Column("fingerprint", sa.String, nullable=False),  # the settings they were computed for
    sa.Column("data_version", sa.String, nullable=False),  # the ingest runs they include (``data_version``)
    sa.Column("built_at", sa.DateTime, nullable=False),
)

DATA_TABLES: tuple[sa.Table, ...] = (
    work_items, work_item_tags, status_transitions, issue_links, releases, services,
    deployments, commits, incidents, action_items, budget_lines, spend_lines, sows, events,
)
# The data tables have no primary key or index on DuckDB. Their ids are unique all the same (every write is an
# upsert on them, from a batch with unique ids), but DuckDB reads them by scans and hash joins, never through an
# index, and maintaining and checkpointing one was the slowest part of a load: 1M issues and their 3.5M tags were
# written and committed in 4.6 s with an index on the issue keys, 2.4 s without; 500k deployments in 1.4 s with
# their key and service index, 0.4 s without. PostgreSQL, which looks rows up through them, has each id as a
# unique index (a computed one aside, below), and the other indexes. Stores made before keep their keys and indexes.
#
# The computed ids (see work_item_tags): table name -> the columns the id is made of, the first an indexed one.
# PostgreSQL finds these rows by that column's index and compares the others (same_row, _existing), and so needs
# no index of the id: building it was 3.7 s of a 1M-issue load (3.5M tags), and the upserts keep it unique as
# they do on DuckDB.
COMPUTED_IDS: dict[str, tuple[str, ...]] = {work_item_tags.name: _TAG_ID_PARTS}
for _table in DATA_TABLES:
    if _table.name not in COMPUTED_IDS:
        sa.Index(f"ux_{_table.name}_id", _table.c.id, unique=True)
    for _index in _table.indexes:
        _index.ddl_if(dialect="postgresql")


@compiles(sa.Computed, "duckdb")
def _virtual_on_duckdb(computed: sa.Computed, compiler: Any, **kw: Any) -> str:
    """DuckDB computes generated columns when they are read; it stores none."""
    return f"GENERATED ALWAYS AS ({compiler.sql_compiler.process(computed.sqltext, literal_binds=True)}) VIRTUAL"


def identity(table: sa.Table) -> tuple[str, ...]:
    """The columns whose values are a row's id: the id, or the columns a computed id is made of."""
    return COMPUTED_IDS.get(table.name, ("id",))


def same_row(table: sa.Table, relation: sa.FromClause) -> sa.ColumnElement[bool]:
    """Whether a row of ``table`` and one of ``relation`` (of its columns) have the same id; for a computed id,
    the same columns it is made of, which PostgreSQL matches through the first one's index."""
    return sa.and_(*(table.c[p] == relation.c[p] for p in identity(table)))


def written_columns(table: sa.Table) -> list[sa.Column]:
    """The columns a write gives values for: all but the computed ones."""
    return [c for c in table.columns if c.computed is None]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


BUSY_RETRY_SECONDS = 15.0


class DatabaseBusy(Exception):
    """The DuckDB file stayed in use by another connection for longer than ``BUSY_RETRY_SECONDS``."""


def _is_busy(exc: Exception) -> bool:
    # Another process holds the file lock, or, in the same process, a connection of the other kind
    # (read-only vs read-write) is open: DuckDB refuses one "with a different configuration".
    text = str(exc).lower()
    return "lock" in text or "different configuration" in text


def retry_while_busy(work: Callable[[], T]) -> T:
    """``work()``, retried while the DuckDB file is held by another connection: the app's readers and an
    ingest's writer each keep it only for a moment."""
    deadline = time.monotonic() + BUSY_RETRY_SECONDS
    while True:
        try:
            return work()
        except Exception as exc:
            if not _is_busy(exc):
                raise
            if time.monotonic() > deadline:
                raise DatabaseBusy(str(exc).splitlines()[0]) from exc
            time.sleep(0.2)


def duckdb_file(url: str) -> Path | None:
    """The database file of a DuckDB URL; None for other engines and in-memory DuckDB."""
    if url.startswith("duckdb:///") and ":memory:" not in url:
        return Path(url[len("duckdb:///"):])
    return None


def make_engine(url: str, read_only: bool = False, single_connection: bool = False) -> Engine:
    """An engine for ``url``. DuckDB gets short-lived connections (NullPool) so a reader
    never keeps the file locked while an ingest wants to write it; ``single_connection``
    instead opens the file once and reuses that connection until ``dispose()`` (opening a
    DuckDB file costs tens of milliseconds: a page's queries share one)."""
    if url.startswith("duckdb"):
        path = duckdb_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"read_only": True} if read_only else {}
        return sa.create_engine(url, poolclass=StaticPool if single_connection else NullPool,
                                connect_args=connect_args)
    connect_args = {}
    if url.startswith("postgresql"):
        # No JIT compilation: the dashboard's queries run for tens of milliseconds, and PostgreSQL's JIT,
        # triggered by the large cost estimates of window functions over CTEs, spent ~1 s compiling each
        # (the dependency query at 1M issues: 2.1 s with it, 1.1 s without).
        connect_args["options"] = "-c jit=off"
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


# Reads `concurrently` runs at once on PostgreSQL; its pool (SQLAlchemy's default: 5, overflow 10) has room.
CONCURRENT_READS = 4
_in_concurrent_read = threading.local()


def concurrently(engine: Engine, *calls: Callable[[], Any]) -> list[Any]:
    """The results of independent read-only ``calls`` on ``engine``, in order.

    On PostgreSQL they run at once, each on its own pooled connection (a server process each: the home
    page's squad scorecard at 1M issues went from 1.26 to 0.68 s on 2 cores). On DuckDB one after another:
    its engine may share one connection, which is not for threads, and each query already uses every core.
    Calls made from within one of them run one after another too, so a page view takes at most
    ``CONCURRENT_READS`` connections at a time, however deep the calls nest.
    """
    nested = getattr(_in_concurrent_read, "active", False)
    if engine.dialect.name != "postgresql" or len(calls) < 2 or nested:
        return [call() for call in calls]
    from concurrent.futures import ThreadPoolExecutor

    def run(call: Callable[[], Any]) -> Any:
        _in_concurrent_read.active = True
        try:
            return call()
        finally:
            _in_concurrent_read.active = False

    with ThreadPoolExecutor(max_workers=min(len(calls), CONCURRENT_READS)) as pool:
        return list(pool.map(run, calls))


def file_marker(url: str) -> tuple[int, int] | None:
    """For a DuckDB file, a value that changes whenever anything is written to it (modification times of
    the file and its write-ahead log), read without opening the database; None for other engines."""
    path = duckdb_file(url)
    if path is None:
        return None
    wal = path.with_name(path.name + ".wal")
    return (path.stat().st_mtime_ns if path.exists() else 0, wal.stat().st_mtime_ns if wal.exists() else 0)


def init_db(engine: Engine) -> None:
    """Create missing tables, bring a store made before up to this schema, record the version (idempotent)."""
    with engine.begin() as conn:
        # The tables listed once, not looked up one by one as create_all does: every write begins here, and
        # that took 0.08 s on DuckDB.
        present = set(sa.inspect(conn).get_table_names())
        metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name not in present], checkfirst=False)
        if conn.dialect.name == "postgresql":  # added to a table that a store made before may hold already
            _SKIPPED_ORDER.create(conn, checkfirst=True)
        have = conn.execute(sa.select(schema_version.c.version)).scalars().all()
        if SCHEMA_VERSION not in have:
            _compute_stored_ids(conn)
            for name in COMPUTED_IDS:  # indexed up to version 3 (on PostgreSQL)
                conn.execute(sa.text(f'DROP INDEX IF EXISTS "ux_{name}_id"'))
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=utcnow()))


def _compute_stored_ids(conn: Connection) -> None:
    """Stores made before schema version 2 wrote the ids that are now computed (COMPUTED_IDS): such a table is
    made again with the computed id, with the same rows, which get the same ids."""
    for name in COMPUTED_IDS:
        generated = conn.execute(sa.text(
            "SELECT is_generated FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t AND column_name = 'id'"), {"t": name}).scalar_one()
        if generated == "ALWAYS":
            continue
        table = metadata.tables[name]
        kept = [c.name for c in written_columns(table)]
        listed = ", ".join(f'"{c}"' for c in kept)
        conn.execute(sa.text(f'CREATE TEMPORARY TABLE "_dh_{name}_rows" AS SELECT {listed} FROM "{name}"'))
        conn.execute(sa.text(f'DROP TABLE "{name}"'))  # with its indexes
        table.create(conn)
        conn.execute(sa.text(f'INSERT INTO "{name}" ({listed}) SELECT {listed} FROM "_dh_{name}_rows"'))
        conn.execute(sa.text(f'DROP TABLE "_dh_{name}_rows"'))


def data_version(conn: Connection) -> str:
    """Changes with every write of data: each goes through an ingest run (files, uploads, syncs); a run that
    inserted and updated nothing (the same export again) changes nothing."""
    r = ingest_runs
    n, last = conn.execute(sa.select(sa.func.count(), sa.func.max(r.c.finished_at))
                           .where(r.c.inserted + r.c.updated > 0)).one()
    return f"{n}|{last.isoformat() if last else ''}"


def derived_is_current(conn: Connection, name: str, fingerprint: str) -> bool:
    """True when the derived set ``name`` was last built for ``fingerprint`` from the data as it is now."""
    # Only a connection that has done nothing yet sees exactly what the file holds (not a writer's own changes).
    state = None if conn.in_transaction() else _file_state(conn.engine)
    key = (state, name, fingerprint)
    if state is not None and key in _FILE_DERIVED_CURRENT:
        return _FILE_DERIVED_CURRENT[key]
    if not table_exists(conn, derived_state.name):  # a store created before these tables
        return False
    row = conn.execute(sa.select(derived_state.c.fingerprint, derived_state.c.data_version)
                       .where(derived_state.c.id == name)).first()
    current = row is not None and (row[0], row[1]) == (fingerprint, data_version(conn))
    if state is not None:
        if len(_FILE_DERIVED_CURRENT) > 1000:  # markers of writes long past
            _FILE_DERIVED_CURRENT.clear()
        _FILE_DERIVED_CURRENT[key] = current
    return current


def replace_rows(conn: Connection, table: sa.Table, source: sa.FromClause, order_by: str | None = None) -> int:
    """Empty ``table`` and fill it with ``source``'s columns of the same names (in ``order_by`` order when given:
    DuckDB then skips row groups outside a filter on it); returns the rows written."""
    names = [c.name for c in table.columns]
    query = sa.select(*(source.c[n] for n in names))
    conn.execute(table.delete())
    conn.execute(table.insert().from_select(names, query if order_by is None else query.order_by(source.c[order_by])))
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def record_derived(conn: Connection, name: str, fingerprint: str) -> None:
    """Note that the derived set ``name`` was just built, for ``fingerprint``, from the data as it is now."""
    conn.execute(derived_state.delete().where(derived_state.c.id == name))
    conn.execute(derived_state.insert().values(id=name, fingerprint=fingerprint, data_version=data_version(conn),
                                               built_at=utcnow()))


# What every metric function asks first (2-3 ms a question on DuckDB, a handful per call), remembered:
# - the tables a database holds: nothing drops one. Per engine on a server (long-lived, pooled); per DuckDB file
#   (the app opens an engine a call on it);
# - whether a derived set is current, for a DuckDB file only: any write changes the file's marker, and with it the
#   key. (A server's other clients write without a trace here.)
_TABLES_SEEN: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_FILE_TABLES_SEEN: dict[Path, tuple[tuple[int, int] | None, set[str]]] = {}
_FILE_DERIVED_CURRENT: dict[tuple, bool] = {}


def _file_state(engine: Engine) -> tuple[Path, tuple[int, int] | None] | None:
    """(file, marker) of a DuckDB file's engine; None for a server or in-memory database."""
    url = engine.url.render_as_string(hide_password=False)
    path = duckdb_file(url)
    return None if path is None else (path, file_marker(url))


def _tables_seen(engine: Engine) -> set[str]:
    state = _file_state(engine)
    if state is None:
        return _TABLES_SEEN.setdefault(engine, set())
    path, marker = state
    known = _FILE_TABLES_SEEN.get(path)
    if known is None or known[0] != marker:
        known = _FILE_TABLES_SEEN[path] = (marker, set())
    return known[1]


def table_exists(bind: Engine | Connection, name: str) -> bool:
    seen = _tables_seen(bind.engine)
    if name not in seen and sa.inspect(bind).has_table(name):
        seen.add(name)
    return name in seen


def database_exists(engine: Engine) -> bool:
    return table_exists(engine, schema_version.name)


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


def _key_relation(conn: Connection, values: Iterable[str]) -> sa.TableClause:
    """``values`` as a one-column relation ``key`` visible to this transaction's queries (``_stage``).

    Large IN lists are slow to compile and run (5,000 bound parameters a query); a joinable set is one query.
    """
    import pyarrow as pa

    return _stage(conn, [sa.Column("key", sa.String)], pa.table({"key": pa.array(values, pa.string())}))


def _lookup_column(table: sa.Table, ids: Iterable[str]) -> tuple[sa.Column, list[str]]:
    """The indexed column that ``table``'s rows of ``ids`` are found by, and its values: the id, or for a computed
    id (COMPUTED_IDS) its first part, which holds no `|`."""
    first = identity(table)[0]
    if first == "id":
        return table.c.id, list(ids)
    return table.c[first], sorted({i.split("|", 1)[0] for i in ids})


def _with_ids(table: sa.Table, ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """Whether a row of ``table`` has one of ``ids``, asked so that PostgreSQL finds it through an index."""
    column, values = _lookup_column(table, ids)
    return table.c.id.in_(ids) if column is table.c.id else sa.and_(column.in_(values), table.c.id.in_(ids))


def _existing(conn: Connection, table: sa.Table, wanted: Set[str]) -> dict[str, tuple]:
    """Stored rows (as returned, not normalised) of the given ids."""
    # An empty table (a first load): nothing to look up. `.all()`, not `.first()`: DuckDB refuses
    # further work on a connection whose last result was not read to the end.
    if not wanted or not conn.execute(sa.select(table.c.id).limit(1)).all():
        return {}
    column, values = _lookup_column(table, wanted)
    if len(values) <= 200:  # few: a plain IN list is cheapest
        rows = conn.execute(sa.select(table).where(column.in_(values))).all()
    else:
        rel = _key_relation(conn, values)
        try:
            rows = conn.execute(sa.select(table).where(column.in_(sa.select(rel.c.key)))).all()
        finally:
            _drop_stage(conn, rel)
    return {row[0]: tuple(row) for row in rows if row[0] in wanted}  # a computed id's other rows of its first part


def _same(new: tuple, old: tuple) -> bool:
    """Equal after ``_normalise``; plain equality first, as it implies that and is far cheaper."""
    return new == old or tuple(map(_normalise, new)) == tuple(map(_normalise, old))


def _column(rows: list[dict[str, Any]], name: str) -> list[Any]:
    """The ``name`` value of every row (None where a row lacks it), picked in C when all rows have it."""
    try:
        return list(map(itemgetter(name), rows))
    except KeyError:
        return [r.get(name) for r in rows]


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
    by_id = dict(zip(_column(rows, "id"), rows))  # the last row of an id wins
    existing = _existing(conn, table, by_id.keys())
    if not existing:
        new_rows, changed = (rows if len(by_id) == len(rows) else list(by_id.values())), []
    else:
        new_rows, changed = [], []
        stored = itemgetter(*compared)  # every table has an id and at least one other compared column
        names = [cols[n] for n in compared]
        given = itemgetter(*names)
        for i, r in by_id.items():
            old = existing.get(i)
            if old is None:
                new_rows.append(r)
                continue
            try:
                values = given(r)
            except KeyError:  # a row without some columns: those are NULL
                values = tuple(r.get(c) for c in names)
            if not _same(values, stored(old)):
                changed.append(r)
    for chunk in _chunks([r["id"] for r in changed], 5000):
        conn.execute(table.delete().where(_with_ids(table, chunk)))
    first_load = not existing and not conn.execute(sa.select(table.c.id).limit(1)).all()
    with _indexes_built_after(conn, table, len(new_rows) if first_load else 0):
        bulk_insert(conn, table, new_rows + changed)
    return len(new_rows), len(changed)


# PostgreSQL maintains a btree entry by entry as rows arrive: 3.5M tags into their two indexes took 18 s at 1M
# issues. Loading this many rows or more into an empty table drops its indexes and builds them after (one sort
# each), inside the file's transaction.
REBUILD_INDEXES_FROM_ROWS = 100_000


@contextmanager
def _indexes_built_after(conn: Connection, table: sa.Table, rows: int) -> Iterator[None]:
    """Around a load of ``rows`` rows into the empty ``table``: on PostgreSQL, for many rows, its indexes
    (not its primary key) dropped first and created again after."""
    dropped: list[sa.Index] = []
    if conn.dialect.name == "postgresql" and rows >= REBUILD_INDEXES_FROM_ROWS:
        present = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t"),
                                   {"t": table.name}).scalars())
        dropped = [i for i in table.indexes if i.name in present]
        for index in dropped:
            conn.execute(sa.schema.DropIndex(index))
    yield
    for index in dropped:
        conn.execute(sa.schema.CreateIndex(index))


def _stage(conn: Connection, columns: Sequence[sa.Column], frame: Any) -> sa.TableClause:
    """An Arrow table as a relation of ``columns`` visible to this transaction's queries.

    DuckDB scans the Arrow table in place; PostgreSQL gets a temporary table filled by one COPY of its CSV.
    """
    name = f"_dh_stage_{uuid.uuid4().hex[:12]}"
    raw = conn.connection.driver_connection
    if conn.dialect.name == "duckdb":
        raw.register(name, frame)
    else:
        temp = sa.Table(name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in columns), prefixes=["TEMPORARY"],
                        postgresql_on_commit="DROP")
        temp.create(conn)
        if conn.dialect.name == "postgresql":
            from delivery_health import pg_copy  # imports numpy and pyarrow.compute: 0.12 s, for PostgreSQL only

            pg_copy.copy_frame(conn.connection.driver_connection, name, [c.name for c in columns], frame)
            if frame.num_rows >= ANALYZE_AFTER_ROWS:
                # Planned without statistics, a re-ingest of 1M issues anti-joined their 3.5M tags by sorting both
                # sides (18 s) instead of hashing them (4.7 s).
                conn.execute(sa.text(f'ANALYZE "{name}"'))
        else:
            conn.execute(temp.insert(), frame.to_pylist())
    return sa.table(name, *(sa.column(c.name, c.type) for c in columns))


def _drop_stage(conn: Connection, stage: sa.TableClause) -> None:
    if conn.dialect.name == "duckdb":
        conn.connection.driver_connection.unregister(stage.name)
    else:
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{stage.name}"'))


def upsert_frame(conn: Connection, table: sa.Table, frame: Any,
                 owned: tuple[str, Any] | None = None) -> tuple[int, int]:
    """``upsert`` for an Arrow table of ``table``'s columns with unique ids, done in SQL without a row in Python.

    ``owned`` (owner column, Arrow array of owner keys): rows of those owners that the frame no longer
    carries are deleted, as ``delete_missing`` does, and counted as updated.
    """
    if frame.num_rows == 0 and owned is None:
        return 0, 0
    written = written_columns(table)
    cols = [c.name for c in written]
    # `.all()`: DuckDB wants a result read to the end before the connection does more.
    first_load = not conn.execute(sa.select(table.c.id).limit(1)).all()  # everything is new
    if first_load and conn.dialect.name == "postgresql" and frame.num_rows >= REBUILD_INDEXES_FROM_ROWS:
        # Straight into the table: through a staging table, 1M issues' 4.5M rows were copied twice (2.9 s more).
        # Its indexes are dropped too: TRUNCATE takes no lock or right that this load does not take already.
        from delivery_health import pg_copy

        with _indexes_built_after(conn, table, frame.num_rows):
            conn.execute(sa.text(f'TRUNCATE "{table.name}"'))  # empty already: this lets COPY write the rows frozen
            pg_copy.copy_frame(conn.connection.driver_connection, table.name, cols, frame, freeze=True)
        return frame.num_rows, 0
    stage = _stage(conn, written, frame)
    try:
        if first_load:
            with _indexes_built_after(conn, table, frame.num_rows):
                conn.execute(table.insert().from_select(cols, sa.select(*(stage.c[n] for n in cols))))
            return frame.num_rows, 0
        updated = 0
        if owned is not None:
            owner_col, owners = owned
            keys = _key_relation(conn, owners)
            try:
                updated += conn.execute(table.delete().where(
                    table.c[owner_col].in_(sa.select(keys.c.key)),
                    ~sa.exists().where(same_row(table, stage)))).rowcount
            finally:
                _drop_stage(conn, keys)
        # A computed id's columns are the row: such a row is there or not, never changed.
        compared = [n for n in cols if n not in identity(table) and n not in PROVENANCE_COLUMNS]
        changed = 0
        if compared:
            differs = sa.or_(*(stage.c[n].is_distinct_from(table.c[n]) for n in compared))
            changed = conn.execute(table.delete().where(same_row(table, stage), differs)).rowcount
        added = conn.execute(table.insert().from_select(cols, sa.select(*(stage.c[n] for n in cols)).where(
            ~sa.exists().where(same_row(table, stage))))).rowcount
        return added - changed, updated + changed
    finally:
        _drop_stage(conn, stage)


# PostgreSQL plans with table statistics that autovacuum refreshes only some time after a bulk load; planned
# on stale ones, a 100k-issue store's dependency query took 0.85 s instead of 0.23 s.
ANALYZE_AFTER_ROWS = 1000


def vacuum_analyze(engine: Engine, tables: Iterable[sa.Table]) -> None:
    """On PostgreSQL, once a write has committed: VACUUM (ANALYZE) each of ``tables``, fresh planner statistics
    and every new row marked visible. Left to autovacuum, that ran in the next minute, on one of the server's
    cores while the pages were viewed (the Overview's uncached p95 at 1M issues on 2 cores: 0.34 s in a
    benchmark run during it, 0.27 s with the vacuum done by the write). DuckDB keeps its statistics as it writes
    and needs neither."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # VACUUM is not transactional
        for table in tables:
            conn.execute(sa.text(f'VACUUM (ANALYZE) "{table.name}"'))


def delete_missing(conn: Connection, table: sa.Table, owner_col: str, owners: list[str], keep_ids: set[str]) -> int:
    """Delete child rows of the given owners that the new batch no longer carries."""
    if not owners:
        return 0
    col = table.c[owner_col]
    if len(owners) <= 200:
        found = conn.execute(sa.select(table.c.id).where(col.in_(owners))).scalars().all()
    else:
        rel = _key_relation(conn, list(owners))
        try:
            found = conn.execute(sa.select(table.c.id).where(col.in_(sa.select(rel.c.key)))).scalars().all()
        finally:
            _drop_stage(conn, rel)
    stale = [i for i in found if i not in keep_ids]
    for sub in _chunks(stale, 5000):
        conn.execute(table.delete().where(_with_ids(table, sub)))
    return len(stale)


def delete_issues(conn: Connection, source_file: str, keys: list[str]) -> int:
    """Delete the issues ``keys`` that ``source_file`` brought, with their tags, transitions, links, incidents
    and action items; rows another file brought stay. Returns the rows deleted."""
    deleted = 0
    for chunk in _chunks(sorted(keys), 5000):
        mine = conn.execute(sa.select(work_items.c.id).where(
            work_items.c.id.in_(chunk), work_items.c.source_file == source_file)).scalars().all()
        for table, column in ((work_item_tags, "item_key"), (status_transitions, "item_key"), (work_items, "id")):
            deleted += conn.execute(table.delete().where(table.c[column].in_(mine))).rowcount
        ends = sa.or_(issue_links.c.from_key.in_(chunk), issue_links.c.to_key.in_(chunk))
        deleted += conn.execute(issue_links.delete().where(ends, issue_links.c.source_file == source_file)).rowcount
        for table in (incidents, action_items):
            deleted += conn.execute(table.delete().where(
                table.c.jira_key.in_(chunk), table.c.source_file == source_file)).rowcount
    return deleted


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast: DuckDB reads a registered DataFrame, PostgreSQL takes COPY, others executemany.

    Rows missing a column get NULL.
    """
    if not rows:
        return
    written = written_columns(table)
    cols = [c.name for c in written]
    if conn.dialect.name == "duckdb" and len(rows) > 200:
        import pandas as pd

        frame = pd.DataFrame({c: pd.Series(_column(rows, c), dtype=object) for c in cols})
        raw = conn.connection.driver_connection
        name = f"_bulk_{table.name}"
        raw.register(name, frame)
        try:
            select_list = ", ".join(f'CAST("{c.name}" AS {c.type.compile(conn.dialect)})' for c in written)
            raw.execute(f'INSERT INTO "{table.name}" ({", ".join(cols)}) SELECT {select_list} FROM {name}')
        finally:
            raw.unregister(name)
        return
    if conn.dialect.name == "postgresql" and len(rows) > 200:
        from delivery_health import pg_copy

        pg_copy.copy_rows(conn.connection.driver_connection, table.name, cols, rows)
        return
    conn.execute(table.insert(), [{c: r.get(c) for c in cols} for r in rows])

"""What is loaded: rows and time span per kind of record, ingest history, skipped rows, squads."""

from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from delivery_health import squads, store
from delivery_health.metrics import catalog
from delivery_health.metrics.frames import read_frame
from delivery_health.settings import Settings

def first_record_date(engine: Engine, settings: Settings) -> date | None:
    """The earliest date of any dated record loaded (the start of what the filters can look at)."""
    spans = data_inventory(engine, settings)["first"].dropna()
    return spans.min().date() if not spans.empty else None


def last_ingest_marker(engine: Engine) -> str:
    """A string that changes whenever an ingest lands (used in cache keys)."""
    if not store.database_exists(engine):
        return ""
    with engine.connect() as conn:
        n, last = conn.execute(sa.select(sa.func.count(), sa.func.max(store.ingest_runs.c.finished_at))).one()
    return f"{n}|{last}"


def data_inventory(engine: Engine, settings: Settings) -> pd.DataFrame:
    """One row per kind of record: `records, rows, first, last` (first/last of its main date)."""
    if not store.database_exists(engine):
        return pd.DataFrame(columns=["records", "rows", "first", "last"])
    with engine.connect() as conn:
        frame = pd.DataFrame(catalog.inventory(conn), columns=["records", "rows", "first", "last"])
    # Date and timestamp spans share a column: one timestamp type, so the table renders.
    for col in ("first", "last"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def ingest_history(engine: Engine, settings: Settings) -> pd.DataFrame:
    """Per source format: files, last ingest, and the rows read/inserted/updated/rejected by the latest run of each file."""
    cols = ["format", "files", "last_ingest", "rows_read", "inserted", "updated", "rejected"]
    if not store.database_exists(engine):
        return pd.DataFrame(columns=cols)
    r = store.ingest_runs
    latest = (sa.select(r.c.path, sa.func.max(r.c.finished_at).label("finished_at")).group_by(r.c.path).subquery())
    q = (sa.select(r.c.format, sa.func.count(sa.distinct(r.c.path)).label("files"),
                   sa.func.max(r.c.finished_at).label("last_ingest"),
                   sa.func.sum(r.c.rows_read).label("rows_read"), sa.func.sum(r.c.inserted).label("inserted"),
                   sa.func.sum(r.c.updated).label("updated"), sa.func.sum(r.c.rejected).label("rejected"))
         .join(latest, sa.and_(latest.c.path == r.c.path, latest.c.finished_at == r.c.finished_at))
         .group_by(r.c.format).order_by(r.c.format))
    with engine.connect() as conn:
        return read_frame(conn, q, cols)


def skipped_rows(engine: Engine, settings: Settings, limit: int | None = None) -> pd.DataFrame:
    """Every row an accepted file did not load (the first ``limit`` when given), with its file and reason (the
    data-quality panel)."""
    s = store.skipped_rows
    cols = ["format", "path", "row_ref", "reason"]
    if not store.database_exists(engine):
        return pd.DataFrame(columns=cols)
    q = sa.select(s.c.format, s.c.path, s.c.row_ref, s.c.reason).order_by(s.c.path, s.c.id)
    with engine.connect() as conn:
        return read_frame(conn, q if limit is None else q.limit(limit), cols)


def skipped_row_count(engine: Engine, settings: Settings) -> int:
    """How many rows ``skipped_rows`` holds."""
    if not store.database_exists(engine):
        return 0
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(store.skipped_rows)).scalar_one()


def squad_names(engine: Engine, settings: Settings) -> list[str]:
    """Every squad a record can be attributed to: the mapping's squads, Team-field values, explicit squads, unassigned."""
    names = {r.squad for r in squads.load_rules(settings.squads_path)}
    if store.database_exists(engine):
        with engine.connect() as conn:
            names |= set(catalog.values(conn, catalog.TEAM)) | set(catalog.values(conn, catalog.ACTION_SQUAD))
    names.discard(None)
    names.discard("")
    return sorted(names) + [squads.UNASSIGNED] if squads.UNASSIGNED not in names else sorted(names)


def environment_names(engine: Engine, settings: Settings) -> list[str]:
    """Deployment environments loaded, with the configured production ones always offered (lower-case, sorted)."""
    names = {e.lower() for e in settings.production_environments}
    if store.database_exists(engine):
        with engine.connect() as conn:
            names |= set(catalog.values(conn, catalog.ENVIRONMENT))
    return sorted(names)


EVENT_COLUMNS = ["date", "end_date", "kind", "label", "squad"]


def events_in_window(engine: Engine, settings: Settings, start: date, end: date,
                     squads: tuple[str, ...] = ()) -> pd.DataFrame:
    """Events (releases, freeze windows) overlapping [start, end]: the organisation's and the selected squads'
    (every squad's when none is selected). ``end_date`` None means a one-day event."""
    if not store.database_exists(engine):
        return pd.DataFrame(columns=EVENT_COLUMNS)
    e = store.events
    q = (sa.select(*(e.c[c] for c in EVENT_COLUMNS))
         .where(e.c.date <= end, sa.func.coalesce(e.c.end_date, e.c.date) >= start).order_by(e.c.date, e.c.label))
    if squads:
        q = q.where(sa.or_(e.c.squad.is_(None), sa.func.lower(e.c.squad).in_([s.lower() for s in squads])))
    with engine.connect() as conn:
        return read_frame(conn, q, EVENT_COLUMNS)

"""Ingest export files into the store: one transaction per file, all of it or none of it."""

from __future__ import annotations

import gc
import importlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest.base import Batch, Loader, RejectedFile
from delivery_health.ingest.detect import detect_format
from delivery_health.settings import Settings

# format name -> "module:function" of its loader
FORMATS: dict[str, str] = {
    "jira-csv": "jira_csv:load",
    "jira-json": "jira_json:load",
    "github-actions-runs": "github_actions:load",
    "pagerduty-incidents": "pagerduty:load",
    "deployments-csv": "generic_csv:load_deployments",
    "incidents-csv": "generic_csv:load_incidents",
    "action-items-csv": "generic_csv:load_action_items",
    "releases-csv": "generic_csv:load_releases",
    "budget-csv": "generic_csv:load_budget",
    "spend-csv": "generic_csv:load_spend",
    "sows-csv": "generic_csv:load_sows",
    "commits-csv": "generic_csv:load_commits",
    "events-csv": "generic_csv:load_events",
}


@dataclass
class IngestResult:
    path: str
    format: str
    read: int
    inserted: int
    updated: int
    rejected: int
    seconds: float

    def summary_line(self) -> str:
        return (f"{self.path}: {self.format}: read {self.read}, inserted {self.inserted}, "
                f"updated {self.updated}, rejected {self.rejected}")


class IngestError(Exception):
    """A file was rejected whole; the message names the file, the row and the reason."""

    def __init__(self, path: str, fmt: str | None, reason: str, row: int | str | None):
        self.path, self.format, self.reason, self.row = path, fmt, reason, row
        where = f"row {row}: " if row is not None else ""
        super().__init__(f"{path}: {fmt or 'unknown format'}: {where}{reason}")


def loader_for(fmt: str) -> Loader:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    module, func = FORMATS[fmt].split(":")
    return getattr(importlib.import_module(f"delivery_health.ingest.{module}"), func)


def parse_file(path: Path, settings: Settings, fmt: str | None = None, name: str | None = None) -> tuple[str, Batch]:
    """Sniff and parse a file without touching the database. Raises IngestError (naming it ``name`` if given)."""
    label = name or str(path)
    try:
        fmt = fmt or detect_format(path)
        batch = loader_for(fmt)(path, settings)
    except RejectedFile as exc:
        raise IngestError(label, fmt, exc.reason.replace(str(path), label), exc.row) from None
    except OSError as exc:
        raise IngestError(label, fmt, exc.strerror or str(exc), None) from None
    if name is not None:  # rows name their file as the user knows it, not where it was staged
        for rows in batch.rows.values():
            for row in rows:
                if row.get("source_file") in (str(path), path.name):
                    row["source_file"] = name
        for table, frame in batch.frames.items():
            if "source_file" in frame.column_names:
                import pyarrow as pa

                where = frame.column_names.index("source_file")
                batch.frames[table] = frame.set_column(where, "source_file", pa.array([name] * frame.num_rows, pa.string()))
    return fmt, batch


def write_batch(engine: Engine, path: str, fmt: str, batch: Batch) -> tuple[int, int]:
    """Upsert a parsed batch and record the run, in one transaction. Returns (inserted, updated)."""
    started = store.utcnow()
    run_id = str(uuid.uuid4())
    inserted = updated = 0
    grown: list[sa.Table] = []  # tables this file grew by many rows: vacuumed and their statistics refreshed
    with engine.begin() as conn:
        for table in store.DATA_TABLES:
            if table.name in batch.frames:
                i, u = store.upsert_frame(conn, table, batch.frames[table.name], batch.owned.get(table.name))
            else:
                rows = batch.rows.get(table.name, [])
                # An empty table has no stale child rows (a first load): skip listing the batch's ids.
                # `.all()`: DuckDB wants a result read to the end before the connection does more.
                if table.name in batch.owned and conn.execute(sa.select(table.c.id).limit(1)).all():
                    owner_col, owners = batch.owned[table.name]
                    updated += store.delete_missing(conn, table, owner_col, owners, set(map(itemgetter("id"), rows)))
                i, u = store.upsert(conn, table, rows)
            inserted, updated = inserted + i, updated + u
            if i + u >= store.ANALYZE_AFTER_ROWS:
                grown.append(table)
        if batch.retired:
            updated += store.delete_issues(conn, path, batch.retired)
        conn.execute(store.ingest_runs.insert().values(
            id=run_id, format=fmt, path=path, started_at=started, finished_at=store.utcnow(),
            rows_read=batch.read, inserted=inserted, updated=updated, rejected=len(batch.skipped)))
        # A re-ingest replaces the previous runs' skipped rows of the same file.
        conn.execute(store.skipped_rows.delete().where(store.skipped_rows.c.path == path))
        store.bulk_insert(conn, store.skipped_rows, [
            {"id": f"{run_id}|{n}", "run_id": run_id, "format": fmt, "path": path, "row_ref": ref, "reason": reason}
            for n, (ref, reason) in enumerate(batch.skipped)])
    store.vacuum_analyze(engine, grown)
    return inserted, updated


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a file is loaded.

    A 1M-issue export is tens of millions of small objects (cells, rows, dicts), none of them in
    reference cycles; each collection rescans all of them, which made ingest time grow faster than
    the file (100k -> 1M issues took 14x as long). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ingest_file(engine: Engine, path: str | Path, settings: Settings, fmt: str | None = None,
                name: str | None = None) -> IngestResult:
    """Parse, then write in one transaction. On any error nothing is written (IngestError).

    ``name`` is how the file is called in messages, the ingest history and the rows' source
    (default: ``path``); in-app uploads pass the uploaded file's own name.
    """
    with _gc_paused():
        return _ingest_file(engine, Path(path), settings, fmt, name)


def _ingest_file(engine: Engine, path: Path, settings: Settings, fmt: str | None, name: str | None) -> IngestResult:
    t0 = time.perf_counter()
    label = name or str(path)
    fmt, batch = parse_file(path, settings, fmt, name=name)

    def write() -> tuple[int, int]:
        store.init_db(engine)
        return write_batch(engine, label, fmt, batch)

    try:
        inserted, updated = store.retry_while_busy(write)
    except store.DatabaseBusy as exc:
        raise IngestError(label, fmt, f"the database stayed in use by another process or reader for "
                          f"{store.BUSY_RETRY_SECONDS:.0f} s; nothing was written, try again ({exc})", None) from exc
    except Exception as exc:  # a constraint or type error from the database: the transaction rolled back
        raise IngestError(label, fmt, f"the database refused the rows: {exc}".splitlines()[0], None) from exc
    return IngestResult(label, fmt, batch.read, inserted, updated, len(batch.skipped), time.perf_counter() - t0)

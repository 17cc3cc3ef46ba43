"""`sync jira`: fetch from a live Jira, parse with the jira-json loader, write in one transaction.

The sync is recorded in ``ingest_runs`` under the path ``jira:<server> <jql>`` (the query as
given); the rows carry it as their ``source_file``. After a successful sync the newest
``updated`` seen is kept in ``sync_state``, and the next run of the same (server, query) asks
only for issues updated since then (less ``state.OVERLAP``); ``--since`` overrides that.

Issues the query brought earlier and no longer matches (deleted in Jira, moved to another project)
are removed with their rows. An incremental search cannot see them, so such a run also lists the
keys the whole query matches (keys only, ``jira.KEYS_PAGE_SIZE`` a page).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest import write_batch
from delivery_health.ingest.base import Batch, RejectedFile
from delivery_health.ingest import jira_common, jira_json
from delivery_health.settings import Settings
from delivery_health.sync import credentials, state
from delivery_health.sync.jira import (
    PAGE_SIZE, Fetched, JiraSyncError, connect, fetch, fields_page, issue_keys, matching_keys)

FORMAT = "jira-api"  # ingest_runs.format and the rows' source
STATE_SOURCE = "jira"


@dataclass
class SyncResult:
    path: str
    deployment: str
    jql_sent: str
    pages: int
    read: int
    inserted: int
    updated: int
    rejected: int
    removed: int  # issues no longer matched by the query (deleted or moved in Jira), removed from the store
    changelogs_completed: int
    projects: int
    seconds: float

    def summary_line(self) -> str:
        return (f"{self.path}: {FORMAT} ({self.deployment}, {self.pages} pages): read {self.read}, "
                f"inserted {self.inserted}, updated {self.updated}, rejected {self.rejected}, "
                f"removed {self.removed} no longer in the query; "
                f"full changelogs fetched for {self.changelogs_completed} issues, versions of {self.projects} projects")


def sync_jira(engine: Engine, settings: Settings, creds: credentials.JiraCredentials, jql: str, *,
              since: date | None = None, page_size: int = PAGE_SIZE) -> SyncResult:
    """Fetch every issue of ``jql`` (incrementally when synced before) and load it. Raises JiraSyncError, writing nothing."""
    t0 = time.perf_counter()
    jql = " ".join(jql.split())
    if not jql:
        raise JiraSyncError("--jql is empty: give a query such as 'project = ABC'")
    if page_size < 1:
        raise JiraSyncError(f"--page-size must be at least 1, not {page_size}")
    server = credentials.display_server(creds.server)
    path = f"jira:{server} {jql}"
    start: date | datetime | None = since
    if start is None:
        prior = state.last_updated(engine, STATE_SOURCE, server, jql)
        start = prior - state.OVERLAP if prior is not None else None
    sent = state.updated_since(jql, start)

    client = connect(creds)
    fetched = fetch(client, creds, sent, page_size=page_size)
    batch = _batch(fetched, settings, path)
    _retire_missing(engine, path, batch, issue_keys(fetched.pages) if start is None
                    else matching_keys(client, creds, jql))
    if start is not None:
        _carry_notes(engine, path, batch)
    newest = max((r["updated_at"] for r in batch.rows.get("work_items", []) if r["updated_at"] is not None), default=None)

    def write() -> tuple[int, int]:
        store.init_db(engine)
        inserted, updated = write_batch(engine, path, FORMAT, batch)
        with engine.begin() as conn:
            state.record(conn, STATE_SOURCE, server, jql, newest)
        return inserted, updated

    try:
        inserted, updated = store.retry_while_busy(write)
    except Exception as exc:  # the data transaction rolled back
        raise JiraSyncError(f"{path}: the database refused the rows: {exc}".splitlines()[0]) from exc
    return SyncResult(path, fetched.deployment, sent, len(fetched.pages), batch.read, inserted, updated,
                      len(batch.skipped), len(batch.retired), fetched.changelogs_completed, len(fetched.versions),
                      time.perf_counter() - t0)


def _batch(fetched: Fetched, settings: Settings, path: str) -> Batch:
    """The pages through the jira-json loader, then every version of the projects seen as a release."""
    try:
        batch = jira_json.load_data([fields_page(fetched.fields), *fetched.pages], settings, source_file=path, source=FORMAT)
        for project, raw in sorted(fetched.versions.items()):
            for version in jira_json.project_versions(raw, project):
                # Added after the issues' own fix versions: the upsert keeps the last row of an id, so the
                # project's version list (dates set after the issues were last touched) wins.
                batch.add("releases", jira_common.release_row(project, version, FORMAT, path))
    except RejectedFile as exc:
        raise JiraSyncError(f"{path}: {exc.reason}") from None
    for ref, reason in fetched.notes:
        batch.skip(ref, reason)
    return batch


def _retire_missing(engine: Engine, path: str, batch: Batch, matched: set[str]) -> None:
    """Mark for removal the issues this query brought before that it no longer matches."""
    if not state.store_exists(engine) or not store.table_exists(engine, store.work_items.name):
        return
    wi = store.work_items
    with engine.connect() as conn:
        stored = set(conn.execute(sa.select(wi.c.id).where(wi.c.source_file == path)).scalars())
    if stored and not matched:
        # A token that lost its access to the projects gets the same empty answer as if every issue were deleted.
        batch.skip("query", f"the query matched no issue: the {len(stored)} issues it brought before are kept, "
                            "not removed (lost access to the project looks the same as every issue deleted)")
        return
    batch.retired = sorted(stored - matched)


def _carry_notes(engine: Engine, path: str, batch: Batch) -> None:
    """Keep earlier notes of issues an incremental run did not fetch again (write_batch replaces the path's notes)."""
    if not state.store_exists(engine):
        return
    fetched = {r["id"] for r in batch.rows.get("work_items", [])} | {r["project_key"] for r in batch.rows.get("work_items", [])}
    fetched |= {ref for ref, _ in batch.skipped}
    s = store.skipped_rows
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s.c.row_ref, s.c.reason).where(s.c.path == path).order_by(s.c.id)).all()
    retired = set(batch.retired)
    batch.skipped += [(ref, reason) for ref, reason in rows if ref not in fetched and ref not in retired]


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """`python -m delivery_health sync jira ...`: one summary line, or one error line and exit 1."""
    creds = None
    try:
        creds = credentials.resolve(args.server)
        if creds.kind == "anonymous":
            print(f"note: no Jira credentials set: connecting to {credentials.display_server(creds.server)} anonymously",
                  file=sys.stderr)
        result = sync_jira(store.make_engine(settings.db_url), settings, creds, args.jql, since=args.since,
                           page_size=args.page_size)
    except (credentials.CredentialsError, JiraSyncError) as exc:
        message = str(exc)
        if creds is not None and creds.token:  # belt and braces: a server could echo what it was sent
            message = message.replace(creds.token, "***")
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(result.summary_line())
    return 0

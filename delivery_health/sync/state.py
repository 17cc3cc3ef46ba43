"""Incremental syncs: where the last sync of a (server, query) got to, and the JQL asking only for what changed."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from delivery_health import store

# JQL reads a date in the Jira user's profile time zone (UTC-12 to UTC+14), while we store UTC:
# one day of overlap covers any zone. Issues fetched again unchanged are identical upserts.
OVERLAP = timedelta(days=1)

_ORDER_BY = re.compile(r"(?:^|\s)order\s+by\s.*$", re.IGNORECASE | re.DOTALL)


def state_id(source: str, server: str, query: str) -> str:
    return f"{source}|{server}|{query}"


def last_updated(engine: Engine, source: str, server: str, query: str) -> datetime | None:
    """The newest `updated` (UTC) of the records synced so far for this query, or None."""
    if not store_exists(engine) or not store.table_exists(engine, store.sync_state.name):
        return None
    s = store.sync_state
    with engine.connect() as conn:
        return conn.execute(sa.select(s.c.last_updated).where(s.c.id == state_id(source, server, query))).scalar_one_or_none()


def store_exists(engine: Engine) -> bool:
    """Like `store.database_exists`, without creating an empty DuckDB file by looking (a failed sync writes nothing)."""
    if engine.dialect.name == "duckdb" and engine.url.database not in (None, "", ":memory:") \
            and not Path(engine.url.database).exists():
        return False
    return store.database_exists(engine)


def record(conn: Connection, source: str, server: str, query: str, newest: datetime | None) -> None:
    """Remember the newest `updated` seen (never moving it back); `synced_at` is now."""
    s = store.sync_state
    sid = state_id(source, server, query)
    previous = conn.execute(sa.select(s.c.last_updated).where(s.c.id == sid)).one_or_none()
    if previous is not None and previous[0] is not None and (newest is None or previous[0] > newest):
        newest = previous[0]
    conn.execute(s.delete().where(s.c.id == sid))
    conn.execute(s.insert().values(id=sid, source=source, server=server, query=query,
                                   last_updated=newest, synced_at=store.utcnow()))


def updated_since(jql: str, since: date | datetime | None) -> str:
    """``jql`` restricted to issues updated at or after ``since``, keeping a trailing ORDER BY last."""
    if since is None:
        return jql
    stamp = since.strftime("%Y-%m-%d %H:%M") if isinstance(since, datetime) else since.isoformat()
    clause = f'updated >= "{stamp}"'
    m = _ORDER_BY.search(jql)
    where, order = (jql[:m.start()], jql[m.start():].strip()) if m else (jql, "")
    where = where.strip()
    combined = f"({where}) AND {clause}" if where else clause
    return f"{combined} {order}" if order else combined

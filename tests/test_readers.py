"""SharedReadOnly: a page's calls share the DuckDB file's open database, and the file is freed for a writer."""

from __future__ import annotations

import time

import sqlalchemy as sa

from delivery_health import store
from delivery_health.readers import SharedReadOnly


def _write(url: str) -> None:
    engine = store.make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(store.events.delete())
    finally:
        engine.dispose()


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(store.events)).scalar_one()


def test_kept_open_between_calls_then_closed_when_idle(duckdb_url: str) -> None:
    store.init_db(store.make_engine(duckdb_url))
    reader = SharedReadOnly(duckdb_url, idle_seconds=0.3)
    with reader.engine() as e1:
        assert _count(e1) == 0
    with reader.engine() as e2:  # the next call finds the file still open
        assert reader.is_open and _count(e2) == 0
    assert reader.is_open
    deadline = time.monotonic() + 10
    while reader.is_open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not reader.is_open  # idle for 0.3 s: closed
    _write(duckdb_url)  # DuckDB would refuse this read-write connection while the file is open read-only


def test_a_running_call_keeps_it_open_and_zero_closes_after_each_call(duckdb_url: str) -> None:
    store.init_db(store.make_engine(duckdb_url))
    reader = SharedReadOnly(duckdb_url, idle_seconds=0.0)
    with reader.engine() as outer:
        with reader.engine() as inner:  # another session's call meanwhile
            assert _count(inner) == 0
        reader.close_if_idle()  # a writer asking while a call runs: the file stays open for it
        assert reader.is_open and _count(outer) == 0
    assert not reader.is_open
    _write(duckdb_url)

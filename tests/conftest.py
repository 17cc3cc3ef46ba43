"""Shared fixtures: real DuckDB files, a throwaway PostgreSQL cluster, cache hygiene."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bench import pg
from delivery_health import store
from delivery_health.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = ROOT.parent / "shared" / "samples"
# Tests write a DuckDB file right after a page read it, in this process or a served app's: the app's file
# must not stay open between queries here (DuckDB refuses a writer meanwhile). tests/test_readers.py
# covers keeping it open.
os.environ.setdefault("DELIVERY_HEALTH_KEEP_OPEN_SECONDS", "0")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL cluster in a temp dir, run as `postgres` when we are root; yields a server URL prefix."""
    with pg.cluster() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return pg.create_database(pg_server, f"t{int(time.time() * 1e6)}")


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    """A DuckDB file in tmp_path (not :memory:, whose pooled connections each see an empty database)."""
    return f"duckdb:///{tmp_path / 'test.duckdb'}"


@pytest.fixture(params=["duckdb", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on both engines."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'test.duckdb'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with an empty squad mapping unless a test writes one."""
    return Settings(db_url=f"duckdb:///{tmp_path / 'test.duckdb'}", squads_path=str(tmp_path / "squads.csv"))


@pytest.fixture
def engine(db_url: str):
    eng = store.make_engine(db_url)
    store.init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _clear_streamlit_caches() -> Iterator[None]:
    """Streamlit caches are process-wide: keep tests from seeing each other's results."""
    yield
    try:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()
    except Exception:  # streamlit not imported by this test
        pass


def shifted_copy(src: Path, dest_dir: Path, days: int) -> Path:
    """``src`` with every date (ISO `2024-06-15` or Jira `15/Jun/24`) moved by ``days``: the page is as of today,
    so a browser test shifts the fixture to keep its late/unscheduled/stale mix."""
    def iso(m: re.Match) -> str:
        return (date.fromisoformat(m.group(0)) + timedelta(days=days)).isoformat()

    def jira(m: re.Match) -> str:
        return (datetime.strptime(m.group(0), "%d/%b/%y") + timedelta(days=days)).strftime("%d/%b/%y")

    text = re.sub(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)", iso, src.read_text())
    text = re.sub(r"\b\d{2}/[A-Z][a-z]{2}/\d{2}\b", jira, text)
    dest = dest_dir / src.name
    dest.write_text(text)
    return dest

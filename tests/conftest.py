"""Shared fixtures: real DuckDB files, a throwaway PostgreSQL cluster, cache hygiene."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from delivery_health import store
from delivery_health.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLES = ROOT.parent / "shared" / "samples"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (make test installs it)")
    return found


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL cluster in a temp dir, run as `postgres` when we are root; yields a server URL prefix."""
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="dh-pg-"))
    data = base / "data"
    port = _free_port()
    run: list[str] = []
    if as_root:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run + [_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run(run + [_pg_bin("pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                          f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(run + [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = f"t{int(time.time() * 1e6)}"
    admin = sa.create_engine(f"{pg_server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{pg_server}/{name}"


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

"""A throwaway PostgreSQL cluster from the machine's `initdb`/`pg_ctl`, shared by the tests and the benchmark."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    """The newest installed PostgreSQL's ``name`` binary; RuntimeError when PostgreSQL is not installed."""
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (make test installs it)")
    return found


def available() -> bool:
    """True when `initdb` and `pg_ctl` can be found."""
    try:
        pg_bin("initdb"), pg_bin("pg_ctl")
    except RuntimeError:
        return False
    return True


@contextmanager
def cluster(settings: tuple[str, ...] = ()) -> Iterator[str]:
    """A PostgreSQL cluster in a temp dir, run as `postgres` when we are root; yields a server URL prefix.

    ``settings`` are extra `-c name=value` server options (the benchmark raises memory limits).
    The cluster is stopped and its directory removed on exit.
    """
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="dh-pg-"))
    data = base / "data"
    port = free_port()
    run: list[str] = []
    if as_root:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run + [pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    options = " ".join([f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off",
                        *(f"-c {s}" for s in settings)])
    subprocess.run(run + [pg_bin("pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o", options, "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(run + [pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def create_database(server: str, name: str) -> str:
    """Create database ``name`` on ``server`` (a URL prefix from ``cluster``); returns its URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"

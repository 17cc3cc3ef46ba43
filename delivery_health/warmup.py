"""What `serve` loads before the first visitor arrives, so a first page view waits only for its queries."""

from __future__ import annotations

import gc
import importlib
import pkgutil


def load_app_modules(db_url: str) -> None:
    """Import every metric and chart module (pandas, SQLAlchemy, plotly with them), and the SQLAlchemy dialect
    of ``db_url``'s database: SQLAlchemy imports a dialect on the first engine made for it (duckdb_engine:
    0.25 s, which the first page view paid)."""
    from delivery_health import charts, metrics, store, ui  # noqa: F401 - imported for the app, before it runs

    for package in (metrics, charts):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    store.make_engine(db_url, read_only=store.duckdb_file(db_url) is not None).dispose()  # no connection is opened
    # Everything loaded so far lives as long as the server: out of the garbage collector's full passes, which
    # otherwise walk all of it (60 ms, every few views of the dependency page at 1M issues).
    gc.freeze()

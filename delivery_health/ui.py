"""The Streamlit glue every page shares: engine, cached metric calls, filters, empty states.

The only module of the package that imports Streamlit. Pages read filters here,
call a ``delivery_health`` function through ``cached`` and draw the result.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.settings import Settings


@st.cache_resource
def _engine(url: str) -> Engine:
    if url.startswith("duckdb") and not store.database_exists(store.make_engine(url)):
        # A fresh install: create the empty schema once, so read-only connections can open the file.
        store.init_db(store.make_engine(url))
    return store.make_engine(url, read_only=url.startswith("duckdb"))


def settings() -> Settings:
    return Settings.from_env()


def engine() -> Engine:
    """A read-only engine on the configured store: the app never writes."""
    return _engine(settings().db_url)


def data_version() -> tuple:
    """Changes whenever an ingest lands or the squad mapping file is edited: part of every cache key."""
    s = settings()
    squads_mtime = os.path.getmtime(s.squads_path) if os.path.exists(s.squads_path) else 0.0
    return (s.db_url, _last_ingest(s.db_url), squads_mtime)


def _last_ingest(url: str) -> str:
    from delivery_health.metrics.overview import last_ingest_marker

    return last_ingest_marker(engine())


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_call(func_path: str, kwargs: tuple, version: tuple) -> Any:
    module, name = func_path.rsplit(".", 1)
    func = getattr(importlib.import_module(module), name)
    return func(engine(), settings(), **dict(kwargs))


def cached(func: Callable[..., Any], **kwargs: Any) -> Any:
    """``func(engine, settings, **kwargs)``, cached on its arguments and the data version."""
    return _cached_call(f"{func.__module__}.{func.__qualname__}", tuple(sorted(kwargs.items())), data_version())


def show_empty(message: str) -> None:
    """An explanation instead of a zero or a crash."""
    st.info(message, icon="ℹ️")


def download_csv(frame: pd.DataFrame, name: str, label: str = "Download CSV") -> None:
    from delivery_health.export import safe_csv

    st.download_button(label, safe_csv(frame), file_name=name, mime="text/csv")


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    squads: tuple[str, ...]


def sidebar_filters(squad_options: list[str]) -> Filters:
    """Squad(s) and a date window, shared by every page."""
    today = date.today()
    default_start = today - timedelta(days=settings().default_window_days)
    with st.sidebar:
        st.header("Filters")
        chosen = st.multiselect("Squads", squad_options, default=[], placeholder="All squads", key="filter_squads")
        window = st.date_input("Date range", value=(default_start, today), key="filter_dates")
    if isinstance(window, (tuple, list)) and len(window) == 2:
        start, end = window
    else:
        start, end = default_start, today
    return Filters(start=start, end=end, squads=tuple(chosen))

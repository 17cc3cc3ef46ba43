"""The Streamlit glue every page shares: engine, cached metric calls, filters, empty states.

The only module of the package that imports Streamlit. Pages read filters here,
call a ``delivery_health`` function through ``cached`` and draw the result.
"""

from __future__ import annotations

import importlib
import os
import re
from calendar import month_name
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.readers import SharedReadOnly
from delivery_health.settings import Settings


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    if url.startswith("duckdb") and not store.database_exists(store.make_engine(url)):
        # A fresh install: create the empty schema once, so read-only connections can open the file.
        store.init_db(store.make_engine(url))
    return store.make_engine(url, read_only=url.startswith("duckdb"))


def _auth_configured() -> bool:
    """Hosted mode is on when secrets carry an `[auth]` table (OIDC for `st.login`)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all: local mode
        return False


def _require_access() -> None:
    """In hosted mode, stop the page unless the viewer is logged in and on the allow-list."""
    from delivery_health.access import is_allowed

    if not _auth_configured():
        return
    if not st.user.is_logged_in:
        st.title("Delivery Health")
        st.write("This Delivery Health instance is private. Log in with your organisation's account to see it.")
        st.button("Log in", on_click=st.login, type="primary")
        st.stop()
    s = settings()
    email = st.user.get("email")
    if not is_allowed(email, s.allowed_emails, s.allowed_domains):
        st.title("Delivery Health")
        st.error(f"{email or 'This account'} is not on this instance's allow-list "
                 "(DELIVERY_HEALTH_ALLOWED_EMAILS / DELIVERY_HEALTH_ALLOWED_DOMAINS). Ask its administrator.")
        st.button("Log out", on_click=st.logout)
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {email}")
        st.button("Log out", on_click=st.logout, key="logout")


# The sidebar's navigation (Streamlit's own is off in config.toml: it would call the home page "app").
PAGES: tuple[tuple[str, str, str], ...] = (
    ("app.py", "Overview", ":material/dashboard:"),
    ("pages/1_DORA_trends.py", "DORA trends", ":material/monitoring:"),
    ("pages/2_Dependency_risk.py", "Dependency risk", ":material/account_tree:"),
    ("pages/3_Budget_burn.py", "Budget burn", ":material/payments:"),
    ("pages/4_Action_items.py", "Action items", ":material/task_alt:"),
    ("pages/5_Data_sources.py", "Data sources", ":material/upload_file:"),
)


def start_page(title: str, icon: str) -> None:
    """Every page's first call: page config, the hosted-mode access check, then the navigation."""
    st.set_page_config(page_title=title, page_icon=icon, layout="wide")
    st.session_state["_page"] = title
    _require_access()
    with st.sidebar:
        try:
            for path, label, nav_icon in PAGES:
                st.page_link(path, label=label, icon=nav_icon)
            st.divider()
        except StreamlitPageNotFoundError:
            pass  # a page file run on its own (AppTest) has no app around it to navigate


def settings() -> Settings:
    return Settings.from_env()


def engine() -> Engine:
    """A read-only engine on the configured store: the app never writes."""
    return _engine(settings().db_url)


def data_version() -> tuple:
    """Changes whenever an ingest lands or the squad mapping file is edited: part of every cache key.

    A DuckDB file's modification times answer without opening it (every cached call asks);
    another engine is asked for its latest ingest run.
    """
    from delivery_health.metrics.overview import last_ingest_marker

    s = settings()
    squads_mtime = os.path.getmtime(s.squads_path) if os.path.exists(s.squads_path) else 0.0
    return (s.db_url, store.file_marker(s.db_url) or last_ingest_marker(engine()), squads_mtime)


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_call(func_path: str, kwargs: tuple, version: tuple, overrides: tuple) -> Any:
    module, name = func_path.rsplit(".", 1)
    func = getattr(importlib.import_module(module), name)
    # An upload in this process writes for a moment; DuckDB refuses readers meanwhile.
    return store.retry_while_busy(lambda: _call(func, replace(settings(), **dict(overrides)), dict(kwargs)))


def _call(func: Callable[..., Any], s: Settings, kwargs: dict[str, Any]) -> Any:
    """``func`` on its own read-only DuckDB connection, closed when it returns (``readers.SharedReadOnly`` keeps
    the file open between a page's calls, and frees it for an ingest when idle); other engines use the
    shared pooled engine."""
    engine()  # creates the schema of a fresh install once
    if store.duckdb_file(s.db_url) is None:
        return func(engine(), s, **kwargs)
    with _reader(s.db_url, s.keep_open_seconds).engine() as call_engine:
        return func(call_engine, s, **kwargs)


@st.cache_resource(show_spinner=False)
def _reader(url: str, keep_open_seconds: float) -> SharedReadOnly:
    return SharedReadOnly(url, keep_open_seconds)


def release_reader() -> None:
    """Before this process writes the DuckDB file (uploads): close the connection kept open for reading."""
    s = settings()
    if store.duckdb_file(s.db_url) is not None:
        _reader(s.db_url, s.keep_open_seconds).close_if_idle()


def cached(func: Callable[..., Any], overrides: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """``func(engine, settings, **kwargs)``, cached on its arguments, the data version and the
    settings ``overrides`` (e.g. the production environments chosen in the filter bar)."""
    return _cached_call(f"{func.__module__}.{func.__qualname__}", tuple(sorted(kwargs.items())), data_version(),
                        tuple(sorted((overrides or {}).items())))


def show_empty(message: str) -> None:
    """An explanation instead of a zero or a crash."""
    st.info(message, icon="ℹ️")


def download_csv(frame: pd.DataFrame | Callable[[], pd.DataFrame], name: str, label: str = "Download CSV") -> None:
    """A CSV download of exactly the rows shown (or of the frame ``frame()`` returns), named after the selection
    it came from."""
    from delivery_health.export import safe_csv

    filters = st.session_state.get("_filters")
    if filters is not None:
        stem, _, ext = name.rpartition(".")
        name = f"{stem}__{filters.slug}.{ext}"
    rows = frame if callable(frame) else lambda: frame
    # Built on the click, not on every run: a drill-down's CSV at 1M issues is tens of MB.
    st.download_button(label, lambda: safe_csv(rows()), file_name=name, mime="text/csv",
                       key=f"download_{name}_{label}", on_click="ignore")


def _first_rows(shown: pd.DataFrame, total: int, all_rows: pd.DataFrame | Callable[[], pd.DataFrame],
                file_name: str, label: str, **dataframe_kwargs: Any) -> None:
    """The table of ``shown``, the first rows of ``total``, saying so when it is not all of them; the download all."""
    if total > len(shown):
        st.caption(f"Showing the first {len(shown):,} of {total:,} rows; the download holds all of them.")
    st.dataframe(shown, hide_index=True, width="stretch", **dataframe_kwargs)
    download_csv(all_rows, file_name, label)


def rows_table(frame: pd.DataFrame, file_name: str, label: str, columns: list[str] | None = None,
               download: Callable[[], pd.DataFrame] | None = None, **dataframe_kwargs: Any) -> None:
    """The rows behind a figure: at most ``table_max_rows`` of them shown, in the frame's order (a browser
    fed 70k rows gets tens of MB each run), with a CSV download of all of them (or of the frame ``download()``
    returns when clicked: the same rows with more columns)."""
    shown = (frame if columns is None else frame[columns]).head(settings().table_max_rows)
    _first_rows(shown, len(frame), download or frame, file_name, label, **dataframe_kwargs)


def drill_table(func: Callable[..., pd.DataFrame], total: int, file_name: str, label: str,
                overrides: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Like ``rows_table`` for ``func(..., limit=N)``: only the ``table_max_rows`` rows shown are fetched (of
    ``total``); all of them are fetched when the download is clicked."""
    shown = cached(func, overrides=overrides, limit=settings().table_max_rows, **kwargs)
    _first_rows(shown, total, lambda: cached(func, overrides=overrides, **kwargs), file_name, label)


def sources_and_skipped_rows(history: pd.DataFrame) -> None:
    """The ingest history per format and the data-quality panel of rows not used (home and Data sources)."""
    from delivery_health.metrics import overview

    st.subheader("Sources")
    st.caption("Per export format: files loaded, the last ingest, and rows read, inserted, updated and rejected "
               "by the latest load of each file.")
    st.dataframe(history, hide_index=True, width="stretch")
    skipped = cached(overview.skipped_row_count)
    st.subheader("Data quality")
    if not skipped:
        st.success("Every row of every loaded file was used.")
    else:
        st.warning(f"{skipped:,} rows of loaded files were not used. Each is listed with its file and reason.")
        drill_table(overview.skipped_rows, skipped, "skipped_rows.csv", "Download skipped rows")


@dataclass(frozen=True)
class Filters:
    """The shared selection every page reads: inclusive dates, squads (empty = all), production environments."""

    start: date
    end: date
    squads: tuple[str, ...]
    environments: tuple[str, ...]
    period: str

    @property
    def label(self) -> str:
        who = ", ".join(self.squads) if self.squads else "all squads"
        return f"{who} · {self.start:%d %b %Y} – {self.end:%d %b %Y}"

    @property
    def slug(self) -> str:
        """For download file names: the same selection gives the same name."""
        who = "-".join(self.squads) if self.squads else "all"
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.start}_{self.end}_{who}")


def today() -> date:
    """The app's as-of date: today in UTC, like the CLI's default ``--as-of``."""
    return datetime.now(timezone.utc).date()


def sidebar_filters(squad_options: list[str] | None = None) -> Filters:
    """The filter bar shared by every page: squads, period (presets incl. quarters) and environments.

    Every value is bound to a URL query parameter (``squad``, ``period``, ``dates``, ``env``), so a
    copied link reopens the same view; the values survive page switches for the same reason.
    """
    from delivery_health import selection
    from delivery_health.metrics import overview

    _carry_filters_to_this_page()
    s, now = settings(), today()
    squad_options = squad_options if squad_options is not None else cached(overview.squad_names)
    env_options = cached(overview.environment_names)
    fiscal_start = s.fiscal_year_start_month
    presets = selection.period_presets(now, s.default_window_days, cached(overview.first_record_date), fiscal_start)
    with st.sidebar:
        st.header("Filters")
        chosen = st.multiselect("Squads", squad_options, default=[], placeholder="All squads", key="squad",
                                bind="query-params")
        period = st.selectbox("Period", presets, key="period", bind="query-params",
                              help="Relative windows end today (UTC); a quarter still running ends today."
                                   + (f" Quarters are fiscal: the fiscal year starts on 1 {month_name[fiscal_start]} "
                                      "and is named after the year it ends in." if fiscal_start > 1 else ""))
        window = selection.preset_window(period, now, fiscal_start)
        if window is None:
            default = (now - timedelta(days=s.default_window_days - 1), now)
            picked = st.date_input("Dates", value=default, key="dates", bind="query-params")
            window = tuple(picked) if isinstance(picked, (tuple, list)) and len(picked) == 2 else default
        else:
            st.caption(f"{window[0]:%d %b %Y} – {window[1]:%d %b %Y}")
        envs = st.multiselect("Production environments", env_options, default=list(_default_envs(env_options)),
                              key="env", bind="query-params",
                              help="Deployments to these environments count as production deployments for DORA "
                                   f"(default: {', '.join(s.production_environments)}).")
        filters = Filters(start=window[0], end=window[1], squads=tuple(chosen),
                          environments=tuple(envs) or _default_envs(env_options), period=period)
        params = [("squad", v) for v in chosen]
        if period != presets[0]:
            params.append(("period", period))
        if period == selection.CUSTOM:
            params += [("dates", filters.start.isoformat()), ("dates", filters.end.isoformat())]
        if tuple(envs) != _default_envs(env_options):
            params += [("env", v) for v in envs]
        _link_to_view(params)
    st.session_state["_filters"] = filters
    st.session_state["_filters_saved"] = {k: st.session_state[k] for k in FILTER_KEYS if k in st.session_state}
    return filters


FILTER_KEYS = ("squad", "period", "dates", "env")  # widget keys = URL query parameter names


def _carry_filters_to_this_page() -> None:
    """On arriving at another page, start from the filters of the page before.

    Sidebar links carry no query parameters, so a bound widget on the new page would start
    from its default; a value set in session state before the widget exists wins instead.
    A parameter in the URL (a shared link) still decides.
    """
    page = st.session_state.get("_page")
    if st.session_state.get("_filters_page") == page:
        return
    st.session_state["_filters_page"] = page
    for key, value in st.session_state.get("_filters_saved", {}).items():
        if key not in st.query_params:
            st.session_state[key] = value


def _default_envs(options: list[str]) -> tuple[str, ...]:
    wanted = {e.lower() for e in settings().production_environments}
    return tuple(o for o in options if o.lower() in wanted)


def dora_overrides(filters: Filters) -> dict[str, Any]:
    """Settings a DORA figure depends on that the filter bar changes."""
    return {"production_environments": filters.environments}


def _link_to_view(filter_params: list[tuple[str, str]]) -> None:
    """A copyable link that reopens this page with every filter and view option as it is now.

    Filters come from their values (after a page switch the address bar may not show them yet);
    the page's own options (``by``, ``release``, ...) from the URL they are bound to.
    """
    base = st.context.url
    if not base:
        return
    page_params = [(k, v) for k in st.query_params if k not in FILTER_KEYS for v in st.query_params.get_all(k)]
    query = urlencode(filter_params + page_params)
    with st.popover("Link to this view", icon=":material/link:", width="stretch"):
        st.caption("Copy it with the button at its right: whoever opens it sees this page with these filters.")
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)


def review_quarter(filters: Filters) -> str:
    from delivery_health import selection

    return selection.review_quarter(filters.period, filters.end, settings().fiscal_year_start_month)


def review_pack_download(quarter: str, filters: Filters) -> None:
    """Download buttons for the quarter's review pack (HTML, PDF), built only when clicked."""
    from delivery_health.report import build_report
    from delivery_health.report.pdf import chromium_path

    def build(fmt: str) -> Callable[[], bytes]:
        return lambda: build_report(engine(), replace(settings(), **dora_overrides(filters)), quarter, fmt,
                                    squads=filters.squads)

    left, right = st.columns(2)
    stem = f"delivery_review_{quarter.replace(' ', '')}"
    left.download_button(f"Review pack {quarter} (HTML)", build("html"), file_name=f"{stem}.html",
                         mime="text/html", icon=":material/download:", key="pack_html")
    if chromium_path():
        right.download_button(f"Review pack {quarter} (PDF)", build("pdf"), file_name=f"{stem}.pdf",
                              mime="application/pdf", icon=":material/picture_as_pdf:", key="pack_pdf")
    else:
        right.caption("The PDF pack needs Debian's chromium on this server (`apt-get install chromium`); "
                      "the HTML pack prints to PDF from any browser.")

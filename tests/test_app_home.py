"""The home page: an explanation when empty; per-source rows, spans and skipped rows with data."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.settings import Settings
from tests.conftest import ROOT

# Two production deployments and one failed attempt of one service.
DEPLOYMENTS = """service,environment,status,started_at,finished_at,commit_sha,commit_time,ref,is_rework
payments-api,production,success,2026-03-02T10:00:00Z,2026-03-02T10:05:00Z,aaa1,2026-03-01T09:00:00Z,main,false
payments-api,production,failed,2026-03-03T10:00:00Z,2026-03-03T10:05:00Z,aaa2,2026-03-02T09:00:00Z,main,false
payments-api,production,success,2026-03-04T10:00:00Z,2026-03-04T10:05:00Z,aaa3,2026-03-03T09:00:00Z,main,false
"""


def _app(monkeypatch, db_url: str, tmp_path: Path) -> AppTest:
    monkeypatch.setenv("DELIVERY_HEALTH_DB", db_url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", str(tmp_path / "squads.csv"))
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def test_empty_database_explains_how_to_load_data(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    at = _app(monkeypatch, duckdb_url, tmp_path).run()
    assert not at.exception
    assert "No data is loaded yet" in at.info[0].value
    assert len(at.dataframe) == 0


def test_loaded_data_is_listed_per_source(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    path = tmp_path / "deployments.csv"
    path.write_text(DEPLOYMENTS)
    ingest_file(store.make_engine(duckdb_url), path, Settings(db_url=duckdb_url))
    at = _app(monkeypatch, duckdb_url, tmp_path).run()
    assert not at.exception
    frames = {tuple(df.value.columns)[0]: df.value for df in at.dataframe}  # by first column
    assert "Squad" in frames  # the quarterly scorecard comes first
    inventory = frames["records"].set_index("records")
    assert inventory.loc["Deployments", "rows"] == 3  # every deployment record, attempts included
    assert str(inventory.loc["Deployments", "first"]).startswith("2026-03-02 10:05")  # span of finished_at
    sources = frames["format"].set_index("format")
    assert sources.loc["deployments-csv", "files"] == 1
    assert sources.loc["deployments-csv", "rows_read"] == 3
    assert "Every row of every loaded file was used." in at.success[0].value


def test_skipped_rows_are_counted_and_the_first_ones_listed(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    # The first deployment four times over (same service, environment and start: one key): the last copy is
    # loaded, the three before it are skipped as superseded.
    first = DEPLOYMENTS.splitlines()[1]
    path = tmp_path / "deployments.csv"
    path.write_text(DEPLOYMENTS + "\n".join([first] * 3) + "\n")
    ingest_file(store.make_engine(duckdb_url), path, Settings(db_url=duckdb_url))
    monkeypatch.setenv("DELIVERY_HEALTH_TABLE_MAX_ROWS", "2")
    at = _app(monkeypatch, duckdb_url, tmp_path).run()
    assert not at.exception
    assert "3 rows of loaded files were not used" in at.warning[0].value
    assert "Showing the first 2 of 3 rows" in " ".join(c.value for c in at.caption)
    shown = next(df.value for df in at.dataframe if "row_ref" in df.value.columns)
    assert len(shown) == 2 and shown["reason"].str.startswith("superseded by row").all()


def test_a_fiscal_year_sets_the_quarters_on_offer_and_in_review(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    path = tmp_path / "deployments.csv"
    path.write_text(DEPLOYMENTS)
    ingest_file(store.make_engine(duckdb_url), path, Settings(db_url=duckdb_url))
    monkeypatch.setenv("DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH", "7")  # FY2026 = July 2025 - June 2026
    at = _app(monkeypatch, duckdb_url, tmp_path).run()
    period = at.selectbox(key="period")
    assert "Fiscal year to date" in period.options and "Year to date" not in period.options
    # The March 2026 deployments are in FY2026's third quarter, January - March 2026.
    at = period.select("FY2026 Q3").run()
    assert not at.exception
    assert "01 Jan 2026 – 31 Mar 2026" in [c.value for c in at.sidebar.caption]
    assert any(h.value == "Quarterly review: FY2026 Q3 vs FY2026 Q2" for h in at.subheader)
    card = next(df.value for df in at.dataframe if "Squad" in df.value.columns)
    org = card.iloc[-1]
    # Two deployments in the quarter's 90 days, fewer than one a month: DORA's low tier.
    assert (org["Squad"], org["Deploy frequency"]) == ("All squads", "low")
    assert org["dora_link"] == "DORA_trends?period=FY2026+Q3"  # the pages open on the same fiscal quarter

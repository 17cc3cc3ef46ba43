"""The action-items page (AppTest): an explanation when empty; cohorts, ageing and repeats with data.

The page is as of *today*; the fixture (tests/fixtures/actions, see test_metrics_actions.py)
is from 2024, so the sidebar window is set to 2024-04-01..2024-05-31 and, by today, A-8
(resolved 2024-06-20) is resolved too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.settings import Settings
from tests.browser import chromium_page, exception_texts, screenshot, served_app, wait_for_app, wait_for_charts
from tests.conftest import ROOT, shifted_copy

FIX = Path(__file__).parent / "fixtures" / "actions"
PAGE = str(ROOT / "pages" / "4_Action_items.py")


def _app(monkeypatch, db_url: str, squads: str) -> AppTest:
    monkeypatch.setenv("DELIVERY_HEALTH_DB", db_url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", squads)
    return AppTest.from_file(PAGE, default_timeout=60)


def test_empty_database_explains(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    at = _app(monkeypatch, duckdb_url, str(tmp_path / "squads.csv")).run()
    assert not at.exception
    assert "No incident action items" in at.info[0].value
    assert len(at.get("plotly_chart")) == 0


def test_with_data(monkeypatch, duckdb_url: str) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(FIX / "squads.csv"))
    engine = store.make_engine(duckdb_url)
    for name in ("incidents.csv", "action_items.csv"):
        ingest_file(engine, FIX / name, settings)
    engine.dispose()
    at = _app(monkeypatch, duckdb_url, settings.squads_path).run()
    assert not at.exception
    at.selectbox(key="period").set_value("Custom range").run()
    at.date_input(key="dates").set_value((date(2024, 4, 1), date(2024, 5, 31))).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # 8 items; resolved by today: and A-8 = 5 of 8 (62.5 % -> "62%" or "63%").
    assert metrics["Action items"] == "8" and metrics["Closure rate"] in ("62%", "63%")
    assert metrics["Overdue now"] == "2"  # open past their due dates
    assert metrics["Repeat incidents"] == "1"  # INC-2
    assert len(at.get("plotly_chart")) == 3  # closure vs target, overdue ageing, time to close
    # The repeat incident's table row counts its items; picking it shows which (INC-2: of INC-1).
    repeats = next(df.value for df in at.dataframe if "open_item_count" in df.value.columns)
    assert "open_items" not in repeats.columns and repeats["open_item_count"].tolist() == [3]
    assert at.selectbox(key="repeat_incident").value == "INC-2"
    assert any("**INC-2** started with 3 open action items from 1 earlier incident" in m.value for m in at.markdown)
    behind = next(df.value for df in at.dataframe if "earlier_incident_id" in df.value.columns)
    assert behind["item_id"].tolist() == ["A-2", "A-4", "A-8"] and set(behind["earlier_incident_id"]) == {"INC-1"}
    cohorts = at.dataframe[0].value
    totals = cohorts[cohorts["squad"].isna()].set_index(cohorts[cohorts["squad"].isna()]["period_start"].astype(str))
    assert totals.loc["2024-04-01", "items"] == 5 and totals.loc["2024-04-01", "resolved"] == 4
    # Ageing by owner instead of squad: same chart count, no error.
    at.radio(key="ageing_by").set_value("owner").run()
    assert not at.exception and len(at.get("plotly_chart")) == 3
    # Week cohorts: A-1 and A-2 (created Wed 2024-04-03) share the week of Monday 2024-04-01.
    at.radio[0].set_value("week").run()
    weekly = at.dataframe[0].value
    first = weekly[weekly["squad"].isna()].iloc[0]
    assert str(first["period_start"]) == "2024-04-01" and first["items"] == 3  # A-3 (Fri 04-05)


@pytest.mark.browser
def test_page_renders_in_chromium(duckdb_url: str, tmp_path: Path) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(FIX / "squads.csv"))
    engine = store.make_engine(duckdb_url)
    days = (date.today() - date(2024, 6, 15)).days  # the fixture's as-of date becomes today
    for name in ("incidents.csv", "action_items.csv"):
        ingest_file(engine, shifted_copy(FIX / name, tmp_path, days), settings)
    engine.dispose()
    with served_app(duckdb_url, settings.squads_path) as base, chromium_page(height=1600) as page:
        page.goto(f"{base}/Action_items")
        wait_for_app(page, timeout_ms=60000)
        page.get_by_text("Repeat incidents").first.wait_for(timeout=30000)
        wait_for_charts(page, 3)
        assert exception_texts(page) == []
        plots = page.locator(".js-plotly-plot")
        assert plots.count() >= 3
        assert all(plots.nth(i).locator("svg").count() > 0 for i in range(plots.count()))
        screenshot(page, "action_items")

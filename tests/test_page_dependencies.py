"""The dependency-risk page (AppTest): an explanation when empty; figures, cycles and filters with data.

The page lists dependencies open as of *today*, so every blocker of the 2024 fixture
(tests/fixtures/dependencies, see test_metrics_dependencies.py) is stale by now and all
nine open dependencies are at risk.
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

FIX = Path(__file__).parent / "fixtures" / "dependencies"
PAGE = str(ROOT / "pages" / "2_Dependency_risk.py")


def _app(monkeypatch, db_url: str, squads: str) -> AppTest:
    monkeypatch.setenv("DELIVERY_HEALTH_DB", db_url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", squads)
    return AppTest.from_file(PAGE, default_timeout=60)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_empty_database_explains(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    at = _app(monkeypatch, duckdb_url, str(tmp_path / "squads.csv")).run()
    assert not at.exception
    assert "No open dependencies" in at.info[0].value
    assert len(at.get("plotly_chart")) == 0


def test_with_data(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(tmp_path / "squads.csv"))
    engine = store.make_engine(duckdb_url)
    for name in ("jira_outward_only.csv", "releases.csv"):
        ingest_file(engine, FIX / name, settings)
    engine.dispose()
    at = _app(monkeypatch, duckdb_url, settings.squads_path).run()
    assert not at.exception
    # 9 open links (two touch Done items); all blockers were last updated in 2024: stale, at risk.
    assert _metrics(at)["Open"] == "9" and _metrics(at)["At risk"] == "9"
    assert _metrics(at)["Cross-team"] == "3"  # Platform->Web, Platform->unassigned, Web->Mobile
    assert "1 blocking cycle" in at.warning[0].value
    assert at.text[0].value == "APP-10 → APP-9 → APP-10"
    assert len(at.get("plotly_chart")) == 2  # squad matrix and network
    at_risk = at.dataframe[0].value
    assert len(at_risk) == 9 and "APP-2" in set(at_risk["blocked_key"])
    # The release filter offers the blocked items' fix versions, earliest first, and narrows the list.
    assert at.selectbox[0].options == ["All releases", "1.0", "1.1"]
    at.selectbox[0].select("1.1").run()
    assert not at.exception
    assert _metrics(at)["Open"] == "2"  # APP-2 and APP-4 are in 1.1
    # The squad filter (shared sidebar): Mobile on either side -> APP-6->7, 7->8, 9->10, 10->9, 10->12.
    at.selectbox[0].select("All releases")
    at.multiselect(key="squad").set_value(["Mobile"]).run()
    assert not at.exception
    assert _metrics(at)["Open"] == "5"


@pytest.mark.browser
def test_page_renders_in_chromium(duckdb_url: str, tmp_path: Path) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(tmp_path / "squads.csv"))
    engine = store.make_engine(duckdb_url)
    days = (date.today() - date(2024, 6, 15)).days  # the fixture's as-of date becomes today
    for name in ("jira_outward_only.csv", "releases.csv"):
        ingest_file(engine, shifted_copy(FIX / name, tmp_path, days), settings)
    engine.dispose()
    with served_app(duckdb_url, settings.squads_path) as base, chromium_page(height=1400) as page:
        page.goto(f"{base}/Dependency_risk")
        wait_for_app(page, timeout_ms=60000)
        page.get_by_text("At risk: what will land too late").wait_for(timeout=30000)
        wait_for_charts(page, 2)
        assert exception_texts(page) == []
        plots = page.locator(".js-plotly-plot")
        assert plots.count() >= 2
        assert all(plots.nth(i).locator("svg").count() > 0 for i in range(plots.count()))
        screenshot(page, "dependency_risk")

"""The budget burn page: AppTest with the hand-computed fixture and with an empty store; a Chromium render."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.settings import Settings
from tests.browser import chromium_page, exception_texts, screenshot, served_app, wait_for_app, wait_for_charts
from tests.conftest import ROOT
from tests.test_metrics_budget import FIXTURES, load_fixture

PAGE = str(ROOT / "pages" / "3_Budget_burn.py")


def _app(monkeypatch, db_url: str, squads: Path) -> AppTest:
    monkeypatch.setenv("DELIVERY_HEALTH_DB", db_url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", str(squads))
    return AppTest.from_file(PAGE, default_timeout=60)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_with_data_shows_figures_per_currency(monkeypatch, duckdb_url: str) -> None:
    load_fixture(duckdb_url)
    at = _app(monkeypatch, duckdb_url, FIXTURES / "squads.csv").run()
    at.date_input(key="budget_as_of").set_value(date(2024, 4, 10)).run()
    assert not at.exception
    radio = at.radio(key="currency")
    assert list(radio.options) == ["EUR", "USD"]  # one currency at a time, never summed
    # EUR totals (see test_metrics_budget): budget 13750, burn 4090, exhausted 6 Dec
    assert _metric(at, "Total budget (EUR)") == "13,750"
    assert _metric(at, "Burn to date (EUR)") == "4,090"
    assert _metric(at, "Budget exhausted on") == "2024-12-06"
    # S-curve, variance by scope, variance by category, SOW chart
    assert len(at.get("plotly_chart")) == 4
    radio.set_value("USD").run()
    assert not at.exception
    assert _metric(at, "Burn to date (USD)") == "1,150"  # 500 + 650, no EUR in it
    assert _metric(at, "Budget exhausted on") == "2024-02-10"
    # drill-down to the lines of one scope: Search's three USD spend lines
    at.selectbox(key="drill_scope").set_value("Search").run()
    spend = next(d.value for d in at.dataframe if "in_burn_to_date" in d.value.columns)
    assert list(spend["amount"]) == [300, 250, 100]
    # the SOW warning counts B, C and E
    assert any("3 of 6 SOWs flagged" in w.value for w in at.warning)


def test_page_with_an_empty_store_explains(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    store.init_db(store.make_engine(duckdb_url))
    at = _app(monkeypatch, duckdb_url, tmp_path / "squads.csv").run()
    assert not at.exception
    assert "No budget lines, spend lines or vendor SOWs" in at.info[0].value
    assert len(at.get("plotly_chart")) == 0


def _current_year_fixture(tmp_path: Path) -> list[Path]:
    """The fixture moved to the current year (the browser cannot easily pick an as-of date): same shape."""
    year = date.today().year
    out = []
    for name in ("budget.csv", "spend.csv", "sows.csv"):
        text = (FIXTURES / name).read_text()
        text = text.replace("2023-", "PREV-").replace("2025-", "NEXT-").replace("2024-02-29", "2024-02-28")
        text = text.replace("2024-", f"{year}-").replace("PREV-", f"{year - 1}-").replace("NEXT-", f"{year + 1}-")
        path = tmp_path / name
        path.write_text(text)
        out.append(path)
    return out


@pytest.mark.browser
def test_budget_page_renders_in_chromium(tmp_path: Path, duckdb_url: str) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(FIXTURES / "squads.csv"))
    engine = store.make_engine(duckdb_url)
    store.init_db(engine)
    for path in _current_year_fixture(tmp_path):
        ingest_file(engine, path, settings)
    engine.dispose()
    with served_app(duckdb_url, str(FIXTURES / "squads.csv")) as base, chromium_page(height=3400) as page:
        page.goto(f"{base}/Budget_burn")
        wait_for_app(page, timeout_ms=60000)
        wait_for_charts(page, 4)
        assert exception_texts(page) == []
        plots = page.locator(".js-plotly-plot")
        assert plots.count() >= 4
        assert all(plots.nth(i).locator("svg").count() > 0 for i in range(plots.count()))
        screenshot(page, "budget_burn")

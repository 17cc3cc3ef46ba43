"""The DORA trends page: AppTest with the hand-computed fixture and with an empty store; Chromium renders the charts."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.settings import Settings

FIX = Path(__file__).resolve().parent / "fixtures" / "dora"
PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "1_DORA_trends.py")


def _load(tmp_path: Path, files: list[Path], squads: Path) -> str:
    url = f"duckdb:///{tmp_path / 'page.duckdb'}"
    engine = store.make_engine(url)
    settings = Settings(db_url=url, squads_path=str(squads))
    for f in files:
        ingest_file(engine, f, settings)
    engine.dispose()
    return url


def _app(monkeypatch: pytest.MonkeyPatch, url: str, squads: Path) -> AppTest:
    monkeypatch.setenv("DELIVERY_HEALTH_DB", url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", str(squads))
    return AppTest.from_file(PAGE, default_timeout=60)


def test_page_with_data(monkeypatch, tmp_path):
    url = _load(tmp_path, [FIX / "deployments.csv", FIX / "commits.csv", FIX / "incidents.csv"], FIX / "squads.csv")
    at = _app(monkeypatch, url, FIX / "squads.csv")
    at.run()
    at.selectbox(key="period").set_value("Custom range").run()
    at.date_input(key="dates").set_value((date(2024, 1, 1), date(2024, 1, 28))).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # January: 8 production deployments in 28 days = 2 a week; lead time median 24 h; CFR 4/8; rework 1/8.
    assert metrics["Deploy frequency"] == "2.0/wk"
    assert metrics["Lead time"] == "24.0 h"
    assert metrics["Change failure rate"] == "50%"
    assert metrics["Rework rate"] == "12%"
    warnings = " ".join(w.value for w in at.warning)
    # c5 clamped, legacy-batch unmapped, INC-4 unattributed.
    assert "1 negative lead time" in warnings and "legacy-batch" in warnings and "1 unattributed incidents" in warnings
    # Drill-down: the whole window's deployments table lists the 10 production-environment runs.
    assert len(at.dataframe) >= 3 and any(len(df.value) == 10 for df in at.dataframe)
    # Monthly trend still renders, and the drill-down narrows to one period.
    at.radio(key="by").set_value("month").run()
    assert not at.exception
    at.selectbox(key="dora_period").set_value(date(2024, 1, 1)).run()
    assert not at.exception


def test_row_tables_show_at_most_the_configured_rows(monkeypatch, tmp_path):
    url = _load(tmp_path, [FIX / "deployments.csv", FIX / "commits.csv", FIX / "incidents.csv"], FIX / "squads.csv")
    monkeypatch.setenv("DELIVERY_HEALTH_TABLE_MAX_ROWS", "4")
    at = _app(monkeypatch, url, FIX / "squads.csv")
    at.run()
    at.selectbox(key="period").set_value("Custom range").run()
    at.date_input(key="dates").set_value((date(2024, 1, 1), date(2024, 1, 28))).run()
    assert not at.exception
    # The 10 January runs: the first 4 shown (newest first), and said so; the download has all 10.
    captions = [c.value for c in at.caption]
    assert "10 deployments, 01 Jan 2024 – 28 Jan 2024." in captions
    assert "Showing the first 4 of 10 rows; the download holds all of them." in captions
    deployments = next(df.value for df in at.dataframe if "counted_as" in df.value.columns)
    assert len(deployments) == 4 and str(deployments["finished_at"].iloc[0]).startswith("2024-01-16")
    # The drill-down's tabs are lazy: only the open one's rows are fetched and drawn. The Incidents tab: the
    # five January incidents (INC-1..INC-5), and no deployments table any more.
    at.session_state["dora_drill_tab"] = "Incidents"
    at.run()
    captions = [c.value for c in at.caption]
    assert "5 incidents, 01 Jan 2024 – 28 Jan 2024." in captions and "10 deployments, 01 Jan 2024 – 28 Jan 2024." not in captions
    assert not any("counted_as" in df.value.columns for df in at.dataframe)


def test_page_with_empty_store(monkeypatch, tmp_path):
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    store.init_db(store.make_engine(url))
    at = _app(monkeypatch, url, tmp_path / "none.csv")
    at.run()
    assert not at.exception
    assert any("No production deployments" in i.value for i in at.info)
    assert not at.metric


def _recent_exports(tmp_path: Path) -> list[Path]:
    """Deterministic exports over the last 12 weeks (the sidebar's default window ends today)."""
    today = datetime.combine(date.today(), datetime.min.time())
    deps = ["service,environment,status,started_at,finished_at,commit_sha,commit_time,ref,is_rework"]
    incs = ["incident_id,service,severity,started_at,resolved_at,deployment_ref,title"]
    for day in range(84, 0, -1):
        when = today - timedelta(days=day, hours=-10)
        for n, service in enumerate(("payments-api", "search", "legacy-batch")):
            if (day + n) % (n + 1):
                continue
            status = "failed" if (day + n) % 9 == 0 else "success"
            ref = "hotfix/x" if day % 11 == 0 else "main"
            deps.append(f"{service},production,{status},{when:%Y-%m-%dT%H:%M}:00Z,{when + timedelta(minutes=9):%Y-%m-%dT%H:%M}:00Z,"
                        f"{service[:3]}{day},{when - timedelta(hours=(day % 7) * 9 + 2):%Y-%m-%dT%H:%M}:00Z,{ref},")
        if day % 6 == 0:
            start = when + timedelta(hours=3)
            resolved = "" if day == 6 else f"{start + timedelta(hours=day % 5 + 1):%Y-%m-%dT%H:%M}:00Z"
            incs.append(f"R{day},search,SEV2,{start:%Y-%m-%dT%H:%M}:00Z,{resolved},,Search degraded")
    (tmp_path / "deps.csv").write_text("\n".join(deps) + "\n")
    (tmp_path / "incs.csv").write_text("\n".join(incs) + "\n")
    return [tmp_path / "deps.csv", tmp_path / "incs.csv"]


@pytest.mark.browser
def test_page_in_chromium(tmp_path):
    from tests.browser import chromium_page, exception_texts, screenshot, served_app, wait_for_app, wait_for_charts

    url = _load(tmp_path, _recent_exports(tmp_path), FIX / "squads.csv")
    max_rows = {"DELIVERY_HEALTH_TABLE_MAX_ROWS": "5"}  # the tables show 5 rows; the download fetches them all
    with served_app(url, str(FIX / "squads.csv"), env=max_rows) as base, chromium_page() as page:
        page.goto(f"{base}/DORA_trends")
        wait_for_app(page)
        wait_for_charts(page, 5)
        charts = page.query_selector_all(".js-plotly-plot")
        assert len([c for c in charts if c.query_selector("svg")]) >= 5  # four trends + the squad grid
        assert exception_texts(page) == []
        screenshot(page, "dora_trends")
        # The deployments drill-down's CSV is built on the click: it holds every row the caption counts.
        caption = page.get_by_text(re.compile(r"^[\d,]+ deployments, ")).first.inner_text()
        total = int(caption.split()[0].replace(",", ""))
        assert page.get_by_text(f"Showing the first 5 of {total:,} rows").first.is_visible()
        with page.expect_download(timeout=60000) as download:
            page.get_by_role("button", name="Download deployments").click()
        lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("id,service,squad,environment")
        assert len(lines) - 1 == total > 5

"""Deep links in Chromium: a URL with filters opens the view they describe, the link control gives it back,
and the filters follow the reader to another page. Text from exports is shown as text, never run."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.settings import Settings
from tests.browser import chromium_page, exception_texts, screenshot, served_app, wait_for_app
from tests.test_quarterly import ACTION_ITEMS, BUDGET, SPEND, SQUADS, _deployments

pytestmark = pytest.mark.browser

# A cross-team dependency whose summaries try to inject markup (Jira CSV, two issues, an outward "blocks" link).
JIRA = """Summary,Issue key,Issue id,Issue Type,Status,Status Category,Project key,Created,Updated,Due date,Outward issue link (Blocks)
<script>window.__pwned = 1</script> Rate limiter,ALP-1,10001,Story,In Progress,In Progress,ALP,01/Apr/24 9:00 AM,01/Apr/24 9:00 AM,,BET-2
<img src=x onerror="window.__pwned = 2"> Checkout,BET-2,10002,Story,To Do,To Do,BET,01/Apr/24 9:00 AM,01/Apr/24 9:00 AM,10/Apr/24 12:00 AM,
"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("deeplink")
    (tmp / "squads.csv").write_text(SQUADS + "Beta,jira_project,BET\n")
    url = f"duckdb:///{tmp / 'app.duckdb'}"
    settings = Settings(db_url=url, squads_path=str(tmp / "squads.csv"))
    engine = store.make_engine(url)
    for name, text in (("deployments.csv", _deployments()), ("action_items.csv", ACTION_ITEMS),
                       ("budget.csv", BUDGET), ("spend.csv", SPEND), ("jira.csv", JIRA)):
        (tmp / name).write_text(text)
        ingest_file(engine, tmp / name, settings)
    engine.dispose()
    with served_app(url, str(tmp / "squads.csv")) as base:
        yield base


def test_a_link_with_filters_opens_that_view_and_gives_it_back(app_url: str) -> None:
    query = "squad=Alpha&period=Custom+range&dates=2024-04-01&dates=2024-06-30&by=month"
    with chromium_page() as page:
        page.goto(f"{app_url}/DORA_trends?{query}")
        wait_for_app(page)
        page.get_by_text("Alpha · 01 Apr 2024 – 30 Jun 2024").wait_for(timeout=30000)
        assert exception_texts(page) == []
        # Every day of Q2 has a deployment: 91 in 13 weeks = 7.0 a week, elite. The tiles draw one by one: under
        # load the first was read before it was drawn, so the check waits for it (and fails if it never shows).
        tiles = page.locator('[data-testid="stMetric"]')
        expect(tiles.first).to_contain_text("7.0/wk", timeout=30000)
        # The monthly grain from the URL is the one selected.
        assert page.get_by_role("radio", name="month").is_checked()
        page.get_by_role("button", name="Link to this view").click()
        link = page.locator('[data-testid="stCode"]').last.inner_text().strip()
        shared = parse_qs(urlparse(link).query)
        assert urlparse(link).path.endswith("/DORA_trends")
        assert shared["squad"] == ["Alpha"] and shared["period"] == ["Custom range"] and shared["by"] == ["month"]
        assert shared["dates"] == ["2024-04-01", "2024-06-30"]
        screenshot(page, "deep_link_dora")

        # The same link, opened fresh, shows the same figures.
        page.goto(link)
        wait_for_app(page)
        page.get_by_text("Alpha · 01 Apr 2024 – 30 Jun 2024").wait_for(timeout=30000)

        # The filters follow to another page of the sidebar.
        page.get_by_role("link", name="Action items").click()
        wait_for_app(page)
        page.get_by_text("Items created 2024-04-01 to 2024-06-30").wait_for(timeout=30000)
        # ... and this page's link carries them too.
        page.get_by_role("button", name="Link to this view").click()
        carried = parse_qs(urlparse(page.locator('[data-testid="stCode"]').last.inner_text().strip()).query)
        assert carried["squad"] == ["Alpha"] and carried["dates"] == ["2024-04-01", "2024-06-30"]
        assert exception_texts(page) == []


def test_home_scorecard_for_a_quarter_from_the_url(app_url: str) -> None:
    with chromium_page() as page:
        page.goto(f"{app_url}/?period=2024+Q2")
        wait_for_app(page)
        page.get_by_text("Quarterly review: 2024 Q2 vs 2024 Q1").wait_for(timeout=30000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30000)
        assert exception_texts(page) == []
        screenshot(page, "home_scorecard")
        # The quarter's review pack downloads from here, built on the click.
        with page.expect_download(timeout=120000) as download:
            page.get_by_role("button", name="Review pack 2024 Q2 (HTML)").click()
        assert download.value.suggested_filename == "delivery_review_2024Q2.html"
        pack = Path(download.value.path()).read_text(encoding="utf-8")
        assert "2024 Q2" in pack and "<html" in pack.lower()


def test_issue_text_is_shown_as_text_never_run(app_url: str) -> None:
    with chromium_page() as page:
        page.goto(f"{app_url}/Dependency_risk")
        wait_for_app(page)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30000)
        page.wait_for_timeout(1000)
        assert page.evaluate("() => window.__pwned") is None  # neither the script nor the onerror ran
        assert page.locator("script:has-text('__pwned')").count() == 0
        assert exception_texts(page) == []
        screenshot(page, "dependency_markup_as_text")

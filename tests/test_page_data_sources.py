"""The Data sources page: uploads go through the CLI's loaders, named as the user's files; bad files change nothing.

Numbers: ``cloud_2025_all_fields.csv`` (tests/fixtures/jira_csv) holds 5 issues; loading it
inserts 22 rows (5 work items + 13 tags + 4 links, see test_ingest_jira_csv.py).
``bad_created_date.csv`` fails on record 3 (header = 1; record 2 spans three lines): its
Created date ``31/Foo/24 3:45 PM`` has no such month.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from delivery_health import store
from delivery_health.ingest.uploads import UploadsDisabled, display_name, ingest_uploads
from delivery_health.settings import Settings
from tests.browser import chromium_page, exception_texts, screenshot, served_app, wait_for_app
from tests.conftest import FIXTURES, ROOT

PAGE = str(ROOT / "pages" / "5_Data_sources.py")
GOOD = FIXTURES / "jira_csv" / "cloud_2025_all_fields.csv"
BAD = FIXTURES / "jira_csv" / "bad_created_date.csv"
GOOD_LINE = "cloud_2025_all_fields.csv: jira-csv: read 5, inserted 22, updated 0, rejected 0"
AGAIN_LINE = "cloud_2025_all_fields.csv: jira-csv: read 5, inserted 0, updated 0, rejected 0"
BAD_LINE = "bad_created_date.csv: jira-csv: row 3: Created '31/Foo/24 3:45 PM'"


def _counts(url: str) -> dict[str, int]:
    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in store.metadata.sorted_tables}
    finally:
        engine.dispose()


def _app(monkeypatch, db_url: str, tmp_path: Path, **env: str) -> AppTest:
    monkeypatch.setenv("DELIVERY_HEALTH_DB", db_url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", str(tmp_path / "squads.csv"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return AppTest.from_file(PAGE, default_timeout=60)


def _upload(at: AppTest, *paths: Path) -> AppTest:
    at.file_uploader(key="uploads").set_value([(p.name, p.read_bytes(), "text/csv") for p in paths]).run()
    return at.button(key="ingest").click().run()


# --- the page (AppTest) ------------------------------------------------------------------------------

def test_good_file_is_loaded_shown_and_reloading_it_changes_nothing(monkeypatch, duckdb_url: str,
                                                                    tmp_path: Path) -> None:
    at = _app(monkeypatch, duckdb_url, tmp_path).run()
    assert not at.exception
    assert "Nothing has been loaded yet." in [i.value for i in at.info]  # cached with the empty store's version
    _upload(at, GOOD)
    assert not at.exception
    assert at.code[0].value == GOOD_LINE
    # The history was cached empty before the ingest; the new ingest marker is part of the key, so it shows now.
    history = at.dataframe[0].value.set_index("format")
    assert history.loc["jira-csv", "files"] == 1 and history.loc["jira-csv", "rows_read"] == 5
    assert at.run().dataframe[0].value.set_index("format").loc["jira-csv", "inserted"] == 22  # a plain rerun too
    at.button(key="ingest").click().run()  # the same file again: the uploader keeps it
    assert at.code[0].value == AGAIN_LINE
    engine = store.make_engine(duckdb_url)
    with engine.connect() as conn:
        paths = conn.execute(sa.select(store.ingest_runs.c.path)).scalars().all()
        sources = set(conn.execute(sa.select(store.work_items.c.source_file)).scalars())
    engine.dispose()
    assert paths == ["cloud_2025_all_fields.csv"] * 2  # the user's name, not the staging path
    assert sources == {"cloud_2025_all_fields.csv"}


def test_bad_file_names_file_row_and_reason_and_changes_nothing(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    at = _app(monkeypatch, duckdb_url, tmp_path).run()
    _upload(at, GOOD)
    before = _counts(duckdb_url)
    _upload(at, BAD)
    assert not at.exception
    assert "1 of 1 files were rejected" in at.error[0].value
    message = at.code[0].value
    assert message.startswith(BAD_LINE), message
    assert "dh-upload" not in message and "/tmp" not in message  # no staging path leaks into the message
    assert _counts(duckdb_url) == before  # not even the good first record of the bad file


def test_uploads_switched_off_show_only_the_history(monkeypatch, duckdb_url: str, tmp_path: Path) -> None:
    ingest_uploads(duckdb_url, Settings(db_url=duckdb_url), [(GOOD.name, GOOD.read_bytes())])
    at = _app(monkeypatch, duckdb_url, tmp_path, DELIVERY_HEALTH_ALLOW_UPLOADS="false").run()
    assert not at.exception
    assert len(at.file_uploader) == 0 and len(at.button) == 0
    assert "Uploads are disabled on this instance" in at.info[0].value
    assert at.dataframe[0].value.set_index("format").loc["jira-csv", "files"] == 1
    with pytest.raises(UploadsDisabled):
        ingest_uploads(duckdb_url, Settings(db_url=duckdb_url, allow_uploads=False), [(GOOD.name, GOOD.read_bytes())])


# --- ingest_uploads (the logic behind the page) ------------------------------------------------------

def test_several_files_one_transaction_each_on_both_engines(db_url: str) -> None:
    settings = Settings(db_url=db_url)
    results = ingest_uploads(db_url, settings, [(GOOD.name, GOOD.read_bytes()), (BAD.name, BAD.read_bytes())])
    assert [r.ok for r in results] == [True, False]
    assert results[0].line() == GOOD_LINE
    assert (results[1].error.row, results[1].error.path) == (3, "bad_created_date.csv")
    assert _counts(db_url)["work_items"] == 5  # the good file's issues only
    again = ingest_uploads(db_url, settings, [(GOOD.name, GOOD.read_bytes())])
    assert again[0].line() == AGAIN_LINE


def test_format_override_applies_to_every_file(duckdb_url: str) -> None:
    # The Jira export forced through the deployments loader lacks its columns: rejected, with the reason.
    [result] = ingest_uploads(duckdb_url, Settings(db_url=duckdb_url), [(GOOD.name, GOOD.read_bytes())],
                              fmt="deployments-csv")
    assert not result.ok and result.error.format == "deployments-csv"
    assert result.line().startswith("cloud_2025_all_fields.csv: deployments-csv: ")
    with pytest.raises(ValueError):
        ingest_uploads(duckdb_url, Settings(db_url=duckdb_url), [(GOOD.name, GOOD.read_bytes())], fmt="excel")


def test_a_reader_holding_the_file_gives_a_clear_error_then_ingest_works(monkeypatch, duckdb_url: str) -> None:
    store.init_db(store.make_engine(duckdb_url))
    # The app's engine: read-only. While one of its connections is open, DuckDB refuses (in this
    # process) a read-write one "with a different configuration"; the ingest retries, then says so.
    monkeypatch.setattr(store, "BUSY_RETRY_SECONDS", 0.5)
    reader = store.make_engine(duckdb_url, read_only=True)
    conn = reader.connect()
    try:
        [busy] = ingest_uploads(duckdb_url, Settings(db_url=duckdb_url), [(GOOD.name, GOOD.read_bytes())])
    finally:
        conn.close()
    assert not busy.ok
    assert "the database stayed in use by another process or reader" in busy.error.reason
    assert "nothing was written, try again" in busy.error.reason
    # NullPool: once the read is over no connection stays open, and the same upload goes in.
    with reader.connect() as c:
        c.execute(sa.select(1))
    [done] = ingest_uploads(duckdb_url, Settings(db_url=duckdb_url), [(GOOD.name, GOOD.read_bytes())])
    assert done.line() == GOOD_LINE


@pytest.mark.parametrize(("sent", "shown"), [
    ("jira.csv", "jira.csv"),
    ("../../etc/jira.csv", "jira.csv"),  # a client-sent directory part never reaches the file system
    ("C:\\Users\\ada\\runs.json", "runs.json"),
    ("..", "upload"),
])
def test_display_name_keeps_only_the_file_name(sent: str, shown: str) -> None:
    assert display_name(sent) == shown


# --- the browser --------------------------------------------------------------------------------------

@pytest.mark.browser
def test_upload_in_chromium(duckdb_url: str, tmp_path: Path) -> None:
    with served_app(duckdb_url, str(tmp_path / "squads.csv")) as base, chromium_page() as page:
        page.goto(f"{base}/Data_sources")
        wait_for_app(page, timeout_ms=60000)
        page.get_by_text("Nothing has been loaded yet.").wait_for(timeout=60000)
        uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
        chips = page.locator('[data-testid="stFileChip"]')  # one per file in the uploader (long names elided)

        uploader.set_input_files(str(BAD))
        chips.first.wait_for(timeout=60000)
        page.get_by_role("button", name="Ingest").click()  # waits until the upload enabled it
        page.get_by_text("files were rejected").wait_for(timeout=60000)
        assert BAD_LINE in page.locator('[data-testid="stCode"]').first.inner_text()
        assert exception_texts(page) == []
        screenshot(page, "data_sources_rejected")

        page.locator('[data-testid="stFileChipDeleteBtn"]').first.click()  # take the bad file out
        page.wait_for_function("document.querySelectorAll('[data-testid=\"stFileChip\"]').length === 0",
                               timeout=60000)
        wait_for_app(page)
        uploader.set_input_files(str(GOOD))
        chips.first.wait_for(timeout=60000)
        page.get_by_role("button", name="Ingest").click()
        page.get_by_text("1 of 1 files loaded").wait_for(timeout=60000)
        assert GOOD_LINE in page.locator('[data-testid="stCode"]').first.inner_text()
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60000)  # the history
        assert exception_texts(page) == []
        screenshot(page, "data_sources_loaded")

        # From the home page through the sidebar's page list.
        page.goto(base)
        wait_for_app(page, timeout_ms=60000)
        page.get_by_role("link", name="Data sources").click()
        page.get_by_role("heading", name="Data sources").wait_for(timeout=60000)
        wait_for_app(page)
        assert page.url.rstrip("/").endswith("/Data_sources")
        assert exception_texts(page) == []

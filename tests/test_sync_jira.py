"""`sync jira` against a synthetic Jira over real HTTP (tests/jira_server.py), Cloud and Data Center shapes.

The synthetic Jira (5 issues: PAY-1, PAY-2, WEB-1, WEB-2, WEB-3) serves at most 2 issues a page,
so a full sync reads 3 search pages. What a full sync must store, counted by hand:
- work_items 5; tags 7 (PAY-1: label checkout, component API, fix 2.0, sprint "PAY Sprint 3";
  PAY-2: fix 2.1; WEB-1: label frontend, fix 5.0); links 2 (WEB-1 blocks PAY-2, carried by both
  issues but stored once; WEB-3 relates to PAY-1); releases 5 (PAY 2.0, 2.1; WEB 5.0, 5.1, Backlog
  from the project version lists); transitions 7 (PAY-1's four status moves out of 5 histories,
  although search embeds only 2 of them, + one each for PAY-2, WEB-1, WEB-3) -> 26 rows.
- The newest `updated` is WEB-3's 2024-03-20T10:00-04:00 = 14:00 UTC, so the next run asks for
  `updated >= "2024-03-19 14:00"` (one day of overlap) and gets WEB-1 (2024-03-19 22:15 UTC) and WEB-3.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from delivery_health import store
from delivery_health.settings import Settings
from delivery_health.sync import credentials, state
from delivery_health.sync.credentials import JiraCredentials
from delivery_health.sync.jira import JiraSyncError
from delivery_health.sync.run import sync_jira

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jira_server import JiraServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "synthetic-token-7f3a9c"
EMAIL = "ana.lima@example.test"
JQL = "project in (PAY, WEB)"
ISSUE_KEYS = {"PAY-1", "PAY-2", "WEB-1", "WEB-2", "WEB-3"}


def _creds(jira: JiraServer, token: str = TOKEN) -> JiraCredentials:
    return JiraCredentials(jira.url, jira.email, token, "environment")


def _server(deployment: str, **kw) -> JiraServer:
    # Cloud takes email + API token (basic auth); Data Center a personal access token (bearer).
    return JiraServer(deployment, token=TOKEN, email=EMAIL if deployment == "Cloud" else None, **kw)


def _snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table except the run log, for 'nothing changed' comparisons."""
    with engine.connect() as conn:
        return {t.name: sorted(tuple(map(str, r)) for r in conn.execute(sa.select(t)))
                for t in store.metadata.sorted_tables if t.name not in ("ingest_runs", "sync_state", "schema_version")}


def _rows(engine, table: sa.Table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db_url=f"duckdb:///{tmp_path / 'sync.duckdb'}", squads_path=str(tmp_path / "squads.csv"))


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_full_sync_pages_through_everything(deployment: str, settings: Settings) -> None:
    engine = store.make_engine(settings.db_url)
    with _server(deployment) as jira:
        result = sync_jira(engine, settings, _creds(jira), JQL)
    assert (result.deployment, result.pages, result.read, result.inserted, result.updated, result.rejected) == (
        deployment, 3, 5, 26, 0, 0)
    if deployment == "Cloud":
        searches = jira.paths("/rest/api/3/search/jql")
        # Page 1 has no token; pages 2 and 3 send the tokens of offsets 2 and 4.
        assert [q.get("nextPageToken") for q in searches] == [None, ["b2Zmc2V0OjI="], ["b2Zmc2V0OjQ="]]
        # 5 histories at 2 a page from the changelog endpoint: startAt 0, 2, 4.
        assert [q["startAt"] for q in jira.paths("/rest/api/3/issue/PAY-1/changelog")] == [["0"], ["2"], ["4"]]
        assert jira.paths("/rest/api/2/search") == []
    else:
        assert [q["startAt"] for q in jira.paths("/rest/api/2/search")] == [["0"], ["2"], ["4"]]
        assert [q["expand"] for q in jira.paths("/rest/api/2/issue/PAY-1")] == [["changelog"]]
        assert jira.paths("/rest/api/3/") == []
    assert all(q["expand"] == ["changelog"] and q["fields"] == ["*all"] for q in jira.paths("/rest/api/") if "jql" in q)

    items = _rows(engine, store.work_items)
    assert [i["id"] for i in items] == sorted(ISSUE_KEYS)  # each issue once
    assert {i["id"]: i["story_points"] for i in items}["PAY-1"] == 5.0  # custom field named by the field list
    moves = [(t["changed_at"], t["from_status"], t["to_status"]) for t in _rows(engine, store.status_transitions)
             if t["item_key"] == "PAY-1"]
    # All four status moves of PAY-1 in UTC (+01:00 in the data), the backward one included.
    assert sorted(moves) == [(datetime(2024, 3, 1, 9, 0), "To Do", "In Progress"),
                             (datetime(2024, 3, 4, 11, 0), "In Progress", "In Review"),
                             (datetime(2024, 3, 5, 8, 30), "In Review", "In Progress"),
                             (datetime(2024, 3, 7, 15, 20), "In Progress", "Done")]
    releases = {r["id"]: (r["release_date"], r["released"]) for r in _rows(engine, store.releases)}
    # WEB 5.0's date is only in WEB's version list (the issue's fix version has none); 5.1 and Backlog have no issue.
    assert releases == {"PAY|2.0": (date(2024, 3, 15), True), "PAY|2.1": (date(2024, 4, 30), False),
                        "WEB|5.0": (date(2024, 4, 15), False), "WEB|5.1": (date(2024, 6, 1), False),
                        "WEB|Backlog": (None, False)}
    links = {(r["from_key"], r["to_key"], r["link_type"], r["is_blocking"]) for r in _rows(engine, store.issue_links)}
    assert links == {("WEB-1", "PAY-2", "Blocks", True), ("WEB-3", "PAY-1", "Relates", False)}
    (run,) = _rows(engine, store.ingest_runs)
    assert (run["format"], run["path"], run["rows_read"]) == ("jira-api", f"jira:{jira.url} {JQL}", 5)
    assert {i["source_file"] for i in items} == {f"jira:{jira.url} {JQL}"}
    (sync,) = _rows(engine, store.sync_state)
    assert sync["last_updated"] == datetime(2024, 3, 20, 14, 0)  # WEB-3's updated, 10:00-04:00
    assert TOKEN not in str(_snapshot(engine)) + str(_rows(engine, store.ingest_runs)) + str(_rows(engine, store.sync_state))


def test_incremental_run_asks_for_recent_changes_and_changes_nothing(db_url: str, settings: Settings) -> None:
    engine = store.make_engine(db_url)
    with _server("Cloud") as jira:
        sync_jira(engine, settings, _creds(jira), JQL)
        before = _snapshot(engine)
        again = sync_jira(engine, settings, _creds(jira), JQL)
    # Three pages of the full run, the changes since the last one, then the keys the whole query matches (3 pages).
    assert jira.jqls() == [JQL] * 3 + [f'({JQL}) AND updated >= "2024-03-19 14:00"'] + [JQL] * 3
    assert (again.pages, again.read, again.inserted, again.updated, again.rejected, again.removed) == (1, 2, 0, 0, 0, 0)
    assert _snapshot(engine) == before
    assert [r["rows_read"] for r in _rows(engine, store.ingest_runs)] in ([5, 2], [2, 5])
    (sync,) = _rows(engine, store.sync_state)
    assert sync["last_updated"] == datetime(2024, 3, 20, 14, 0)


def test_an_issue_gone_from_jira_is_removed_with_its_rows(db_url: str, settings: Settings) -> None:
    engine = store.make_engine(db_url)
    with _server("Cloud") as jira:
        sync_jira(engine, settings, _creds(jira), JQL)
        jira.issues = [i for i in jira.issues if i["key"] != "WEB-3"]  # deleted in Jira
        result = sync_jira(engine, settings, _creds(jira), JQL)
    # The incremental search gets WEB-1 only; the keys of the whole query, listed without the date clause, lack WEB-3.
    listings = [q for q in jira.paths("/rest/api/3/search/jql") if q.get("fields") == ["key"]]
    assert [q["jql"] for q in listings] == [[JQL]] * 2  # 4 keys at 2 a page
    # Removed: WEB-3's issue row, its one status move and its Relates link to PAY-1 (3 rows); WEB-1 is unchanged.
    assert (result.read, result.inserted, result.updated, result.removed) == (1, 0, 3, 1)
    assert {i["id"] for i in _rows(engine, store.work_items)} == ISSUE_KEYS - {"WEB-3"}
    assert [t["item_key"] for t in _rows(engine, store.status_transitions)].count("WEB-3") == 0
    assert {(r["from_key"], r["to_key"]) for r in _rows(engine, store.issue_links)} == {("WEB-1", "PAY-2")}
    assert "removed 1 no longer in the query" in result.summary_line()


def test_an_empty_answer_removes_nothing_and_says_so(settings: Settings) -> None:
    engine = store.make_engine(settings.db_url)
    with _server("Server") as jira:
        sync_jira(engine, settings, _creds(jira), JQL)
        jira.issues = []  # what a token that lost access to both projects sees
        result = sync_jira(engine, settings, _creds(jira), JQL)
    assert (result.removed, result.updated) == (0, 0)
    assert {i["id"] for i in _rows(engine, store.work_items)} == ISSUE_KEYS
    (note,) = _rows(engine, store.skipped_rows)
    assert note["row_ref"] == "query" and "the 5 issues it brought before are kept" in note["reason"]


def test_since_overrides_the_last_sync(settings: Settings) -> None:
    engine = store.make_engine(settings.db_url)
    with _server("Server") as jira:
        sync_jira(engine, settings, _creds(jira), JQL)
        result = sync_jira(engine, settings, _creds(jira), JQL, since=date(2024, 3, 10))
    # Updated on or after 2024-03-10: PAY-2 (03-12), WEB-1 (03-19), WEB-3 (03-20).
    assert jira.jqls()[-4:] == [f'({JQL}) AND updated >= "2024-03-10"'] + [JQL] * 3  # then the keys listing
    assert (result.read, result.inserted, result.updated) == (3, 0, 0)


def test_updated_clause_keeps_order_by_last() -> None:
    since = datetime(2024, 3, 19, 14, 0)
    assert state.updated_since("project = ABC ORDER BY updated ASC", since) == \
        '(project = ABC) AND updated >= "2024-03-19 14:00" ORDER BY updated ASC'
    assert state.updated_since("order by created", since) == 'updated >= "2024-03-19 14:00" order by created'
    assert state.updated_since("project = ABC OR labels = x", None) == "project = ABC OR labels = x"


def test_data_center_truncation_left_is_noted_and_kept_by_incremental_runs(settings: Settings) -> None:
    engine = store.make_engine(settings.db_url)
    # This Data Center's issue endpoint gives 3 of PAY-1's 5 histories: two status moves (h1, h3) are in them.
    with _server("Server", issue_changelog_cap=3) as jira:
        first = sync_jira(engine, settings, _creds(jira), JQL)
        second = sync_jira(engine, settings, _creds(jira), JQL)  # PAY-1 is not fetched again
    assert first.rejected == 1 and second.rejected == 1
    notes = [(r["row_ref"], r["reason"]) for r in _rows(engine, store.skipped_rows)]
    assert notes == [("PAY-1", "changelog truncated: 3 of 5 histories")]
    moves = [t["to_status"] for t in _rows(engine, store.status_transitions) if t["item_key"] == "PAY-1"]
    assert sorted(moves) == ["In Progress", "In Review"]


@pytest.mark.parametrize(("deployment", "status"), [("Cloud", 401), ("Server", 401), ("Cloud", 403)])
def test_refused_credentials_are_one_clear_line_and_write_nothing(deployment: str, status: int, settings: Settings) -> None:
    engine = store.make_engine(settings.db_url)
    with _server(deployment, refuse_with=status) as jira:
        sync_jira(engine, settings, _creds(jira), JQL)
        before, runs = _snapshot(engine), _rows(engine, store.ingest_runs)
        with pytest.raises(JiraSyncError) as err:
            sync_jira(engine, settings, _creds(jira, token="wrong-" + TOKEN), JQL, since=date(2024, 1, 1))
    assert str(err.value) == f"Jira refused the credentials (HTTP {status}) for {jira.url}: check JIRA_API_TOKEN/JIRA_EMAIL"
    assert _snapshot(engine) == before and _rows(engine, store.ingest_runs) == runs


def test_a_rejected_query_names_the_server_and_jiras_reason(settings: Settings) -> None:
    engine = store.make_engine(settings.db_url)
    with _server("Cloud") as jira:
        with pytest.raises(JiraSyncError) as err:
            sync_jira(engine, settings, _creds(jira), "project = PAY !! oops")
        with pytest.raises(JiraSyncError, match="--page-size must be at least 1"):
            sync_jira(engine, settings, _creds(jira), JQL, page_size=0)
    assert str(err.value) == (f"Jira answered HTTP 400 for {jira.url} (/rest/api/3/search/jql): "
                              "Error in the JQL Query: The character '!' is a reserved JQL character.")
    assert not Path(settings.db_url.removeprefix("duckdb:///")).exists()


def test_unreachable_server_is_a_clear_error(settings: Settings) -> None:
    with _server("Cloud") as jira:
        url = jira.url
    engine = store.make_engine(settings.db_url)
    with pytest.raises(JiraSyncError, match=rf"^cannot reach Jira at {url}: Connection refused$"):
        sync_jira(engine, settings, JiraCredentials(url, EMAIL, TOKEN, "environment"), JQL)
    assert not Path(settings.db_url.removeprefix("duckdb:///")).exists()  # nothing written, not even an empty file


def _cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JIRA_", "DELIVERY_HEALTH_"))}
    return subprocess.run([sys.executable, "-m", "delivery_health", "sync", "jira", *args], cwd=cwd, text=True,
                          capture_output=True, env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=120)


@pytest.mark.parametrize("deployment", ["Cloud", "Server"])
def test_cli_syncs_and_a_bad_token_exits_non_zero(deployment: str, settings: Settings, tmp_path: Path) -> None:
    email = {"JIRA_EMAIL": EMAIL} if deployment == "Cloud" else {}
    engine = store.make_engine(settings.db_url)
    with _server(deployment) as jira:
        args = ["--server", jira.url, "--jql", JQL, "--db", settings.db_url]
        ok = _cli(args, tmp_path, JIRA_API_TOKEN=TOKEN, **email)
        before, runs = _snapshot(engine), _rows(engine, store.ingest_runs)
        bad = _cli(args, tmp_path, JIRA_API_TOKEN="wrong-" + TOKEN, **email)
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    assert ok.stdout.startswith(f"jira:{jira.url} {JQL}: jira-api ({deployment}, 3 pages): read 5, inserted 26, updated 0")
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr == f"error: Jira refused the credentials (HTTP 401) for {jira.url}: check JIRA_API_TOKEN/JIRA_EMAIL\n"
    assert TOKEN not in ok.stdout + ok.stderr + bad.stdout + bad.stderr
    assert _snapshot(engine) == before and _rows(engine, store.ingest_runs) == runs


def test_cli_reads_the_secrets_file(settings: Settings, tmp_path: Path) -> None:
    with _server("Cloud") as jira:
        (tmp_path / ".streamlit").mkdir()
        (tmp_path / ".streamlit" / "secrets.toml").write_text(
            f'[jira]\nserver = "{jira.url}"\nemail = "{EMAIL}"\napi_token = "{TOKEN}"\n')
        ok = _cli(["--jql", JQL, "--db", settings.db_url], tmp_path)
        (tmp_path / ".streamlit" / "secrets.toml").write_text(
            f'[jira]\nserver = "{jira.url}"\nemail = "{EMAIL}"\napi_token = "wrong-{TOKEN}"\n')
        bad = _cli(["--jql", JQL, "--db", settings.db_url], tmp_path)
    assert ok.returncode == 0 and "read 5, inserted 26" in ok.stdout, ok.stderr
    assert bad.returncode == 1 and bad.stderr == (
        f"error: Jira refused the credentials (HTTP 401) for {jira.url}: "
        f"check api_token/email of [jira] in {Path('.streamlit') / 'secrets.toml'}\n")
    assert TOKEN not in ok.stdout + ok.stderr + bad.stdout + bad.stderr


def test_credentials_resolution_and_repr(tmp_path: Path) -> None:
    none = tmp_path / "absent.toml"
    cloud = credentials.resolve("https://acme.atlassian.net/", {"JIRA_API_TOKEN": TOKEN, "JIRA_EMAIL": EMAIL}, none)
    assert (cloud.server, cloud.kind, cloud.client_kwargs()) == ("https://acme.atlassian.net", "basic", {"basic_auth": (EMAIL, TOKEN)})
    dc = credentials.resolve("https://jira.example.test", {"JIRA_API_TOKEN": TOKEN}, none)
    assert (dc.kind, dc.client_kwargs()) == ("bearer", {"token_auth": TOKEN})
    assert TOKEN not in repr(cloud) + repr(dc)
    assert credentials.resolve("https://jira.example.test", {}, none).kind == "anonymous"
    with pytest.raises(credentials.CredentialsError, match="no Jira server"):
        credentials.resolve(None, {"JIRA_API_TOKEN": TOKEN}, none)
    assert credentials.display_server("https://bob:secret@jira.example.test:8443/jira/") == "https://jira.example.test:8443/jira"

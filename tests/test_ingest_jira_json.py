"""The jira-json loader: Jira REST search results through the real ingest into a DuckDB file.

Fixtures in tests/fixtures/jira_json are synthetic and copy the structure of the
samples (v2 Data Center users, v3 Cloud with ADF descriptions, /search/jql pages,
GreenHopper sprint strings, a changelog in shuffled order across a DST change).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from delivery_health import store
from delivery_health.ingest import IngestError, ingest_file
from delivery_health.ingest.base import RejectedFile
from delivery_health.ingest.detect import detect_format
from delivery_health.ingest.jira_common import JiraLink, link_edge
from delivery_health.ingest.jira_json import issues_from_search

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "jira_json"
SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "jira_json"


@pytest.fixture
def eng(duckdb_url: str):
    engine = store.make_engine(duckdb_url)
    yield engine
    engine.dispose()


def _rows(engine, table: sa.Table, *where) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table).where(*where).order_by(table.c.id))]


def _one(engine, table: sa.Table, row_id: str) -> dict:
    (row,) = _rows(engine, table, table.c.id == row_id)
    return row


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (*store.DATA_TABLES, store.ingest_runs, store.skipped_rows)}


@pytest.mark.parametrize("name", ["search_v2_server.json", "search_v3_cloud.json", "search_jql_page.json",
                                  "search_jql_two_pages.json", "bare_issue_list.json"])
def test_detect_routes_every_search_shape_to_jira_json(name: str) -> None:
    assert detect_format(FIXTURES / name) == "jira-json"


def test_v2_server_page_fields_and_custom_fields_by_names_map(eng, settings) -> None:
    result = ingest_file(eng, FIXTURES / "search_v2_server.json", settings)
    # Three issues in the page, all new; the file has nothing to skip.
    assert (result.format, result.read, result.rejected) == ("jira-json", 3, 0)
    item = _one(eng, store.work_items, "PAY-101")
    # DC users: displayName is kept. created 09:15 at -0400 (EDT) is 13:15 UTC.
    assert item["assignee"] == "Jo Doe" and item["reporter"] == "Ann Maker"
    assert item["created_at"] == datetime(2024, 10, 28, 13, 15)
    # updated 08:00 at -0500 (EST, after the fall-back) is 13:00 UTC.
    assert item["updated_at"] == datetime(2024, 11, 4, 13, 0)
    assert item["due_date"] == date(2024, 11, 15)
    # statusCategory key "indeterminate" -> "In Progress", although the status is "In Review".
    assert (item["status"], item["status_category"]) == ("In Review", "In Progress")
    # names map: customfield_10301 "Story Points", 10302 "Epic Link", 10303 "Team".
    assert (item["story_points"], item["epic_key"], item["team"]) == (5.0, "PAY-100", "Ledger Team")
    assert item["project_key"] == "PAY" and item["project_name"] == "Payments Ledger"
    assert item["source"] == "jira-json" and item["source_file"].endswith("search_v2_server.json")
    # PAY-102 is category "new" -> "To Do", no team (null Team field).
    bug = _one(eng, store.work_items, "PAY-102")
    assert (bug["status_category"], bug["team"], bug["story_points"]) == ("To Do", None, None)


def test_greenhopper_sprint_strings_and_tags(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_v2_server.json", settings)
    tags = {(r["kind"], r["value"]) for r in _rows(eng, store.work_item_tags, store.work_item_tags.c.item_key == "PAY-101")}
    # The second GreenHopper string lists id last and its name holds a comma and "&":
    # the name ends at the next known ",key=", not at the first comma.
    assert tags == {
        ("sprint", "Ledger Sprint 7"), ("sprint", "Ledger Sprint 8, Fixes & Polish"),
        ("component", "billing-api"), ("label", "backend"), ("label", "export"),
        ("fix_version", "2.4.0"), ("affects_version", "2.3.1"),
    }


def test_changelog_sorted_status_only_backwards_kept_across_dst(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_v2_server.json", settings)
    moves = [(r["changed_at"], r["from_status"], r["to_status"], r["author"])
             for r in sorted(_rows(eng, store.status_transitions), key=lambda r: r["changed_at"])]
    # The file lists histories as h5, h2, h4, h1, h3. h2 (assignee) and the Rank/Sprint items are not
    # status moves. h4 "2024-11-03T01:40-0400" is 05:40 UTC and h5 "01:10-0500" (after the DST
    # fall-back) is 06:10 UTC: by instant h4 comes first although its local clock reads later.
    assert moves == [
        (datetime(2024, 10, 29, 14, 0), "To Do", "In Progress", "Jo Doe"),
        (datetime(2024, 10, 31, 20, 0), "In Progress", "To Do", "Ann Maker"),  # backwards move kept
        (datetime(2024, 11, 3, 5, 40), "To Do", "In Progress", "Jo Doe"),
        (datetime(2024, 11, 3, 6, 10), "In Progress", "In Review", "Jo Doe"),
    ]


def test_transitions_come_out_in_time_order() -> None:
    page = json.loads((FIXTURES / "search_v2_server.json").read_text())
    (pay101,) = [i for i in issues_from_search([page]) if i.key == "PAY-101"]
    # Not re-sorted here: the list itself must be chronological for callers that walk it.
    # A sort on the raw `created` strings would put h5 (01:10-0500) before h4 (01:40-0400).
    assert [(t.changed_at, t.to_status) for t in pay101.transitions] == [
        (datetime(2024, 10, 29, 14, 0), "In Progress"), (datetime(2024, 10, 31, 20, 0), "To Do"),
        (datetime(2024, 11, 3, 5, 40), "In Progress"), (datetime(2024, 11, 3, 6, 10), "In Review")]


def test_blocks_link_seen_from_both_sides_is_one_edge(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_v2_server.json", settings)
    links = [(r["from_key"], r["to_key"], r["link_type"], r["is_blocking"]) for r in _rows(eng, store.issue_links)]
    # PAY-101 "blocks" PAY-102 (outward) and PAY-102 "is blocked by" PAY-101 (inward): one edge, blocker first.
    assert links == [("PAY-101", "PAY-102", "Blocks", True)]


def test_fix_versions_with_dates_become_releases(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_v2_server.json", settings)
    rels = [(r["id"], r["version"], r["release_date"], r["released"]) for r in _rows(eng, store.releases)]
    # 2.3.1 on the epic (released 2024-10-25); 2.4.0 on PAY-101 and PAY-102 (planned 2024-11-20), stored once.
    assert rels == [("PAY|2.3.1", "2.3.1", date(2024, 10, 25), True),
                    ("PAY|2.4.0", "2.4.0", date(2024, 11, 20), False)]


def test_v3_cloud_incident_and_linked_action_item(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_v3_cloud.json", settings)
    # Issue type "Incident" is in settings.incident_issue_types; its component is the service.
    inc = _one(eng, store.incidents, "OPS-7")
    assert (inc["service"], inc["severity"], inc["status"]) == ("checkout-web", "Highest", "Resolved")
    assert (inc["started_at"], inc["resolved_at"]) == (datetime(2025, 1, 14, 22, 5), datetime(2025, 1, 15, 1, 20))
    # OPS-9 "relates to" the incident: an action item of OPS-7, owned by its assignee.
    action = _one(eng, store.action_items, "OPS-9")
    assert (action["incident_id"], action["owner"], action["due_date"]) == ("OPS-7", "Lee Park", date(2025, 1, 31))
    assert [r["id"] for r in _rows(eng, store.action_items)] == ["OPS-9"]
    # Relates is not blocking; stored once from its outward side (OPS-9 relates to OPS-7).
    assert [(r["from_key"], r["to_key"], r["is_blocking"]) for r in _rows(eng, store.issue_links)] == [("OPS-9", "OPS-7", False)]


def test_v3_cloud_users_team_objects_points_and_parent_epic(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_v3_cloud.json", settings)
    inc, task = _one(eng, store.work_items, "OPS-7"), _one(eng, store.work_items, "OPS-9")
    # Cloud users carry accountId + displayName: the display name is kept.
    assert (inc["assignee"], inc["reporter"]) == ("Kim Reyes", "Lee Park")
    # Team objects: OPS-7's has a name, OPS-9's only a title.
    assert (inc["team"], task["team"]) == ("Checkout Crew", "Observability Guild")
    # "Story point estimate" (team-managed name) is read like Story Points.
    assert task["story_points"] == 3.0
    # No Epic Link field: the parent whose issue type has hierarchyLevel 1 (Epic) is the epic.
    assert (task["parent_key"], task["epic_key"]) == ("OPS-1", "OPS-1")
    # Sprint objects (Cloud): the name is taken.
    sprints = [r["value"] for r in _rows(eng, store.work_item_tags, store.work_item_tags.c.kind == "sprint")]
    assert sprints == ["OPS Sprint 12"]


def test_search_jql_page_dependency_direction_and_truncated_changelog(eng, settings) -> None:
    result = ingest_file(eng, FIXTURES / "search_jql_page.json", settings)
    # WEB-21 "depends on" WEB-30, so WEB-30 is the blocker: edge WEB-30 -> WEB-21 (also from WEB-30's inward side).
    assert [(r["from_key"], r["to_key"], r["link_type"], r["is_blocking"]) for r in _rows(eng, store.issue_links)] == [
        ("WEB-30", "WEB-21", "Dependency", True)]
    # changelog.total 57 but 2 histories embedded: what is there loads, the truncation is recorded.
    assert result.rejected == 1
    assert [(r["row_ref"], r["reason"]) for r in _rows(eng, store.skipped_rows)] == [
        ("WEB-21", "changelog truncated: 2 of 57 histories")]
    # Of the two histories only one is a status move (the other changes labels); fieldId "status" (newer Cloud).
    assert [(r["from_status"], r["to_status"]) for r in _rows(eng, store.status_transitions)] == [("To Do", "In Progress")]


def test_search_jql_page_without_names_finds_sprint_by_shape_only(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "search_jql_page.json", settings)
    # No names map: customfield_10020 is a list of {name, state, boardId} objects -> Sprint; customfield_10021
    # (a list of plain strings) is not. customfield_10016 (8.0) cannot be known as story points, so it stays null.
    sprints = [r["value"] for r in _rows(eng, store.work_item_tags, store.work_item_tags.c.kind == "sprint")]
    assert sprints == ["Storefront 2025.03", "Storefront 2025.04"]
    assert _one(eng, store.work_items, "WEB-21")["story_points"] is None


def test_field_names_argument_resolves_custom_fields() -> None:
    page = json.loads((FIXTURES / "search_jql_page.json").read_text())
    issues = issues_from_search([page], field_names={"customfield_10016": "Story point estimate"})
    # With the field list's names, WEB-21's customfield_10016 (8.0) is its story points.
    assert {i.key: i.story_points for i in issues} == {"WEB-21": 8.0, "WEB-30": None}


def test_list_of_two_pages_later_copy_of_a_repeated_issue_wins(eng, settings) -> None:
    result = ingest_file(eng, FIXTURES / "search_jql_two_pages.json", settings)
    # 4 issues read over 2 pages; WEB-41 is on both, so 3 work items and one recorded skip.
    assert (result.read, result.rejected) == (4, 1)
    assert [r["id"] for r in _rows(eng, store.work_items)] == ["WEB-40", "WEB-41", "WEB-42"]
    # Page 2's copy (Done, resolved 2025-03-05 16:00) replaces page 1's (In Progress).
    web41 = _one(eng, store.work_items, "WEB-41")
    assert (web41["status"], web41["resolved_at"]) == ("Done", datetime(2025, 3, 5, 16, 0))


def test_bare_list_of_issues_and_dc_user_without_display_name(eng, settings) -> None:
    result = ingest_file(eng, FIXTURES / "bare_issue_list.json", settings)
    assert result.read == 2
    lab1 = _one(eng, store.work_items, "LAB-1")
    # Assignee {name: "ops-bot"} has no displayName: the DC user name is used. 12:00 at +0200 is 10:00 UTC.
    assert (lab1["assignee"], lab1["created_at"]) == ("ops-bot", datetime(2024, 6, 1, 10, 0))


def test_reingest_is_idempotent(eng, settings) -> None:
    for name in ("search_v2_server.json", "search_v3_cloud.json", "search_jql_page.json"):
        first = ingest_file(eng, FIXTURES / name, settings)
        assert first.inserted > 0
        again = ingest_file(eng, FIXTURES / name, settings)
        # The same file again: every row is already there, identical.
        assert (again.inserted, again.updated) == (0, 0), name


def test_bad_file_is_rejected_whole_naming_file_and_issue(eng, settings) -> None:
    ingest_file(eng, FIXTURES / "bare_issue_list.json", settings)
    before = _counts(eng)
    with pytest.raises(IngestError) as err:
        ingest_file(eng, FIXTURES / "bad_created.json", settings)
    # The second issue (LAB-4) has a CSV-style created date: the row is its index in the file.
    assert err.value.row == 2
    assert "bad_created.json" in str(err.value) and "LAB-4" in err.value.reason and "fields.created" in err.value.reason
    assert "04/Jun/24 12:00 PM" in err.value.reason
    # LAB-3 (issue 1, valid) was not written either: nothing changed.
    assert _counts(eng) == before


def test_non_json_file_forced_to_jira_json_is_rejected(eng, settings) -> None:
    with pytest.raises(IngestError) as err:
        ingest_file(eng, FIXTURES / "not_json.csv", settings, fmt="jira-json")
    # "Issue key,..." fails at its first character, on line 1.
    assert err.value.format == "jira-json" and err.value.row == 1 and "not valid JSON" in err.value.reason


def test_valid_json_of_another_kind_forced_to_jira_json_is_rejected(tmp_path: Path, eng, settings) -> None:
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps({"total_count": 1, "workflow_runs": [{"id": 1}]}))
    with pytest.raises(IngestError, match="not Jira search results"):
        ingest_file(eng, runs, settings, fmt="jira-json")


def test_issue_without_key_rejects_with_its_index() -> None:
    ok = {"key": "X-1", "fields": {"created": "2024-01-02T03:04:05.000+0000"}}
    keyless = {"id": "9", "fields": {"created": "2024-01-02T03:04:05.000+0000"}}
    # Issues are numbered across pages: page 1 holds issue 1, page 2 issues 2 and 3.
    with pytest.raises(RejectedFile) as err:
        issues_from_search([{"issues": [ok]}, {"issues": [dict(ok, key="X-2"), keyless]}])
    assert err.value.row == 3 and "no key" in err.value.reason


def test_issue_fetched_without_fields_is_rejected() -> None:
    # /search/jql returns only ids unless fields are requested: such an issue has no created time.
    with pytest.raises(RejectedFile) as err:
        issues_from_search([{"issues": [{"id": "1", "key": "X-1"}]}])
    assert err.value.row == 1 and "fields" in err.value.reason


def test_greenhopper_name_with_brackets_last() -> None:
    sprint = "com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=9,rapidViewId=1,state=FUTURE,goal=,name=Q3 [hardening]]"
    issue = {"key": "X-1", "fields": {"created": "2024-01-02T03:04:05.000+0000", "customfield_10005": [sprint]}}
    # name is the last attribute and itself ends with "]": only the final "]" closes the object.
    assert issues_from_search([{"issues": [issue]}])[0].sprints == ["Q3 [hardening]"]


@pytest.mark.parametrize(("link", "expected"), [
    # A outward "blocks" B: A is the blocker.
    (JiraLink("Blocks", "outward", "B", "blocks"), ("A", "B", True)),
    # A inward of Blocks: B blocks A.
    (JiraLink("Blocks", "inward", "B", "blocks"), ("B", "A", True)),
    # A outward "depends on" B: B must finish first.
    (JiraLink("Dependency", "outward", "B", "depends on"), ("B", "A", True)),
    # A inward of "depends on": B depends on A, so A blocks B.
    (JiraLink("Dependency", "inward", "B", "depends on"), ("A", "B", True)),
    # A site that reversed the type: outward phrase "is depended on by" -> A is needed by B.
    (JiraLink("Dependency", "outward", "B", "is depended on by"), ("A", "B", True)),
    # A site whose Blocks outward phrase is "is blocked by": B blocks A.
    (JiraLink("Blocks", "outward", "B", "is blocked by"), ("B", "A", True)),
    # CSV carries no phrase: a "Dependency" outward link reads as "depends on".
    (JiraLink("Dependency", "outward", "B"), ("B", "A", True)),
    # Non-blocking kinds keep the outward side first.
    (JiraLink("Relates", "inward", "B", "relates to"), ("B", "A", False)),
])
def test_link_edge_direction(link: JiraLink, expected: tuple[str, str, bool]) -> None:
    assert link_edge("A", link) == expected


def _sample_search_files() -> list[Path]:
    if not SAMPLES.is_dir():
        return []
    files = []
    for f in sorted(SAMPLES.glob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("issues"), list):
            files.append(f)
    return files


def test_real_samples_that_are_search_results_load(eng, settings) -> None:
    files = _sample_search_files()
    if not files:
        pytest.skip(f"no Jira search result samples at {SAMPLES}")
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8"))
        result = ingest_file(eng, f, settings)
        # Every issue of the page is read and becomes a work item.
        assert result.format == "jira-json" and result.read == len(data["issues"]), f.name
        keys = {i["key"] for i in data["issues"]}
        assert keys <= {r["id"] for r in _rows(eng, store.work_items)}, f.name
        # One transition per status item of the embedded changelogs (none of them share a time).
        status_items = sum(1 for i in data["issues"] for h in (i.get("changelog") or {}).get("histories", [])
                           for item in h["items"] if item["field"] == "status")
        loaded = len(_rows(eng, store.status_transitions, store.status_transitions.c.item_key.in_(keys)))
        assert loaded == status_items, f.name


def test_unexpected_value_type_rejects_instead_of_crashing() -> None:
    # components must be a list of objects; a list of strings is a structure we do not know.
    issue = {"key": "X-1", "fields": {"created": "2024-01-02T03:04:05.000+0000", "components": ["api"]}}
    with pytest.raises(RejectedFile) as err:
        issues_from_search([{"issues": [issue]}])
    assert err.value.row == 1 and "unexpected structure" in err.value.reason

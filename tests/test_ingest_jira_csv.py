"""The jira-csv loader on small synthetic exports shaped like the real ones (tests/fixtures/jira_csv)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from delivery_health import store
from delivery_health.ingest import IngestError, ingest_file, jira_csv
from delivery_health.ingest.base import RejectedFile
from delivery_health.ingest.parsing import parse_jira_date, parse_jira_datetime
from delivery_health.settings import Settings

from conftest import FIXTURES, SAMPLES

HERE = FIXTURES / "jira_csv"


def _items(batch) -> dict[str, dict]:
    return {r["id"]: r for r in batch.rows["work_items"]}


def _tags(batch, key: str) -> set[tuple[str, str]]:
    return {(r["kind"], r["value"]) for r in batch.rows.get("work_item_tags", []) if r["item_key"] == key}


def _edges(batch) -> set[tuple[str, str, str, bool]]:
    return {(r["from_key"], r["to_key"], r["link_type"], r["is_blocking"]) for r in batch.rows.get("issue_links", [])}


@pytest.fixture
def duck(duckdb_url: str):
    """An engine on a DuckDB file in tmp_path (these tests need no PostgreSQL run)."""
    eng = store.make_engine(duckdb_url)
    yield eng
    eng.dispose()


def _counts(duck) -> dict[str, int]:
    with duck.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in store.metadata.sorted_tables}


# --- header eras and repeated columns -------------------------------------------------------------

def test_cloud_2025_headers_group_repeated_columns(settings: Settings) -> None:
    batch = jira_csv.load(HERE / "cloud_2025_all_fields.csv", settings)
    assert batch.read == 5 and batch.skipped == []
    nova2 = _items(batch)["NOVA-2"]
    # Labels×3 holds "frontend", "", "payments": the empty middle cell is dropped. Components×2,
    # Fix versions×2, Affects versions×2 (one empty), Sprint×2 become one tag each.
    assert _tags(batch, "NOVA-2") == {
        ("label", "frontend"), ("label", "payments"), ("component", "Checkout"), ("component", "Web"),
        ("fix_version", "7.0"), ("fix_version", "7.1"), ("affects_version", "7.0"),
        ("sprint", "Nova Sprint 1"), ("sprint", "Nova Sprint 2")}
    # Story Points is empty, Story point estimate says 3; Team is a custom field; Status Category is given.
    assert nova2["story_points"] == 3.0 and nova2["team"] == "Checkout Crew"
    assert nova2["status_category"] == "In Progress"
    # `12/Mar/24 3:45 PM` in UTC (the default zone); Due date `24/Mar/26 12:00 AM` is a date.
    assert nova2["created_at"] == datetime(2024, 3, 12, 15, 45)
    assert nova2["due_date"] == date(2026, 3, 24)
    # Parent key NOVA-1 is an Epic in the file, so it is the epic too (Cloud dropped Epic Link).
    assert (nova2["parent_key"], nova2["epic_key"]) == ("NOVA-1", "NOVA-1")
    # Fix versions carry names only: no releases rows without dates.
    assert "releases" not in batch.rows


def test_parent_numeric_id_resolved_through_issue_id(settings: Settings) -> None:
    items = _items(jira_csv.load(HERE / "cloud_2025_all_fields.csv", settings))
    # NOVA-4 has Parent=20003 and no Parent key: 20003 is NOVA-3's Issue id. NOVA-3 is a Task, not an epic.
    assert (items["NOVA-4"]["parent_key"], items["NOVA-4"]["epic_key"]) == ("NOVA-3", None)


def test_legacy_headers_epic_link_and_parent_id(settings: Settings) -> None:
    batch = jira_csv.load(HERE / "legacy_2017_all_fields.csv", settings)
    items = _items(batch)
    old11 = items["OLD-11"]
    # Component/s, Fix Version/s, Affects Version/s, Due Date: the pre-2022 spellings.
    assert _tags(batch, "OLD-11") == {
        ("component", "Web"), ("component", "API"), ("fix_version", "1.0"), ("fix_version", "1.1"),
        ("affects_version", "0.9"), ("label", "export"), ("sprint", "OLD Sprint 1"), ("sprint", "OLD Sprint 2")}
    assert old11["due_date"] == date(2016, 7, 29) and old11["story_points"] == 8.0
    assert old11["epic_key"] == "OLD-10"  # Custom field (Epic Link)
    assert items["OLD-13"]["parent_key"] == "OLD-12"  # Parent id 10012 = OLD-12's Issue id
    # No Status Category column: left to jira_common, which calls a resolved issue Done and
    # an unresolved "In Progress" status without a category To Do.
    assert old11["status_category"] == "Done" and items["OLD-12"]["status_category"] == "To Do"
    assert old11["created_at"] == datetime(2016, 7, 1, 14, 10) and old11["resolved_at"] == datetime(2016, 7, 15, 15, 59)


# --- links ----------------------------------------------------------------------------------------

def test_inward_and_outward_links_make_each_edge_once(settings: Settings, duck) -> None:
    ingest_file(duck, HERE / "cloud_2025_all_fields.csv", settings)
    with duck.connect() as conn:
        edges = {tuple(r) for r in conn.execute(sa.select(
            store.issue_links.c.from_key, store.issue_links.c.to_key, store.issue_links.c.link_type,
            store.issue_links.c.is_blocking))}
    # NOVA-2 "Outward Blocks NOVA-3" and NOVA-3 "Inward Blocks NOVA-2" are one edge, NOVA-2 the blocker;
    # likewise NOVA-3 blocks NOVA-4 (both sides present) and NOVA-77 (outside the export);
    # NOVA-2 relates to NOVA-5 (both sides), not a blocking link.
    assert edges == {("NOVA-2", "NOVA-3", "Blocks", True), ("NOVA-3", "NOVA-4", "Blocks", True),
                     ("NOVA-3", "NOVA-77", "Blocks", True), ("NOVA-2", "NOVA-5", "Relates", False)}


def test_outward_only_export_still_gives_blocker_to_blocked(settings: Settings, duck) -> None:
    ingest_file(duck, HERE / "legacy_2017_all_fields.csv", settings)
    links = store.issue_links
    with duck.connect() as conn:
        blocking = conn.execute(sa.select(links.c.from_key, links.c.to_key)
                                .where(links.c.is_blocking)).all()
        relates = conn.execute(sa.select(sa.func.count()).select_from(links)
                               .where(links.c.link_type == "Relates")).scalar_one()
    # Only OLD-11's row says "Outward issue link (Blocks) = OLD-12": OLD-11 blocks OLD-12.
    assert [tuple(r) for r in blocking] == [("OLD-11", "OLD-12")]
    assert relates == 2  # OLD-11 relates to OLD-13 and to OLD-10


def test_dependency_link_without_phrase_makes_the_other_issue_the_blocker(settings: Settings) -> None:
    batch = jira_csv.load(HERE / "incident_outward_only.csv", settings)
    # OPS-4 "Outward issue link (Dependency) = OPS-3": OPS-4 depends on OPS-3, so OPS-3 blocks OPS-4.
    assert ("OPS-3", "OPS-4", "Dependency", True) in _edges(batch)


# --- incidents and action items -------------------------------------------------------------------

def test_incident_and_action_items(settings: Settings, duck) -> None:
    ingest_file(duck, HERE / "incident_outward_only.csv", settings)
    with duck.connect() as conn:
        incidents = conn.execute(sa.select(store.incidents)).mappings().all()
        actions = {r["id"]: r for r in conn.execute(sa.select(store.action_items)).mappings()}
    # OPS-1 is of type Incident: component -> service, priority -> severity, Created/Resolved -> times.
    assert [(i["id"], i["service"], i["severity"], i["started_at"], i["resolved_at"]) for i in incidents] == [
        ("OPS-1", "payments", "Highest", datetime(2024, 4, 3, 14, 0), datetime(2024, 4, 3, 17, 30))]
    # OPS-2 is linked from the incident's row only (outward-only export); OPS-3 is labelled
    # action-item; OPS-4 is neither.
    assert set(actions) == {"OPS-2", "OPS-3"}
    assert actions["OPS-2"]["incident_id"] == "OPS-1" and actions["OPS-2"]["due_date"] == date(2024, 4, 30)
    assert actions["OPS-3"]["incident_id"] is None


# --- dates ----------------------------------------------------------------------------------------

def test_french_month_abbreviations(settings: Settings) -> None:
    items = _items(jira_csv.load(HERE / "french_months.csv", settings))
    fr1, fr2 = items["FR-1"], items["FR-2"]
    assert fr1["created_at"] == datetime(2016, 10, 10, 11, 54)  # 10/oct./16 11:54 AM
    assert fr1["updated_at"] == datetime(2017, 8, 6, 12, 0)  # 06/août/17 12:00 PM is noon
    assert fr1["resolved_at"] == datetime(2017, 2, 14, 15, 5)  # 14/févr./17 3:05 PM
    assert fr1["due_date"] == date(2017, 12, 1)  # 01/déc./17 12:00 AM
    assert fr2["created_at"] == datetime(2018, 5, 3, 19, 30)  # 03/mai/18 7:30 PM
    assert fr2["updated_at"] == datetime(2018, 7, 3, 8, 0)  # 03/juil./18 8:00 AM


def test_dates_are_read_in_the_configured_zone(settings: Settings) -> None:
    paris = replace(settings, jira_timezone="Europe/Paris")
    items = _items(jira_csv.load(HERE / "cloud_2025_all_fields.csv", paris))
    # 12 March 2024 is winter time in Paris (UTC+1): 3:45 PM there is 14:45 UTC.
    assert items["NOVA-2"]["created_at"] == datetime(2024, 3, 12, 14, 45)
    assert items["NOVA-2"]["due_date"] == date(2026, 3, 24)  # a due date is a day: not shifted
    fr = _items(jira_csv.load(HERE / "french_months.csv", paris))
    # 3 May 2018 is summer time (UTC+2): 7:30 PM there is 17:30 UTC.
    assert fr["FR-2"]["created_at"] == datetime(2018, 5, 3, 17, 30)


@pytest.mark.parametrize(("text", "expected"), [
    ("03/Mär/24 9:05 AM", datetime(2024, 3, 3, 9, 5)),  # German March, hour not zero-padded
    ("24/Dez/23 10:00 PM", datetime(2023, 12, 24, 22, 0)),
    ("12/Okt/24 12:00 AM", datetime(2024, 10, 12, 0, 0)),  # 12 AM is midnight
    ("01/Mai/24 12:30 PM", datetime(2024, 5, 1, 12, 30)),  # 12 PM is noon
    ("16/02/2017 15:26", datetime(2017, 2, 16, 15, 26)),  # Excel re-save: dd/mm/yyyy, 24-hour
    ("2024-03-12 15:45", datetime(2024, 3, 12, 15, 45)),  # ISO
    ("05/Jan/99 1:00 AM", datetime(1999, 1, 5, 1, 0)),  # two-digit years >= 69 are 19xx
])
def test_jira_timestamp_formats(text: str, expected: datetime) -> None:
    assert parse_jira_datetime(text, "UTC") == expected


@pytest.mark.parametrize("text", ["31/Foo/24 3:45 PM", "13/Mar/24 13:45 PM", "30/02/2024 10:00", "yesterday"])
def test_jira_timestamp_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_jira_datetime(text, "UTC")


def test_jira_date_only() -> None:
    assert parse_jira_date("24/Mar/26 12:00 AM") == date(2026, 3, 24)
    assert parse_jira_date("") is None


# --- file-level quirks ----------------------------------------------------------------------------

def test_excel_resave_bom_crlf_blank_rows_ddmmyyyy(settings: Settings) -> None:
    path = HERE / "excel_resaved.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the fixture really has the BOM
    batch = jira_csv.load(path, settings)
    items = _items(batch)
    # Two issues; the blank middle row and the three trailing `,,,` rows are not records, and the
    # CRLFs inside XL-1's quoted Description did not split it. The BOM did not stick to "Summary".
    assert batch.read == 2 and set(items) == {"XL-1", "XL-2"}
    assert items["XL-1"]["summary"] == "Login fails"
    assert items["XL-1"]["created_at"] == datetime(2017, 2, 16, 15, 26)
    assert items["XL-1"]["due_date"] == date(2017, 2, 28)  # `28/02/2017 00:00`
    assert items["XL-2"]["created_at"] == datetime(2017, 2, 17, 9, 5)
    assert _tags(batch, "XL-1") == {("label", "auth")}


def test_semicolon_delimiter_cp1252_decimal_comma(settings: Settings) -> None:
    items = _items(jira_csv.load(HERE / "semicolon_cp1252.csv", settings))
    # `;`-separated, cp1252-encoded (é is byte 0xE9, not UTF-8), `2,5` is two and a half points.
    assert items["EU-1"]["summary"] == "Réglages; écran"
    assert items["EU-1"]["story_points"] == 2.5 and items["EU-2"]["story_points"] == 8.0
    assert items["EU-1"]["created_at"] == datetime(2024, 3, 12, 15, 45)


def test_duplicate_rows_last_wins_and_is_reported(settings: Settings, duck) -> None:
    result = ingest_file(duck, HERE / "duplicate_rows.csv", settings)
    with duck.connect() as conn:
        dup = conn.execute(sa.select(store.work_items).where(store.work_items.c.id == "DUP-1")).mappings().one()
        labels = conn.execute(sa.select(store.work_item_tags.c.value)
                              .where(store.work_item_tags.c.item_key == "DUP-1")).scalars().all()
        skipped = conn.execute(sa.select(store.skipped_rows.c.row_ref, store.skipped_rows.c.reason)).all()
    # DUP-1 is records 2 and 4: record 4 wins, record 2 is reported as skipped; 3 records read.
    assert (result.read, result.rejected) == (3, 1)
    assert (dup["summary"], dup["status"]) == ("New summary", "In Progress") and labels == ["new"]
    assert [tuple(r) for r in skipped] == [("2", "duplicate of row 4 (DUP-1)")]


# --- rejected files -------------------------------------------------------------------------------

def test_bad_created_date_rejects_the_file_and_leaves_the_db_unchanged(settings: Settings, duck) -> None:
    ingest_file(duck, HERE / "cloud_2025_all_fields.csv", settings)
    before = _counts(duck)
    path = HERE / "bad_created_date.csv"
    with pytest.raises(IngestError) as err:
        ingest_file(duck, path, settings)
    # Record 3 (header = 1; record 2 spans three lines, so this is not a line number).
    assert err.value.row == 3
    assert str(path) in str(err.value) and "Created '31/Foo/24 3:45 PM'" in str(err.value)
    assert _counts(duck) == before  # nothing of BAD-1 either: the file is all or nothing


def test_record_without_issue_key_rejects_the_file(settings: Settings) -> None:
    with pytest.raises(RejectedFile) as err:
        jira_csv.load(HERE / "missing_issue_key.csv", settings)
    assert err.value.row == 3 and "Issue key" in err.value.reason


def test_file_without_issue_key_column_is_rejected(settings: Settings) -> None:
    with pytest.raises(RejectedFile) as err:
        jira_csv.load(HERE / "no_issue_key_column.csv", settings)
    assert err.value.row == 1 and "'Issue key' column" in err.value.reason


# --- the database round trip ----------------------------------------------------------------------

def test_reingest_same_file_changes_nothing(settings: Settings, duck) -> None:
    path = HERE / "cloud_2025_all_fields.csv"
    first = ingest_file(duck, path, settings, fmt=None)  # the format is sniffed
    second = ingest_file(duck, path, settings)
    # 5 work items + 13 tags (NOVA-1: 1 component; NOVA-2: 9; NOVA-3: fix version, component,
    # sprint) + 4 links = 22 rows, all new the first time and all identical the second.
    assert (first.format, first.read, first.inserted, first.updated) == ("jira-csv", 5, 22, 0)
    assert (second.inserted, second.updated) == (0, 0)


def test_every_real_sample_loads(settings: Settings, duck) -> None:
    folder = SAMPLES / "jira_csv"
    if not folder.is_dir():
        pytest.skip(f"real samples not present at {folder}")
    paths = sorted(folder.glob("*.csv"))
    assert paths
    for path in paths:
        result = ingest_file(duck, path, settings)
        # Every sample holds at least one issue and no duplicate rows.
        assert result.format == "jira-csv" and result.read > 0 and result.rejected == 0, path.name

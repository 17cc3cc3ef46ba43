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
from delivery_health.ingest.parsing import JiraTimes, parse_jira_date, parse_jira_datetime
from delivery_health.settings import Settings

from conftest import FIXTURES, SAMPLES

HERE = FIXTURES / "jira_csv"


def _items(batch) -> dict[str, dict]:
    return {r["id"]: r for r in batch.table_rows("work_items")}


def _tags(batch, key: str) -> set[tuple[str, str]]:
    return {(r["kind"], r["value"]) for r in batch.table_rows("work_item_tags") if r["item_key"] == key}


def _edges(batch) -> set[tuple[str, str, str, bool]]:
    return {(r["from_key"], r["to_key"], r["link_type"], r["is_blocking"]) for r in batch.table_rows("issue_links")}


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
    assert batch.table_rows("releases") == []


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


# --- the fast paths give the general parsers' answers ---------------------------------------------

@pytest.mark.parametrize(("text", "tz", "expected"), [
    ("12/Mar/24 3:45 PM", "Europe/Berlin", datetime(2024, 3, 12, 14, 45)),  # winter time, UTC+1
    # 27 Oct 2024 2:30 AM happens twice in Berlin; like zoneinfo (fold=0) it is the first, summer one (UTC+2).
    ("27/Oct/24 2:30 AM", "Europe/Berlin", datetime(2024, 10, 27, 0, 30)),
    # 31 Mar 2024 2:30 AM does not exist in Berlin; fold=0 reads it with the offset before the jump (UTC+1).
    ("31/Mar/24 2:30 AM", "Europe/Berlin", datetime(2024, 3, 31, 1, 30)),
    ("03/Mär/24 9:05 AM", "UTC", datetime(2024, 3, 3, 9, 5)),
    ("16/02/2017 15:26", "America/New_York", datetime(2017, 2, 16, 20, 26)),  # EST, UTC-5
    ("12/Mar/24  3:45 PM", "UTC", datetime(2024, 3, 12, 15, 45)),  # two spaces: the general parser's shape
    ("12/Mar/24, 3:45 PM", "UTC", datetime(2024, 3, 12, 15, 45)),
    ("12/Mar/24", "UTC", datetime(2024, 3, 12)),  # no time: midnight
    ("2024-03-12T10:00:00+0000", "Europe/Berlin", datetime(2024, 3, 12, 10, 0)),  # ISO keeps its offset
])
def test_jira_times_agree_with_parse_jira_datetime(text: str, tz: str, expected: datetime) -> None:
    times = JiraTimes(tz)
    # The second read of the same text comes from the parts already parsed: same answer.
    assert times.column([text, text]) == ([expected, expected], None)
    assert parse_jira_datetime(text, tz) == expected


@pytest.mark.parametrize("text", ["31/Foo/24 3:45 PM", "13/Mar/24 13:45 PM", "30/02/2024 10:00", "12/Mar/24 3:60 PM",
                                  "12/Mar/24 24:00", "yesterday"])
def test_jira_times_reject_what_parse_jira_datetime_rejects(text: str) -> None:
    times = JiraTimes("UTC")
    for _ in range(2):  # a refused value is not remembered as a good one
        assert times.column([text]) == ([], 0)
        assert times.column([text], days=True) == ([], 0)
    with pytest.raises(ValueError):
        parse_jira_datetime(text, "UTC")


def _jira_file(tmp_path: Path, *records: str) -> Path:
    path = tmp_path / "export.csv"
    path.write_text("Issue key,Summary,Created,Updated,Due date\n" + "\n".join(records) + "\n", encoding="utf-8")
    return path


def test_repeated_ambiguous_timestamp_is_read_per_file_zone(settings: Settings, tmp_path: Path) -> None:
    # The same DST-ambiguous wall time in two records and two fields; each load uses its own zone.
    path = _jira_file(tmp_path, "A-1,a,27/Oct/24 2:30 AM,27/Oct/24 2:30 AM,27/Oct/24 2:30 AM",
                      "A-2,b,27/Oct/24 2:30 AM,27/okt./24 2:30 AM,")
    berlin = _items(jira_csv.load(path, replace(settings, jira_timezone="Europe/Berlin")))
    utc = _items(jira_csv.load(path, replace(settings, jira_timezone="UTC")))
    # Berlin: the first 2:30 AM is summer time (UTC+2) -> 00:30 UTC; in UTC it stays 02:30.
    for key in ("A-1", "A-2"):
        assert berlin[key]["created_at"] == berlin[key]["updated_at"] == datetime(2024, 10, 27, 0, 30)
        assert utc[key]["created_at"] == utc[key]["updated_at"] == datetime(2024, 10, 27, 2, 30)
    assert berlin["A-1"]["due_date"] == utc["A-1"]["due_date"] == date(2024, 10, 27)  # a day, not shifted
    assert berlin["A-2"]["due_date"] is None


@pytest.mark.parametrize(("records", "row", "message"), [
    # A bad value repeated in later records is reported at its first record (header = 1).
    (("A-1,a,12/Mar/24 3:45 PM,,", "A-2,b,yesterday,,", "A-3,c,yesterday,,"), 3, "Created 'yesterday'"),
    # The first bad record wins even when a field checked earlier in a record is bad further down.
    (("A-1,a,12/Mar/24 3:45 PM,,", "A-2,b,12/Mar/24 3:45 PM,soon,", "A-3,c,never,,"), 3, "Updated 'soon'"),
    # Within a record: created before updated before due date.
    (("A-1,a,12/Mar/24 3:45 PM,soon,someday",), 2, "Updated 'soon'"),
    (("A-1,a,12/Mar/24 3:45 PM,,", "A-2,b,,,someday"), 3, "Created '' is empty"),
    ((",a,never,,", "A-2,b,never,,"), 2, "Issue key '' is empty"),
])
def test_first_bad_record_is_reported(settings: Settings, tmp_path: Path, records: tuple[str, ...], row: int,
                                      message: str) -> None:
    with pytest.raises(RejectedFile) as err:
        jira_csv.load(_jira_file(tmp_path, *records), settings)
    assert err.value.row == row and message in err.value.reason


def test_jira_times_column_reads_in_order_and_stops_at_the_first_refused_value() -> None:
    values = ["12/Mar/24 3:45 PM", None, "", "2024-03-12 15:45", "12/Mar/24 3:45 PM", "31/Feb/24 1:00 AM", "yesterday"]
    out, bad = JiraTimes("Europe/Berlin").column(values)
    # Winter time in Berlin (UTC+1); empty cells are None; 31 Feb (index 5) is the first refused value.
    assert bad == 5
    assert out == [datetime(2024, 3, 12, 14, 45), None, None, datetime(2024, 3, 12, 14, 45), datetime(2024, 3, 12, 14, 45)]
    days, bad = JiraTimes("Europe/Berlin").column(["24/Mar/26 12:00 AM", "2026-03-24", None], days=True)
    assert (days, bad) == ([date(2026, 3, 24), date(2026, 3, 24), None], None)  # a day is not shifted

"""The Jira CSV fast path (jira_csv_columnar): the same rows as the record-by-record reader, and what it leaves to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from delivery_health import store
from delivery_health.ingest import IngestError, ingest_file, jira_csv, jira_csv_columnar, parsing
from delivery_health.ingest.base import Batch
from delivery_health.settings import Settings

from conftest import FIXTURES, SAMPLES

EDGES = FIXTURES / "jira_csv" / "columnar_edges.csv"
# Files the fast path leaves to the record reader, and why (the reader accepts or rejects them, see test_ingest_jira_csv).
DECLINED = {
    "bad_created_date.csv": "a date no parser reads",
    "duplicate_rows.csv": "a key repeated (the reader reports the earlier rows as skipped)",
    "missing_issue_key.csv": "a record without a key",
    "semicolon_cp1252.csv": "not UTF-8",
}


def _columnar(path: Path, settings: Settings) -> Batch | None:
    found = parsing.utf8_csv_header(path)
    if found is None:
        return None
    header, delimiter = found
    return jira_csv_columnar.batch_of(path, jira_csv._Columns.of(header), delimiter, settings,
                                      jira_csv._story_points, str(path))


def _by_record(path: Path, settings: Settings) -> Batch:
    header, records = parsing.csv_cell_records(parsing.read_text(path))
    return jira_csv.load_records(jira_csv._Columns.of(header), records, path, settings)


def _rows(batch: Batch, table: str) -> list[tuple]:
    """The table's rows as written (a computed id left out), as sorted tuples; repeats collapse as the upsert
    collapses them."""
    written = [c.name for c in store.written_columns(store.metadata.tables[table])]
    return sorted({tuple((c, r.get(c)) for c in written) for r in batch.table_rows(table)}, key=repr)


def _jira_csvs() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.csv") if "Issue key" in p.read_bytes()[:4000].decode("latin-1"))


@pytest.mark.parametrize("path", _jira_csvs(), ids=lambda p: p.name)
def test_same_rows_as_the_record_reader(path: Path, settings: Settings) -> None:
    fast = _columnar(path, settings)
    if path.name in DECLINED:
        assert fast is None, f"{path.name} should be left to the record reader: {DECLINED[path.name]}"
        return
    assert fast is not None, f"{path.name} was left to the record reader"
    slow = _by_record(path, settings)
    assert fast.read == slow.read and slow.skipped == []
    for table in store.DATA_TABLES:
        assert _rows(fast, table.name) == _rows(slow, table.name), table.name


def test_same_rows_on_the_real_samples(settings: Settings) -> None:
    folder = SAMPLES / "jira_csv"
    if not folder.is_dir():
        pytest.skip(f"real samples not present at {folder}")
    for path in sorted(folder.glob("*.csv")):
        fast, slow = _columnar(path, settings), _by_record(path, settings)
        assert fast is not None, path.name
        for table in store.DATA_TABLES:
            assert _rows(fast, table.name) == _rows(slow, table.name), (path.name, table.name)


def test_edge_fixture_hand_computed(settings: Settings) -> None:
    berlin = replace(settings, jira_timezone="Europe/Berlin")
    batch = _columnar(EDGES, berlin)
    assert batch is not None
    # 10 records after the header; the all-blank one (Excel re-save) is not a record.
    assert batch.read == 9
    items = {r["id"]: r for r in batch.table_rows("work_items")}
    # 31/Mar/24 2:30 AM does not exist in Berlin (clocks go 2:00 -> 3:00): read with the offset before the
    # switch, +1 h -> 01:30 UTC. 27/Oct/24 2:30 AM happens twice: the first, +2 h -> 00:30 UTC.
    assert items["EDG-1"]["created_at"] == datetime(2024, 3, 31, 1, 30)
    assert items["EDG-1"]["resolved_at"] == datetime(2024, 10, 27, 0, 30)
    assert items["EDG-1"]["updated_at"] == datetime(2024, 4, 1, 7, 15)  # summer time: -2 h
    assert items["EDG-2"]["created_at"] == datetime(2024, 6, 1, 8, 0)  # ISO 8601 with +0200: its own offset
    # A non-breaking space around the summary is stripped; `2,5` is a decimal comma; a due date is a day.
    assert (items["EDG-5"]["summary"], items["EDG-5"]["story_points"], items["EDG-5"]["due_date"]) == (
        "Fix retries", 2.5, date(2024, 4, 15))
    # Trailing whitespace of every width is stripped (a tab, an ideographic space, a thin space); a trailing
    # DEL or accented letter is not whitespace and stays.
    assert [items[k]["assignee"] for k in ("EDG-3", "EDG-4", "EDG-9")] == ["Cy", "Di", "Ió"]
    assert (items["EDG-7"]["summary"], items["EDG-6"]["summary"]) == ("Resilience", "Wire the flag\x7f")
    # Parent id 9007 is EDG-7, an Epic: parent and epic. OTHER-9 is outside the file: kept as the parent key.
    assert (items["EDG-6"]["parent_key"], items["EDG-6"]["epic_key"]) == ("EDG-7", "EDG-7")
    assert (items["EDG-8"]["parent_key"], items["EDG-8"]["summary"]) == ("OTHER-9", "Line one\nLine two")
    # No Status Category column: Done when resolved or in a done status.
    assert {k for k, r in items.items() if r["status_category"] == "Done"} == {"EDG-1", "EDG-9"}
    incidents = {r["id"]: r["service"] for r in batch.table_rows("incidents")}
    assert incidents == {"EDG-1": "Payments", "EDG-2": "Search"}  # the first component, stripped
    # EDG-3 links to EDG-2 itself and is linked from EDG-1: its own link wins. EDG-4 is linked from both
    # incidents only: the first in the file, EDG-1. EDG-5 has no incident but the label "Postmortem".
    actions = {r["id"]: r["incident_id"] for r in batch.table_rows("action_items")}
    assert actions == {"EDG-3": "EDG-2", "EDG-4": "EDG-1", "EDG-5": None}
    blocking = {(r["from_key"], r["to_key"]) for r in batch.table_rows("issue_links") if r["is_blocking"]}
    assert blocking == {("EDG-9", "EDG-5")}
    # EDG-7 has the label `arch` in both Labels columns (once with a trailing space): one tag.
    assert [(r["kind"], r["value"]) for r in batch.table_rows("work_item_tags") if r["item_key"] == "EDG-7"] == [
        ("label", "arch")]
    assert _rows(batch, "work_item_tags") == _rows(_by_record(EDGES, berlin), "work_item_tags")


@pytest.mark.parametrize(("cells", "flagged"), [
    (["PAY-1", "b"], False),
    (["PAY-1", None, "b"], False),  # a null cell has nothing to strip
    ([None, None], False),
    (["PAY-1", ""], True),  # an empty cell becomes NULL (DuckDB's reader makes `""` NULL; this does not count on it)
    (["", ""], True),
    (["a ", "b"], True), (["a", " b"], True), (["a\t"], True),
    (["a\u00a0"], True),  # a non-breaking space ends in byte 0xa0
    (["é"], True),  # any non-ASCII first or last character is looked at, whitespace or not
    (["a~", "!b"], False),  # `!` and `~` bound the visible ASCII range
])
def test_cells_that_may_need_stripping(cells: list[str | None], flagged: bool) -> None:
    import pyarrow as pa

    for kind in (pa.string(), pa.large_string()):
        column = pa.chunked_array([pa.array(["x"] + cells, kind).slice(1)])  # a chunk that starts at an offset
        assert jira_csv_columnar._may_need_stripping(column) is flagged
    # A second chunk: a cell to strip there counts as much as in the first.
    two = pa.chunked_array([pa.array(["ok"]), pa.array(cells, pa.string())])
    assert jira_csv_columnar._may_need_stripping(two) is flagged


def test_quoted_empty_cells_are_null_and_make_no_tag(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text('Summary,Issue key,Issue Type,Assignee,Labels,Labels,Created\n'
                    'A,PAY-1,Bug,"",x,"",01/Apr/24 9:00 AM\n'
                    'B,PAY-2,Bug,Al," ",y,02/Apr/24 9:00 AM\n', encoding="utf-8")
    fast = _columnar(path, settings)
    assert fast is not None
    assert {r["id"]: r["assignee"] for r in fast.table_rows("work_items")} == {"PAY-1": None, "PAY-2": "Al"}
    assert sorted((r["item_key"], r["value"]) for r in fast.table_rows("work_item_tags")) == [
        ("PAY-1", "x"), ("PAY-2", "y")]
    for table in ("work_items", "work_item_tags"):
        assert _rows(fast, table) == _rows(_by_record(path, settings), table)


def test_keys_repeated_once_stripped_are_left_to_the_record_reader(settings: Settings, tmp_path: Path) -> None:
    """The fast path counts keys after stripping: `PAY-1` and ` PAY-1` are one key twice, which the record reader
    reports (test_ingest_jira_csv)."""
    path = tmp_path / "repeat.csv"
    path.write_text("Summary,Issue key,Issue Type,Created\nA,PAY-1,Bug,01/Apr/24 9:00 AM\n"
                    "B, PAY-1,Bug,02/Apr/24 9:00 AM\n", encoding="utf-8")
    assert _columnar(path, settings) is None
    path.write_text(path.read_text(encoding="utf-8").replace(" PAY-1", "PAY-2"), encoding="utf-8")
    assert _columnar(path, settings) is not None


def test_work_items_made_in_parts_are_the_same_rows_in_file_order(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """frame_beside makes the work items in parts of whole row groups: with 2-row groups, 9 records in several."""
    monkeypatch.setattr(jira_csv_columnar, "_ROW_GROUP_ROWS", 2)
    fast = _columnar(EDGES, settings)
    assert fast is not None
    assert fast.frames["work_items"].column("id").num_chunks >= 2
    assert [r["id"] for r in fast.table_rows("work_items")] == [f"EDG-{n}" for n in range(1, 10)]
    assert _rows(fast, "work_items") == _rows(_by_record(EDGES, settings), "work_items")


def test_a_record_longer_than_the_read_buffer_is_left_to_the_record_reader(
        settings: Settings, duckdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jira_csv_columnar, "_READ_BUFFER_BYTES", 1 << 20)
    path = tmp_path / "long.csv"
    summary = "x" * (2 << 20)  # 2 MiB in one cell, twice the buffer
    path.write_text("Summary,Issue key,Issue id,Issue Type,Status,Created\n"
                    f"{summary},LNG-1,1,Task,Open,01/Apr/24 9:00 AM\nShort,LNG-2,2,Task,Open,01/Apr/24 9:00 AM\n",
                    encoding="utf-8")
    assert _columnar(path, settings) is None
    engine = store.make_engine(duckdb_url)
    assert ingest_file(engine, path, settings).read == 2
    with engine.connect() as conn:
        wi = store.work_items
        lengths = dict(conn.execute(sa.select(wi.c.id, sa.func.length(wi.c.summary))).all())
    engine.dispose()
    assert lengths == {"LNG-1": 2 << 20, "LNG-2": 5}


def test_declined_file_still_names_its_row(settings: Settings, duckdb_url: str) -> None:
    engine = store.make_engine(duckdb_url)
    with pytest.raises(IngestError) as err:
        ingest_file(engine, FIXTURES / "jira_csv" / "bad_created_date.csv", settings)
    assert err.value.row is not None and "Created" in err.value.reason
    assert store.is_empty(engine)


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in store.DATA_TABLES}


def test_reingest_and_edit_through_frames(engine: sa.Engine, settings: Settings, tmp_path: Path) -> None:
    """The frames' SQL upsert, on DuckDB and PostgreSQL: nothing changes twice, an edit changes only itself."""
    first = ingest_file(engine, EDGES, settings, name="edges.csv")
    # 9 issues + 5 tags + 5 links + 2 incidents + 3 action items
    assert (first.inserted, first.updated) == (24, 0)
    before = _counts(engine)
    again = ingest_file(engine, EDGES, settings, name="edges.csv")
    assert (again.inserted, again.updated) == (0, 0) and _counts(engine) == before
    # EDG-5 loses its Postmortem label (its tag and its action item go) and EDG-9 gets a new summary.
    edited = tmp_path / "edges.csv"
    edited.write_text(EDGES.read_text(encoding="utf-8").replace(",Postmortem,", ",,")
                      .replace("Unblock search", "Unblock search now"), encoding="utf-8", newline="")
    result = ingest_file(engine, edited, settings, name="edges.csv")
    # updated: EDG-9's row, EDG-5's label tag removed. The action item is not removed: a file only adds and
    # replaces action items (as the record reader's batches do), so its count stays.
    assert (result.inserted, result.updated) == (0, 2)
    with engine.connect() as conn:
        wi = store.work_items
        assert conn.execute(sa.select(wi.c.summary).where(wi.c.id == "EDG-9")).scalar_one() == "Unblock search now"
        t = store.work_item_tags
        assert conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.item_key == "EDG-5")).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 4
        assert conn.execute(sa.select(wi.c.source_file).where(wi.c.id == "EDG-1")).scalar_one() == "edges.csv"


def test_duckdb_keeps_issue_and_tag_ids_unique_without_an_index(settings: Settings, duckdb_url: str) -> None:
    """On DuckDB the data tables have no primary key or index (store.DATA_TABLES says why): the upserts alone keep
    the issues' and tags' ids unique, through a re-ingest and an edit."""
    engine = store.make_engine(duckdb_url)
    ingest_file(engine, EDGES, settings)
    ingest_file(engine, EDGES, settings)
    edited = EDGES.read_text(encoding="utf-8").replace("Unblock search", "Unblock search now")
    path = Path(duckdb_url.removeprefix("duckdb:///")).with_name("edges.csv")
    path.write_text(edited, encoding="utf-8", newline="")
    ingest_file(engine, path, settings, name=str(EDGES))
    with engine.connect() as conn:
        keyed = conn.execute(sa.text("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = "
                                     "'PRIMARY KEY' UNION SELECT table_name FROM duckdb_indexes()")).scalars().all()
        assert not {t.name for t in store.DATA_TABLES} & set(keyed)
        for table in (store.work_items, store.work_item_tags):
            rows, ids = conn.execute(sa.select(sa.func.count(), sa.func.count(table.c.id.distinct()))).one()
            assert rows == ids == {"work_items": 9, "work_item_tags": 5}[table.name]
    engine.dispose()

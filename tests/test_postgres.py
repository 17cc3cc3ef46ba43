"""PostgreSQL as the shared store: the CLI ingests into it (bulk rows through COPY), re-ingests change nothing,
a bad file leaves it unchanged, and the DORA numbers equal those of a DuckDB file built from the same files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import psycopg2.errors
import pytest
import sqlalchemy as sa

from bench.generate import write_deployments
from delivery_health import pg_copy, store

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).resolve().parent / "fixtures"
DORA = FIX / "dora"
# Awkward text for COPY's text format: tab, backslash, newline, a literal \N, an empty string, quotes.
AWKWARD = ["tab\there", "back\\slash", "two\nlines", "\\N", "", 'say "hi"', "crlf\r\nend", "ünïcödé"]


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "delivery_health", *args], cwd=ROOT, capture_output=True,
                          text=True, check=check)


def _incidents_csv(path: Path) -> Path:
    """250 incidents (over the 200 rows that take the bulk path), each title one of the awkward strings."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["incident_id", "service", "severity", "started_at", "resolved_at", "deployment_ref", "title"])
        for n in range(250):
            w.writerow([f"X-{n}", "payments-api", "SEV3", f"2024-01-{n % 28 + 1:02d}T0{n % 10}:00:00Z",
                        "" if n % 7 == 0 else f"2024-01-{n % 28 + 1:02d}T1{n % 10}:30:00Z", "", AWKWARD[n % len(AWKWARD)]])
    return path


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    """Real-shaped exports: a Jira Cloud CSV (multi-line cells, links, tags), a Jira search JSON page, GitHub runs,
    300 generated deployments (bulk path), the DORA fixture's deployments, commits and incidents, awkward incidents."""
    deployments = write_deployments(np.random.default_rng(3), 300, __import__("datetime").datetime(2024, 2, 1),
                                    tmp_path / "deployments-generated.csv")
    return [FIX / "jira_csv" / "cloud_2025_all_fields.csv", FIX / "jira_json" / "search_v3_cloud.json",
            FIX / "ci_cd" / "runs_page.json", deployments, DORA / "deployments.csv", DORA / "commits.csv",
            DORA / "incidents.csv", _incidents_csv(tmp_path / "incidents-awkward.csv")]


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every data row of the store, by table, in id order (ingest runs excluded: each ingest adds one)."""
    engine = store.make_engine(url)
    with engine.connect() as conn:
        out = {t.name: [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]
               for t in (*store.DATA_TABLES, store.skipped_rows)}
    engine.dispose()
    out["skipped_rows"] = [r[2:] for r in out["skipped_rows"]]  # id and run id are new on every run
    return out


def _rounded(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_cli_ingest_into_postgres_copies_every_row_and_reingest_changes_nothing(pg_url: str, files: list[Path]):
    first = _cli("ingest", *map(str, files), "--db", pg_url, "--squads", str(DORA / "squads.csv"))
    assert "rejected" in first.stdout
    loaded = _snapshot(pg_url)
    assert len(loaded["deployments"]) >= 300 + 8  # the generated ones through COPY, the fixture's row by row
    titles = {r[0]: r[3] for r in loaded["incidents"]}
    # COPY kept every awkward title byte for byte (the loader reads an empty cell as no title: NULL).
    assert [titles[f"X-{n}"] for n in range(len(AWKWARD))] == [s or None for s in AWKWARD]
    resolved = {r[0]: r[6] for r in loaded["incidents"]}
    assert resolved["X-7"] is None and resolved["X-8"] is not None  # every 7th incident is open: NULL kept

    again = _cli("ingest", *map(str, files), "--db", pg_url, "--squads", str(DORA / "squads.csv"))
    for line in again.stdout.strip().splitlines():
        assert "inserted 0, updated 0" in line, line
    assert _snapshot(pg_url) == loaded


def test_bad_file_leaves_postgres_unchanged(pg_url: str, files: list[Path]):
    _cli("ingest", *map(str, files), "--db", pg_url)
    before = _snapshot(pg_url)
    bad = _cli("ingest", str(FIX / "jira_csv" / "bad_created_date.csv"), "--db", pg_url, check=False)
    assert bad.returncode != 0 and "bad_created_date.csv" in (bad.stdout + bad.stderr)
    assert _snapshot(pg_url) == before


def test_a_refused_copy_rolls_back_the_whole_file(pg_url: str):
    # 300 new budget lines go through COPY; a second COPY in the same transaction repeats an id, PostgreSQL
    # refuses it, and the transaction (one file) must leave nothing behind: not even the first 300 rows.
    engine = store.make_engine(pg_url)
    store.init_db(engine)
    rows = [{"id": f"s{i}", "scope": f"s{i}", "category": "cloud", "month": date(2026, 1, 1), "amount": float(i),
             "currency": "EUR"} for i in range(300)]
    with pytest.raises(psycopg2.errors.UniqueViolation):
        with engine.begin() as conn:
            store.bulk_insert(conn, store.budget_lines, rows)
            store.bulk_insert(conn, store.budget_lines, rows[:250])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.budget_lines)).scalar_one() == 0
    engine.dispose()


def test_copy_round_trips_awkward_text_and_nulls(pg_url: str):
    # Through COPY (300 rows) an empty string stays an empty string, None stays NULL, escapes come back intact.
    engine = store.make_engine(pg_url)
    store.init_db(engine)
    rows = [{"id": f"r{i}", "scope": AWKWARD[i % len(AWKWARD)], "category": None if i % 3 == 0 else "cloud",
             "date": date(2026, 1 + i % 12, 1), "amount": i / 4, "currency": "EUR"} for i in range(300)]
    with engine.begin() as conn:
        assert store.upsert(conn, store.spend_lines, rows) == (300, 0)
    with engine.begin() as conn:
        assert store.upsert(conn, store.spend_lines, rows) == (0, 0)  # identical: nothing rewritten
    with engine.connect() as conn:
        got = {r.id: (r.scope, r.category, r.date, r.amount) for r in conn.execute(sa.select(store.spend_lines))}
    engine.dispose()
    assert got == {r["id"]: (r["scope"], r["category"], r["date"], r["amount"]) for r in rows}


def test_dora_json_is_the_same_on_postgres_and_duckdb(pg_url: str, tmp_path: Path, files: list[Path]):
    duck = f"duckdb:///{tmp_path / 'same.duckdb'}"
    answers = []
    for url in (pg_url, duck):
        _cli("ingest", *map(str, files), "--db", url, "--squads", str(DORA / "squads.csv"))
        out = _cli("metrics", "dora", "--db", url, "--squads", str(DORA / "squads.csv"), "--start", "2024-01-01",
                   "--end", "2024-01-28", "--as-of", "2024-02-01", "--by", "month", "--format", "json")
        answers.append(json.loads(out.stdout))
    on_pg, on_duck = answers
    # Interpolated percentiles may differ in the last bit between engines (31.200000000000003 vs 31.2).
    assert _rounded(on_pg) == _rounded(on_duck)
    total = next(r for r in on_pg["rows"] if r["squad"] is None)
    # The DORA fixture's production deployments in January 1-28 (see tests/test_metrics_dora.py): P1, P5, P6,
    # P7, S1, S2, S3, L1 = 8; plus the generated file's successful production rows finished in those days.
    with files[3].open(newline="") as fh:
        generated = sum(1 for r in csv.DictReader(fh) if r["environment"] == "production"
                        and r["status"] == "success" and "2024-01-01" <= r["finished_at"][:10] <= "2024-01-28")
    assert total["deployments"] == 8 + generated


def test_app_connections_run_without_jit(pg_url: str):
    # JIT compilation cost ~1 s per analytical query at 1M issues (the benchmark): the engine turns it off.
    engine = store.make_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW jit")).scalar_one() == "off"
    engine.dispose()


def test_bulk_writes_vacuum_and_refresh_planner_statistics(pg_url: str, tmp_path: Path):
    # VACUUM (ANALYZE) after a file's rows are in, and after the refresh that follows: the planner knows each
    # table's size (reltuples) instead of the -1 ("never analyzed") a table keeps until autovacuum gets to it,
    # and every page is marked all-visible (relallvisible), which only a vacuum does: autovacuum has nothing
    # left to do while the pages are viewed.
    deployments = write_deployments(np.random.default_rng(5), 1500, __import__("datetime").datetime(2024, 2, 1),
                                    tmp_path / "deployments-1500.csv")
    _cli("ingest", str(deployments), "--db", pg_url, "--squads", str(DORA / "squads.csv"))
    engine = store.make_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(store.deployments)).scalar_one()
        stats = {name: (tuples, visible, pages) for name, tuples, visible, pages in conn.execute(sa.text(
            "SELECT relname, reltuples, relallvisible, relpages FROM pg_class "
            "WHERE relname IN ('deployments', 'dora_runs')"))}
        runs = conn.execute(sa.select(sa.func.count()).select_from(store.dora_runs)).scalar_one()
    engine.dispose()
    assert rows >= store.ANALYZE_AFTER_ROWS and stats["deployments"][0] == rows
    assert stats["dora_runs"][0] == runs > 0  # the production-environment runs the refresh wrote
    for name, (_, visible, pages) in stats.items():
        assert visible == pages > 0, name


def test_frames_round_trip_awkward_text_through_binary_copy(pg_url: str, monkeypatch: pytest.MonkeyPatch):
    # The columnar path stages an Arrow table through a binary COPY: an empty string stays an empty string,
    # None stays NULL, quotes, tabs and line breaks come back intact; the same frame again changes nothing.
    # The rows are made in batches as COPY reads them: here of 7 rows, so 300 rows in 43 batches.
    import pyarrow as pa

    monkeypatch.setattr(pg_copy.BinaryRows, "BATCH_ROWS", 7)
    engine = store.make_engine(pg_url)
    store.init_db(engine)
    rows = [{"id": f"r{i}", "date": date(2026, 1 + i % 12, 1), "scope": AWKWARD[i % len(AWKWARD)],
             "category": None if i % 3 == 0 else "cloud", "vendor": None, "amount": i / 4, "currency": "EUR",
             "reference": None, "source": "test", "source_file": "frame"} for i in range(300)]
    frame = pa.Table.from_pylist(rows, schema=pa.schema([
        ("id", pa.string()), ("date", pa.date32()), ("scope", pa.string()), ("category", pa.string()),
        ("vendor", pa.string()), ("amount", pa.float64()), ("currency", pa.string()), ("reference", pa.string()),
        ("source", pa.string()), ("source_file", pa.string())]))
    with engine.begin() as conn:
        assert store.upsert_frame(conn, store.spend_lines, frame) == (300, 0)
    with engine.begin() as conn:
        assert store.upsert_frame(conn, store.spend_lines, frame) == (0, 0)
    with engine.connect() as conn:
        got = {r.id: (r.scope, r.category, r.date, r.amount) for r in conn.execute(sa.select(store.spend_lines))}
    engine.dispose()
    assert got == {r["id"]: (r["scope"], r["category"], r["date"], r["amount"]) for r in rows}


def test_binary_copy_writes_times_days_numbers_flags_and_nulls(pg_url: str):
    """Every Arrow type the frames hold, through the binary COPY: timestamps before and after PostgreSQL's epoch
    (2000-01-01) to the microsecond, days, doubles (NaN too), booleans, and NULL of each."""
    from datetime import datetime

    import pyarrow as pa

    engine = store.make_engine(pg_url)
    store.init_db(engine)
    times = [datetime(1999, 12, 31, 23, 59, 59, 500_000), datetime(2024, 3, 31, 1, 30, 0, 1), None]
    days = [date(1970, 1, 1), date(2031, 7, 4), None]
    points = [float("nan"), 2.5, None]

    def frame(table: sa.Table, **given: pa.Array) -> pa.Table:  # the table's written columns, NULL where not given
        rows = len(next(iter(given.values())))
        kinds = {"DATETIME": pa.timestamp("us"), "DATE": pa.date32(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
        return pa.table({c.name: given.get(c.name, pa.nulls(rows, kinds.get(str(c.type), pa.string())))
                         for c in store.written_columns(table)})

    items = frame(store.work_items, id=pa.array(["A-1", "A-2", "A-3"]), created_at=pa.array(times, pa.timestamp("us")),
                  due_date=pa.array(days, pa.date32()), story_points=pa.array(points, pa.float64()),
                  summary=pa.array(["ünï", "", None]))
    links = frame(store.issue_links, id=pa.array(["a", "b"]), from_key=pa.array(["A-1", "A-2"]),
                  to_key=pa.array(["A-2", "A-3"]), link_type=pa.array(["x", "y"]), is_blocking=pa.array([True, False]))
    with engine.begin() as conn:
        assert store.upsert_frame(conn, store.work_items, items) == (3, 0)
        assert store.upsert_frame(conn, store.issue_links, links) == (2, 0)
    with engine.connect() as conn:
        wi, il = store.work_items, store.issue_links
        got = conn.execute(sa.select(wi.c.created_at, wi.c.due_date, wi.c.story_points, wi.c.summary)
                           .order_by(wi.c.id)).all()
        flags = conn.execute(sa.select(il.c.id, il.c.is_blocking).order_by(il.c.id)).all()
    engine.dispose()
    assert [(r[0], r[1], r[3]) for r in got] == list(zip(times, days, ["ünï", "", None]))
    assert np.isnan(got[0][2]) and got[1][2] == 2.5 and got[2][2] is None
    assert flags == [("a", True), ("b", False)]


def test_a_first_bulk_load_builds_its_indexes_after(pg_url: str, monkeypatch: pytest.MonkeyPatch):
    # Many rows into an empty table: its indexes are dropped and built again after the rows (here from 1 row on),
    # through both write paths: tags as an Arrow frame (Jira CSV), deployments as rows (deployments CSV).
    from delivery_health.ingest import ingest_file
    from delivery_health.settings import Settings

    monkeypatch.setattr(store, "REBUILD_INDEXES_FROM_ROWS", 1)
    engine = store.make_engine(pg_url)
    settings = Settings(db_url=pg_url)
    ingest_file(engine, FIX / "jira_csv" / "columnar_edges.csv", settings)
    ingest_file(engine, DORA / "deployments.csv", settings)
    with engine.connect() as conn:
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars())
        tags = conn.execute(sa.select(sa.func.count()).select_from(store.work_item_tags)).scalar_one()
        wi = store.work_items
        sources = conn.execute(sa.select(wi.c.source, wi.c.source_file).distinct()).all()
    engine.dispose()
    # The straight COPY writes the provenance of every row.
    assert sources == [("jira-csv", str(FIX / "jira_csv" / "columnar_edges.csv"))]
    assert {"ux_work_items_id", "ix_work_item_tags_item_key", "ix_deployments_service"} <= indexes
    assert "ux_work_item_tags_id" not in indexes  # a computed id is not indexed (store.COMPUTED_IDS)
    assert tags == 5  # EDG-1's two components, EDG-2's one, EDG-5's label, EDG-7's label


def test_concurrent_reads_keep_order_and_do_not_nest(pg_url: str, tmp_path: Path):
    # store.concurrently: results in the calls' order; on PostgreSQL at most CONCURRENT_READS run at once even
    # when each of them fans out again (a metric that reads at once, called inside another's concurrent read); on
    # DuckDB one at a time.
    import threading
    import time

    def peak_of(engine) -> tuple[list[int], int]:
        running, peak, lock = [0], [0], threading.Lock()

        def leaf(n: int) -> int:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1
            return n

        def branch(n: int) -> int:
            return sum(store.concurrently(engine, *(lambda m=m: leaf(m) for m in range(4)))) + n

        return store.concurrently(engine, *(lambda n=n: branch(100 * n) for n in range(4))), peak[0]

    pg = store.make_engine(pg_url)
    results, peak = peak_of(pg)
    assert results == [6, 106, 206, 306]  # 0+1+2+3 below each branch
    assert 1 < peak <= store.CONCURRENT_READS
    duck = store.make_engine(f"duckdb:///{tmp_path / 'seq.duckdb'}")
    assert peak_of(duck) == ([6, 106, 206, 306], 1)
    pg.dispose()
    duck.dispose()


def test_tag_ids_stay_unique_and_are_found_through_the_item_key_index(pg_url: str):
    """The tags' computed id has no index on PostgreSQL (store.COMPUTED_IDS): the upserts keep it unique through
    both write paths, and the lookups of tags by id (rows) and by their columns (frames) can use the item_key index."""
    from delivery_health.ingest import ingest_file
    from delivery_health.settings import Settings

    engine = store.make_engine(pg_url)
    edges = FIX / "jira_csv" / "columnar_edges.csv"
    for _ in range(2):  # Arrow frames, the second time through the staged upsert
        ingest_file(engine, edges, Settings(db_url=pg_url))
    tags = store.work_item_tags
    rows = [{"id": "EDG-7|label|arch", "item_key": "EDG-7", "kind": "label", "value": "arch"},  # stored already
            {"id": "EDG-7|label|new", "item_key": "EDG-7", "kind": "label", "value": "new"}]
    with engine.begin() as conn:
        assert store.upsert(conn, tags, rows) == (1, 0)
        assert store.upsert(conn, tags, rows) == (0, 0)
        # EDG-7 now carries only "new": its "arch" goes.
        assert store.delete_missing(conn, tags, "item_key", ["EDG-7"], {"EDG-7|label|new"}) == 1
    with engine.connect() as conn:
        count, distinct = conn.execute(sa.select(sa.func.count(), sa.func.count(tags.c.id.distinct()))).one()
        edg7 = conn.execute(sa.select(tags.c.id).where(tags.c.item_key == "EDG-7")).scalars().all()
        conn.execute(sa.text("CREATE TEMPORARY TABLE stage (item_key TEXT, kind TEXT, value TEXT)"))
        conn.execute(sa.text("SET enable_seqscan = off"))  # a scan only where no index can serve
        stage = sa.table("stage", sa.column("item_key"), sa.column("kind"), sa.column("value"))
        plans = []
        for query in (sa.select(tags.c.id).where(store._with_ids(tags, ["EDG-7|label|new"])),
                      sa.select(tags.c.id).where(sa.exists().where(store.same_row(tags, stage)))):
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plans.append("\n".join(conn.execute(sa.text("EXPLAIN " + sql)).scalars()))
    engine.dispose()
    assert count == distinct == 5  # the edge fixture's 5 tags, EDG-7's label `arch` now `new`
    assert edg7 == ["EDG-7|label|new"]
    for plan in plans:
        assert "ix_work_item_tags_item_key" in plan, plan

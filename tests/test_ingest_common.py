"""Format sniffing, rejection messages and the `ingest` CLI, across every loader.

Also holds the small helpers the other ingest test modules import (`ingest`,
`table_counts`, `rows_by_id`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest import IngestResult, ingest_file
from delivery_health.ingest.base import RejectedFile
from delivery_health.ingest.detect import detect_format
from delivery_health.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def ingest(engine: Engine, path: Path, settings: Settings | None = None, fmt: str | None = None) -> IngestResult:
    """Ingest one file through the real pipeline (sniffing unless ``fmt``, loader, one transaction)."""
    return ingest_file(engine, path, settings or Settings(), fmt=fmt)


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table: equal before and after proves a rejected file wrote nothing."""
    store.init_db(engine)
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (*store.DATA_TABLES, store.ingest_runs, store.skipped_rows)}


def rows_by_id(engine: Engine, table: sa.Table) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(sa.select(table)).mappings()}


@pytest.fixture
def duck(duckdb_url: str) -> Engine:
    eng = store.make_engine(duckdb_url)
    store.init_db(eng)
    yield eng
    eng.dispose()


# One fixture per format: sniffing must name each one from the content alone.
SNIFF_CASES = {
    "generic/deployments.csv": "deployments-csv",
    "generic/commits.csv": "commits-csv",
    "generic/incidents.csv": "incidents-csv",
    "generic/action_items.csv": "action-items-csv",
    "generic/releases.csv": "releases-csv",
    "generic/budget.csv": "budget-csv",
    "generic/spend.csv": "spend-csv",
    "generic/sows.csv": "sows-csv",
    "ci_cd/runs_page.json": "github-actions-runs",
    "ci_cd/runs_pages_list.json": "github-actions-runs",
    "ci_cd/runs_bare_list.json": "github-actions-runs",
    "ci_cd/runs_older_fields.json": "github-actions-runs",
    "incidents/pagerduty_rest.json": "pagerduty-incidents",
    "incidents/pagerduty_pandas.csv": "pagerduty-incidents",
}


@pytest.mark.parametrize("name,fmt", SNIFF_CASES.items())
def test_detect_format_names_each_fixture(name: str, fmt: str) -> None:
    assert detect_format(FIXTURES / name) == fmt


@pytest.mark.parametrize("name,text,fmt", [
    # The Jira formats belong to their own loaders' tests; here only their sniffing, on minimal headers/shapes.
    ("jira.csv", "\ufeffSummary,Issue key,Issue id,Issue Type,Labels,Labels\nFix it,PAY-1,10001,Bug,a,b\n", "jira-csv"),
    ("search.json", '{"startAt": 0, "total": 1, "issues": [{"key": "PAY-1", "fields": {}}]}', "jira-json"),
])
def test_detect_format_names_jira_exports(name: str, text: str, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert detect_format(path) == fmt


def test_detect_format_from_the_first_line_only_when_that_is_enough(tmp_path: Path) -> None:
    # A header longer than the bytes first read (64 KiB here: 8,000 extra columns) is read whole.
    wide = tmp_path / "wide.csv"
    extra = ",".join(f"Custom field (f{i})" for i in range(8000))
    wide.write_text(f"Summary,Issue key,Issue Type,{extra}\nFix it,PAY-1,Bug{',' * 8000}\n", encoding="utf-8")
    assert len(wide.read_bytes().split(b"\n")[0]) > 1 << 16 and detect_format(wide) == "jira-csv"
    # A header of Windows-1252 text before the known columns; an invalid UTF-8 byte after the first line.
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Résumé,Summary,Issue key,Issue Type\nx,Fix it,PAY-1,Bug\n".encode("cp1252") + b"\x96\n")
    assert detect_format(latin) == "jira-csv"
    # A blank first line is the header, as it always was: not recognised.
    blank = tmp_path / "blank.csv"
    blank.write_text("\nSummary,Issue key,Issue Type\nFix it,PAY-1,Bug\n", encoding="utf-8")
    with pytest.raises(RejectedFile) as exc:
        detect_format(blank)
    assert "CSV header not recognised" in exc.value.reason


def test_every_fixture_loads_through_the_detected_loader(duck: Engine) -> None:
    # Each fixture is accepted whole and reads at least one record.
    for name in SNIFF_CASES:
        result = ingest(duck, FIXTURES / name)
        assert result.read >= 1, name


def test_a_cell_longer_than_the_csv_reader_takes_rejects_the_file_naming_its_record(
        duck: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from delivery_health.ingest import IngestError, parsing

    monkeypatch.setattr(parsing, "MAX_CELL_CHARS", 1000)
    before = table_counts(duck)
    # Windows-1252 (é), so the record-by-record reader reads it; its third record has a 1,001-character summary.
    bad = tmp_path / "long.csv"
    bad.write_bytes(("Summary,Issue key,Issue Type,Created\nCafé,PAY-1,Bug,01/Apr/24 9:00 AM\n"
                     f"{'x' * 1001},PAY-2,Bug,01/Apr/24 9:00 AM\n").encode("cp1252"))
    with pytest.raises(IngestError) as exc:
        ingest(duck, bad)
    assert exc.value.row == 3 and "CSV reader cannot read" in exc.value.reason and "field larger" in exc.value.reason
    assert table_counts(duck) == before
    # The same with the cell at the limit is read.
    bad.write_bytes(bad.read_bytes().replace(b"x" * 1001, b"x" * 1000))
    assert ingest(duck, bad).read == 2


def test_unknown_csv_header_is_rejected_naming_the_header(tmp_path: Path) -> None:
    bad = tmp_path / "mystery.csv"
    bad.write_text("colour,shape\nred,round\n")
    with pytest.raises(RejectedFile) as exc:
        detect_format(bad)
    assert exc.value.row == 1
    assert "CSV header not recognised" in exc.value.reason and "colour, shape" in exc.value.reason


def test_unrecognised_json_is_rejected_with_what_was_expected(tmp_path: Path) -> None:
    bad = tmp_path / "mystery.json"
    bad.write_text('{"pipelines": []}')
    with pytest.raises(RejectedFile) as exc:
        detect_format(bad)
    assert "JSON of a kind not recognised" in exc.value.reason
    assert "GitHub workflow runs" in exc.value.reason and "PagerDuty" in exc.value.reason


def test_cli_ingest_reports_the_bad_file_and_loads_the_good_one(tmp_path: Path) -> None:
    good = FIXTURES / "generic" / "releases.csv"
    bad = tmp_path / "bad_incidents.csv"
    # Record 3 (header = 1) has a start time that is no date.
    bad.write_text("incident_id,service,severity,started_at,resolved_at,deployment_ref,title\n"
                   "INC-1,pay,SEV2,2024-03-01T10:00:00Z,,,ok\n"
                   "INC-2,pay,SEV2,yesterday,,,bad\n")
    db = tmp_path / "cli.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "delivery_health", "ingest", str(good), str(bad), "--db", f"duckdb:///{db}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert str(bad) in proc.stderr and "row 3" in proc.stderr and "'yesterday'" in proc.stderr
    # releases.csv has 2 records, both new.
    assert f"{good}: releases-csv: read 2, inserted 2, updated 0, rejected 0" in proc.stdout
    assert str(bad) not in proc.stdout
    # Only the good file's rows and run were written.
    counts = table_counts(store.make_engine(f"duckdb:///{db}"))
    assert (counts["releases"], counts["incidents"], counts["ingest_runs"]) == (2, 0, 1)

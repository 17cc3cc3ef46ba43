"""PagerDuty incidents, REST JSON pages and the pandas-flattened CSV."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest import IngestError
from test_ingest_common import FIXTURES, duck, ingest, rows_by_id, table_counts  # noqa: F401 (duck is a fixture)

INC = FIXTURES / "incidents"
SAMPLE = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "incidents" / "pagerduty_incidents_rest_flattened_by_pandas.csv"


def test_rest_json_pages(duck: Engine) -> None:
    result = ingest(duck, INC / "pagerduty_rest.json")
    # Two pages of 2 incidents; Q1DDD was merged into Q1AAA, so 3 are loaded and 1 is skipped with the reason.
    assert (result.format, result.read, result.inserted, result.rejected) == ("pagerduty-incidents", 4, 3, 1)
    skipped = [(r["row_ref"], r["reason"]) for r in rows_by_id(duck, store.skipped_rows).values()]
    assert skipped == [("Q1DDD", "merged into incident Q1AAA")]
    inc = rows_by_id(duck, store.incidents)
    # Q1AAA: a newer payload with priority and resolved_at.
    assert (inc["Q1AAA"]["service"], inc["Q1AAA"]["severity"], inc["Q1AAA"]["title"], inc["Q1AAA"]["status"]) == (
        "Payments API", "P1", "Refunds failing", "resolved")
    assert (inc["Q1AAA"]["started_at"], inc["Q1AAA"]["resolved_at"]) == (datetime(2024, 3, 5, 8), datetime(2024, 3, 5, 9, 30))
    # Q1BBB: resolved, but no resolved_at key: its last status change (11:45) is the resolution;
    # no priority, so the urgency is the severity.
    assert (inc["Q1BBB"]["resolved_at"], inc["Q1BBB"]["severity"]) == (datetime(2024, 3, 6, 11, 45), "low")
    # Q1CCC: acknowledged, so its last status change is not a resolution.
    assert (inc["Q1CCC"]["status"], inc["Q1CCC"]["resolved_at"], inc["Q1CCC"]["severity"]) == ("acknowledged", None, "P3")


def test_pandas_flattened_csv(duck: Engine) -> None:
    result = ingest(duck, INC / "pagerduty_pandas.csv")
    assert (result.read, result.inserted, result.rejected) == (3, 3, 0)
    inc = rows_by_id(duck, store.incidents)
    # The service cell is a Python repr of {'id': ..., 'summary': 'Checkout', ...}.
    assert (inc["P0AAA1"]["service"], inc["P0AAA1"]["title"], inc["P0AAA1"]["severity"]) == ("Checkout", "Checkout errors", "high")
    # Older shape, no resolved_at column: resolved -> last_status_change_at (09:40); triggered/acknowledged -> open.
    assert inc["P0AAA1"]["resolved_at"] == datetime(2024, 2, 1, 9, 40)
    assert (inc["P0AAA2"]["resolved_at"], inc["P0AAA3"]["resolved_at"]) == (None, None)
    assert inc["P0AAA2"]["started_at"] == datetime(2024, 2, 2, 22, 10)


def test_dotted_columns_of_json_normalize(duck: Engine, tmp_path: Path) -> None:
    path = tmp_path / "pd.csv"
    path.write_text("id,incident_number,title,created_at,status,service,service.summary,priority.summary,urgency,last_status_change_at\n"
                    "PX1,7,Disk full,2024-01-05T10:00:00Z,resolved,,Ledger,P2,high,2024-01-05T12:00:00Z\n")
    ingest(duck, path)
    inc = rows_by_id(duck, store.incidents)["PX1"]
    # service.summary and priority.summary are nested back: service Ledger, severity P2 (not the urgency).
    assert (inc["service"], inc["severity"], inc["resolved_at"]) == ("Ledger", "P2", datetime(2024, 1, 5, 12))


def test_reingest_is_a_no_op_and_a_resolution_is_one_update(duck: Engine, tmp_path: Path) -> None:
    ingest(duck, INC / "pagerduty_pandas.csv")
    again = ingest(duck, INC / "pagerduty_pandas.csv")
    assert (again.inserted, again.updated) == (0, 0)
    # Later export: P0AAA3 (acknowledged at 06:20) was resolved at 07:00.
    text = (INC / "pagerduty_pandas.csv").read_text()
    before = "2024-02-03T06:00:00Z,acknowledged,key0003"
    assert before in text
    later = tmp_path / "pagerduty_pandas.csv"
    later.write_text(text.replace(before, "2024-02-03T06:00:00Z,resolved,key0003").replace("2024-02-03T06:20:00Z", "2024-02-03T07:00:00Z"))
    result = ingest(duck, later)
    assert (result.inserted, result.updated) == (0, 1)
    assert rows_by_id(duck, store.incidents)["P0AAA3"]["resolved_at"] == datetime(2024, 2, 3, 7)


SVC = ("'summary': 'Checkout', 'self': 'https://api.pagerduty.com/services/PSVC002', "
       "'html_url': 'https://acme.pagerduty.example/services/PSVC002'}")


@pytest.mark.parametrize("original,replacement,row,reason", [
    # Record 3 of the CSV (header = 1) gets a creation time that is no timestamp.
    ("2024-02-02T22:10:00Z,triggered", "soon,triggered", 3, "created_at: 'soon' is not a timestamp (ISO 8601)"),
    # Record 2's service cell loses its closing brace: no longer a Python literal.
    (SVC, "'summary': 'Checkout'", 2, "service: \"{'id': 'PSVC002'"),
])
def test_a_bad_csv_record_rejects_the_file(original: str, replacement: str, row: int, reason: str,
                                           duck: Engine, tmp_path: Path) -> None:
    ingest(duck, INC / "pagerduty_rest.json")
    before = table_counts(duck)
    text = (INC / "pagerduty_pandas.csv").read_text()
    assert original in text
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace(original, replacement, 1))
    with pytest.raises(IngestError) as exc:
        ingest(duck, bad)
    assert exc.value.row == row and exc.value.reason.startswith(reason), exc.value
    assert table_counts(duck) == before


def test_a_json_incident_without_id_is_named_by_its_place(duck: Engine, tmp_path: Path) -> None:
    text = (INC / "pagerduty_rest.json").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(text.replace('"id": "Q1CCC"', '"id": null'))
    before = table_counts(duck)
    with pytest.raises(IngestError) as exc:
        ingest(duck, bad)
    # Q1CCC is the first incident of the second page.
    assert (exc.value.row, exc.value.reason) == ("[1].incidents[0]", "an incident needs its id")
    assert table_counts(duck) == before


def test_real_pandas_sample_loads(duck: Engine) -> None:
    if not SAMPLE.exists():
        pytest.skip(f"the real export sample is not on this machine (looked for {SAMPLE})")
    result = ingest(duck, SAMPLE)
    # 3 incidents, none resolved (2 triggered, 1 acknowledged), all on the one service of that account.
    assert (result.format, result.read, result.inserted, result.rejected) == ("pagerduty-incidents", 3, 3, 0)
    inc = rows_by_id(duck, store.incidents)
    assert {i["resolved_at"] for i in inc.values()} == {None}
    assert {i["service"] for i in inc.values()} == {"User Database"}
    assert sorted(i["severity"] for i in inc.values()) == ["high", "high", "low"]

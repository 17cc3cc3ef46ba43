"""The generic CSV loaders, on the hand-made files in tests/fixtures/generic."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest import IngestError
from delivery_health.settings import Settings
from test_ingest_common import FIXTURES, duck, ingest, rows_by_id, table_counts  # noqa: F401 (duck is a fixture)

GENERIC = FIXTURES / "generic"


def test_deployments_csv(duck: Engine) -> None:
    result = ingest(duck, GENERIC / "deployments.csv")
    assert (result.format, result.read, result.rejected) == ("deployments-csv", 5, 0)
    deps = rows_by_id(duck, store.deployments)
    assert len(deps) == 5
    # Row 2: `acme/payments-api` becomes service payments-api (repository kept), environment lower-cased,
    # started_at as naive UTC in the id; ref main does not match hotfix|rollback|revert.
    d = deps["csv:payments-api|production|2024-03-04T10:00:00"]
    assert (d["service"], d["repository"], d["outcome"], d["is_rework"]) == ("payments-api", "acme/payments-api", "success", False)
    assert (d["commit_sha"], d["commit_time"], d["ref"]) == ("aaa111", datetime(2024, 3, 4, 8), "main")
    assert (d["source"], d["source_file"]) == ("deployments-csv", "deployments.csv")
    # Row 3: 09:00+02:00 is 07:00 UTC; "Failed" kept raw, outcome failure; the hotfix/ branch is rework.
    d = deps["csv:payments-api|prod|2024-03-05T07:00:00"]
    assert (d["status"], d["outcome"], d["is_rework"]) == ("Failed", "failure", True)
    # Row 4: no offset means UTC; in_progress is running, no finish time yet.
    d = deps["csv:checkout|production|2024-03-06T12:00:00"]
    assert (d["outcome"], d["finished_at"]) == ("running", None)
    # Row 5: aborted -> cancelled; the explicit is_rework=true wins although release/1.2 matches no pattern.
    d = deps["csv:checkout|staging|2024-03-06T13:00:00"]
    assert (d["outcome"], d["is_rework"]) == ("cancelled", True)
    # Row 6: an unknown word is "other"; the explicit false wins over the `revert` in the ref.
    d = deps["csv:checkout|production|2024-03-07T12:00:00"]
    assert (d["status"], d["outcome"], d["is_rework"]) == ("deployed", "other", False)
    # One services row per service; payments-api remembers its repository path.
    assert {k: v["repository"] for k, v in rows_by_id(duck, store.services).items()} == {
        "payments-api": "acme/payments-api", "checkout": None}


def test_rework_pattern_comes_from_settings(duck: Engine) -> None:
    # With the pattern `^release/` only row 5's ref matches, but row 5 is explicitly true anyway and
    # row 6 explicitly false; row 3's hotfix branch no longer counts: no pattern-derived rework is left.
    ingest(duck, GENERIC / "deployments.csv", Settings(rework_pattern="^release/"))
    flags = {k: v["is_rework"] for k, v in rows_by_id(duck, store.deployments).items()}
    assert sorted(flags.values()) == [False, False, False, False, True]


def test_commits_csv_normalises_the_repository_to_the_service(duck: Engine) -> None:
    ingest(duck, GENERIC / "commits.csv")
    commits = rows_by_id(duck, store.commits)
    # Both `acme/payments-api` and `payments-api` are the one service; -05:00 moves 17:30 to 22:30 UTC;
    # the quoted multi-line message (CRLF file) survives whole.
    assert {c["service"] for c in commits.values()} == {"payments-api"}
    assert commits["9f9f9f"]["committed_at"] == datetime(2024, 3, 3, 22, 30)
    assert commits["aaa111"]["message"].startswith("Add refund endpoint") and "multi-line body" in commits["aaa111"]["message"]


def test_incidents_csv(duck: Engine) -> None:
    ingest(duck, GENERIC / "incidents.csv")  # its columns are in another order than DESIGN.md lists them
    inc = rows_by_id(duck, store.incidents)
    assert (inc["INC-1"]["status"], inc["INC-1"]["resolved_at"], inc["INC-1"]["deployment_ref"]) == (
        "resolved", datetime(2024, 3, 5, 9, 30), "bbb222")
    # No resolved_at: open. `Checkout` is normalised like a deployment's service.
    assert (inc["INC-2"]["status"], inc["INC-2"]["resolved_at"], inc["INC-2"]["service"]) == ("open", None, "checkout")


def test_action_items_csv_with_optional_owner(duck: Engine) -> None:
    ingest(duck, GENERIC / "action_items.csv")
    items = rows_by_id(duck, store.action_items)
    assert (items["AI-1"]["owner"], items["AI-1"]["due_date"], items["AI-1"]["resolved_at"]) == (
        "Ana", date(2024, 3, 20), datetime(2024, 3, 15, 16))
    assert (items["AI-2"]["owner"], items["AI-2"]["resolved_at"], items["AI-2"]["status"]) == (None, None, "open")


def test_releases_csv(duck: Engine) -> None:
    ingest(duck, GENERIC / "releases.csv")
    rel = rows_by_id(duck, store.releases)
    assert (rel["PAY|1.4.0"]["release_date"], rel["PAY|1.4.0"]["released"]) == (date(2024, 3, 11), True)
    assert (rel["PAY|1.5.0"]["release_date"], rel["PAY|1.5.0"]["released"]) == (None, False)


def test_budget_csv_amounts_months_and_currencies(duck: Engine) -> None:
    ingest(duck, GENERIC / "budget.csv")
    lines = rows_by_id(duck, store.budget_lines)
    # "12,500.00" has a thousands separator; eur is upper-cased; 2024-03 is the month's first day.
    assert lines["payments|labour|2024-03|EUR"]["amount"] == 12500.0
    assert lines["payments|labour|2024-03|EUR"]["month"] == date(2024, 3, 1)
    # "(1,200.50)" is negative.
    assert lines["payments|cloud|2024-03|EUR"]["amount"] == -1200.5
    # A full date is accepted as its month.
    assert lines["checkout|labour|2024-04|USD"]["month"] == date(2024, 4, 1)


def test_spend_csv_identical_lines_stay_distinct_and_reingest_is_a_no_op(duck: Engine) -> None:
    first = ingest(duck, GENERIC / "spend.csv")
    spend = rows_by_id(duck, store.spend_lines)
    # Rows 2 and 3 are identical invoices lines: two rows, not one. Row 4's (250.00) is a credit of -250.
    assert (first.inserted, len(spend)) == (3, 3)
    assert sorted(s["amount"] for s in spend.values()) == [-250.0, 1000.0, 1000.0]
    assert {s["currency"] for s in spend.values()} == {"EUR", "USD"}
    again = ingest(duck, GENERIC / "spend.csv")
    assert (again.inserted, again.updated) == (0, 0)


def test_sows_csv(duck: Engine) -> None:
    ingest(duck, GENERIC / "sows.csv")
    sow = rows_by_id(duck, store.sows)["SOW-1"]
    assert (sow["value"], sow["invoiced_to_date"], sow["currency"]) == (120000.0, 45000.0, "EUR")
    assert (sow["start_date"], sow["end_date"]) == (date(2024, 1, 1), date(2024, 6, 30))


def test_repeated_key_supersedes_the_earlier_row_and_says_so(duck: Engine, tmp_path: Path) -> None:
    path = tmp_path / "releases.csv"
    path.write_text("project,version,release_date,released\nPAY,2.0,2024-05-01,false\nPAY,2.0,2024-05-08,true\n")
    result = ingest(duck, path)
    # Record 3 repeats record 2's key: the later one is kept, record 2 is counted as skipped.
    assert (result.read, result.inserted, result.rejected) == (2, 1, 1)
    assert rows_by_id(duck, store.releases)["PAY|2.0"]["release_date"] == date(2024, 5, 8)
    assert rows_by_id(duck, store.skipped_rows).popitem()[1]["row_ref"] == "2"


def test_reingest_is_a_no_op_and_a_status_change_is_one_update(db_url: str, tmp_path: Path) -> None:
    engine = store.make_engine(db_url)
    first = ingest(engine, GENERIC / "deployments.csv")
    assert (first.inserted, first.updated) == (5 + 2, 0)  # 5 deployments + 2 services
    again = ingest(engine, GENERIC / "deployments.csv")
    assert (again.inserted, again.updated) == (0, 0)
    # The re-export (same file name, later) shows the running checkout deployment finished successfully:
    # same id (status is not part of it), so exactly one row is updated and nothing is inserted.
    text = (GENERIC / "deployments.csv").read_text()
    running = "checkout,production,in_progress,2024-03-06T12:00:00,,"
    assert running in text
    reexport = tmp_path / "later" / "deployments.csv"
    reexport.parent.mkdir()
    reexport.write_text(text.replace(running, "checkout,production,success,2024-03-06T12:00:00,2024-03-06T12:20:00Z,"))
    result = ingest(engine, reexport)
    assert (result.inserted, result.updated) == (0, 1)
    assert rows_by_id(engine, store.deployments)["csv:checkout|production|2024-03-06T12:00:00"]["outcome"] == "success"
    engine.dispose()


BAD_FILES = {
    # A missing required column: named, row 1 (the header). Sniffing cannot tell the format of such a
    # header, so these cases name it as `ingest --format` would.
    "missing column": ("deployments.csv", "service,environment,status,started_at,finished_at,ref\n"
                       "pay,production,success,2024-03-01T10:00:00Z,,main\n",
                       1, "missing column(s) commit_sha, commit_time, is_rework"),
    # Record 4 (header = 1, a blank line still counts) has a bad date.
    "bad date": ("deployments.csv", "service,environment,status,started_at,finished_at,commit_sha,commit_time,ref,is_rework\n"
                 "pay,production,success,2024-03-01T10:00:00Z,,a1,,main,\n\n"
                 "pay,production,success,2024-03-32T10:00:00Z,,a2,,main,\n",
                 4, "column started_at: '2024-03-32T10:00:00Z' is not a timestamp (ISO 8601)"),
    # Record 3's amount is no number.
    "bad number": ("spend.csv", "date,scope,category,vendor,amount,currency,reference\n"
                   "2024-03-01,pay,cloud,X,10,EUR,r1\n2024-03-02,pay,cloud,X,ten,EUR,r2\n",
                   3, "column amount: 'ten' is not a number"),
    # Record 2 has no currency: the whole file is refused.
    "missing currency": ("budget.csv", "scope,category,month,amount,currency\npay,cloud,2024-03,100,\n"
                         "pay,labour,2024-03,200,EUR\n", 2, "column currency: a value is required"),
    "bad month": ("budget.csv", "scope,category,month,amount,currency\npay,cloud,March,100,EUR\n",
                  2, "column month: 'March' is not a month (YYYY-MM)"),
    "bad boolean": ("releases.csv", "project,version,release_date,released\nPAY,1,2024-01-01,maybe\n",
                    2, "column released: 'maybe' is not a boolean (true/false)"),
}


FORMAT_OF = {"deployments.csv": "deployments-csv", "spend.csv": "spend-csv", "budget.csv": "budget-csv",
             "releases.csv": "releases-csv"}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_rejected_whole_with_its_row(case: str, duck: Engine, tmp_path: Path) -> None:
    name, text, row, reason = BAD_FILES[case]
    ingest(duck, GENERIC / "deployments.csv")  # something already loaded, which must stay as it is
    before = table_counts(duck)
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(IngestError) as exc:
        ingest(duck, path, fmt=FORMAT_OF[name])
    assert exc.value.row == row
    assert exc.value.reason.startswith(reason)
    assert table_counts(duck) == before

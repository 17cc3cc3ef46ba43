"""GitHub Actions workflow runs -> deployments, on synthetic pages shaped like the REST listings."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest import IngestError
from delivery_health.settings import Settings
from test_ingest_common import FIXTURES, duck, ingest, rows_by_id, table_counts  # noqa: F401 (duck is a fixture)

CI = FIXTURES / "ci_cd"
SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "ci_cd"


def test_page_runs_become_deployments_and_the_rest_is_skipped_and_counted(duck: Engine) -> None:
    result = ingest(duck, CI / "runs_page.json")
    # 7 runs: 9002 is the CI workflow and 9003 deploys from a feature branch; the other 5 are deployments.
    assert (result.format, result.read, result.inserted, result.rejected) == ("github-actions-runs", 7, 5 + 2, 2)
    skipped = {r["row_ref"]: r["reason"] for r in rows_by_id(duck, store.skipped_rows).values()}
    assert skipped == {"9002": "not a deployment: workflow 'CI' on branch 'main'",
                       "9003": "not a deployment: workflow 'Deploy production' on branch 'feature/refunds'"}
    run = rows_by_id(duck, store.ingest_runs).popitem()[1]
    assert (run["rows_read"], run["rejected"]) == (7, 2)

    deps = rows_by_id(duck, store.deployments)
    assert sorted(deps) == ["github:acme/checkout:9007"] + [f"github:acme/payments-api:{i}" for i in (9001, 9004, 9005, 9006)]
    d = deps["github:acme/payments-api:9001"]
    # started_at is run_started_at (5 s after created_at); finished_at is updated_at; commit_time the head commit's.
    assert (d["service"], d["repository"], d["environment"], d["workflow"], d["ref"]) == (
        "payments-api", "acme/payments-api", "production", "Deploy production", "main")
    assert (d["started_at"], d["finished_at"], d["commit_time"]) == (
        datetime(2024, 3, 4, 10, 0, 5), datetime(2024, 3, 4, 10, 14), datetime(2024, 3, 4, 9))
    assert (d["status"], d["outcome"], d["is_rework"], d["commit_sha"]) == ("success", "success", False, "a" * 40)
    # Outcome mapping and rework: 9004 fails and its head commit is a "Revert ...";
    # 9005 timed_out is a failure and its display_title says "Hotfix"; 9006 is still in progress;
    # 9007's name "CD" does not match deploy|release but its path release.yml does, on master, cancelled.
    assert {k.rsplit(":", 1)[1]: (v["status"], v["outcome"], v["is_rework"]) for k, v in deps.items()} == {
        "9001": ("success", "success", False), "9004": ("failure", "failure", True),
        "9005": ("timed_out", "failure", True), "9006": ("in_progress", "running", False),
        "9007": ("cancelled", "cancelled", False)}
    assert {k: v["repository"] for k, v in rows_by_id(duck, store.services).items()} == {
        "payments-api": "acme/payments-api", "checkout": "acme/checkout"}


def test_branches_and_patterns_come_from_settings(duck: Engine) -> None:
    # Counting feature/refunds as a default branch turns run 9003 into a deployment (6 of 7);
    # a rework pattern of "refund" then marks 9001 (its commit), 9003 (branch), 9004 and 9005 (titles/messages).
    settings = Settings(default_branches=("main", "master", "feature/refunds"), rework_pattern="refund")
    result = ingest(duck, CI / "runs_page.json", settings)
    assert result.rejected == 1
    rework = sorted(k.rsplit(":", 1)[1] for k, v in rows_by_id(duck, store.deployments).items() if v["is_rework"])
    assert rework == ["9001", "9003", "9004", "9005"]


def test_a_list_of_pages_keeps_the_latest_attempt_of_a_run_listed_twice(duck: Engine) -> None:
    result = ingest(duck, CI / "runs_pages_list.json")
    # 3 listed runs, 2 distinct: 9101 appears as attempt 1 (failure) and attempt 2 (success, later).
    assert (result.read, result.rejected) == (3, 1)
    deps = rows_by_id(duck, store.deployments)
    assert sorted(deps) == ["github:acme/checkout:9101", "github:acme/checkout:9102"]
    d = deps["github:acme/checkout:9101"]
    assert (d["outcome"], d["started_at"], d["finished_at"]) == ("success", datetime(2024, 4, 1, 11, 12), datetime(2024, 4, 1, 11, 20))


def test_bare_list_without_optional_fields(duck: Engine) -> None:
    ingest(duck, CI / "runs_bare_list.json")
    d = rows_by_id(duck, store.deployments)["github:acme/ledger:9201"]
    # No run_started_at: created_at is the start; no head_commit: no commit time, no message to call it rework.
    assert (d["started_at"], d["commit_time"], d["is_rework"], d["outcome"]) == (
        datetime(2024, 5, 1, 7), None, False, "success")


def test_older_payload_without_workflow_names_is_accepted_and_every_run_explained(duck: Engine) -> None:
    result = ingest(duck, CI / "runs_older_fields.json")
    # The 2020 shape has no name/path, so no run can be told to deploy: both are skipped with that reason.
    assert (result.read, result.inserted, result.rejected) == (2, 0, 2)
    reasons = sorted(r["reason"] for r in rows_by_id(duck, store.skipped_rows).values())
    assert reasons == ["not a deployment: workflow '(no name or path in this payload)' on branch 'master'",
                       "not a deployment: workflow '(no name or path in this payload)' on branch 'tidy-imports'"]


def test_reingest_is_a_no_op_and_a_finished_run_is_one_update(duck: Engine, tmp_path: Path) -> None:
    ingest(duck, CI / "runs_page.json")
    again = ingest(duck, CI / "runs_page.json")
    assert (again.inserted, again.updated, again.rejected) == (0, 0, 2)
    # A later listing: run 9006 completed successfully. Same id, so one deployment row is updated.
    page = json.loads((CI / "runs_page.json").read_text())
    run = next(r for r in page["workflow_runs"] if r["id"] == 9006)
    run.update(status="completed", conclusion="success", updated_at="2024-03-07T12:11:00Z")
    later = tmp_path / "runs_page.json"
    later.write_text(json.dumps(page))
    result = ingest(duck, later)
    assert (result.inserted, result.updated) == (0, 1)
    d = rows_by_id(duck, store.deployments)["github:acme/payments-api:9006"]
    assert (d["outcome"], d["finished_at"]) == ("success", datetime(2024, 3, 7, 12, 11))


def _broken(edit: str) -> dict:
    page = json.loads((CI / "runs_page.json").read_text())
    run = page["workflow_runs"][3]  # 9004, a deployment
    if edit == "no repository":
        del run["repository"]
    else:
        run["updated_at"] = "last tuesday"
    return page


@pytest.mark.parametrize("edit,row,reason", [
    ("no repository", "workflow_runs[3]", "a run needs its id and repository.full_name"),
    ("bad timestamp", "workflow_runs[3]", "updated_at: 'last tuesday' is not a timestamp (ISO 8601)"),
])
def test_a_bad_run_rejects_the_file_and_changes_nothing(edit: str, row: str, reason: str, duck: Engine, tmp_path: Path) -> None:
    ingest(duck, CI / "runs_pages_list.json")
    before = table_counts(duck)
    bad = tmp_path / "runs.json"
    bad.write_text(json.dumps(_broken(edit)))
    with pytest.raises(IngestError) as exc:
        ingest(duck, bad)
    assert (exc.value.row, exc.value.reason) == (row, reason)
    assert table_counts(duck) == before


def test_real_samples_load(duck: Engine) -> None:
    if not SAMPLES.exists():
        pytest.skip(f"the real export samples are not on this machine (looked in {SAMPLES})")
    # 2022: one "CI" run on branch patch-1 (a pull request): accepted, skipped as not a deployment.
    r2022 = ingest(duck, SAMPLES / "github_actions_runs_list_2022.json")
    assert (r2022.read, r2022.rejected) == (1, 1)
    # 2020: five runs without workflow names: all accepted and skipped with the reason.
    r2020 = ingest(duck, SAMPLES / "github_actions_runs_list_2020_older_fields.json")
    assert (r2020.read, r2020.rejected) == (5, 5)
    # Declared a deployment workflow and branch, the 2022 run loads as one deployment of service pygithub.
    ingest(duck, SAMPLES / "github_actions_runs_list_2022.json", Settings(deploy_pattern="^CI$", default_branches=("patch-1",)))
    deps = rows_by_id(duck, store.deployments)
    assert list(deps) == ["github:PyGithub/PyGithub:3770390952"]
    assert deps["github:PyGithub/PyGithub:3770390952"]["service"] == "pygithub"

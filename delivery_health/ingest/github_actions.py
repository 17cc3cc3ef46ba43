"""GitHub Actions workflow runs (REST "list workflow runs") -> deployments.

Accepts one page `{"total_count", "workflow_runs": [...]}`, a list of such pages, or a
bare list of runs. Runs have no environment: a run is a production deployment attempt
when its workflow name (or path) matches ``settings.deploy_pattern`` and it ran on one of
``settings.default_branches`` (METRICS.md); every other run is skipped with the reason.
Older payloads (2020) lack `name`, `path`, `display_title`, `run_started_at`: all optional.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from delivery_health.ingest.base import Batch, RejectedFile
from delivery_health.ingest.parsing import json_items, matches, outcome_of, parse_timestamp, read_json, service_name
from delivery_health.settings import Settings

FORMAT = "github-actions-runs"


def _time(run: dict[str, Any], key: str, where: str) -> Any:
    try:
        return parse_timestamp(run.get(key))
    except (ValueError, TypeError):
        raise RejectedFile(f"{key}: {run.get(key)!r} is not a timestamp (ISO 8601)", row=where) from None


def _outcome(run: dict[str, Any]) -> str:
    # `conclusion` is null until the run completes; a queued or in-progress run is running.
    if (run.get("status") or "completed") != "completed":
        return "running"
    return outcome_of(run.get("conclusion"))


def _deployment(run: dict[str, Any], where: str, settings: Settings, source_file: str) -> dict[str, Any]:
    repo = run.get("repository") or {}
    full_name = repo.get("full_name")
    if not full_name or run.get("id") is None:
        raise RejectedFile("a run needs its id and repository.full_name", row=where)
    commit = run.get("head_commit") or {}
    name, branch = run.get("name"), run.get("head_branch")
    return {
        "id": f"github:{full_name}:{run['id']}",
        "service": service_name(repo.get("name") or full_name), "repository": full_name,
        "environment": "production", "status": run.get("conclusion") or run.get("status"),
        "outcome": _outcome(run),
        "started_at": _time(run, "run_started_at", where) or _time(run, "created_at", where),
        # A run carries no end time; its last update is the closest the listing offers
        # (the exact one needs …/runs/{id}/timing or the jobs' completed_at).
        "finished_at": _time(run, "updated_at", where),
        "commit_sha": run.get("head_sha"), "commit_time": _time(commit, "timestamp", where),
        "ref": branch, "workflow": name,
        "is_rework": matches(settings.rework_pattern, branch, name, run.get("display_title"), commit.get("message")),
        "source": FORMAT, "source_file": source_file,
    }


def load(path: Path, settings: Settings) -> Batch:
    """Workflow runs -> deployments (+ a services row per repository); non-deploy runs are skipped."""
    runs = json_items(read_json(path), "workflow_runs")
    batch = Batch(read=len(runs))
    latest: dict[str, tuple[tuple, dict[str, Any]]] = {}
    for where, run in runs:
        workflow = run.get("name") or run.get("path") or "(no name or path in this payload)"
        branch = run.get("head_branch")
        if not (matches(settings.deploy_pattern, run.get("name"), run.get("path")) and branch in settings.default_branches):
            batch.skip(run.get("id", where), f"not a deployment: workflow {workflow!r} on branch {branch!r}")
            continue
        row = _deployment(run, where, settings, path.name)
        # Overlapping pages can list a run twice; its latest attempt/update is the one that counts.
        rank = (run.get("run_attempt") or 1, row["finished_at"] or row["started_at"] or datetime.min)
        if row["id"] in latest:
            older, newer = sorted([latest[row["id"]], (rank, row)], key=lambda pair: pair[0])
            batch.skip(run["id"], f"listed twice: the copy updated at {newer[1]['finished_at']} is kept")
            latest[row["id"]] = newer
        else:
            latest[row["id"]] = (rank, row)
    for _, row in latest.values():
        batch.add("deployments", row)
    for repo, service in sorted({(r["repository"], r["service"]) for _, r in latest.values()}):
        batch.add("services", {"id": service, "repository": repo, "source": FORMAT, "source_file": path.name})
    return batch

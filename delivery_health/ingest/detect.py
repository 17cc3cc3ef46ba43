"""Tell an export's format from its content, not its file name."""

from __future__ import annotations

import json
from pathlib import Path

from delivery_health.ingest.base import RejectedFile
from delivery_health.ingest.parsing import csv_rows, decode, read_text

# Generic CSVs: a format is recognised when its header holds all of these columns.
GENERIC_CSV_HEADERS: dict[str, tuple[str, ...]] = {
    "deployments-csv": ("service", "environment", "status", "started_at", "finished_at", "commit_sha", "commit_time", "ref", "is_rework"),
    "incidents-csv": ("incident_id", "service", "severity", "started_at", "resolved_at", "deployment_ref", "title"),
    "action-items-csv": ("item_id", "incident_id", "squad", "title", "created_at", "due_date", "resolved_at", "status"),
    "releases-csv": ("project", "version", "release_date", "released"),
    "budget-csv": ("scope", "category", "month", "amount", "currency"),
    "spend-csv": ("date", "scope", "category", "vendor", "amount", "currency", "reference"),
    "sows-csv": ("sow_id", "vendor", "scope", "value", "currency", "start_date", "end_date", "invoiced_to_date"),
    "commits-csv": ("repository", "sha", "committed_at", "author", "message"),
    "events-csv": ("date", "end_date", "kind", "label", "squad"),
}

_PAGERDUTY_CSV = {"incident_number", "created_at", "status", "service"}


def _json_format(data: object) -> str | None:
    pages = data if isinstance(data, list) else [data]
    first = pages[0] if pages else None
    if isinstance(first, dict):
        if "workflow_runs" in first:
            return "github-actions-runs"
        if "issues" in first and isinstance(first["issues"], list):
            return "jira-json"
        if "incidents" in first and isinstance(first["incidents"], list):
            return "pagerduty-incidents"
        if "key" in first and "fields" in first:
            return "jira-json"  # a bare list of issues
        if "head_sha" in first and "conclusion" in first:
            return "github-actions-runs"  # a bare list of runs
        if "incident_number" in first:
            return "pagerduty-incidents"
    return None


_HEAD_BYTES = 1 << 16  # a CSV is told by its first line: a 236 MB export is not read (and decoded) whole for it


def _first_line(path: Path) -> str | None:
    """The file's first line, decoded as ``decode`` does; None when it is blank or JSON may follow (a JSON
    file is told by its content), or it is longer than ``_HEAD_BYTES``."""
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if b"\n" not in head and len(head) == _HEAD_BYTES:
        return None
    line = decode(head.split(b"\n", 1)[0])[0]
    return line if line.strip() and line.lstrip()[0] not in "[{" else None


def detect_format(path: Path) -> str:
    """The format name of the file at ``path``; RejectedFile when it is none we know."""
    line = _first_line(path)
    if line is not None:
        return _csv_format(line)
    text = read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise RejectedFile("the file is empty", row=1)
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise RejectedFile(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", row=exc.lineno) from None
        fmt = _json_format(data)
        if fmt is None:
            raise RejectedFile("JSON of a kind not recognised (expected Jira search results, GitHub workflow runs or PagerDuty incidents)")
        return fmt
    return _csv_format(text.split("\n", 1)[0])


def _csv_format(first_line: str) -> str:
    header, _ = csv_rows(first_line + "\n")
    names = {h.strip() for h in header}
    lowered = {h.lower() for h in names}
    if {"issue key", "summary"} <= lowered or {"issue key", "issue type"} <= lowered:
        return "jira-csv"
    if _PAGERDUTY_CSV <= lowered:
        return "pagerduty-incidents"
    for fmt, cols in GENERIC_CSV_HEADERS.items():
        if set(cols) <= names:
            return fmt
    raise RejectedFile(f"CSV header not recognised: {', '.join(header[:8])}{' …' if len(header) > 8 else ''}", row=1)

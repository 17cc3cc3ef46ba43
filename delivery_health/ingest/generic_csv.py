"""The generic CSVs (DESIGN.md "File formats"): deployments, commits, incidents, action
items, releases, budget, spend and SOWs, for what has no common export.

Headers are matched exactly (extra columns ignored, any order), dates are ISO 8601 and
times UTC unless they carry an offset. A bad value rejects the whole file with its
record number (header = 1); a row repeating an earlier row's key supersedes it and the
earlier one is reported as skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from delivery_health.ingest.base import Batch, RejectedFile
from delivery_health.ingest.detect import GENERIC_CSV_HEADERS
from delivery_health.ingest.parsing import (
    csv_records, matches, outcome_of, parse_amount, parse_bool, parse_date, parse_timestamp, read_text, service_name,
)
from delivery_health.settings import Settings

T = TypeVar("T")
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")


class _Record:
    """One CSV record whose typed getters reject the file, naming the column and record number."""

    def __init__(self, number: int, cells: dict[str, str]):
        self.number, self.cells = number, cells

    def text(self, name: str, required: bool = False) -> str | None:
        value = (self.cells.get(name) or "").strip()
        if not value and required:
            raise RejectedFile(f"column {name}: a value is required", row=self.number)
        return value or None

    def key(self, name: str) -> str:
        """A value the row cannot do without (part of its key)."""
        return self.text(name, required=True) or ""

    def _typed(self, name: str, parse: Callable[[str], T | None], what: str, required: bool) -> T | None:
        raw = self.text(name, required)
        if raw is None:
            return None
        try:
            value = parse(raw)
        except ValueError:
            raise RejectedFile(f"column {name}: {raw!r} is not a {what}", row=self.number) from None
        if value is None and required:  # a null marker such as NULL or NaN
            raise RejectedFile(f"column {name}: a value is required", row=self.number)
        return value

    def timestamp(self, name: str, required: bool = False) -> datetime | None:
        return self._typed(name, parse_timestamp, "timestamp (ISO 8601)", required)

    def date(self, name: str, required: bool = False) -> date | None:
        return self._typed(name, parse_date, "date (YYYY-MM-DD)", required)

    def amount(self, name: str, required: bool = False) -> float | None:
        return self._typed(name, parse_amount, "number", required)

    def boolean(self, name: str) -> bool | None:
        return self._typed(name, parse_bool, "boolean (true/false)", False)

    def month(self, name: str) -> date | None:
        return self._typed(name, _first_of_month, "month (YYYY-MM)", True)

    def currency(self, name: str = "currency") -> str:
        return self.key(name).upper()


def _first_of_month(value: str) -> date:
    m = _MONTH.match(value)
    if not m:
        raise ValueError(value)
    return date(int(m.group(1)), int(m.group(2)), 1)


def _read(path: Path, fmt: str) -> tuple[Batch, list[_Record], dict[str, str]]:
    """The file's records (header checked), an empty batch counting them, and the rows' provenance."""
    header, records = csv_records(read_text(path))
    required = GENERIC_CSV_HEADERS[fmt]
    missing = [c for c in required if c not in header]
    if missing:
        raise RejectedFile(f"missing column(s) {', '.join(missing)} (a {fmt} file needs {', '.join(required)})", row=1)
    return Batch(read=len(records)), [_Record(n, cells) for n, cells in records], {"source": fmt, "source_file": path.name}


def _add_unique(batch: Batch, table: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Add rows; when a later row repeats an id it wins and the earlier one is skipped with the reason."""
    last = {row["id"]: n for n, row in rows}
    for n, row in rows:
        if last[row["id"]] == n:
            batch.add(table, row)
        else:
            batch.skip(n, f"superseded by row {last[row['id']]} with the same key {row['id']!r}")


def load_deployments(path: Path, settings: Settings) -> Batch:
    """deployments-csv -> deployments (+ a services row per service)."""
    batch, records, src = _read(path, "deployments-csv")
    rows, services = [], {}
    for r in records:
        raw_service = r.key("service")
        service = service_name(raw_service)
        environment = (r.text("environment") or "").lower() or None
        started_at = r.timestamp("started_at", required=True)
        status, ref = r.text("status"), r.text("ref")
        explicit = r.boolean("is_rework")
        repository = raw_service if "/" in raw_service else None
        rows.append((r.number, {
            # No status in the key: a re-export after the run finished updates the same row.
            "id": f"csv:{service}|{environment}|{started_at:%Y-%m-%dT%H:%M:%S}",
            "service": service, "repository": repository, "environment": environment,
            "status": status, "outcome": outcome_of(status),
            "started_at": started_at, "finished_at": r.timestamp("finished_at"),
            "commit_sha": r.text("commit_sha"), "commit_time": r.timestamp("commit_time"), "ref": ref,
            "workflow": None,
            "is_rework": explicit if explicit is not None else matches(settings.rework_pattern, ref),
            **src,
        }))
        services[service] = repository or services.get(service)
    for service, repository in services.items():
        batch.add("services", {"id": service, "repository": repository, **src})
    _add_unique(batch, "deployments", rows)
    return batch


def load_commits(path: Path, settings: Settings) -> Batch:
    """commits-csv -> commits (the history that lets a deployment include every commit since the previous one)."""
    batch, records, src = _read(path, "commits-csv")
    rows = [(r.number, {
        "id": r.key("sha"), "service": service_name(r.key("repository")),
        "committed_at": r.timestamp("committed_at", required=True), "author": r.text("author"),
        "message": r.text("message"), **src,
    }) for r in records]
    _add_unique(batch, "commits", rows)
    return batch


def load_incidents(path: Path, settings: Settings) -> Batch:
    """incidents-csv -> incidents; status is "resolved" when resolved_at is set, else "open"."""
    batch, records, src = _read(path, "incidents-csv")
    rows = []
    for r in records:
        resolved_at = r.timestamp("resolved_at")
        rows.append((r.number, {
            "id": r.key("incident_id"), "service": service_name(r.text("service")),
            "severity": r.text("severity"), "title": r.text("title"),
            "status": "resolved" if resolved_at else "open",
            "started_at": r.timestamp("started_at", required=True), "resolved_at": resolved_at,
            "deployment_ref": r.text("deployment_ref"), "jira_key": None, **src,
        }))
    _add_unique(batch, "incidents", rows)
    return batch


def load_action_items(path: Path, settings: Settings) -> Batch:
    """action-items-csv (+ optional `owner`) -> action_items."""
    batch, records, src = _read(path, "action-items-csv")
    rows = [(r.number, {
        "id": r.key("item_id"), "incident_id": r.text("incident_id"), "squad": r.text("squad"),
        "title": r.text("title"), "owner": r.text("owner"), "status": r.text("status"),
        "created_at": r.timestamp("created_at"), "due_date": r.date("due_date"),
        "resolved_at": r.timestamp("resolved_at"), "jira_key": None, **src,
    }) for r in records]
    _add_unique(batch, "action_items", rows)
    return batch


def load_releases(path: Path, settings: Settings) -> Batch:
    """releases-csv -> releases (id = project|version, like the Jira fix versions)."""
    batch, records, src = _read(path, "releases-csv")
    rows = []
    for r in records:
        project, version = r.key("project"), r.key("version")
        rows.append((r.number, {
            "id": f"{project}|{version}", "project_key": project, "version": version,
            "release_date": r.date("release_date"), "released": r.boolean("released"), **src,
        }))
    _add_unique(batch, "releases", rows)
    return batch


def load_budget(path: Path, settings: Settings) -> Batch:
    """budget-csv -> budget_lines, month as its first day."""
    batch, records, src = _read(path, "budget-csv")
    rows = []
    for r in records:
        scope, category = r.key("scope"), r.key("category")
        month, amount, currency = r.month("month"), r.amount("amount", required=True), r.currency()
        rows.append((r.number, {
            "id": f"{scope}|{category}|{month:%Y-%m}|{currency}", "scope": scope, "category": category,
            "month": month, "amount": amount, "currency": currency, **src,
        }))
    _add_unique(batch, "budget_lines", rows)
    return batch


def load_spend(path: Path, settings: Settings) -> Batch:
    """spend-csv -> spend_lines. A line has no natural key: its id hashes the normalised line
    plus its occurrence number, so a re-ingest changes nothing while two identical lines stay two."""
    batch, records, src = _read(path, "spend-csv")
    seen: dict[tuple, int] = {}
    for r in records:
        line = {
            "date": r.date("date", required=True), "scope": r.key("scope"),
            "category": r.text("category"), "vendor": r.text("vendor"),
            "amount": r.amount("amount", required=True), "currency": r.currency(), "reference": r.text("reference"),
        }
        key = tuple(line.values())
        seen[key] = seen.get(key, 0) + 1
        digest = hashlib.sha1(repr((*key, seen[key])).encode()).hexdigest()
        batch.add("spend_lines", {"id": digest, **line, **src})
    return batch


def load_sows(path: Path, settings: Settings) -> Batch:
    """sows-csv -> sows (vendor statements of work)."""
    batch, records, src = _read(path, "sows-csv")
    rows = [(r.number, {
        "id": r.key("sow_id"), "vendor": r.text("vendor"), "scope": r.text("scope"),
        "value": r.amount("value"), "currency": r.currency(),
        "start_date": r.date("start_date"), "end_date": r.date("end_date"),
        "invoiced_to_date": r.amount("invoiced_to_date"), **src,
    }) for r in records]
    _add_unique(batch, "sows", rows)
    return batch


def load_events(path: Path, settings: Settings) -> Batch:
    """events-csv -> events: releases and freeze windows to annotate trend charts; an empty squad is everyone's."""
    batch, records, src = _read(path, "events-csv")
    rows = []
    for r in records:
        start, end = r.date("date", required=True), r.date("end_date")
        if end is not None and end < start:
            raise RejectedFile(f"column end_date: {end} is before date {start}", row=r.number)
        kind, label, squad = r.key("kind").lower(), r.key("label"), r.text("squad")
        rows.append((r.number, {
            "id": f"{start}|{kind}|{label}|{squad or ''}", "date": start, "end_date": end, "kind": kind,
            "label": label, "squad": squad, **src,
        }))
    _add_unique(batch, "events", rows)
    return batch

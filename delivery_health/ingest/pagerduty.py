"""PagerDuty incidents -> incidents.

Accepts the REST JSON (`{"incidents": [...], "more", "offset"}`, a list of such pages or a
bare list) and the CSV pandas writes when it flattens that JSON: nested objects then appear
as Python reprs (`{'id': 'P6OZOP6', 'summary': ...}`), read with ``ast.literal_eval`` (never
``eval``); `json_normalize`-style dotted columns (`service.summary`) work too.
Older payloads have no `resolved_at`: a resolved incident's last status change is its resolution.
"""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from typing import Any

from delivery_health.ingest.base import Batch, RejectedFile
from delivery_health.ingest.parsing import csv_records, json_items, parse_timestamp, read_json, read_text
from delivery_health.settings import Settings

FORMAT = "pagerduty-incidents"


def _csv_incidents(text: str) -> list[tuple[str | int, dict[str, Any]]]:
    """Each CSV record as the incident dict it was flattened from (dotted columns nested again)."""
    _, records = csv_records(text)
    incidents: list[tuple[str | int, dict[str, Any]]] = []
    for number, cells in records:
        incident: dict[str, Any] = {}
        for column, cell in cells.items():
            *parents, leaf = column.split(".")
            node = incident
            for p in parents:
                if not isinstance(node.get(p), dict):
                    node[p] = {}
                node = node[p]
            node[leaf] = cell.strip() or None  # pandas writes NaN/None as an empty cell
        incidents.append((number, incident))
    return incidents


def _obj(incident: dict[str, Any], key: str, where: str | int) -> dict[str, Any]:
    """A nested object, from JSON or from its Python repr in a pandas CSV; absent -> {}."""
    value = incident.get(key)
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise RejectedFile(f"{key}: {value[:60]!r} is not an object", row=where) from None
    if value in (None, "", "None"):
        return {}
    if not isinstance(value, dict):
        raise RejectedFile(f"{key}: {str(value)[:60]!r} is not an object", row=where)
    return value


def _time(incident: dict[str, Any], key: str, where: str | int) -> datetime | None:
    try:
        return parse_timestamp(incident.get(key))
    except (ValueError, TypeError):
        raise RejectedFile(f"{key}: {incident.get(key)!r} is not a timestamp (ISO 8601)", row=where) from None


def load(path: Path, settings: Settings) -> Batch:
    """Incidents, REST JSON or pandas-flattened CSV; incidents merged into another are skipped."""
    text = read_text(path)
    if text.lstrip()[:1] in ("[", "{"):
        incidents: list[tuple[str | int, dict[str, Any]]] = list(json_items(read_json(path), "incidents"))
    else:
        incidents = _csv_incidents(text)
    batch = Batch(read=len(incidents))
    for where, inc in incidents:
        if not inc.get("id"):
            raise RejectedFile("an incident needs its id", row=where)
        reason = _obj(inc, "resolve_reason", where)
        if reason.get("type") == "merge_resolve_reason":
            # Its alerts now belong to the surviving incident: counting both would double the outage.
            target = (reason.get("incident") or {}).get("id")
            batch.skip(inc["id"], f"merged into incident {target}")
            continue
        status = inc.get("status")
        started_at = _time(inc, "created_at", where)
        if started_at is None:
            raise RejectedFile("created_at: a value is required", row=where)
        resolved_at = _time(inc, "resolved_at", where)
        if resolved_at is None and status == "resolved":
            resolved_at = _time(inc, "last_status_change_at", where)
        priority = _obj(inc, "priority", where)
        batch.add("incidents", {
            "id": str(inc["id"]), "service": _obj(inc, "service", where).get("summary"),
            "severity": priority.get("summary") or priority.get("name") or inc.get("urgency"),
            "title": inc.get("title") or inc.get("summary"), "status": status,
            "started_at": started_at, "resolved_at": resolved_at, "deployment_ref": None, "jira_key": None,
            "source": FORMAT, "source_file": path.name,
        })
    return batch

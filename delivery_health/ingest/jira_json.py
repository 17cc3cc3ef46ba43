"""Jira REST search results (`/rest/api/{2,3}/search`, `/search/jql`) -> canonical rows.

Accepted shapes: one search page (`{issues: [...]}`, legacy with `startAt`/`total` or
enhanced with `nextPageToken`/`isLast`), a JSON list of such pages (a saved multi-page
fetch), a bare list of issues, or one issue. Custom fields (Sprint, Story Points,
Epic Link, Team) are found through the pages' `names`/`schema` maps (`expand=names,schema`)
or, for Sprint, by the shape of the value, since their ids differ per site.
Descriptions (wiki markup in v2, ADF in v3) are not stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from delivery_health.ingest import jira_common
from delivery_health.ingest.base import Batch, RejectedFile
from delivery_health.ingest.jira_common import JiraIssue, JiraLink, JiraTransition, JiraVersion
from delivery_health.ingest.parsing import parse_bool, parse_date, parse_float, parse_timestamp, read_json
from delivery_health.settings import Settings

SOURCE = "jira-json"

# Custom-field roles, recognised by the field's display name (lower-case) or its schema type.
_ROLE_NAMES: dict[str, str] = {
    "sprint": "sprint",
    "story points": "story_points",
    "story point estimate": "story_points",
    "epic link": "epic_link",
    "team": "team",
    "team[team]": "team",
}
_ROLE_SCHEMAS: dict[str, str] = {
    "com.pyxis.greenhopper.jira:gh-sprint": "sprint",
    "com.pyxis.greenhopper.jira:gh-epic-link": "epic_link",
    "com.atlassian.teams:rm-teams-custom-field-team": "team",
    "com.atlassian.jira.plugin.system.customfieldtypes:atlassian-team": "team",
}

_STATUS_CATEGORY_KEYS = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}

_GREENHOPPER_PREFIX = "com.atlassian.greenhopper.service.sprint.Sprint"
_GREENHOPPER_KEYS = ("id|rapidViewId|state|name|goal|startDate|endDate|completeDate|activatedDate|"
                     "sequence|autoStartStop|synced|incompleteIssuesDestinationId")
# A sprint name may hold commas, `=` or `]`: it ends only where a known `,key=` starts or at the closing `]`.
_GREENHOPPER_NAME = re.compile(rf"[\[,]name=(.*?)(?=,(?:{_GREENHOPPER_KEYS})=|\]$)", re.S)


@dataclass
class _Parsed:
    issues: list[JiraIssue] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (row reference, reason) for Batch.skip
    read: int = 0


def load(path: Path, settings: Settings) -> Batch:
    """Parse a saved Jira search result file into a Batch (no database access)."""
    return load_data(read_json(path), settings, source_file=str(path))


def load_data(data: Any, settings: Settings, source_file: str, source: str = SOURCE) -> Batch:
    """Parse already-loaded search results (any shape `load` accepts, e.g. pages fetched from the API)."""
    parsed = _parse(_pages(data))
    batch = Batch(read=parsed.read)
    for ref, reason in parsed.notes:
        batch.skip(ref, reason)
    jira_common.add_issues(batch, parsed.issues, settings, source=source, source_file=source_file)
    return batch


def project_versions(raw: list[dict], project_key: str) -> list[JiraVersion]:
    """The versions of `GET /rest/api/2/project/{key}/versions` (name, releaseDate, released)."""
    if not isinstance(raw, list):
        raise RejectedFile(f"{project_key}: the project's versions are not a list")
    return [_version(v, project_key, n) for n, v in enumerate(raw, start=1) if isinstance(v, dict) and v.get("name")]


def issues_from_search(pages: list[dict], field_names: dict[str, str] | None = None) -> list[JiraIssue]:
    """The issues of search result pages, e.g. fetched from the API.

    ``field_names`` maps custom-field ids to display names (from `GET /rest/api/2/field`)
    and wins over the pages' own `names` maps. Raises RejectedFile on a malformed issue;
    a later copy of a repeated issue replaces the earlier one.
    """
    return _parse(_pages(pages), field_names).issues


def _pages(data: Any) -> list[dict]:
    """Every accepted shape as a list of `{issues: [...]}` pages."""
    if isinstance(data, dict):
        if isinstance(data.get("issues"), list):
            return [data]
        if "key" in data and "fields" in data:
            return [{"issues": [data]}]
    elif isinstance(data, list):
        if all(isinstance(p, dict) and isinstance(p.get("issues"), list) for p in data):
            return data
        if all(isinstance(i, dict) and ("key" in i or "fields" in i) for i in data):
            return [{"issues": data}]
        for n, item in enumerate(data, start=1):
            if not (isinstance(item, dict) and ("issues" in item or "key" in item or "fields" in item)):
                raise RejectedFile(f"element {n} of the list is neither a search page nor an issue", row=n)
        raise RejectedFile("the list mixes search pages and bare issues", row=1)
    raise RejectedFile("not Jira search results (expected {issues: [...]}, a list of pages or a list of issues)")


def _field_roles(pages: list[dict], field_names: dict[str, str] | None) -> dict[str, list[str]]:
    """Role (sprint, story_points, epic_link, team) -> the custom-field ids that carry it."""
    names: dict[str, str] = {}
    roles: dict[str, list[str]] = {}
    for page in pages:
        for fid, spec in (page.get("schema") or {}).items():
            role = _ROLE_SCHEMAS.get(str((spec or {}).get("custom", "")))
            if role and fid not in roles.get(role, []):
                roles.setdefault(role, []).append(fid)
        names.update(page.get("names") or {})
    names.update(field_names or {})
    for fid, name in names.items():
        role = _ROLE_NAMES.get(str(name).strip().lower())
        if role and fid not in roles.get(role, []):
            roles.setdefault(role, []).append(fid)
    return roles


def _parse(pages: list[dict], field_names: dict[str, str] | None = None) -> _Parsed:
    roles = _field_roles(pages, field_names)
    out = _Parsed()
    position: dict[str, int] = {}  # key -> index in out.issues, to replace repeated issues
    for page in pages:
        for raw in page["issues"]:
            out.read += 1
            try:
                issue, notes = _issue(raw, out.read, roles)
            except (AttributeError, KeyError, TypeError) as exc:  # a value of an unexpected JSON type
                raise RejectedFile(f"issue {out.read}: unexpected structure ({type(exc).__name__}: {exc})", row=out.read) from None
            out.notes += notes
            if issue.key in position:
                # Enhanced search is eventually consistent: an issue may show up on two pages; keep the later copy.
                out.notes.append((issue.key, f"issue {out.read} repeats an earlier issue; the later copy is loaded"))
                out.issues[position[issue.key]] = issue
            else:
                position[issue.key] = len(out.issues)
                out.issues.append(issue)
    return out


def _issue(raw: Any, row: int, roles: dict[str, list[str]]) -> tuple[JiraIssue, list[tuple[str, str]]]:
    """One issue; RejectedFile (row = its 1-based index in the file) when it is malformed."""
    if not isinstance(raw, dict):
        raise RejectedFile(f"issue {row} is not an object", row=row)
    key = raw.get("key")
    if not isinstance(key, str) or not key.strip():
        raise RejectedFile(f"issue {row} has no key (key={key!r})", row=row)
    f = raw.get("fields")
    if not isinstance(f, dict):
        raise RejectedFile(f"{key}: no fields (was the search made without fields=*all?)", row=row)
    if not f.get("created"):
        raise RejectedFile(f"{key}: fields.created is missing", row=row)
    project = f.get("project") or {}
    issue = JiraIssue(
        key=key,
        issue_id=str(raw["id"]) if raw.get("id") is not None else None,
        project_key=project.get("key") or key.rsplit("-", 1)[0],
        project_name=project.get("name"),
        issue_type=_name(f.get("issuetype")),
        summary=f.get("summary"),
        status=_name(f.get("status")),
        status_category=_status_category(f.get("status")),
        priority=_name(f.get("priority")),
        resolution=_name(f.get("resolution")),
        assignee=_user(f.get("assignee")),
        reporter=_user(f.get("reporter")),
        created_at=_timestamp(f.get("created"), key, "fields.created", row),
        updated_at=_timestamp(f.get("updated"), key, "fields.updated", row),
        resolved_at=_timestamp(f.get("resolutiondate"), key, "fields.resolutiondate", row),
        due_date=_date(f.get("duedate"), key, "fields.duedate", row),
        parent_key=(f.get("parent") or {}).get("key"),
        components=[c["name"] for c in f.get("components") or [] if c.get("name")],
        labels=[str(label) for label in f.get("labels") or []],
        fix_versions=[_version(v, key, row) for v in f.get("fixVersions") or [] if v.get("name")],
        affects_versions=[v["name"] for v in f.get("versions") or [] if v.get("name")],
    )
    _custom_fields(issue, f, roles, row)
    notes: list[tuple[str, str]] = []
    issue.links = _links(f.get("issuelinks") or [], key, notes)
    issue.transitions = _transitions(raw.get("changelog"), key, row, notes)
    return issue, notes


def _custom_fields(issue: JiraIssue, f: dict, roles: dict[str, list[str]], row: int) -> None:
    """Fill team, story points, epic and sprints from whichever field carries each role."""
    issue.team = _first(f, roles.get("team", []), _team)
    points = _first(f, roles.get("story_points", []), lambda v: v)
    try:
        issue.story_points = parse_float(points)
    except ValueError:
        raise RejectedFile(f"{issue.key}: story points {points!r} is not a number", row=row) from None
    epic = _first(f, roles.get("epic_link", []), lambda v: v if isinstance(v, str) else None)
    parent = f.get("parent") or {}
    parent_type = (parent.get("fields") or {}).get("issuetype") or {}
    if epic is None and (parent_type.get("hierarchyLevel") == 1 or str(parent_type.get("name", "")).lower() == "epic"):
        epic = parent.get("key")  # unified Cloud hierarchy: the epic is the parent, there is no Epic Link
    issue.epic_key = epic
    # Without a names/schema map the Sprint field is recognised by its value.
    sprint_fields = roles.get("sprint") or [k for k, v in f.items() if k.startswith("customfield_") and _is_sprint_list(v)]
    for fid in sprint_fields:
        for s in f.get(fid) or []:
            name = _sprint_name(s)
            if name and name not in issue.sprints:
                issue.sprints.append(name)


def _first(f: dict, field_ids: list[str], convert: Callable[[Any], Any]) -> Any:
    for fid in field_ids:
        value = f.get(fid)
        if value not in (None, "", []):
            converted = convert(value)
            if converted not in (None, ""):
                return converted
    return None


def _team(value: Any) -> str | None:
    """The Team field: a string, an object with name/title/value (Atlassian team, option), or a list of those."""
    if isinstance(value, list):
        return _team(value[0]) if value else None
    if isinstance(value, dict):
        return value.get("name") or value.get("title") or value.get("value")
    return str(value)


def _is_sprint_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        (isinstance(s, dict) and "name" in s and ("state" in s or "boardId" in s))
        or (isinstance(s, str) and s.startswith(_GREENHOPPER_PREFIX)) for s in value)


def _sprint_name(value: Any) -> str | None:
    """Name of a sprint given as a Cloud object or a legacy GreenHopper `Sprint@..[k=v,...]` string."""
    if isinstance(value, dict):
        return value.get("name")
    if isinstance(value, str):
        if not value.startswith(_GREENHOPPER_PREFIX):
            return value.strip() or None
        m = _GREENHOPPER_NAME.search(value.strip())
        return m.group(1) if m else None
    return None


def _links(raw_links: list[dict], key: str, notes: list[tuple[str, str]]) -> list[JiraLink]:
    links = []
    for link in raw_links:
        t = link.get("type") or {}
        if link.get("outwardIssue"):
            direction, other = "outward", link["outwardIssue"].get("key")
        elif link.get("inwardIssue"):
            direction, other = "inward", link["inwardIssue"].get("key")
        else:
            direction, other = "", None
        if not other or not t.get("name"):
            notes.append((key, f"issue link {link.get('id')!r} has no type name or linked issue key; not loaded"))
            continue
        links.append(JiraLink(t["name"], direction, other, outward_phrase=t.get("outward")))
    return links


def _transitions(changelog: Any, key: str, row: int, notes: list[tuple[str, str]]) -> list[JiraTransition]:
    """Status moves from an embedded changelog, oldest first (backward moves kept)."""
    if not isinstance(changelog, dict):
        return []
    histories = changelog.get("histories") or []
    total = changelog.get("total")
    if isinstance(total, int) and total > len(histories):
        notes.append((key, f"changelog truncated: {len(histories)} of {total} histories"))
    dated = []
    for n, h in enumerate(histories):
        changed_at = _timestamp(h.get("created"), key, f"changelog.histories[{n}].created", row)
        if changed_at is None:
            raise RejectedFile(f"{key}: changelog.histories[{n}] has no created time", row=row)
        dated.append((changed_at, n, h))
    # The API's order is not reliable (docs: newest first; real data: oldest first): sort by time.
    moves = []
    for changed_at, _, h in sorted(dated, key=lambda d: d[:2]):
        for item in h.get("items") or []:
            if item.get("fieldId") == "status" or (item.get("field") == "status" and item.get("fieldtype", "jira") == "jira"):
                moves.append(JiraTransition(changed_at, item.get("fromString"), item.get("toString"), _user(h.get("author"))))
    return moves


def _version(v: dict, key: str, row: int) -> JiraVersion:
    released = v.get("released")
    try:
        released = released if isinstance(released, bool) or released is None else parse_bool(str(released))
    except ValueError:
        raise RejectedFile(f"{key}: fixVersions released {released!r} is not a boolean", row=row) from None
    return JiraVersion(v["name"], _date(v.get("releaseDate"), key, "fixVersions.releaseDate", row), released)


def _name(obj: Any) -> str | None:
    return obj.get("name") if isinstance(obj, dict) else None


def _user(obj: Any) -> str | None:
    """Display name; Cloud accountId or Data Center user name when it is hidden."""
    if not isinstance(obj, dict):
        return None
    return obj.get("displayName") or obj.get("name") or obj.get("accountId") or obj.get("key")


def _status_category(status: Any) -> str | None:
    """By the category's key (stable across UI languages); None lets jira_common infer it."""
    cat = (status or {}).get("statusCategory") or {}
    if cat.get("key") in _STATUS_CATEGORY_KEYS:
        return _STATUS_CATEGORY_KEYS[cat["key"]]
    return cat.get("name") if cat.get("name") in _STATUS_CATEGORY_KEYS.values() else None


def _timestamp(value: Any, key: str, field_name: str, row: int) -> datetime | None:
    try:
        return parse_timestamp(value)
    except (ValueError, TypeError):
        raise RejectedFile(f"{key}: {field_name} {value!r} is not a timestamp", row=row) from None


def _date(value: Any, key: str, field_name: str, row: int) -> date | None:
    try:
        return parse_date(value)
    except (ValueError, TypeError):
        raise RejectedFile(f"{key}: {field_name} {value!r} is not a date", row=row) from None

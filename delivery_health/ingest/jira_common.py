"""The one place Jira issues become canonical rows, whichever export they came from.

Both Jira loaders (CSV and REST JSON) parse into ``JiraIssue`` and call
``add_issues``: link direction, status categories, incidents and action items are
decided here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from delivery_health.ingest.base import Batch
from delivery_health.settings import Settings

DONE_STATUSES = {"done", "closed", "resolved", "released", "complete", "completed", "cancelled", "canceled", "won't do", "rejected"}


@dataclass
class JiraLink:
    link_type: str  # e.g. "Blocks", "Relates", "Dependency"
    direction: str  # "outward": this issue --outward phrase--> other; "inward": the reverse
    other_key: str
    outward_phrase: str | None = None  # e.g. "blocks", "depends on" (JSON carries it; CSV does not)


@dataclass
class JiraVersion:
    name: str
    release_date: date | None = None
    released: bool | None = None


@dataclass
class JiraTransition:
    changed_at: datetime
    from_status: str | None
    to_status: str | None
    author: str | None = None


@dataclass
class JiraIssue:
    key: str
    issue_id: str | None = None
    project_key: str | None = None
    project_name: str | None = None
    issue_type: str | None = None
    summary: str | None = None
    status: str | None = None
    status_category: str | None = None  # "To Do" | "In Progress" | "Done"; inferred when None
    priority: str | None = None
    resolution: str | None = None
    assignee: str | None = None
    reporter: str | None = None
    team: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    resolved_at: datetime | None = None
    due_date: date | None = None
    parent_key: str | None = None
    epic_key: str | None = None
    story_points: float | None = None
    components: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    fix_versions: list[JiraVersion] = field(default_factory=list)
    affects_versions: list[str] = field(default_factory=list)
    sprints: list[str] = field(default_factory=list)
    links: list[JiraLink] = field(default_factory=list)
    transitions: list[JiraTransition] = field(default_factory=list)


def is_blocking(link_type: str, outward_phrase: str | None = None) -> bool:
    t = link_type.lower()
    return t == "blocks" or "block" in t or "depend" in t or "depend" in (outward_phrase or "").lower()


def _other_is_blocker_on_outward(link_type: str, outward_phrase: str | None) -> bool:
    # "A depends on B" (outward) makes B the blocker; "A blocks B" makes A the blocker.
    # Sites reword link types, so read the phrase: a passive one ("is blocked by",
    # "is depended on by") reverses its verb, and "is a dependency of/for B" means B waits.
    phrase = (outward_phrase or link_type).lower().strip()
    if re.search(r"dependency (of|for)\b", phrase):
        return False
    other_first = "depend" in phrase
    return not other_first if phrase.endswith(" by") else other_first


def link_edge(issue_key: str, link: JiraLink) -> tuple[str, str, bool]:
    """(from_key, to_key, is_blocking); for blocking links from_key is the blocker."""
    blocking = is_blocking(link.link_type, link.outward_phrase)
    this_first = link.direction == "outward"
    if blocking and _other_is_blocker_on_outward(link.link_type, link.outward_phrase):
        this_first = not this_first
    return (issue_key, link.other_key, blocking) if this_first else (link.other_key, issue_key, blocking)


def status_category(issue: JiraIssue) -> str:
    if issue.status_category:
        return issue.status_category
    if issue.resolved_at is not None or (issue.status or "").lower() in DONE_STATUSES:
        return "Done"
    return "To Do"


def release_row(project_key: str | None, version: JiraVersion, source: str, source_file: str) -> dict:
    """A `releases` row: one per project and version name."""
    return {"id": f"{project_key}|{version.name}", "project_key": project_key, "version": version.name,
            "release_date": version.release_date, "released": version.released, "source": source, "source_file": source_file}


def add_issues(batch: Batch, issues: list[JiraIssue], settings: Settings, source: str, source_file: str) -> None:
    """Add the issues' rows (items, tags, transitions, links, releases, incidents, action items)."""
    incident_types = {t.lower() for t in settings.incident_issue_types}
    action_labels = {label.lower() for label in settings.action_item_labels}
    incident_keys = {i.key for i in issues if (i.issue_type or "").lower() in incident_types}
    src = {"source": source, "source_file": source_file}
    # Rows are appended to the tables' lists directly (a 1M-issue export makes millions of rows);
    # a table that gets no row is not added to the batch, as with Batch.add.
    tables = ("work_items", "work_item_tags", "status_transitions", "releases", "issue_links", "incidents",
              "action_items")
    new_tables = [t for t in tables if t not in batch.rows]
    items, tag_rows, transitions, releases, links, incidents, actions = (batch.rows.setdefault(t, []) for t in tables)
    edges: dict[tuple[str, str | None, str], tuple[bool, bool]] = {}  # (type, phrase, direction) -> (this first, blocking)
    for issue in issues:
        key = issue.key
        items.append({
            "id": key, "issue_id": issue.issue_id, "project_key": issue.project_key,
            "project_name": issue.project_name, "issue_type": issue.issue_type, "summary": issue.summary,
            "status": issue.status, "status_category": status_category(issue), "priority": issue.priority,
            "resolution": issue.resolution, "assignee": issue.assignee, "reporter": issue.reporter,
            "team": issue.team, "created_at": issue.created_at, "updated_at": issue.updated_at,
            "resolved_at": issue.resolved_at, "due_date": issue.due_date, "parent_key": issue.parent_key,
            "epic_key": issue.epic_key, "story_points": issue.story_points, **src,
        })
        tags = [("component", v) for v in issue.components]
        if issue.labels:
            tags += [("label", v) for v in issue.labels]
        if issue.fix_versions:
            tags += [("fix_version", v.name) for v in issue.fix_versions]
        if issue.affects_versions:
            tags += [("affects_version", v) for v in issue.affects_versions]
        if issue.sprints:
            tags += [("sprint", v) for v in issue.sprints]
        for kind, value in (dict.fromkeys(tags) if len(tags) > 1 else tags):
            tag_rows.append({"id": f"{key}|{kind}|{value}", "item_key": key, "kind": kind, "value": value})
        for t in issue.transitions:
            transitions.append({
                "id": f"{key}|{t.changed_at.isoformat()}|{t.to_status}", "item_key": key,
                "changed_at": t.changed_at, "from_status": t.from_status, "to_status": t.to_status, "author": t.author,
            })
        for v in issue.fix_versions:
            if v.release_date is not None or v.released is not None:
                releases.append(release_row(issue.project_key, v, source, source_file))
        linked_incidents = []
        for link in issue.links:
            kind = (link.link_type, link.outward_phrase, link.direction)
            if kind not in edges:  # link_edge depends only on these, not on the keys
                a, _, blocking = link_edge("this", JiraLink(link.link_type, link.direction, "other", link.outward_phrase))
                edges[kind] = (a == "this", blocking)
            this_first, blocking = edges[kind]
            a, b = (key, link.other_key) if this_first else (link.other_key, key)
            links.append({"id": f"{a}|{link.link_type}|{b}", "from_key": a, "to_key": b,
                          "link_type": link.link_type, "is_blocking": blocking, **src})
            if link.other_key in incident_keys:
                linked_incidents.append(link.other_key)
        if key in incident_keys:
            incidents.append({
                "id": key, "service": issue.components[0] if issue.components else None,
                "severity": issue.priority, "title": issue.summary, "status": issue.status,
                "started_at": issue.created_at, "resolved_at": issue.resolved_at, "deployment_ref": None,
                "jira_key": key, **src,
            })
        elif linked_incidents or (action_labels and issue.labels
                                  and action_labels & {label.lower() for label in issue.labels}):
            actions.append({
                "id": key, "incident_id": linked_incidents[0] if linked_incidents else None, "squad": None,
                "title": issue.summary, "owner": issue.assignee, "status": issue.status,
                "created_at": issue.created_at, "due_date": issue.due_date, "resolved_at": issue.resolved_at,
                "jira_key": key, **src,
            })
    for t in new_tables:
        if not batch.rows[t]:
            del batch.rows[t]
    keys = [i.key for i in issues]
    batch.owned["work_item_tags"] = ("item_key", keys)
    batch.owned["status_transitions"] = ("item_key", [i.key for i in issues if i.transitions])

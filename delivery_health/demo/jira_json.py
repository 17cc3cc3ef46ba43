"""Write demo issues as saved Jira Cloud enhanced-search results.

Each file holds the pages of one `POST /rest/api/3/search/jql` run (`fields=*all`,
`expand=changelog,names,schema`, 100 issues a page): `{issues, nextPageToken, isLast,
names, schema}`, with the Team, Sprint and Story point custom fields under site ids.
"""

from __future__ import annotations

import json
import zlib
from datetime import date, timedelta
from pathlib import Path

from delivery_health.demo.jira import Issue, Link, Project, Version
from delivery_health.demo.model import SQUADS, Demo, Person, iso_jira

SITE = "https://acme.atlassian.net"
PAGE_SIZE = 100
ISSUES_PER_FILE = 1000
TEAM, POINTS, SPRINT = "customfield_10001", "customfield_10016", "customfield_10020"
NAMES = {TEAM: "Team", POINTS: "Story point estimate", SPRINT: "Sprint", "customfield_10019": "Rank"}
SCHEMA = {
    TEAM: {"type": "team", "custom": "com.atlassian.teams:rm-teams-custom-field-team", "customId": 10001},
    POINTS: {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float", "customId": 10016},
    SPRINT: {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint", "customId": 10020},
}
_STATUS = {
    "To Do": ("10000", 2, "new", "blue-gray", "To Do"),
    "In Progress": ("3", 4, "indeterminate", "yellow", "In Progress"),
    "In Review": ("10002", 4, "indeterminate", "yellow", "In Progress"),
    "Done": ("10001", 3, "done", "green", "Done"),
}
_TYPE_IDS = {"Story": "10001", "Bug": "10004", "Task": "10002", "Spike": "10005", "Incident": "10006"}
_PRIORITY_IDS = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4"}


def _status(name: str) -> dict:
    sid, cid, key, colour, cat = _STATUS[name]
    return {"self": f"{SITE}/rest/api/3/status/{sid}", "name": name, "id": sid,
            "statusCategory": {"id": cid, "key": key, "colorName": colour, "name": cat}}


def _issuetype(name: str) -> dict:
    return {"id": _TYPE_IDS[name], "name": name, "subtask": False, "hierarchyLevel": 0}


def _user(p: Person | None) -> dict | None:
    if p is None:
        return None
    return {"accountId": p.account_id, "displayName": p.name, "active": True, "accountType": "atlassian",
            "timeZone": "Etc/UTC"}


def _sprint(demo: Demo, project: Project, n: int) -> dict:
    start = demo.start + timedelta(days=(n - 1) * 14)
    end = start + timedelta(days=14)
    state = "closed" if end <= demo.now else "active" if start <= demo.now else "future"
    board = SQUADS.index(project.squad) + 1
    out = {"id": 1000 * board + n, "name": project.sprint_name(n), "state": state, "boardId": board, "goal": "",
           "startDate": iso_jira(start), "endDate": iso_jira(end)}
    if state == "closed":
        out["completeDate"] = iso_jira(end)
    return out


def _link(issue: Issue, link: Link, index: dict[str, Issue]) -> dict:
    other = index[link.other_key]
    # The same link shows on both issues with one id: outward side's id first.
    pair = (issue.id, other.id) if link.direction == "outward" else (other.id, issue.id)
    phrases = {"Blocks": ("10000", "is blocked by", "blocks"), "Relates": ("10003", "relates to", "relates to")}
    tid, inward, outward = phrases[link.link_type]
    side = "outwardIssue" if link.direction == "outward" else "inwardIssue"
    return {"id": f"{pair[0]}{pair[1]}",
            "type": {"id": tid, "name": link.link_type, "inward": inward, "outward": outward},
            side: {"id": str(other.id), "key": other.key,
                   "fields": {"summary": other.summary, "status": _status(other.status),
                              "issuetype": _issuetype(other.issue_type)}}}


def _changelog(issue: Issue) -> dict:
    histories = [{
        "id": str(issue.id * 10 + n), "author": {"displayName": m.author, "active": True},
        "created": iso_jira(m.at),
        "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                   "from": _STATUS[m.from_status][0], "fromString": m.from_status,
                   "to": _STATUS[m.to_status][0], "toString": m.to_status}],
    } for n, m in enumerate(issue.moves)]
    return {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}


def _version(v: Version, today: date) -> dict:
    vid = zlib.crc32(v.name.encode()) % 10**6
    return {"self": f"{SITE}/rest/api/3/version/{vid}", "id": str(vid), "name": v.name,
            "archived": False, "released": v.released(today), "releaseDate": v.release_date.isoformat()}


def issue_json(demo: Demo, project: Project, issue: Issue, index: dict[str, Issue]) -> dict:
    squad = project.squad
    fields = {
        "summary": issue.summary, "issuetype": _issuetype(issue.issue_type),
        "project": {"id": str(20000 + ord(squad.project_key[0])), "key": squad.project_key, "name": squad.project_name,
                    "projectTypeKey": "software"},
        "status": _status(issue.status),
        "priority": {"id": _PRIORITY_IDS[issue.priority], "name": issue.priority},
        "resolution": {"id": "10000" if issue.resolution == "Done" else "10001", "name": issue.resolution}
        if issue.resolution else None,
        "resolutiondate": iso_jira(issue.resolved) if issue.resolved else None,
        "created": iso_jira(issue.created), "updated": iso_jira(issue.updated or issue.created),
        "duedate": issue.due.isoformat() if issue.due else None,
        "labels": issue.labels,
        "components": [{"id": str(30000 + squad.services.index(c)) if c in squad.services else "39999", "name": c}
                       for c in issue.components],
        "fixVersions": [_version(v, demo.as_of) for v in issue.fix_versions],
        "versions": [],
        "assignee": _user(issue.assignee), "reporter": _user(issue.reporter), "creator": _user(issue.reporter),
        "issuelinks": [_link(issue, link, index) for link in issue.links],
        TEAM: {"id": f"a1b2c3d4-0000-4000-8000-{ord(squad.name[0]):012d}", "name": squad.name, "title": squad.name,
               "isVisible": True, "isVerified": True, "isShared": True},
        POINTS: issue.story_points,
        SPRINT: [_sprint(demo, project, n) for n in issue.sprints] or None,
        "customfield_10019": f"0|i{issue.id:05d}:",
    }
    return {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields", "id": str(issue.id),
            "self": f"{SITE}/rest/api/3/issue/{issue.id}", "key": issue.key, "fields": fields,
            "changelog": _changelog(issue)}


def _pages(docs: list[dict], token_seed: str) -> list[dict]:
    pages = []
    for n in range(0, len(docs), PAGE_SIZE):
        last = n + PAGE_SIZE >= len(docs)
        page = {"issues": docs[n:n + PAGE_SIZE], "isLast": last, "names": NAMES, "schema": SCHEMA}
        if not last:
            page["nextPageToken"] = f"{token_seed}{n // PAGE_SIZE + 1:04d}"
        pages.append(page)
    return pages


def write(demo: Demo, project: Project, index: dict[str, Issue], out: Path) -> list[Path]:
    """The project's issues in files of 1000; its incidents and action items in a file of their own."""
    key = project.squad.project_key
    folder = out / "jira"
    folder.mkdir(parents=True, exist_ok=True)
    regular = [i for i in project.issues if not i.incident_file]
    groups = [(f"{key}-search-{n // ISSUES_PER_FILE + 1:02d}.json", regular[n:n + ISSUES_PER_FILE])
              for n in range(0, len(regular), ISSUES_PER_FILE)]
    incident_issues = [i for i in project.issues if i.incident_file]
    if incident_issues:
        groups.append((f"{key}-incidents-search.json", incident_issues))
    paths = []
    for name, issues in groups:
        docs = [issue_json(demo, project, i, index) for i in issues]
        path = folder / name
        path.write_text(json.dumps(_pages(docs, f"CAEa{key}"), separators=(",", ":")), encoding="utf-8")
        paths.append(path)
    return paths

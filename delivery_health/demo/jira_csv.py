"""Write demo issues as Jira Cloud "Export -> CSV (all fields)" files, plus a releases-csv.

The quirks of the real export are kept: one column per value of a multi-value field
(repeated `Labels`, `Sprint`, `Fix versions`, `Components`, issue-link columns) sized
by the largest count in the file, `12/Mar/24 3:45 PM` dates without a zone, multi-line
descriptions, and release dates absent (they come from the releases CSV).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from delivery_health.demo.jira import Issue, Project
from delivery_health.demo.model import Demo, jira_csv_date, jira_csv_time

_CATEGORY = {"To Do": "To Do", "In Progress": "In Progress", "In Review": "In Progress", "Done": "Done"}
_LINK_COLUMNS = (("Blocks", "inward"), ("Blocks", "outward"), ("Relates", "inward"), ("Relates", "outward"))


def _description(issue: Issue) -> str:
    if issue.issue_type == "Bug":
        return (f"*Steps to reproduce:*\n# Open {issue.components[0] if issue.components else 'the app'}\n"
                f"# Trigger the flow\n\n*Expected:* it works\r\n*Actual:* it does not")
    if issue.issue_type == "Story":
        return f"As a customer I want to {issue.summary.lower()}.\n\nh3. Acceptance criteria\n* covered by tests\n* documented"
    return ""


def _links(issue: Issue, link_type: str, direction: str) -> list[str]:
    return [link.other_key for link in issue.links if link.link_type == link_type and link.direction == direction]


def _multi(issues: list[Issue], get: Callable[[Issue], list[str]]) -> int:
    return max([len(get(i)) for i in issues] + [1])


def write_issues(demo: Demo, project: Project, issues: list[Issue], path: Path, bom: bool = False) -> Path:
    """One export file; the header's repeated columns are as wide as this file's largest value list."""
    getters: list[tuple[str, Callable[[Issue], list[str]]]] = [
        ("Fix versions", lambda i: [v.name for v in i.fix_versions]),
        ("Components", lambda i: i.components),
        ("Labels", lambda i: i.labels),
    ]
    getters += [(f"{d.title()} issue link ({t})", lambda i, t=t, d=d: _links(i, t, d)) for t, d in _LINK_COLUMNS]
    getters.append(("Sprint", lambda i: [project.sprint_name(n) for n in i.sprints]))
    widths = {name: _multi(issues, get) for name, get in getters}
    head = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Project key", "Project name", "Project type",
            "Project lead", "Priority", "Resolution", "Assignee", "Assignee Id", "Reporter", "Reporter Id",
            "Created", "Updated", "Last Viewed", "Resolved"]
    tail = ["Custom field (Rank)", "Custom field (Story point estimate)", "Custom field (Team)", "Status Category",
            "Status Category Changed"]
    header = head + [n for n, _ in getters[:2] for _ in range(widths[n])] + ["Due date", "Votes"]
    header += ["Labels"] * widths["Labels"] + ["Description"]
    header += [n for n, _ in getters[3:-1] for _ in range(widths[n])] + ["Sprint"] * widths["Sprint"] + tail
    path.parent.mkdir(parents=True, exist_ok=True)
    squad = project.squad
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for i in issues:
            values = {name: get(i) + [""] * (widths[name] - len(get(i))) for name, get in getters}
            changed = i.moves[-1].at if i.moves else i.created
            row = [i.summary, i.key, str(i.id), i.issue_type, i.status, squad.project_key, squad.project_name,
                   "software", demo.people(squad)[0].name, i.priority, i.resolution or "",
                   i.assignee.name if i.assignee else "", i.assignee.account_id if i.assignee else "",
                   i.reporter.name, i.reporter.account_id, jira_csv_time(i.created),
                   jira_csv_time(i.updated or i.created), "", jira_csv_time(i.resolved) if i.resolved else ""]
            row += values["Fix versions"] + values["Components"]
            row += [jira_csv_date(i.due) if i.due else "", "0"] + values["Labels"] + [_description(i)]
            for name, _ in getters[3:-1]:
                row += values[name]
            row += values["Sprint"]
            row += [f"0|i{i.id:05d}:", f"{i.story_points:g}" if i.story_points is not None else "", squad.name,
                    _CATEGORY[i.status], jira_csv_time(changed)]
            w.writerow(row)
    return path


def write(demo: Demo, project: Project, out: Path, bom: bool = False) -> list[Path]:
    key = project.squad.project_key
    regular = [i for i in project.issues if not i.incident_file]
    paths = [write_issues(demo, project, regular, out / "jira" / f"{key}-all-fields.csv", bom)]
    incident_issues = [i for i in project.issues if i.incident_file]
    if incident_issues:
        paths.append(write_issues(demo, project, incident_issues, out / "jira" / f"{key}-incidents.csv", bom))
    return paths


def write_releases(demo: Demo, projects: list[Project], out: Path) -> Path:
    """releases-csv: the fix versions (with dates) of the projects exported as CSV."""
    path = out / "jira" / "releases.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["project", "version", "release_date", "released"])
        for p in projects:
            for v in p.versions:
                w.writerow([p.squad.project_key, v.name, v.release_date.isoformat(),
                            "true" if v.released(demo.as_of) else "false"])
    return path

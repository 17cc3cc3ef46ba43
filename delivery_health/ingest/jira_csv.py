"""Jira issue-navigator CSV exports ("CSV (all fields)" / "CSV (current fields)"), Cloud and Data Center.

A multi-value field is exported as one column per value, all with the same name, and
column names changed between Jira eras (`Component/s` then `Components`). So the header
is grouped by a normalised name and read through aliases; never by position.
Dates carry no zone: they are read in ``settings.jira_timezone``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from delivery_health.ingest import jira_common, parsing
from delivery_health.ingest.base import Batch, RejectedFile
from delivery_health.ingest.jira_common import JiraIssue, JiraLink, JiraVersion
from delivery_health.settings import Settings

_LINK = re.compile(r"^(inward|outward) issue link \((.+)\)$")
_ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$")
# Story points written with a decimal comma by European Excel (`2,5`); a thousands
# separator would be followed by three digits.
_DECIMAL_COMMA = re.compile(r"^(-?\d+),(\d{1,2})$")


def _norm(name: str) -> str:
    """Header name for matching: case and spacing ignored, `Component/s` read as `Components`."""
    s = " ".join(name.split()).lower()
    s = re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", s))
    return re.sub(r"/s\b", "s", s)


@dataclass
class _Columns:
    """Column positions by normalised header name (a name may repeat)."""

    header: list[str]
    by_name: dict[str, list[int]] = field(default_factory=dict)
    links: list[tuple[str, str, list[int]]] = field(default_factory=list)  # (link type, direction, positions)

    @classmethod
    def of(cls, header: list[str]) -> _Columns:
        cols = cls(header)
        for i, name in enumerate(header):
            cols.by_name.setdefault(_norm(name), []).append(i)
        for norm, positions in cols.by_name.items():
            m = _LINK.match(norm)
            if m:  # the link type keeps the header's spelling ("Blocks", "Problem/Incident")
                name = header[positions[0]]
                link_type = name[name.index("(") + 1:name.rindex(")")].strip()
                cols.links.append((link_type, m.group(1), positions))
        return cols

    def has(self, *names: str) -> bool:
        return any(n in self.by_name for n in names)

    def label(self, *names: str) -> str:
        """The file's own spelling of the first of ``names`` present, for messages."""
        for n in names:
            if n in self.by_name:
                return self.header[self.by_name[n][0]]
        return names[0]

    def values(self, row: list[str], *names: str) -> list[str]:
        """Non-empty cells of every column called one of ``names``, in file order, without repeats."""
        cells = (row[i].strip() for n in names for i in self.by_name.get(n, ()) if i < len(row))
        return list(dict.fromkeys(c for c in cells if c))

    def first(self, row: list[str], *names: str) -> str | None:
        found = self.values(row, *names)
        return found[0] if found else None


def _timestamp(cols: _Columns, row: list[str], n: int, tz: str, *names: str) -> datetime | None:
    value = cols.first(row, *names)
    try:
        return parsing.parse_jira_datetime(value, tz)
    except ValueError:
        raise RejectedFile(f"{cols.label(*names)} {value!r} is not a date Jira exports", row=n) from None


def _day(cols: _Columns, row: list[str], n: int, *names: str) -> date | None:
    value = cols.first(row, *names)
    try:
        return parsing.parse_jira_date(value)
    except ValueError:
        raise RejectedFile(f"{cols.label(*names)} {value!r} is not a date Jira exports", row=n) from None


def _story_points(cols: _Columns, row: list[str], n: int) -> float | None:
    names = ("custom field (story points)", "custom field (story point estimate)")
    value = cols.first(row, *names)
    if value is None:
        return None
    m = _DECIMAL_COMMA.match(value)
    try:
        return float(f"{m.group(1)}.{m.group(2)}") if m else parsing.parse_float(value)
    except ValueError:
        raise RejectedFile(f"{cols.label(*names)} {value!r} is not a number", row=n) from None


def _issue(cols: _Columns, row: list[str], n: int, tz: str) -> tuple[JiraIssue, str | None]:
    """One record as a JiraIssue, plus its raw `Parent`/`Parent id` (a numeric issue id) to resolve."""
    key = cols.first(row, "issue key")
    if key is None:
        raise RejectedFile("Issue key '' is empty: every record of a Jira export has one", row=n)
    created = _timestamp(cols, row, n, tz, "created")
    if created is None and cols.has("created"):
        raise RejectedFile(f"{cols.label('created')} '' is empty: Jira always fills it", row=n)
    links = [JiraLink(link_type, direction, other)
             for link_type, direction, positions in cols.links
             for other in dict.fromkeys(row[i].strip() for i in positions if i < len(row) and row[i].strip())]
    issue = JiraIssue(
        key=key, issue_id=cols.first(row, "issue id"), project_key=cols.first(row, "project key"),
        project_name=cols.first(row, "project name"), issue_type=cols.first(row, "issue type"),
        summary=cols.first(row, "summary"), status=cols.first(row, "status"),
        status_category=cols.first(row, "status category"),  # absent before ~2021: jira_common infers it
        priority=cols.first(row, "priority"), resolution=cols.first(row, "resolution"),
        assignee=cols.first(row, "assignee"), reporter=cols.first(row, "reporter"),
        team=cols.first(row, "custom field (team)"), created_at=created,
        updated_at=_timestamp(cols, row, n, tz, "updated"), resolved_at=_timestamp(cols, row, n, tz, "resolved"),
        due_date=_day(cols, row, n, "due date"), parent_key=cols.first(row, "parent key"),
        epic_key=cols.first(row, "custom field (epic link)"), story_points=_story_points(cols, row, n),
        components=cols.values(row, "components"), labels=cols.values(row, "labels"),
        fix_versions=[JiraVersion(v) for v in cols.values(row, "fix versions")],  # names only in CSV
        affects_versions=cols.values(row, "affects versions"), sprints=cols.values(row, "sprint"),
        links=links,
    )
    return issue, cols.first(row, "parent id", "parent")


def _resolve_parents(issues: list[tuple[JiraIssue, str | None]]) -> None:
    """`Parent`/`Parent id` hold the parent's numeric issue id: map it to a key via this file's `Issue id`.

    A parent outside the export stays unknown; a parent that is an Epic is also the epic
    (Cloud 2025+ dropped `Epic Link` for `Parent`).
    """
    by_id = {i.issue_id: i for i, _ in issues if i.issue_id}
    by_key = {i.key: i for i, _ in issues}
    for issue, parent_ref in issues:
        if issue.parent_key is None and parent_ref:
            parent = by_id.get(parent_ref)
            issue.parent_key = parent.key if parent else (parent_ref if _ISSUE_KEY.match(parent_ref) else None)
        parent = by_key.get(issue.parent_key or "")
        if issue.epic_key is None and parent is not None and (parent.issue_type or "").lower() == "epic":
            issue.epic_key = parent.key


def _mirror_links(issues: list[JiraIssue]) -> None:
    """Give each linked issue in the file the other side of the link.

    Exports before ~2022 carry only Outward columns, so "B is blocked by A" lives only on
    A's row; mirroring lets B see its links too (e.g. an action item linked from its
    incident). Both sides make the same edge id, which jira_common stores once.
    """
    by_key = {i.key: i for i in issues}
    for issue in issues:
        for link in list(issue.links):
            other = by_key.get(link.other_key)
            if other is None or other is issue:
                continue
            back = JiraLink(link.link_type, "inward" if link.direction == "outward" else "outward", issue.key)
            if not any((x.link_type, x.direction, x.other_key) == (back.link_type, back.direction, back.other_key)
                       for x in other.links):
                other.links.append(back)


def load(path: Path, settings: Settings) -> Batch:
    """Parse a Jira CSV export into work items, tags, links, incidents and action items."""
    header, records = parsing.csv_cell_records(parsing.read_text(path))
    cols = _Columns.of(header)
    if not cols.has("issue key"):
        raise RejectedFile("no 'Issue key' column: not a Jira issue export, or one with localised headers "
                           f"(the header starts {', '.join(header[:6])})", row=1)
    batch = Batch(read=len(records))
    parsed = [(n, *_issue(cols, row, n, settings.jira_timezone)) for n, row in records]
    # The store's identity of an issue is its key (1:1 with Issue id within one export):
    # the last record of a key wins, the earlier ones are reported as skipped.
    last_row = {issue.key: n for n, issue, _ in parsed}
    kept = []
    for n, issue, parent_ref in parsed:
        if last_row[issue.key] != n:
            batch.skip(n, f"duplicate of row {last_row[issue.key]} ({issue.key})")
        else:
            kept.append((issue, parent_ref))
    _resolve_parents(kept)
    issues = [issue for issue, _ in kept]
    _mirror_links(issues)
    jira_common.add_issues(batch, issues, settings, source="jira-csv", source_file=str(path))
    return batch

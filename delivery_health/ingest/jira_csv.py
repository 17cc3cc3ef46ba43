"""Jira issue-navigator CSV exports ("CSV (all fields)" / "CSV (current fields)"), Cloud and Data Center.

A multi-value field is exported as one column per value, all with the same name, and
column names changed between Jira eras (`Component/s` then `Components`). So the header
is grouped by a normalised name and read through aliases; never by position.
Dates carry no zone: they are read in ``settings.jira_timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from delivery_health.ingest import jira_common, jira_csv_columnar, parsing
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

    def positions(self, *names: str) -> list[int]:
        """Positions of every column called one of ``names``, names in the given order."""
        return [i for n in names for i in self.by_name.get(n, ())]


class _Cells:
    """The records' cells column by column, stripped, each column read once.

    Work is per column, not per cell (1M-issue exports): a field's positions are looked
    up once and its cells picked by list indexing in C.
    """

    def __init__(self, cols: _Columns, rows: list[list[str]]):
        width = len(cols.header)
        self.cols = cols
        self.n = len(rows)
        # A short record (Excel drops trailing empty cells) reads as empty cells; cells past the
        # header are ignored. Transposed in one pass over the records (zip stops at the shortest).
        padded = [r if len(r) >= width else r + [""] * (width - len(r)) for r in rows]
        self._raw = list(zip(*padded)) if padded else [() for _ in range(width)]
        self._columns: dict[int, list[str]] = {}

    def column(self, i: int) -> list[str]:
        if i not in self._columns:
            self._columns[i] = list(map(str.strip, self._raw[i]))
        return self._columns[i]

    def first(self, *names: str) -> list[str | None]:
        """Per record, the first non-empty cell of the columns called one of ``names`` (file order), or None."""
        positions = self.cols.positions(*names)
        if not positions:
            return [None] * self.n
        found = [c or None for c in self.column(positions[0])]
        for i in positions[1:]:
            found = [f if f is not None else (c or None) for f, c in zip(found, self.column(i))]
        return found

    def values(self, *names: str) -> list[list[str]]:
        """Per record, the non-empty cells of every column called one of ``names``, in file order, without repeats."""
        return self.values_at(self.cols.positions(*names))

    def values_at(self, positions: list[int]) -> list[list[str]]:
        if not positions:
            return [[] for _ in range(self.n)]
        if len(positions) == 1:
            return [[c] if c else [] for c in self.column(positions[0])]
        return [list(dict.fromkeys(filter(None, t))) if any(t) else []
                for t in zip(*(self.column(i) for i in positions))]


def _parsed(values: list[str | None], parse: Callable[[str], Any]) -> tuple[list[Any], int | None]:
    """``parse`` of each value (None stays None) and the index of the first value it refused (or None).

    Each distinct string is parsed once: exports repeat the same story points.
    """
    distinct = set(values)
    distinct.discard(None)
    try:
        memo: dict[str | None, Any] = dict(zip(distinct, map(parse, distinct)))
    except ValueError:  # some value is bad: find which, then its first record
        bad = set()
        for v in distinct:
            try:
                parse(v)
            except ValueError:
                bad.add(v)
        return [], next(i for i, v in enumerate(values) if v in bad)
    memo[None] = None
    return list(map(memo.__getitem__, values)), None


def _story_points(value: str) -> float | None:
    m = _DECIMAL_COMMA.match(value)
    return float(f"{m.group(1)}.{m.group(2)}") if m else parsing.parse_float(value)


def _issues(cols: _Columns, records: list[tuple[int, list[str]]], tz: str) -> list[tuple[JiraIssue, str | None]]:
    """Each record as a JiraIssue, plus its raw `Parent`/`Parent id` (a numeric issue id) to resolve.

    A bad record rejects the file at the first bad record, and within it at the first bad
    field in this order: key, created, updated, resolved, due date, story points.
    """
    numbers = [n for n, _ in records]
    cells = _Cells(cols, [row for _, row in records])
    problems: list[tuple[int, int, str]] = []  # (record index, check order, reason)

    def checked(order: int, raw: list[str | None], names: tuple[str, ...],
                read: Callable[[list[str | None]], tuple[list[Any], int | None]], what: str) -> list[Any]:
        values, bad = read(raw)
        if bad is not None:
            problems.append((bad, order, f"{cols.label(*names)} {raw[bad]!r} is not {what}"))
            return [None] * cells.n
        return values

    def parsed(order: int, names: tuple[str, ...], read: Callable[[list[str | None]], tuple[list[Any], int | None]],
               what: str) -> list[Any]:
        return checked(order, cells.first(*names), names, read, what)

    keys = cells.first("issue key")
    if None in keys:
        problems.append((keys.index(None), 0, "Issue key '' is empty: every record of a Jira export has one"))
    jira_date = "a date Jira exports"
    times = parsing.JiraTimes(tz)
    raw_created = cells.first("created")
    created = checked(1, raw_created, ("created",), times.column, jira_date)
    if cols.has("created") and None in raw_created:
        problems.append((raw_created.index(None), 2, f"{cols.label('created')} '' is empty: Jira always fills it"))
    updated = parsed(3, ("updated",), times.column, jira_date)
    resolved = parsed(4, ("resolved",), times.column, jira_date)
    due = parsed(5, ("due date",), lambda raw: times.column(raw, days=True), jira_date)
    points = parsed(6, ("custom field (story points)", "custom field (story point estimate)"),
                    lambda raw: _parsed(raw, _story_points), "a number")
    if problems:
        index, _, reason = min(problems)
        raise RejectedFile(reason, row=numbers[index])

    links: list[list[JiraLink]] = [[] for _ in range(cells.n)]
    for link_type, direction, positions in cols.links:
        for row_links, others in zip(links, cells.values_at(positions)):
            row_links.extend(JiraLink(link_type, direction, other) for other in others)
    fix_versions = [[JiraVersion(v) for v in names] if names else [] for names in cells.values("fix versions")]
    columns = {
        "key": keys, "issue_id": cells.first("issue id"), "project_key": cells.first("project key"),
        "project_name": cells.first("project name"), "issue_type": cells.first("issue type"),
        "summary": cells.first("summary"), "status": cells.first("status"),
        "status_category": cells.first("status category"),  # absent before ~2021: jira_common infers it
        "priority": cells.first("priority"), "resolution": cells.first("resolution"),
        "assignee": cells.first("assignee"), "reporter": cells.first("reporter"),
        "team": cells.first("custom field (team)"), "created_at": created, "updated_at": updated,
        "resolved_at": resolved, "due_date": due, "parent_key": cells.first("parent key"),
        "epic_key": cells.first("custom field (epic link)"), "story_points": points,
        "components": cells.values("components"), "labels": cells.values("labels"),
        "fix_versions": fix_versions,  # names only in CSV
        "affects_versions": cells.values("affects versions"), "sprints": cells.values("sprint"), "links": links,
    }
    # Positional arguments in the dataclass's field order (the fields after these keep their defaults).
    in_order = [columns[f.name] for f in fields(JiraIssue)[:len(columns)]]
    issues = list(map(JiraIssue, *in_order))
    return list(zip(issues, cells.first("parent id", "parent")))


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
        if not issue.links:
            continue
        for link in list(issue.links):
            other = by_key.get(link.other_key)
            if other is None or other is issue:
                continue
            back = JiraLink(link.link_type, "inward" if link.direction == "outward" else "outward", issue.key)
            if not any((x.link_type, x.direction, x.other_key) == (back.link_type, back.direction, back.other_key)
                       for x in other.links):
                other.links.append(back)


def _columns_of(header: list[str]) -> _Columns:
    cols = _Columns.of(header)
    if not cols.has("issue key"):
        raise RejectedFile("no 'Issue key' column: not a Jira issue export, or one with localised headers "
                           f"(the header starts {', '.join(header[:6])})", row=1)
    return cols


def load(path: Path, settings: Settings) -> Batch:
    """Parse a Jira CSV export into work items, tags, links, incidents and action items.

    A UTF-8 file is first offered to the columnar reader (``jira_csv_columnar``); what it leaves
    (another encoding, or anything it would have to report) is read here record by record.
    """
    utf8 = parsing.utf8_csv_header(path)
    if utf8 is not None:
        header, delimiter = utf8
        batch = jira_csv_columnar.batch_of(path, _columns_of(header), delimiter, settings, _story_points, str(path))
        if batch is not None:
            return batch
    header, records = parsing.csv_cell_records(parsing.read_text(path))
    return load_records(_columns_of(header), records, path, settings)


def load_records(cols: _Columns, records: list[tuple[int, list[str]]], path: Path, settings: Settings) -> Batch:
    """The record-by-record reader: any Jira CSV, and the row and reason of the first bad record."""
    batch = Batch(read=len(records))
    numbers = [n for n, _ in records]
    parsed = _issues(cols, records, settings.jira_timezone)
    del records  # the cells are in the issues now: free the records before the rows are built
    # The store's identity of an issue is its key (1:1 with Issue id within one export):
    # the last record of a key wins, the earlier ones are reported as skipped.
    last_row = dict(zip((issue.key for issue, _ in parsed), numbers))
    kept = parsed
    if len(last_row) < len(parsed):
        kept = []
        for n, (issue, parent_ref) in zip(numbers, parsed):
            if last_row[issue.key] != n:
                batch.skip(n, f"duplicate of row {last_row[issue.key]} ({issue.key})")
            else:
                kept.append((issue, parent_ref))
    _resolve_parents(kept)
    issues = [issue for issue, _ in kept]
    _mirror_links(issues)
    jira_common.add_issues(batch, issues, settings, source="jira-csv", source_file=str(path))
    return batch

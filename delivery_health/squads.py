"""Squad mapping: `squad,source,match` rules turned into SQL CASE expressions.

The first matching rule in file order wins; `match` is case-insensitive and `*` is a
wildcard. A work item no rule maps falls back to its Team field, everything else to
``unassigned``. Because the mapping is compiled into the metric queries, editing the
file changes the attribution of rows loaded long ago too.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from delivery_health import store

UNASSIGNED = "unassigned"
SOURCES = ("jira_project", "jira_component", "jira_team", "jira_label", "repository", "service", "pagerduty_service")
_TAG_SOURCES = {"jira_component": "component", "jira_label": "label"}


class SquadMappingError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    squad: str
    source: str
    match: str

    def like_pattern(self) -> str:
        escaped = self.match.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return escaped.replace("*", "%")


def load_rules(path: str | Path | None) -> list[Rule]:
    """Read the mapping file; a missing file means no rules (everything by Team field or unassigned)."""
    if path is None or not Path(path).exists():
        return []
    rules: list[Rule] = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = {"squad", "source", "match"} - set(reader.fieldnames or [])
        if missing:
            raise SquadMappingError(f"{path}: header must be squad,source,match (missing {', '.join(sorted(missing))})")
        for n, row in enumerate(reader, start=2):
            squad = (row.get("squad") or "").strip()
            source = (row.get("source") or "").strip().lower()
            match = (row.get("match") or "").strip()
            if not squad and not match:
                continue
            if source not in SOURCES:
                raise SquadMappingError(f"{path}: row {n}: unknown source {source!r} (one of {', '.join(SOURCES)})")
            if not squad or not match:
                raise SquadMappingError(f"{path}: row {n}: squad and match are required")
            rules.append(Rule(squad, source, match))
    return rules


def fingerprint(rules: list[Rule], **basis: object) -> str:
    """A digest of the squad rules and ``basis`` (JSON-serialisable): what a precomputed set depends on besides
    the data, so a set built for other rules or settings is not read."""
    everything = {"rules": [[r.squad, r.source, r.match] for r in rules], **basis}
    return hashlib.sha256(json.dumps(everything, sort_keys=True).encode()).hexdigest()


def _matches(col: ColumnElement, rule: Rule) -> ColumnElement:
    return sa.func.lower(col).like(rule.like_pattern(), escape="\\")


def _tag_matches(item_key: ColumnElement, kind: str, rule: Rule) -> ColumnElement:
    t = store.work_item_tags
    return sa.exists().where(t.c.item_key == item_key, t.c.kind == kind, _matches(t.c.value, rule))


def squad_case(
    rules: list[Rule],
    fields: dict[str, ColumnElement],
    item_key: ColumnElement | None = None,
    team: ColumnElement | None = None,
    explicit: ColumnElement | None = None,
) -> ColumnElement:
    """SQL expression giving a record's squad.

    ``fields`` maps rule sources (``jira_project``, ``service``, ...) to the record's
    columns; ``item_key`` (a Jira key) enables component/label rules; ``explicit`` is a
    squad named by the export itself, which wins over the rules.
    """
    whens = []
    for rule in rules:
        if rule.source in _TAG_SOURCES and item_key is not None:
            whens.append((_tag_matches(item_key, _TAG_SOURCES[rule.source], rule), rule.squad))
        elif rule.source == "jira_team" and team is not None:
            whens.append((_matches(team, rule), rule.squad))
        elif rule.source in fields:
            whens.append((_matches(fields[rule.source], rule), rule.squad))
    fallback: ColumnElement = sa.literal(UNASSIGNED)
    if team is not None:
        fallback = sa.func.coalesce(sa.func.nullif(team, ""), fallback)
    expr = sa.case(*whens, else_=fallback) if whens else fallback
    if explicit is not None:
        expr = sa.func.coalesce(sa.func.nullif(explicit, ""), expr)
    return expr


def work_item_squad(rules: list[Rule], wi: sa.Table | None = None) -> ColumnElement:
    wi = store.work_items if wi is None else wi
    return squad_case(rules, {"jira_project": wi.c.project_key}, item_key=wi.c.id, team=wi.c.team)


def service_squad(rules: list[Rule], service: ColumnElement, repository: ColumnElement | None = None) -> ColumnElement:
    """Squad of a deployment or commit by its service (and repository, when known)."""
    fields = {"service": service, "repository": repository if repository is not None else service}
    return squad_case(rules, fields)


def _with_jira(table: sa.Table, name: str) -> sa.Subquery:
    """``table``'s rows with their Jira issue's ``jira_project`` and ``jira_team`` (NULL without one), by one
    outer join: a correlated lookup inside every rule's CASE branch would scan the issues once per rule."""
    wi = store.work_items
    return (sa.select(table, wi.c.project_key.label("jira_project"), wi.c.team.label("jira_team"))
            .select_from(table.outerjoin(wi, wi.c.id == table.c.jira_key)).subquery(name))


def incidents_with_jira() -> sa.Subquery:
    """Every incident column plus ``jira_project`` and ``jira_team``, for ``incident_squad``."""
    return _with_jira(store.incidents, "incidents_jira")


def action_items_with_jira() -> sa.Subquery:
    """Every action-item column plus ``jira_project`` and ``jira_team``, for ``action_item_squad``."""
    return _with_jira(store.action_items, "action_items_jira")


def incident_squad(rules: list[Rule], inc: sa.Subquery) -> ColumnElement:
    """Service rules first; a Jira incident also matches its project, team, components and labels.
    ``inc`` is ``incidents_with_jira()``."""
    fields = {"service": inc.c.service, "pagerduty_service": inc.c.service, "repository": inc.c.service,
              "jira_project": inc.c.jira_project}
    return squad_case(rules, fields, item_key=inc.c.jira_key, team=inc.c.jira_team)


def action_item_squad(rules: list[Rule], ai: sa.Subquery) -> ColumnElement:
    """The export's own squad column wins; else Jira rules on the item's issue. ``ai`` is ``action_items_with_jira()``."""
    return squad_case(rules, {"jira_project": ai.c.jira_project}, item_key=ai.c.jira_key, team=ai.c.jira_team,
                      explicit=ai.c.squad)

"""Squad mapping: first match wins, wildcards, Team fallback, unassigned, edits re-attribute old rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from delivery_health import squads, store
from delivery_health.ingest import write_batch
from delivery_health.ingest.base import Batch


def _load(engine) -> None:
    b = Batch(read=4)
    for key, project, team in [("PAY-1", "PAY", None), ("PAY-2", "PAY", "Rebels"), ("OPS-1", "OPS", "Platform"),
                               ("MISC-1", "MISC", None)]:
        b.add("work_items", {"id": key, "project_key": project, "team": team})
    b.add("work_item_tags", {"id": "MISC-1|component|Search-API", "item_key": "MISC-1", "kind": "component",
                             "value": "Search-API"})
    b.add("deployments", {"id": "d1", "service": "payments-api", "repository": "acme/payments-api", "is_rework": False})
    b.add("deployments", {"id": "d2", "service": "legacy-batch", "repository": "acme/legacy-batch", "is_rework": False})
    write_batch(engine, "fixture", "test", b)


def _work_item_squads(engine, path: Path) -> dict[str, str]:
    rules = squads.load_rules(path)
    wi = store.work_items
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(wi.c.id, squads.work_item_squad(rules))).all())


def test_first_match_wins_with_wildcards_and_fallbacks(engine, tmp_path: Path) -> None:
    path = tmp_path / "squads.csv"
    path.write_text("squad,source,match\n"
                    "Payments,jira_project,pay\n"          # PAY-1 and PAY-2 (case-insensitive)
                    "Other,jira_project,PAY\n"             # never reached for PAY: the first rule won
                    "Search,jira_component,search-*\n"     # MISC-1 through its component, wildcard
                    "Payments,repository,acme/pay*\n")
    _load(engine)
    assert _work_item_squads(engine, path) == {
        "PAY-1": "Payments", "PAY-2": "Payments",  # a rule beats the Team field
        "OPS-1": "Platform",                        # no rule: Team field
        "MISC-1": "Search",
    }
    dep = store.deployments
    with engine.connect() as conn:
        got = dict(conn.execute(sa.select(dep.c.id, squads.service_squad(squads.load_rules(path), dep.c.service,
                                                                             dep.c.repository))).all())
    assert got == {"d1": "Payments", "d2": squads.UNASSIGNED}  # no rule, no Team field: unassigned


def test_editing_the_file_reattributes_old_rows(engine, tmp_path: Path) -> None:
    path = tmp_path / "squads.csv"
    path.write_text("squad,source,match\nPayments,jira_project,PAY\n")
    _load(engine)
    assert _work_item_squads(engine, path)["PAY-1"] == "Payments"
    path.write_text("squad,source,match\nCheckout,jira_project,PAY\n")
    assert _work_item_squads(engine, path)["PAY-1"] == "Checkout"


def test_unknown_source_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "squads.csv"
    path.write_text("squad,source,match\nPayments,jira_projekt,PAY\n")
    with pytest.raises(squads.SquadMappingError, match="row 2: unknown source 'jira_projekt'"):
        squads.load_rules(path)

"""Dependency risk on hand-computed fixtures, on DuckDB and PostgreSQL, and the CLI JSON contract.

Fixture tests/fixtures/dependencies/jira_outward_only.csv (a Jira CSV with only *Outward*
link columns, like pre-2022 exports; Team field = squad) plus releases.csv (APP 1.0 on
2024-07-10, APP 1.1 on 2024-08-01). As-of 2024-06-15, stale after 14 days, so a blocker
last updated on 2024-06-01 is stale and one updated on 2024-06-02 is not.

    APP-1  (Platform, fix 1.0 -> lands 07-10)  blocks APP-2 (Web, due 07-01) -> late, cross-team
    APP-1                                      blocks OUT-1 (not in the export: unknown, open)
    APP-3  (Platform, no dates, upd. 06-01)    blocks APP-4 (Platform, fix 1.1 + 1.0 -> needs 07-10)
                                               -> unscheduled and stale, same team
    APP-5 (Web, due 07-01, upd. 06-02) -> APP-6 (Web, due 07-01) -> APP-7 (Mobile) -> APP-8 (Mobile)
                                               -> a 3-chain: depths 1, 2, 3; land == need is not late
    APP-9 <-> APP-10 (Mobile) a cycle;  APP-10 blocks APP-12 -> depth 2 (cycle counts one level)
    APP-13 (Done) blocks APP-2, APP-2 blocks APP-14 (Done) -> closed, not listed
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.metrics import catalog, dependencies, quarterly
from delivery_health.metrics.params import MetricParams
from delivery_health.settings import Settings

FIX = Path(__file__).parent / "fixtures" / "dependencies"
AS_OF = date(2024, 6, 15)


def _load(db_url: str, tmp_path: Path, *files: str, squads: str | None = None):
    settings = Settings(db_url=db_url, squads_path=str(FIX / squads) if squads else str(tmp_path / "none.csv"))
    engine = store.make_engine(db_url)
    for name in files:
        ingest_file(engine, FIX / name, settings)
    return engine, settings


@pytest.fixture
def csv_db(db_url: str, tmp_path: Path):
    engine, settings = _load(db_url, tmp_path, "jira_outward_only.csv", "releases.csv")
    yield engine, settings
    engine.dispose()


def _by_pair(result: dependencies.DependencyRisk) -> dict[tuple[str, str], dict]:
    """Rows by (blocker, blocked), missing values as None (pandas shows them as NaN in text columns)."""
    return {(r["blocker_key"], r["blocked_key"]): {k: (None if _missing(v) else v) for k, v in r.items()}
            for r in result.rows.to_dict("records")}


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def test_open_dependencies_and_direction_from_outward_only_csv(csv_db) -> None:
    engine, settings = csv_db
    rows = _by_pair(dependencies.dependency_risk(engine, settings, AS_OF))
    # 9 open links; the two touching a Done item (APP-13, APP-14) are closed. Each outward
    # "Blocks" cell makes the row's issue the blocker, so APP-1 -> APP-2 and not the reverse.
    assert set(rows) == {("APP-1", "APP-2"), ("APP-1", "OUT-1"), ("APP-3", "APP-4"), ("APP-5", "APP-6"),
                         ("APP-6", "APP-7"), ("APP-7", "APP-8"), ("APP-9", "APP-10"), ("APP-10", "APP-9"),
                         ("APP-10", "APP-12")}


def test_late_unscheduled_stale_cross_team(csv_db) -> None:
    engine, settings = csv_db
    rows = _by_pair(dependencies.dependency_risk(engine, settings, AS_OF))
    late = rows[("APP-1", "APP-2")]
    # need = APP-2's due date 07-01 (wins over its fix version 1.1); land = APP-1's fix version 1.0 = 07-10.
    assert (late["need_date"], late["land_date"], late["need_release"], late["land_release"]) == (
        date(2024, 7, 1), date(2024, 7, 10), None, "1.0")
    assert late["late"] and not late["unscheduled"] and not late["stale"] and late["at_risk"]
    assert late["cross_team"] and (late["blocker_squad"], late["blocked_squad"]) == ("Platform", "Web")
    assert late["risk_reason"] == "lands 9 days late"  # 07-10 - 07-01
    unscheduled = rows[("APP-3", "APP-4")]
    # APP-4 is in 1.1 (08-01) and 1.0 (07-10): the earliest, 1.0, gives the need date. APP-3 has no date.
    assert (unscheduled["need_date"], unscheduled["need_release"], unscheduled["land_date"]) == (
        date(2024, 7, 10), "1.0", None)
    # APP-3 was last updated 2024-06-01 23:30, 14 days before the as-of date: stale (boundary included).
    assert unscheduled["unscheduled"] and unscheduled["stale"] and unscheduled["at_risk"]
    assert not unscheduled["cross_team"]
    on_time = rows[("APP-5", "APP-6")]
    # land 07-01 == need 07-01 is not late; APP-5 updated 06-02 is 13 days old, not stale.
    assert not (on_time["late"] or on_time["stale"] or on_time["at_risk"])
    outside = rows[("APP-1", "OUT-1")]
    # OUT-1 is not in the export: status unknown (still open), squad unassigned, no need date -> not at risk.
    assert outside["blocked_status"] is None
    assert outside["blocked_squad"] == "unassigned" and outside["cross_team"] and not outside["at_risk"]


def test_depth_of_a_chain_and_a_cycle_reported_not_followed(csv_db) -> None:
    engine, settings = csv_db
    result = dependencies.dependency_risk(engine, settings, AS_OF)
    depth = {b: r["depth"] for (a, b), r in _by_pair(result).items()}
    # APP-5 -> APP-6 -> APP-7 -> APP-8: APP-8 has three open blockers in line behind it.
    assert (depth["APP-6"], depth["APP-7"], depth["APP-8"]) == (1, 2, 3)
    # The APP-9 <-> APP-10 cycle counts as one level; APP-12 behind APP-10 is at depth 2, and the
    # computation finished (a followed cycle would never end).
    assert (depth["APP-9"], depth["APP-10"], depth["APP-12"]) == (1, 1, 2)
    assert result.cycles == [["APP-10", "APP-9"]]  # in blocking order from the smallest key


def test_summary_and_squad_pairs(csv_db) -> None:
    engine, settings = csv_db
    s = dependencies.summary(dependencies.dependency_risk(engine, settings, AS_OF))
    # cross-team: APP-1->APP-2 (Platform->Web), APP-1->OUT-1 (->unassigned), APP-6->APP-7 (Web->Mobile).
    assert {k: s[k] for k in ("open", "cross_team", "late", "unscheduled", "stale", "at_risk")} == {
        "open": 9, "cross_team": 3, "late": 1, "unscheduled": 1, "stale": 1, "at_risk": 2}
    pairs = {(p["blocker_squad"], p["blocked_squad"]): (p["open"], p["at_risk"]) for p in s["squad_pairs"]}
    # Mobile->Mobile: APP-7->8, APP-9->10, APP-10->9, APP-10->12.
    assert pairs == {("Platform", "Web"): (1, 1), ("Platform", "unassigned"): (1, 0), ("Platform", "Platform"): (1, 1),
                     ("Web", "Web"): (1, 0), ("Web", "Mobile"): (1, 0), ("Mobile", "Mobile"): (4, 0)}


def test_at_risk_by_squad_pair_and_the_scorecard_count(csv_db) -> None:
    engine, settings = csv_db
    # At risk: APP-1->APP-2 (late, Platform->Web) and APP-3->APP-4 (unscheduled and stale, Platform->Platform).
    assert sorted(dependencies.at_risk_by_squad_pair(engine, settings, AS_OF)) == [
        ("Platform", "Platform", 1), ("Platform", "Web", 1)]
    # Counted once per squad on either side, once for the organisation: Platform is in both, Web in one.
    assert quarterly._at_risk(engine, settings, AS_OF) == {None: 2, "Platform": 2, "Web": 1}
    # A day later APP-5 (updated 06-02) is 14 days old: stale, so Web->Web is at risk too.
    later = dependencies.at_risk_by_squad_pair(engine, settings, date(2024, 6, 16))
    assert sorted(later) == [("Platform", "Platform", 1), ("Platform", "Web", 1), ("Web", "Web", 1)]


def test_squad_and_release_filters(csv_db) -> None:
    engine, settings = csv_db
    web = dependencies.dependency_risk(engine, settings, AS_OF, squads=("Web",))
    # Either side in Web: APP-1->APP-2, APP-5->APP-6, APP-6->APP-7; depth still counts the whole chain.
    assert set(zip(web.rows["blocker_key"], web.rows["blocked_key"])) == {
        ("APP-1", "APP-2"), ("APP-5", "APP-6"), ("APP-6", "APP-7")}
    assert dict(zip(web.rows["blocked_key"], web.rows["depth"]))["APP-7"] == 2
    assert web.cycles == []  # the Mobile cycle is outside the selection
    release = dependencies.dependency_risk(engine, settings, AS_OF, release="1.1")
    # Blocked items with fix version 1.1: APP-2 and APP-4.
    assert sorted(release.rows["blocked_key"]) == ["APP-2", "APP-4"]
    # Release options: fix versions of blocked items, earliest release first (1.0 is APP-4's too).
    assert dependencies.release_options(engine, settings) == ["1.0", "1.1"]


def test_direction_from_jira_json(db_url: str, tmp_path: Path) -> None:
    engine, settings = _load(db_url, tmp_path, "jira_search.json", squads="squads.csv")
    rows = _by_pair(dependencies.dependency_risk(engine, settings, AS_OF))
    # WEB-1 "is blocked by" API-1 (and API-1 "blocks" WEB-1: one link, stored once);
    # WEB-2 "depends on" API-2, so API-2 is the blocker.
    assert set(rows) == {("API-1", "WEB-1"), ("API-2", "WEB-2")}
    first, second = rows[("API-1", "WEB-1")], rows[("API-2", "WEB-2")]
    # WEB-1 needs its fix version 2.0's JSON release date 07-01; API-1 is due 07-05: late by 4 days.
    assert (first["need_date"], first["need_release"], first["land_date"]) == (date(2024, 7, 1), "2.0", date(2024, 7, 5))
    assert first["late"] and first["cross_team"] and (first["blocker_squad"], first["blocked_squad"]) == ("Platform", "Web")
    # API-2 due 06-20 lands before WEB-2's need 06-25: fine.
    assert not second["late"] and not second["at_risk"]
    engine.dispose()


def test_empty_store(duckdb_url: str, tmp_path: Path) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(tmp_path / "none.csv"))
    engine = store.make_engine(duckdb_url)
    result = dependencies.dependency_risk(engine, settings, AS_OF)
    assert result.empty and dependencies.summary(result)["open"] == 0
    store.init_db(engine)
    assert dependencies.cli_result(engine, settings, MetricParams(as_of=AS_OF))["rows"] == []


def test_cli_json_contract(duckdb_url: str, tmp_path: Path) -> None:
    engine, settings = _load(duckdb_url, tmp_path, "jira_outward_only.csv", "releases.csv")
    engine.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "delivery_health", "metrics", "dependencies", "--db", duckdb_url,
         "--squads", settings.squads_path, "--as-of", "2024-06-15", "--squad", "Platform", "--format", "json"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    result = json.loads(out.stdout)
    assert result["metric"] == "dependencies" and result["params"]["squads"] == ["Platform"]
    assert set(result["rows"][0]) == set(dependencies.ROW_COLUMNS)
    # Platform on either side: APP-1->APP-2, APP-1->OUT-1, APP-3->APP-4.
    late = next(r for r in result["rows"] if r["blocked_key"] == "APP-2")
    assert (late["need_date"], late["land_date"], late["late"], late["depth"]) == ("2024-07-01", "2024-07-10", True, 1)
    assert {k: result["summary"][k] for k in ("open", "cross_team", "late", "unscheduled", "stale", "at_risk")} == {
        "open": 3, "cross_team": 2, "late": 1, "unscheduled": 1, "stale": 1, "at_risk": 2}
    assert result["summary"]["cycles"] == []
    assert {"blocker_squad": "Platform", "blocked_squad": "Web", "open": 1, "at_risk": 1} in result["summary"]["squad_pairs"]


def test_precomputed_edges_are_read_while_current_and_the_same(db_url: str, tmp_path: Path) -> None:
    """``refresh`` stores the open dependencies; they are read only while data and squad rules are unchanged."""
    from delivery_health.metrics import dora_facts
    from delivery_health.squads import load_rules

    squads = tmp_path / "squads.csv"
    squads.write_text((FIX / "squads.csv").read_text())
    engine, settings = _load(db_url, tmp_path, "jira_outward_only.csv", "releases.csv")
    settings = Settings(db_url=db_url, squads_path=str(squads))
    live = dependencies.dependency_risk(engine, settings, AS_OF).rows
    assert dora_facts.refresh(engine, settings).rows["dependencies"] == 9  # the 9 open links above
    with engine.connect() as conn:
        assert dependencies.is_current(conn, load_rules(settings.squads_path))
    with engine.begin() as conn:  # proof the stored rows are what is read: mark one of them
        conn.execute(store.dependency_edges.update().where(store.dependency_edges.c.blocker_key == "APP-1")
                     .values(blocker_summary="from the stored edges"))
    stored = dependencies.dependency_risk(engine, settings, AS_OF).rows
    marked = stored["blocker_key"] == "APP-1"
    assert set(stored.loc[marked, "blocker_summary"]) == {"from the stored edges"}
    # Everything else is what the query computes, staleness included (it moves with the as-of date).
    others = [c for c in dependencies.COLUMNS if c != "blocker_summary"]
    assert stored[others].equals(live[others])
    assert stored.loc[~marked].equals(live.loc[~marked])
    # The release filter's options come from the data catalogue written by the same refresh: give 1.1 an
    # earlier release date there than 1.0's 10 July, and it is listed first.
    assert dependencies.release_options(engine, settings) == ["1.0", "1.1"]
    with engine.begin() as conn:
        c = store.data_catalog.c
        conn.execute(store.data_catalog.update().where(c.kind == catalog.BLOCKED_RELEASE, c.value == "1.1")
                     .values(value="1.1 (stored)", first_at=datetime(2020, 1, 1)))
    assert dependencies.release_options(engine, settings) == ["1.1 (stored)", "1.0"]
    # An edited squad mapping: the stored squads no longer apply, so the query computes them.
    squads.write_text("squad,source,match\nCore,jira_project,APP\n")
    with engine.connect() as conn:
        assert not dependencies.is_current(conn, load_rules(settings.squads_path))
    assert set(dependencies.dependency_risk(engine, settings, AS_OF).rows["blocker_squad"]) == {"Core"}
    # New data since the refresh (APP 1.1 moved to 20 June): computed in the query again, so APP-4 (fix
    # versions 1.1 and 1.0) now needs 20 June and the marked summary is gone.
    squads.write_text((FIX / "squads.csv").read_text())
    moved = tmp_path / "releases.csv"
    moved.write_text("project,version,release_date,released\nAPP,1.1,2024-06-20,false\n")
    ingest_file(engine, moved, settings, name="releases.csv")
    fresh = _by_pair(dependencies.dependency_risk(engine, settings, AS_OF))
    assert fresh[("APP-3", "APP-4")]["need_date"] == date(2024, 6, 20)
    assert fresh[("APP-1", "APP-2")]["blocker_summary"] != "from the stored edges"
    # computed again from the data: 1.1 (now 20 June) before 1.0 (10 July)
    assert dependencies.release_options(engine, settings) == ["1.1", "1.0"]
    engine.dispose()

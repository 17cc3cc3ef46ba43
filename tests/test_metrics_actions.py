"""Incident action items on hand-computed fixtures, on DuckDB and PostgreSQL, and the CLI JSON contract.

Fixtures tests/fixtures/actions/: incidents.csv, action_items.csv (explicit squads) and
squads.csv (services checkout and payments -> Payments, search -> Search). As-of 2024-06-15,
window 2024-04-01..2024-05-31 by month, so the April and May cohorts:

    April  A-1 Payments due 04-20, resolved 04-10 (7 days = 168 h)        resolved, on time
           A-2 Payments due 04-15, resolved 05-20 (47 days = 1128 h)      resolved, late
           A-3 Search   no due date, resolved after 24 h                  resolved
           A-4 Payments due 05-01, open                                   overdue 45 days (31-90)
           A-8 Search   due 06-30, resolved 06-20 (after the as-of date)  open, not yet overdue
    May    A-5 Payments due 06-10, open                                   overdue 5 days (1-7)
           A-6 Search   due 05-15, resolved 05-15 18:00 (108 h)           resolved on the due day: on time
           A-7 Payments no due date, open
    March  A-9 (outside the window)
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.metrics import actions
from delivery_health.metrics.params import MetricParams
from delivery_health.settings import Settings
from delivery_health.squads import load_rules

FIX = Path(__file__).parent / "fixtures" / "actions"
AS_OF = date(2024, 6, 15)
WINDOW = dict(start=date(2024, 4, 1), end=date(2024, 5, 31), as_of=AS_OF)


def _load(db_url: str):
    settings = Settings(db_url=db_url, squads_path=str(FIX / "squads.csv"))
    engine = store.make_engine(db_url)
    for name in ("incidents.csv", "action_items.csv"):
        ingest_file(engine, FIX / name, settings)
    return engine, settings


@pytest.fixture
def loaded(db_url: str):
    engine, settings = _load(db_url)
    yield engine, settings
    engine.dispose()


def _rows(frame) -> dict[tuple[str, str | None], dict]:
    out = {}
    for r in frame.to_dict("records"):
        r = {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
        out[(r["period_start"].isoformat(), r["squad"])] = r
    return out


FIELDS = ("items", "resolved", "closure_rate", "with_due_date", "resolved_on_time", "on_time_closure_rate", "overdue",
          "time_to_close_median_hours")


def test_cohort_closure_on_time_overdue_and_time_to_close(loaded) -> None:
    engine, settings = loaded
    rows = _rows(actions.cohorts(engine, settings, by="month", **WINDOW))
    got = {k: tuple(pytest.approx(r[f]) if isinstance(r[f], float) else r[f] for f in FIELDS) for k, r in rows.items()}
    assert got == {
        # April, all: 5 items, 3 resolved (A-8 resolved only after the as-of date) = 0.6; due dates on
        # on time only A-1 = 0.25; A-4 overdue; median of 168, 1128, 24 h = 168.
        ("2024-04-01", None): (5, 3, 0.6, 4, 1, 0.25, 1, 168.0),
        # April Payments: 2/3 resolved, 1/3 on time, median of 168 and 1128 = 648.
        ("2024-04-01", "Payments"): (3, 2, 2 / 3, 3, 1, 1 / 3, 1, 648.0),
        # April Search: A-3 resolved without a due date; A-8 due but still open.
        ("2024-04-01", "Search"): (2, 1, 0.5, 1, 0, 0.0, 0, 24.0),
        # May, all; A-6 resolved on its due day (on time), 108 h; A-5 overdue.
        ("2024-05-01", None): (3, 1, 1 / 3, 2, 1, 0.5, 1, 108.0),
        # May Payments: nothing resolved, so no median (null, not 0).
        ("2024-05-01", "Payments"): (2, 0, 0.0, 1, 0, 0.0, 1, None),
        ("2024-05-01", "Search"): (1, 1, 1.0, 1, 1, 1.0, 0, 108.0),
    }


def test_periods_whole_quarter_and_squad_filter(loaded) -> None:
    engine, settings = loaded
    quarter = _rows(actions.cohorts(engine, settings, by="quarter", **WINDOW))
    # All eight April-May items fall in Q2 2024 (A-9, created in March, is Q1).
    assert quarter[("2024-04-01", None)]["items"] == 8
    search = _rows(actions.cohorts(engine, settings, by="month", squads=("Search",), **WINDOW))
    # Only Search rows and Search totals: April and May A-6.
    assert set(search) == {("2024-04-01", "Search"), ("2024-04-01", None), ("2024-05-01", "Search"), ("2024-05-01", None)}
    assert search[("2024-04-01", None)]["items"] == 2


def test_quarter_cohorts_follow_the_fiscal_year(loaded) -> None:
    engine, settings = loaded
    # A fiscal year starting in May has quarters Feb-Apr and May-Jul: the window 1 Apr - 31 May widens to
    # 1 Feb - the as-of day. Feb-Apr holds A-1..A-4, A-8 and A-9 (1 March); May-Jul holds.
    fiscal = _rows(actions.cohorts(engine, replace(settings, fiscal_year_start_month=5), by="quarter", **WINDOW))
    assert {k: r["items"] for k, r in fiscal.items() if k[1] is None} == {("2024-02-01", None): 6,
                                                                         ("2024-05-01", None): 3}
    # A-9 was resolved on 5 March and A-3 on 6 April: both in the Feb-Apr cohort's 4 resolved with.
    assert fiscal[("2024-02-01", None)]["resolved"] == 4


def test_items_overdue_ageing(loaded) -> None:
    engine, settings = loaded
    listed = actions.items(engine, settings, by="month", **WINDOW).set_index("item_id")
    overdue = listed[listed["overdue"]]
    # A-4 due 05-01: 45 days before 06-15; A-5 due 06-10: 5 days.
    assert dict(overdue["days_overdue"]) == {"A-4": 45, "A-5": 5}
    assert dict(overdue["overdue_bucket"]) == {"A-4": "31-90 days", "A-5": "1-7 days"}
    assert listed.loc["A-6", "on_time"] and listed.loc["A-2", "resolved"] and not listed.loc["A-2", "on_time"]
    assert listed.loc["A-2", "hours_to_close"] == pytest.approx(1128.0)


def test_repeat_incidents(loaded) -> None:
    engine, settings = loaded
    repeats = actions.repeat_incidents(engine, settings, **WINDOW)
    # INC-2 (checkout, 05-10 08:00): INC-1's A-2 (resolved 05-20), A-4 and A-8 (open) were still open.
    # INC-3 (search, 05-12): INC-0's only item A-9 was resolved in March. INC-6 (payments, 05-06 10:00):
    # INC-5's item A-7 was created only at 12:00. INC-4 (06-01) started after the window.
    assert list(repeats["incident_id"]) == ["INC-2"]
    assert (repeats.loc[0, "open_item_count"], repeats.loc[0, "earlier_incident_count"]) == (3, 1)
    assert repeats.loc[0, "squad"] == "Payments"  # checkout -> Payments by the service rule
    assert actions.repeat_incidents(engine, settings, squads=("Search",), **WINDOW).empty
    lists = actions.repeat_item_lists(engine, settings, **WINDOW)
    assert lists.loc[0, ["incident_id", "open_items", "earlier_incidents"]].tolist() == [
        "INC-2", "A-2, A-4, A-8", "INC-1"]
    behind = actions.repeat_incident_items(engine, settings, "INC-2")
    assert list(behind["item_id"]) == ["A-2", "A-4", "A-8"] and set(behind["earlier_incident_id"]) == {"INC-1"}
    assert behind.set_index("item_id").loc["A-4", "title"] == "Load test checkout"


def test_item_squads_precomputed_read_while_current(db_url: str, tmp_path: Path) -> None:
    from delivery_health.metrics import dora_facts

    mapping = tmp_path / "squads.csv"
    mapping.write_bytes((FIX / "squads.csv").read_bytes())
    engine, settings = _load(db_url)
    settings = replace(settings, squads_path=str(mapping))
    live = (actions.cohorts(engine, settings, by="month", **WINDOW), actions.items(engine, settings, **WINDOW))
    assert dora_facts.refresh(engine, settings).rows["action item squads"] == 9  # A-1 .. A-9
    with engine.connect() as conn:
        assert actions.squads_current(conn, load_rules(str(mapping)))
    stored = (actions.cohorts(engine, settings, by="month", **WINDOW), actions.items(engine, settings, **WINDOW))
    assert stored[0].equals(live[0]) and stored[1].equals(live[1])
    with engine.begin() as conn:  # proof the stored squads are what is read
        conn.execute(store.action_item_squads.update().where(store.action_item_squads.c.item_id == "A-1")
                     .values(squad="Elsewhere"))
    assert actions.items(engine, settings, **WINDOW).set_index("item_id").loc["A-1", "squad"] == "Elsewhere"
    # An edited mapping: the squads are computed in the query again (A-1's own squad column says Payments).
    with open(mapping, "a", encoding="utf-8") as fh:
        fh.write("\nPlatform,service,platform-*\n")
    assert actions.items(engine, settings, **WINDOW).set_index("item_id").loc["A-1", "squad"] == "Payments"
    engine.dispose()


def test_repeat_incidents_precomputed_read_while_current(loaded, tmp_path: Path) -> None:
    from delivery_health.metrics import dora_facts

    engine, settings = loaded
    live = actions.repeat_incidents(engine, settings, **WINDOW)
    june = dict(start=date(2024, 6, 1), end=date(2024, 6, 30), as_of=AS_OF)
    live_june = actions.repeat_incidents(engine, settings, **june)
    # Every incident's counts, whatever the window: INC-2 and INC-4 (checkout, 06-01 10:00, after INC-1 and INC-2:
    # open, A-8 resolved only on 06-20; resolved before).
    assert dora_facts.refresh(engine, settings).rows["repeat incidents"] == 2
    with engine.connect() as conn:
        assert actions.repeats_current(conn)
    assert actions.repeat_incidents(engine, settings, **WINDOW).equals(live)
    stored_june = actions.repeat_incidents(engine, settings, **june)
    assert stored_june.equals(live_june)
    assert stored_june.loc[0, ["incident_id", "open_item_count", "earlier_incident_count"]].tolist() == ["INC-4", 3, 2]
    assert actions.repeat_item_lists(engine, settings, **june).loc[0, ["open_items", "earlier_incidents"]].tolist() == [
        "A-4, A-5, A-8", "INC-1, INC-2"]
    with engine.begin() as conn:  # proof the stored rows are what is read
        conn.execute(store.incident_repeats.update().values(open_item_count=99))
    assert actions.repeat_incidents(engine, settings, **WINDOW).loc[0, "open_item_count"] == 99
    # A new item since the refresh: computed in the query again, with it.
    extra = tmp_path / "more_items.csv"
    extra.write_text("item_id,incident_id,squad,title,created_at,due_date,resolved_at,status,owner\n"
                     "A-10,INC-1,Payments,Rate limit,2024-04-09T00:00:00Z,,,To Do,ana\n")
    ingest_file(engine, extra, settings)
    with engine.connect() as conn:
        assert not actions.repeats_current(conn)
    assert actions.repeat_incidents(engine, settings, **WINDOW).loc[0, "open_item_count"] == 4
    assert actions.repeat_item_lists(engine, settings, **WINDOW).loc[0, "open_items"] == "A-10, A-2, A-4, A-8"


def _open_at(items: list[dict], incidents: dict[str, dict], later: dict) -> list[dict]:
    """METRICS.md's repeat-incident definition, literally: the items of earlier incidents of ``later``'s service
    open when it started (created at or before, or without a creation time; not resolved by then)."""
    t = later["started_at"]
    return [i for i in items
            if (e := incidents[i["incident_id"]])["service"] == later["service"] and e["started_at"] < t
            and (i["created_at"] is None or i["created_at"] <= t)
            and (i["resolved_at"] is None or i["resolved_at"] > t)]


def test_repeat_counts_follow_the_definition_at_every_tie(db_url: str, tmp_path: Path) -> None:
    """The counts come from a sweep over open intervals, not from the pairs the definition speaks of; on
    times drawn from a coarse grid (incidents starting together, items created or resolved exactly when
    an incident starts, created before their own incident, resolved before created, without a creation
    time or a service) they must still be the definition's, computed here in Python, before and after
    the refresh that stores them."""
    import random
    from datetime import datetime, timedelta

    from delivery_health.metrics import dora_facts

    rng = random.Random(7)
    grid = [datetime(2024, 5, 1) + timedelta(hours=h) for h in range(12)]
    incidents = {f"I{n:02d}": {"id": f"I{n:02d}", "service": rng.choice(["a", "b", None]),
                               "started_at": rng.choice(grid)} for n in range(30)}
    items = []
    for n in range(80):
        own = incidents[rng.choice(sorted(incidents))]
        created = rng.choice([None, own["started_at"], rng.choice(grid)])
        items.append({"id": f"X{n:02d}", "incident_id": own["id"], "created_at": created,
                      "resolved_at": rng.choice([None, rng.choice(grid), rng.choice(grid)])})

    def stamp(t: datetime | None) -> str:
        return "" if t is None else f"{t:%Y-%m-%dT%H:%M:%S}Z"

    inc_csv, item_csv = tmp_path / "incidents.csv", tmp_path / "action_items.csv"
    inc_csv.write_text("incident_id,service,severity,started_at,resolved_at,deployment_ref,title\n" + "".join(
        f"{i['id']},{i['service'] or ''},SEV3,{stamp(i['started_at'])},,,t\n" for i in incidents.values()))
    item_csv.write_text("item_id,incident_id,squad,title,created_at,due_date,resolved_at,status,owner\n" + "".join(
        f"{i['id']},{i['incident_id']},S,t,{stamp(i['created_at'])},,{stamp(i['resolved_at'])},To Do,o\n"
        for i in items))
    settings = Settings(db_url=db_url, squads_path=str(tmp_path / "none.csv"))
    engine = store.make_engine(db_url)
    for path in (inc_csv, item_csv):
        ingest_file(engine, path, settings)
    expected = {}
    for later in incidents.values():
        open_items = _open_at(items, incidents, later)
        if later["service"] is not None and open_items:
            expected[later["id"]] = (len(open_items), len({i["incident_id"] for i in open_items}))
    assert len(expected) >= 10  # the draw has plenty of repeats (and of ties) to compare
    window = dict(start=date(2024, 5, 1), end=date(2024, 5, 1), as_of=date(2024, 5, 1))

    def counts() -> dict[str, tuple[int, int]]:
        frame = actions.repeat_incidents(engine, settings, **window)
        return {r.incident_id: (r.open_item_count, r.earlier_incident_count) for r in frame.itertuples()}

    with engine.connect() as conn:
        assert not actions.repeats_current(conn)
    assert counts() == expected  # computed in the query
    dora_facts.refresh(engine, settings)
    with engine.connect() as conn:
        assert actions.repeats_current(conn)
    assert counts() == expected  # read from incident_repeats
    lists = actions.repeat_item_lists(engine, settings, **window).set_index("incident_id")
    for incident_id in expected:
        want = sorted(i["id"] for i in _open_at(items, incidents, incidents[incident_id]))
        assert lists.loc[incident_id, "open_items"] == ", ".join(want)
    engine.dispose()


def test_empty_store(duckdb_url: str, tmp_path: Path) -> None:
    settings = Settings(db_url=duckdb_url, squads_path=str(tmp_path / "none.csv"))
    engine = store.make_engine(duckdb_url)
    assert actions.cohorts(engine, settings, **WINDOW).empty
    store.init_db(engine)
    result = actions.cli_result(engine, settings, MetricParams(as_of=AS_OF))
    assert result["rows"] == [] and result["summary"]["overdue_items"] == [] and result["summary"]["repeat_incidents"] == []


def test_cli_json_contract(duckdb_url: str) -> None:
    engine, settings = _load(duckdb_url)
    engine.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "delivery_health", "metrics", "actions", "--db", duckdb_url, "--squads",
         settings.squads_path, "--start", "2024-04-01", "--end", "2024-05-31", "--as-of", "2024-06-15",
         "--by", "month", "--format", "json"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    result = json.loads(out.stdout)
    assert result["metric"] == "actions" and result["params"]["by"] == "month"
    assert all(set(r) == set(actions.COLUMNS) for r in result["rows"])
    total = next(r for r in result["rows"] if r["period_start"] == "2024-05-01" and r["squad"] is None)
    # Same May totals as the metric test: 3 items, 1 resolved, on time 1 of 2, median 108 h.
    assert (total["items"], total["resolved"], total["on_time_closure_rate"], total["time_to_close_median_hours"]) == (
        3, 1, 0.5, 108.0)
    payments_may = next(r for r in result["rows"] if r["period_start"] == "2024-05-01" and r["squad"] == "Payments")
    assert payments_may["time_to_close_median_hours"] is None  # nothing resolved: null, never 0
    assert result["summary"] == {"target": 0.85, "overdue_items": ["A-4", "A-5"], "repeat_incidents": ["INC-2"]}

"""The quarterly scorecard on a hand-built fixture, on DuckDB and PostgreSQL; events and their annotations."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from delivery_health import store
from delivery_health.charts.annotations import with_events
from delivery_health.charts.scorecard import scorecard_table
from delivery_health.ingest import IngestError, ingest_file
from delivery_health.metrics import overview, quarterly
from delivery_health.settings import Settings

SQUADS = "squad,source,match\nAlpha,service,alpha-*\nAlpha,jira_project,ALP\nBeta,service,beta-*\n"


def _deployments() -> str:
    """Alpha: 2024Q1 one deployment every Monday, its commit 72 h old (13 weeks: 1 deployment day a week -> high;
    lead time 72 h -> high); 2024Q2 one deployment every day, commit 2 h old (7 days a week -> elite; 2 h -> elite).
    Beta deploys nothing."""
    lines = ["service,environment,status,started_at,finished_at,commit_sha,commit_time,ref,is_rework"]
    day = date(2024, 1, 1)  # a Monday
    while day <= date(2024, 6, 30):
        if day >= date(2024, 4, 1) or day.weekday() == 0:
            done = datetime.combine(day, datetime.min.time()) + timedelta(hours=12)
            age = timedelta(hours=2) if day >= date(2024, 4, 1) else timedelta(hours=72)
            lines.append(f"alpha-api,production,success,{done - timedelta(minutes=5):%Y-%m-%dT%H:%M:%SZ},"
                         f"{done:%Y-%m-%dT%H:%M:%SZ},sha{day:%Y%m%d},{done - age:%Y-%m-%dT%H:%M:%SZ},main,false")
        day += timedelta(days=1)
    return "\n".join(lines) + "\n"


# Alpha's items: 2024Q1 two, both resolved in Q1 (closure 1.0); 2024Q2 four, three resolved by 30 June
# (closure 0.75; the fourth is resolved in July, after the quarter's end, so it does not count).
ACTION_ITEMS = """item_id,incident_id,squad,title,created_at,due_date,resolved_at,status
A1,I1,Alpha,Add alert,2024-01-10T09:00:00Z,2024-02-01,2024-01-20T09:00:00Z,Done
A2,I1,Alpha,Fix retry,2024-02-10T09:00:00Z,2024-03-01,2024-02-20T09:00:00Z,Done
A3,I2,Alpha,Runbook,2024-04-10T09:00:00Z,2024-05-01,2024-04-20T09:00:00Z,Done
A4,I2,Alpha,Load test,2024-05-10T09:00:00Z,2024-06-01,2024-05-20T09:00:00Z,Done
A5,I3,Alpha,Capacity,2024-06-01T09:00:00Z,2024-06-20,2024-06-10T09:00:00Z,Done
A6,I3,Alpha,Chaos day,2024-06-05T09:00:00Z,2024-06-25,2024-07-05T09:00:00Z,Done
"""

# Alpha plans 1000 EUR a month. Spend: 1000 in each of Jan-Mar (as of 31 March: burn 3000 = plan 3000, variance 0 %),
# then 1200 in each of Apr-Jun (as of 30 June: burn 6600 vs plan 6000, variance +10 %).
BUDGET = "scope,category,month,amount,currency\n" + "".join(
    f"Alpha,cloud,2024-{m:02d},1000,EUR\n" for m in range(1, 13))
SPEND = "date,scope,category,vendor,amount,currency,reference\n" + "".join(
    f"2024-{m:02d}-15,Alpha,cloud,Cloudco,{1000 if m <= 3 else 1200},EUR,INV-{m}\n" for m in range(1, 7))

EVENTS = """date,end_date,kind,label,squad
2024-05-14,,release,Release 2024.05,
2024-06-20,2024-06-30,freeze,Half-year freeze,Beta
2023-12-20,2024-01-03,Freeze,Year-end freeze,
"""


@pytest.fixture
def loaded(db_url: str, tmp_path: Path):
    (tmp_path / "squads.csv").write_text(SQUADS)
    settings = Settings(db_url=db_url, squads_path=str(tmp_path / "squads.csv"))
    engine = store.make_engine(db_url)
    for name, text in (("deployments.csv", _deployments()), ("action_items.csv", ACTION_ITEMS),
                       ("budget.csv", BUDGET), ("spend.csv", SPEND), ("events.csv", EVENTS)):
        (tmp_path / name).write_text(text)
        ingest_file(engine, tmp_path / name, settings)
    yield engine, settings
    engine.dispose()


def test_scorecard_per_squad_with_the_previous_quarter(loaded) -> None:
    engine, settings = loaded
    card = quarterly.squad_scorecard(engine, settings, "2024 Q2", as_of=date(2024, 7, 15))
    rows = {r["squad"]: r for r in card.to_dict("records")}
    alpha = rows["Alpha"]
    assert (alpha["deployment_frequency_tier"], alpha["deployment_frequency_tier_previous"]) == ("elite", "high")
    assert (alpha["lead_time_tier"], alpha["lead_time_tier_previous"]) == ("elite", "high")
    # No incidents: a change failure rate of 0 is elite; no resolved incident gives no recovery tier.
    assert alpha["change_failure_rate_tier"] == "elite" and alpha["recovery_time_tier"] is None
    assert alpha["closure_rate"] == pytest.approx(0.75) and alpha["closure_rate_previous"] == pytest.approx(1.0)
    assert alpha["action_items"] == 4
    assert alpha["budget_currency"] == "EUR"
    assert alpha["budget_variance_pct"] == pytest.approx(0.10)
    assert alpha["budget_variance_pct_previous"] == pytest.approx(0.0)
    assert alpha["at_risk_dependencies"] == 0  # no Jira links loaded
    beta = rows["Beta"]
    assert beta["deployment_frequency_tier"] is None and pd.isna(beta["budget_variance_pct"])  # no budget lines
    # The organisation row: only Alpha deploys, so its tiers are Alpha's.
    assert rows[None]["deployment_frequency_tier"] == "elite" and rows[None]["closure_rate"] == pytest.approx(0.75)

    table = scorecard_table(card, "2024 Q2").set_index("Squad")
    assert table.loc["Alpha", "Deploy frequency"] == "elite ▲ (was high)"
    assert table.loc["Alpha", "Budget variance"] == "+10% (+10 pts) EUR"
    assert table.loc["Alpha", "Action-item closure"] == "75% (-25 pts)"
    # Each figure's page, filtered to the squad and quarter; the organisation row's links have no squad.
    assert table.loc["Alpha", "dora_link"] == "DORA_trends?period=2024+Q2&squad=Alpha"
    assert table.loc["Alpha", "budget_link"] == "Budget_burn?period=2024+Q2&squad=Alpha"
    assert table.loc["Alpha", "actions_link"] == "Action_items?period=2024+Q2&squad=Alpha"
    assert table.loc["Alpha", "dependencies_link"] == "Dependency_risk?period=2024+Q2&squad=Alpha"
    assert table.loc["All squads", "budget_link"] == "Budget_burn?period=2024+Q2"


def test_a_squad_selection_picks_rows_of_the_whole_scorecard(loaded) -> None:
    engine, settings = loaded
    whole = quarterly.squad_scorecard(engine, settings, "2024 Q2", as_of=date(2024, 7, 15))
    picked = quarterly.squad_scorecard(engine, settings, "2024 Q2", as_of=date(2024, 7, 15), squads=("Beta", "Nobody"))
    # The selected squads in the order given, then the organisation, whose figures stay the whole organisation's.
    assert list(picked["squad"]) == ["Beta", "Nobody", None]
    org = picked.iloc[2].to_dict()
    assert org["deployment_frequency_tier"] == "elite" and org["closure_rate"] == pytest.approx(0.75)
    assert picked.iloc[0].equals(whole[whole["squad"] == "Beta"].iloc[0].rename(0))
    # A squad with nothing loaded: no tiers, no budget, no items, nothing at risk.
    nobody = picked.iloc[1].to_dict()
    assert [nobody[f"{t}_tier"] for t in quarterly.TIERS] == [None] * 4
    assert (nobody["budget_currency"], nobody["action_items"], nobody["at_risk_dependencies"]) == (None, 0, 0)
    assert pd.isna(nobody["closure_rate"])


def test_a_running_quarter_ends_at_the_as_of_date() -> None:
    windows = quarterly.review_quarters("2024Q2", as_of=date(2024, 5, 15))
    assert windows == {"current": (date(2024, 4, 1), date(2024, 5, 15)),
                       "previous": (date(2024, 1, 1), date(2024, 3, 31))}


def test_events_in_a_window_for_a_squad(loaded) -> None:
    engine, settings = loaded
    # May-June: the release (everyone's) and Beta's freeze overlap; the year-end freeze does not.
    both = overview.events_in_window(engine, settings, date(2024, 5, 1), date(2024, 6, 30))
    assert list(both["label"]) == ["Release 2024.05", "Half-year freeze"]
    # Alpha's view drops Beta's freeze; the kind is stored lower-case.
    alpha = overview.events_in_window(engine, settings, date(2023, 12, 1), date(2024, 6, 30), squads=("alpha",))
    assert list(alpha["label"]) == ["Year-end freeze", "Release 2024.05"]
    assert list(alpha["kind"]) == ["freeze", "release"]

    import plotly.graph_objects as go

    fig = with_events(go.Figure(go.Scatter(x=[date(2024, 5, 1), date(2024, 6, 30)], y=[1, 2])), both)
    assert [s.type for s in fig.layout.shapes] == ["line", "rect"]  # a release is a line, a freeze a band
    assert [a.text for a in fig.layout.annotations] == ["Release 2024.05", "Half-year freeze (Beta)"]


def test_an_event_ending_before_it_starts_rejects_the_file(tmp_path: Path, duckdb_url: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text("date,end_date,kind,label,squad\n2024-05-01,,release,R1,\n2024-06-20,2024-06-01,freeze,F,\n")
    engine = store.make_engine(duckdb_url)
    with pytest.raises(IngestError) as err:
        ingest_file(engine, path, Settings(db_url=duckdb_url))
    assert err.value.row == 3 and "end_date" in err.value.reason
    assert store.is_empty(engine)  # nothing of the file was written

"""Budget burn metrics on hand-computed fixtures (tests/fixtures/budget), on DuckDB and PostgreSQL.

The fixture, as of 2024-04-10 (April has 30 days, so 10/30 of April has elapsed, the as-of day included):

payments EUR  budget: headcount 1000 a month Jan-Dec except April 1200, cloud 300 in April
              -> total 11 * 1000 + 1200 + 300 = 12500 (the 2023-12 and 2025-01 lines are outside 2024)
              spend: Dec-23 900, Jan 1100, Feb 1000, Mar 200 (cloud) + 1300, Apr-10 400, Apr-11 5000
payments USD  no budget; spend Feb 500
Search   USD  budget tooling 100 a month Jan-Jun = 600; spend Jan-15 300, Mar-01 250, Apr-02 100
              (spelt "search" in two spend lines: grouped case-insensitively)
platform EUR  budget cloud 100 a month = 1200; spend Feb 90
PAY      EUR  budget vendor 50 in June (a project mapped to the squad payments by squads.csv)
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.metrics import budget
from delivery_health.metrics.params import MetricParams
from delivery_health.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "budget"
ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2024, 4, 10)


def load_fixture(url: str) -> Settings:
    settings = Settings(db_url=url, squads_path=str(FIXTURES / "squads.csv"))
    engine = store.make_engine(url)
    store.init_db(engine)
    for name in ("budget.csv", "spend.csv", "sows.csv"):
        ingest_file(engine, FIXTURES / name, settings)
    engine.dispose()
    return settings


@pytest.fixture
def loaded(db_url: str):
    settings = load_fixture(db_url)
    engine = store.make_engine(db_url)
    yield engine, settings
    engine.dispose()


def _row(frame, **match) -> dict:
    hits = frame
    for k, v in match.items():
        hits = hits[hits[k] == v]
    assert len(hits) == 1, (match, frame)
    return hits.iloc[0].to_dict()


# --- calendar rules (no database) ------------------------------------------------------------

def test_period_defaults_to_the_calendar_year_and_whole_months():
    assert budget.budget_period(None, None, AS_OF) == (date(2024, 1, 1), date(2024, 12, 31))
    # a start alone gives 12 months (a fiscal year from April); bounds snap to whole months
    assert budget.budget_period(date(2024, 4, 15), None, AS_OF) == (date(2024, 4, 1), date(2025, 3, 31))
    assert budget.budget_period(date(2024, 2, 3), date(2024, 2, 10), AS_OF) == (date(2024, 2, 1), date(2024, 2, 29))


def test_period_defaults_to_the_fiscal_year_when_one_is_configured():
    # As of 10 April 2024: a fiscal year starting in April began that month, one starting in July the July before.
    assert budget.budget_period(None, None, AS_OF, fiscal_start=4) == (date(2024, 4, 1), date(2025, 3, 31))
    assert budget.budget_period(None, None, AS_OF, fiscal_start=7) == (date(2023, 7, 1), date(2024, 6, 30))


def test_the_as_of_day_counts_as_elapsed():
    assert budget.elapsed_fraction(date(2024, 4, 1), AS_OF) == pytest.approx(10 / 30)  # 1..10 April
    assert budget.elapsed_fraction(date(2024, 4, 1), date(2024, 4, 30)) == 1.0  # last day: whole month
    assert budget.elapsed_fraction(date(2024, 5, 1), AS_OF) == 0.0
    assert budget.elapsed_fraction(date(2024, 3, 1), AS_OF) == 1.0


def test_run_rate_months_are_the_last_three_complete_ones():
    # 10 April: April is not complete -> Jan, Feb, Mar
    assert budget.run_rate_months(AS_OF) == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    # 31 March: the as-of day counts, so March is complete
    assert budget.run_rate_months(date(2024, 3, 31)) == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    # 30 March: March is not -> Dec 2023, Jan, Feb
    assert budget.run_rate_months(date(2024, 3, 30)) == [date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)]


def test_remaining_months():
    # 20 of April's 30 days left + May..Dec (8 months) = 8 2/3
    assert budget.remaining_months(date(2024, 1, 1), date(2024, 12, 31), AS_OF) == pytest.approx(8 + 20 / 30)
    assert budget.remaining_months(date(2024, 1, 1), date(2024, 12, 31), date(2023, 6, 1)) == 12  # before the period
    assert budget.remaining_months(date(2024, 1, 1), date(2024, 12, 31), date(2025, 2, 1)) == 0  # after it


# --- figures on both engines -----------------------------------------------------------------

def test_burn_by_scope_payments_eur(loaded):
    engine, settings = loaded
    r = _row(budget.burn_by_scope(engine, settings, as_of=AS_OF), scope="payments", currency="EUR")
    assert r["budget_total"] == pytest.approx(12500)
    # Jan..Mar 3000 + April (1200 + 300) * 10/30 = 500
    assert r["planned_to_date"] == pytest.approx(3500)
    # 1100 + 1000 + 200 + 1300 + 400 (spent ON the as-of day: counted); Dec-23 and Apr-11 are not
    assert r["burn_to_date"] == pytest.approx(4000)
    assert r["variance"] == pytest.approx(500)
    assert r["variance_pct"] == pytest.approx(500 / 3500)
    # (Jan 1100 + Feb 1000 + Mar 1500) / 3
    assert r["run_rate_monthly"] == pytest.approx(1200)
    # 4000 + 1200 * (20/30 + 8) = 4000 + 10400
    assert r["forecast_at_completion"] == pytest.approx(14400)
    # 8500 left: rest of April 20 days * 40/day = 800, May..Oct 6 * 1200 = 7200 -> 500 left in November at
    # 1200/30 = 40 a day -> 12.5 days: end of 12 Nov is 12480, end of 13 Nov is 12520
    assert r["exhaustion_date"] == date(2024, 11, 13)


def test_exhaustion_already_reached_is_the_actual_day(loaded):
    engine, settings = loaded
    r = _row(budget.burn_by_scope(engine, settings, as_of=AS_OF), scope="Search", currency="USD")
    # "search" and "Search" are one scope; budget Jan..Jun 100 a month
    assert r["budget_total"] == pytest.approx(600)
    assert r["planned_to_date"] == pytest.approx(300 + 100 / 3)
    assert r["burn_to_date"] == pytest.approx(650)
    # (Jan 300 + Feb nothing = 0 + Mar 250) / 3: a quiet month counts as 0
    assert r["run_rate_monthly"] == pytest.approx(550 / 3)
    # cumulative 300 (Jan 15), 550 (Mar 1), 650 (Apr 2): 600 reached on Apr 2
    assert r["exhaustion_date"] == date(2024, 4, 2)


def test_forecast_below_budget_has_no_exhaustion_and_zero_budget_has_no_pct(loaded):
    engine, settings = loaded
    rows = budget.burn_by_scope(engine, settings, as_of=AS_OF)
    platform = _row(rows, scope="platform", currency="EUR")
    # run rate 90/3 = 30; forecast 90 + 30 * 26/3 = 350 < 1200
    assert platform["forecast_at_completion"] == pytest.approx(350)
    assert platform["exhaustion_date"] is None
    usd = _row(rows, scope="payments", currency="USD")
    # no USD budget: planned 0, so variance % is undefined and nothing can be exhausted
    assert usd["planned_to_date"] == 0 and usd["burn_to_date"] == pytest.approx(500)
    assert usd["variance_pct"] != usd["variance_pct"]  # NaN in the frame, null in JSON
    assert usd["exhaustion_date"] is None


def test_currencies_are_never_summed(loaded):
    engine, settings = loaded
    totals = budget.burn_totals(engine, settings, as_of=AS_OF)
    assert sorted(totals["currency"]) == ["EUR", "USD"]
    eur, usd = _row(totals, currency="EUR"), _row(totals, currency="USD")
    # EUR: payments 12500 + platform 1200 + PAY 50; burn 4000 + 90; run rate 1200 + 30
    assert eur["budget_total"] == pytest.approx(13750)
    assert eur["burn_to_date"] == pytest.approx(4090)
    assert eur["run_rate_monthly"] == pytest.approx(1230)
    # 9660 left: April 20 * 41 = 820, May..Oct 7380, Nov 1230 -> 230 at 1230/31 a day in December = 5.8 days
    assert eur["exhaustion_date"] == date(2024, 12, 6)
    # USD: payments' 500 + Search's 650; exhausted when the cumulative USD spend passed 600: 300 + 500 on Feb 10
    assert usd["burn_to_date"] == pytest.approx(1150)
    assert usd["exhaustion_date"] == date(2024, 2, 10)


def test_run_rate_at_month_end_boundary(loaded):
    engine, settings = loaded
    on_31 = _row(budget.burn_by_scope(engine, settings, as_of=date(2024, 3, 31)), scope="payments", currency="EUR")
    on_30 = _row(budget.burn_by_scope(engine, settings, as_of=date(2024, 3, 30)), scope="payments", currency="EUR")
    assert on_31["run_rate_monthly"] == pytest.approx((1100 + 1000 + 1500) / 3)  # Jan, Feb, Mar
    assert on_30["run_rate_monthly"] == pytest.approx((900 + 1100 + 1000) / 3)  # Dec-23, Jan, Feb
    # 30 March: Jan + Feb 2000 + March 1000 * 30/31; burn lacks the 1300 of 31 March
    assert on_30["planned_to_date"] == pytest.approx(2000 + 1000 * 30 / 31)
    assert on_30["burn_to_date"] == pytest.approx(1100 + 1000 + 200)


def test_by_category_and_squad_filter(loaded):
    engine, settings = loaded
    cats = budget.burn_view(engine, settings, as_of=AS_OF, currency="EUR").by_category
    # "Cloud" (spend) and "cloud" (budget) are one category: budget 300 (payments) + 1200 (platform)
    cloud = _row(cats, category="Cloud")
    assert cloud["budget_total"] == pytest.approx(1500)
    assert cloud["burn_to_date"] == pytest.approx(200 + 90)
    # squad "PAYMENTS" (any case) selects scope payments and the project PAY mapped to it by squads.csv
    picked = budget.burn_by_scope(engine, settings, as_of=AS_OF, squads=("PAYMENTS",))
    assert sorted(zip(picked["scope"], picked["currency"])) == [("PAY", "EUR"), ("payments", "EUR"),
                                                               ("payments", "USD")]


def test_variance_pct_by_squad_is_burn_totals_per_squad_at_each_date(loaded):
    engine, settings = loaded
    squads = ["platform", "payments", "Search", "nobody"]
    end_2023 = date(2023, 12, 31)
    before, now = budget.variance_pct_by_squad(engine, settings, squads, [end_2023, AS_OF])
    # payments: its own EUR and USD lines plus project PAY (mapped to payments); a squad without lines has no entry.
    assert {squad: [c for c, _ in rows] for squad, rows in now.items()} == {
        "platform": ["EUR"], "payments": ["EUR", "USD"], "Search": ["USD"]}
    for day, found in ((end_2023, before), (AS_OF, now)):
        for squad in squads:
            alone = budget.burn_totals(engine, settings, as_of=day, squads=(squad,))
            expected = [(c, None if pd.isna(v) else pytest.approx(v))
                        for c, v in zip(alone["currency"], alone["variance_pct"])]
            assert found.get(squad, []) == expected, (day, squad)
    # 2023 holds payments' December only: budget 999, spend 900, all of it elapsed: (900 - 999) / 999.
    assert before["payments"] == [("EUR", pytest.approx(-99 / 999))]
    assert budget.variance_pct_by_squad(engine, settings, squads, []) == []


def test_monthly_series_is_the_s_curve(loaded):
    engine, settings = loaded
    s = budget.burn_view(engine, settings, as_of=AS_OF, squads=("search",), currency="USD").series
    assert len(s) == 12
    april = s[s["month"] == date(2024, 4, 1)].iloc[0]
    assert april["planned_cum"] == pytest.approx(400)  # Jan..Apr budget, whole months
    assert april["actual_cum"] == pytest.approx(650)  # through the as-of date
    # forecast at April's end: 650 + 550/3 * 20/30
    assert april["forecast_cum"] == pytest.approx(650 + 550 / 3 * 20 / 30)
    march = s[s["month"] == date(2024, 3, 1)].iloc[0]
    assert march["forecast_cum"] != march["forecast_cum"]  # NaN: no forecast for past months
    may = s[s["month"] == date(2024, 5, 1)].iloc[0]
    assert may["actual_cum"] != may["actual_cum"]  # NaN: May has not started
    # the last point is the forecast at completion
    assert s["forecast_cum"].iloc[-1] == pytest.approx(650 + 550 / 3 * 26 / 3)


def test_burn_view_is_the_page_in_one_read(loaded):
    engine, settings = loaded
    view = budget.burn_view(engine, settings, as_of=AS_OF, currency="USD")
    # USD only: payments' 500 + Search's 650 (the EUR figures are test_currencies_are_never_summed's)
    assert list(view.totals["currency"]) == ["USD"]
    assert view.totals["burn_to_date"].iloc[0] == pytest.approx(1150)
    assert view.totals["exhaustion_date"].iloc[0] == date(2024, 2, 10)
    # per scope: payments 500 and Search 650 ("search" and "Search" one scope), in case-insensitive order
    assert list(view.by_scope["scope"]) == ["payments", "Search"]
    assert list(view.by_scope["burn_to_date"]) == pytest.approx([500, 650])
    assert view.by_scope["exhaustion_date"].iloc[1] == date(2024, 4, 2)
    # per category: Search's budget is tooling; the USD spend lines carry their own categories
    assert view.by_category["budget_total"].sum() == pytest.approx(600)
    assert view.by_category["burn_to_date"].sum() == pytest.approx(1150)
    # the S-curve of every USD scope: Jan..Apr budget 400, 1150 spent through the as-of date
    april = view.series[view.series["month"] == date(2024, 4, 1)].iloc[0]
    assert (april["planned_cum"], april["actual_cum"]) == pytest.approx((400, 1150))
    assert len(view.series) == 12


def test_drill_down_lines(loaded):
    engine, settings = loaded
    spend, _ = budget.lines_behind(engine, settings, as_of=AS_OF, currency="EUR", scope="PAYMENTS")
    # Jan..Apr-10 (Dec-23 is behind no figure on 10 April; Apr-11 is after the as-of date)
    assert list(spend["amount"]) == [1100, 1000, 200, 1300, 400]
    assert list(spend["in_burn_to_date"]) == [True] * 5
    assert list(spend["in_run_rate"]) == [True, True, True, True, False]  # April is not complete
    # on 30 March the run rate is Dec-23..Feb: the December line is shown, in the run rate but not the burn
    march, _ = budget.lines_behind(engine, settings, as_of=date(2024, 3, 30), currency="EUR", scope="payments")
    assert list(march["amount"]) == [900, 1100, 1000, 200]
    assert list(march["in_burn_to_date"]) == [False, True, True, True]
    assert list(march["in_run_rate"]) == [True, True, True, False]
    spend, lines = budget.lines_behind(engine, settings, as_of=AS_OF, currency="EUR", scope="payments",
                                       category="cloud")
    assert len(lines) == 1 and lines["planned_to_date"].iloc[0] == pytest.approx(100)  # 300 * 10/30
    assert list(spend["amount"]) == [200]  # payments' one cloud spend line (March), spelt "Cloud" like the rest


def test_sow_flags_and_boundaries(loaded):
    engine, settings = loaded
    sows = budget.sow_ledger(engine, settings, as_of=AS_OF).set_index("sow_id")
    # SOW-F ended in 2023: outside the 2024 period
    assert sorted(sows.index) == ["SOW-A", "SOW-B", "SOW-C", "SOW-D", "SOW-E", "SOW-G"]
    # A and B: 2024-01-02..2024-07-19 = 200 days, 100 elapsed by 10 April -> 0.5
    assert sows.loc["SOW-A", "elapsed_pct"] == pytest.approx(0.5)
    assert sows.loc["SOW-A", "consumed_pct"] == pytest.approx(0.6)  # exactly 10 points ahead: not flagged
    assert not sows.loc["SOW-A", "flagged"]
    assert sows.loc["SOW-B", "consumed_pct"] == pytest.approx(0.61)  # 11 points ahead: flagged
    assert sows.loc["SOW-B", "flagged"] and sows.loc["SOW-B", "over_consumed"]
    # C ends 2024-06-09 = as-of + 60 days: flagged; D ends one day later: not
    assert sows.loc["SOW-C", "days_to_end"] == 60 and sows.loc["SOW-C", "ending_soon"]
    assert sows.loc["SOW-C", "flagged"] and "60 days" in sows.loc["SOW-C", "flag_reason"]
    assert not sows.loc["SOW-D", "flagged"]
    # C: 2024-01-01..06-09 = 161 days, 101 elapsed (the as-of day counts)
    assert sows.loc["SOW-C", "elapsed_pct"] == pytest.approx(101 / 161)
    # E: over-invoiced 2500 / 2000 = 1.25 (a fraction above 1), USD kept
    assert sows.loc["SOW-E", "consumed_pct"] == pytest.approx(1.25)
    assert sows.loc["SOW-E", "currency"] == "USD" and sows.loc["SOW-E", "flagged"]
    # G ended 10 days ago, fully invoiced: neither ending soon nor ahead
    assert sows.loc["SOW-G", "days_to_end"] == -10 and not sows.loc["SOW-G", "flagged"]


def test_sow_thresholds_are_settings(loaded):
    engine, settings = loaded
    from dataclasses import replace

    strict = replace(settings, sow_overconsumption_margin=0.05, sow_ending_days=61)
    sows = budget.sow_ledger(engine, strict, as_of=AS_OF).set_index("sow_id")
    assert sows.loc["SOW-A", "flagged"]  # 10 points > 5
    assert sows.loc["SOW-D", "flagged"]  # 61 days <= 61


def test_empty_store_gives_empty_frames(tmp_path):
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    engine = store.make_engine(url)
    settings = Settings(db_url=url, squads_path=str(tmp_path / "none.csv"))
    assert budget.burn_by_scope(engine, settings, as_of=AS_OF).empty  # no schema yet
    store.init_db(engine)
    assert budget.burn_totals(engine, settings, as_of=AS_OF).empty
    assert budget.sow_ledger(engine, settings, as_of=AS_OF).empty
    assert budget.burn_view(engine, settings, as_of=AS_OF).series.empty
    result = budget.cli_result(engine, settings, MetricParams(as_of=AS_OF))
    assert result["rows"] == [] and result["summary"]["sows"] == []


# --- the CLI JSON contract -------------------------------------------------------------------

def test_cli_json_contract(duckdb_url):
    load_fixture(duckdb_url)
    out = subprocess.run(
        [sys.executable, "-m", "delivery_health", "metrics", "budget", "--db", duckdb_url,
         "--squads", str(FIXTURES / "squads.csv"), "--as-of", "2024-04-10", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["metric"] == "budget"
    assert result["params"]["as_of"] == "2024-04-10"
    assert (result["params"]["period_start"], result["params"]["period_end"]) == ("2024-01-01", "2024-12-31")
    keys = ["scope", "currency", "budget_total", "planned_to_date", "burn_to_date", "variance", "variance_pct",
            "run_rate_monthly", "forecast_at_completion", "exhaustion_date"]
    assert all(list(r)[:len(keys)] == keys for r in result["rows"])
    rows = {(r["scope"], r["currency"]): r for r in result["rows"]}
    assert set(rows) == {("PAY", "EUR"), ("payments", "EUR"), ("payments", "USD"), ("platform", "EUR"),
                         ("Search", "USD")}
    assert rows[("payments", "EUR")]["exhaustion_date"] == "2024-11-13"
    assert rows[("payments", "EUR")]["planned_to_date"] == pytest.approx(3500)
    assert rows[("payments", "USD")]["variance_pct"] is None
    sow = {s["sow_id"]: s for s in result["summary"]["sows"]}
    assert set(sow["SOW-B"]) >= {"sow_id", "vendor", "currency", "value", "invoiced_to_date", "consumed_pct",
                                 "elapsed_pct", "flagged"}
    assert sow["SOW-B"]["consumed_pct"] == pytest.approx(0.61) and sow["SOW-B"]["flagged"] is True
    assert sow["SOW-A"]["flagged"] is False
    # --squad narrows rows and SOWs alike
    out = subprocess.run(
        [sys.executable, "-m", "delivery_health", "metrics", "budget", "--db", duckdb_url, "--squad", "search",
         "--as-of", "2024-04-10", "--format", "json"], cwd=ROOT, capture_output=True, text=True, check=True)
    narrowed = json.loads(out.stdout)
    assert [(r["scope"], r["currency"]) for r in narrowed["rows"]] == [("Search", "USD")]
    assert [s["sow_id"] for s in narrowed["summary"]["sows"]] == ["SOW-E"]

"""DORA metrics on hand-computed fixtures (tests/fixtures/dora), on DuckDB and PostgreSQL.

The fixture, in short (times UTC, window 2024-01-01 .. 2024-01-28 = ISO weeks W1..W4):
- payments-api (squad payments, commit history loaded: c0..c6)
  P0 prod 2023-12-28 10:00 head c0 | P1 prod 01-02 12:00 head c2 | P2 prod *failed* 01-03 09:00
  P3 prod *cancelled* 01-03 10:00 | P4 *staging* 01-03 11:00 | P5 prod 01-04 00:00 head c4
  P6 prod 01-05 00:00 head c4 again, ref hotfix/pay-1 (rework) | P7 prod 01-10 00:00 head c5
  commits c1 01-01 12:00, c2 01-02 00:00, c3 01-02 12:00, c4 01-03 00:00, c5 01-10 02:00 (after P7:
  clock skew), c6 01-20 (never deployed)
- search (squad discovery, env "Prod", no history): S1 01-08 10:00 head s1 (08:00), S2 01-09 10:00
  head s1 again, S3 01-15 10:00 head s2 (01-14 10:00)
- legacy-batch (no rule -> unassigned, no history): L1 01-16 00:00 head l1 (01-15 00:00)
- incidents: INC-1 names P1's id (payments, 01-06 00:00-01:00, 1 h); INC-2 names sha c4 (-> P5, the
  earliest deployment of c4; 01-05 12:00 .. 01-06 12:00, 24 h); INC-3 search 01-09 12:00 open (window -> S2);
  INC-5 search 01-22 10:00 exactly 7 days after S3 (window -> S3, 2 h); INC-4 search 01-22 10:01, 7 days
  and 1 minute after S3 (unattributed, 0.5 h).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.metrics import dora, dora_drill, dora_facts, dora_tiers
from delivery_health.metrics.params import MetricParams
from delivery_health.settings import Settings
from delivery_health.squads import load_rules

FIX = Path(__file__).resolve().parent / "fixtures" / "dora"
ROOT = Path(__file__).resolve().parent.parent
JAN = (date(2024, 1, 1), date(2024, 1, 28))
W1, W2, W3, W4 = (date(2024, 1, d) for d in (1, 8, 15, 22))
P1 = "csv:payments-api|production|2024-01-02T11:50:00"
P5 = "csv:payments-api|production|2024-01-03T23:50:00"
S2 = "csv:search|prod|2024-01-09T09:50:00"
S3 = "csv:search|prod|2024-01-15T09:50:00"


@pytest.fixture(params=["computed in the query", "precomputed"])
def loaded(db_url: str, request: pytest.FixtureRequest) -> tuple:
    """The fixture loaded; every test runs twice: on the building blocks computed in each query, and on the
    tables ``dora_facts.refresh`` precomputes (what the pages read after an ingest)."""
    settings = Settings(db_url=db_url, squads_path=str(FIX / "squads.csv"))
    engine = store.make_engine(db_url)
    for name in ("deployments.csv", "commits.csv", "incidents.csv"):
        ingest_file(engine, FIX / name, settings)
    if request.param == "precomputed":
        dora_facts.refresh(engine, settings)
    with engine.connect() as conn:
        assert dora_facts.is_current(conn, settings, load_rules(settings.squads_path)) == (request.param == "precomputed")
    yield engine, settings
    engine.dispose()


def _row(rows: pd.DataFrame, period: date, squad: str | None) -> dict:
    sel = rows[(rows["period_start"] == period) & (rows["squad"].isna() if squad is None else rows["squad"] == squad)]
    assert len(sel) == 1, (period, squad)
    return sel.iloc[0].to_dict()


def test_weekly_rows_by_squad_and_total(loaded):
    engine, settings = loaded
    rows = dora.dora_trends(engine, settings, *JAN, by="week")
    assert list(rows.columns) == dora.ROW_KEYS
    # 4 weeks x (discovery, payments, unassigned, whole selection): every squad with data gets every period.
    assert len(rows) == 16
    pay = _row(rows, W1, "payments")
    # P1, P5, P6 (P2 failed, P3 cancelled, P4 staging are not deployments), on 3 distinct dates; 3 / 7 days x 7.
    assert (pay["deployments"], pay["deployment_days"], pay["deploys_per_week"]) == (3, 3, 3.0)
    assert pay["failed_attempts"] == 1  # P2 only: the cancelled P3 is not a failed attempt
    # P1 ships c1 (24 h) and c2 (12 h); P5 ships c3 (36 h: between P1 and P5 -> the second) and c4 (24 h);
    # P6 redeploys c4: nothing new. Sorted 12, 24, 24, 36: median 24; p75 = 24 + .25 x 12 = 27; p90 = 24 + .7 x 12.
    assert pay["lead_time_median_hours"] == pytest.approx(24.0)
    assert pay["lead_time_p75_hours"] == pytest.approx(27.0)
    assert pay["lead_time_p90_hours"] == pytest.approx(32.4)
    # P1 (INC-1 by id) and P5 (INC-2 by sha) failed: 2 of 3; P6 is rework: 1 of 3.
    assert pay["failed_deployments"] == 2 and pay["change_failure_rate"] == pytest.approx(2 / 3)
    assert pay["rework_deployments"] == 1 and pay["rework_rate"] == pytest.approx(1 / 3)
    # INC-1 (1 h) and INC-2 (24 h) started in W1: median 12.5 h.
    assert (pay["incidents"], pay["open_incidents"], pay["recovery_median_hours"]) == (2, 0, 12.5)

    disc = _row(rows, W2, "discovery")
    # S1 ships s1 (2 h); S2 redeploys s1 (head commit counted once); INC-3 (open) attributed to S2 by window.
    assert (disc["deployments"], disc["failed_deployments"], disc["change_failure_rate"]) == (2, 1, 0.5)
    assert disc["lead_time_median_hours"] == pytest.approx(2.0)
    assert (disc["incidents"], disc["open_incidents"]) == (1, 1)
    assert pd.isna(disc["recovery_median_hours"])  # the only incident is open: counted, not in the median

    total = _row(rows, W2, None)
    # P7 (payments, c5 clamped from -2 h to 0) + S1 + S2: 3 deployments on 3 dates; lead 0 and 2 -> median 1.
    assert (total["deployments"], total["deployment_days"], total["failed_deployments"]) == (3, 3, 1)
    assert total["lead_time_median_hours"] == pytest.approx(1.0)
    assert total["change_failure_rate"] == pytest.approx(1 / 3)

    w3 = _row(rows, W3, None)
    # S3 (failed: INC-5, 7 days later, just inside the window) + L1 (unassigned): CFR 1/2.
    assert (w3["deployments"], w3["failed_deployments"], w3["change_failure_rate"]) == (2, 1, 0.5)
    assert _row(rows, W3, "unassigned")["deployments"] == 1
    w4 = _row(rows, W4, None)
    # No deployments (rates null, never 0); INC-4 (0.5 h) and INC-5 (2 h): median 1.25 h.
    assert w4["deployments"] == 0 and pd.isna(w4["change_failure_rate"]) and pd.isna(w4["rework_rate"])
    assert (w4["incidents"], w4["recovery_median_hours"]) == (2, 1.25)
    zero = _row(rows, W3, "payments")  # a squad with data in the window gets a zero row in a quiet week
    assert zero["deployments"] == 0 and pd.isna(zero["lead_time_median_hours"])


def test_monthly_grouping_clips_partial_periods(loaded):
    engine, settings = loaded
    rows = dora.dora_trends(engine, settings, date(2023, 12, 1), date(2024, 1, 28), by="month")
    dec, jan = _row(rows, date(2023, 12, 1), None), _row(rows, date(2024, 1, 1), None)
    # December: P0 only, which as payments' first deployment ships the whole history up to c0 (24 h).
    assert dec["deployments"] == 1 and dec["lead_time_median_hours"] == pytest.approx(24.0)
    assert dec["deploys_per_week"] == pytest.approx(1 / 31 * 7)  # December has 31 days in the window
    # January: 8 deployments (P1 P5 P6 P7 S1 S2 S3 L1) over the 28 days of January inside the window.
    assert jan["deployments"] == 8 and jan["deploys_per_week"] == pytest.approx(2.0)
    # 8 commits: 12, 24, 24, 36, 0 (clamped), 2, 24, 24 -> sorted middle pair 24, 24.
    assert jan["lead_time_median_hours"] == pytest.approx(24.0)
    assert (jan["failed_deployments"], jan["incidents"], jan["open_incidents"]) == (4, 5, 1)
    # Resolved: 1, 24, 0.5, 2 -> median (1 + 2) / 2.
    assert jan["recovery_median_hours"] == pytest.approx(1.5)


def test_quarters_follow_the_fiscal_year(loaded):
    engine, settings = loaded
    window = (date(2023, 12, 1), date(2024, 1, 28))
    calendar = dora.dora_trends(engine, settings, *window, by="quarter")
    # Calendar quarters: P0 (28 Dec) in Q4 2023, the 8 January deployments in Q1 2024.
    assert _row(calendar, date(2023, 10, 1), None)["deployments"] == 1
    assert _row(calendar, date(2024, 1, 1), None)["deployments"] == 8
    # A fiscal year starting in December has quarters Dec-Feb, Mar-May, ...: the whole window is one quarter
    # starting 1 Dec 2023, holding all 9 deployments over its 59 days in the window.
    fiscal = dora.dora_trends(engine, replace(settings, fiscal_year_start_month=12), *window, by="quarter")
    assert list(fiscal.loc[fiscal["squad"].isna(), "period_start"]) == [date(2023, 12, 1)]
    total = _row(fiscal, date(2023, 12, 1), None)
    assert total["deployments"] == 9 and total["deploys_per_week"] == pytest.approx(9 / 59 * 7)


def test_squad_filter_keeps_only_that_squad(loaded):
    engine, settings = loaded
    rows = dora.dora_trends(engine, settings, *JAN, by="week", squads=("discovery",))
    assert set(rows["squad"].dropna()) == {"discovery"}
    # The total row is the selection: W2 is S1 + S2 only (payments' P7 is left out).
    assert _row(rows, W2, None)["deployments"] == 2
    assert _row(rows, W4, None)["incidents"] == 2


def test_window_tiers(loaded):
    engine, settings = loaded
    tiers = dora.dora_tiers_frame(engine, settings, *JAN)
    tiers = tiers.set_index(tiers["squad"].fillna("all"))
    # payments: 4 deployments; deployment days per full week 3, 1, 0, 0 -> median 0.5 < 1, but 4/28 days x 30.4
    # = 4.3 per month -> medium. Lead: 0, 12, 24, 24, 36 -> median exactly 24 h -> high. CFR 2/4 -> low.
    # Recovery median of 1 h and 24 h = 12.5 h -> high.
    assert tiers.loc["payments"].to_dict() == {"squad": "payments", "deployment_frequency": "medium",
                                               "lead_time": "high", "change_failure_rate": "low",
                                               "recovery_time": "high"}
    # unassigned: one deployment (1/28 x 30.4 = 1.09 per month -> medium), lead 24 h -> high, CFR 0 -> elite,
    # no incidents -> no recovery tier.
    assert tiers.loc["unassigned"].to_dict() == {"squad": "unassigned", "deployment_frequency": "medium",
                                                 "lead_time": "high", "change_failure_rate": "elite",
                                                 "recovery_time": None}
    # Whole selection: deployment days per week 3, 3, 2, 0 -> median 2.5 -> high; lead median 24 -> high;
    # CFR 4/8 -> low; recovery 1.5 h -> high.
    assert tiers.loc["all"].to_dict() == {"squad": None, "deployment_frequency": "high", "lead_time": "high",
                                          "change_failure_rate": "low", "recovery_time": "high"}


def test_drill_down_rows(loaded):
    engine, settings = loaded
    deps = dora_drill.deployments_in_window(engine, settings, *JAN).set_index("id")
    # 10 production-environment runs in January (P4 is staging); P2 a failed attempt, P3 not counted.
    assert len(deps) == 10
    assert deps["counted_as"].value_counts().to_dict() == {"deployment": 8, "failed attempt": 1, "not counted": 1}
    assert deps.loc[P5, "commits"] == 2 and bool(deps.loc[P5, "failed"])  # c3 and c4; INC-2
    commits = dora_drill.commits_in_window(engine, settings, *JAN).set_index("sha")
    assert "c6sha" not in commits.index and "c0sha" not in commits.index  # never deployed / December
    assert commits.loc["c3sha", "deployment_id"] == P5  # between P1 and P5: belongs to the second
    assert bool(commits.loc["c5sha", "clamped"]) and commits.loc["c5sha", "lead_time_hours"] == 0
    assert commits.loc["s1sha", "source"] == "head commit" and commits.loc["c1sha", "source"] == "history"
    inc = dora_drill.incidents_in_window(engine, settings, *JAN).set_index("id")
    assert inc.loc["INC-1", ["deployment_id", "attributed_by"]].tolist() == [P1, "id"]
    assert inc.loc["INC-2", ["deployment_id", "attributed_by"]].tolist() == [P5, "sha"]
    assert inc.loc["INC-3", ["deployment_id", "attributed_by", "status"]].tolist() == [S2, "window", "open"]
    assert inc.loc["INC-5", ["deployment_id", "attributed_by"]].tolist() == [S3, "window"]  # exactly 7 days
    assert inc.loc["INC-4", "attributed_by"] == "none" and pd.isna(inc.loc["INC-4", "deployment_id"])
    quality = dora_drill.data_quality(engine, settings, *JAN).set_index("check")["count"].to_dict()
    # c5 clamped; L1 of legacy-batch unassigned; INC-4 unattributed.
    assert quality == {"negative lead time": 1, "unassigned deployments": 1, "unattributed incidents": 1}
    details = dora_drill.data_quality(engine, settings, *JAN).set_index("check")["detail"]
    assert details["unassigned deployments"].endswith("no squad rule maps: legacy-batch")


def test_drill_down_pages_and_counts(loaded):
    engine, settings = loaded
    # 10 runs, 8 commits (the 8 lead times of January) and INC-1..INC-5 started in January.
    assert dora_drill.row_counts(engine, settings, *JAN) == {"deployments": 10, "commits": 8, "incidents": 5}
    for name, func in dora_drill.DRILLS.items():
        whole = func(engine, settings, *JAN)
        first = func(engine, settings, *JAN, limit=3)
        # The first rows of the same order (a column empty in all 3 rows is not typed like the whole's: compare values).
        values = lambda f: f.astype(object).where(f.notna(), None).to_dict("records")  # noqa: E731
        assert values(first) == values(whole.head(3)), name
    assert dora_drill.row_counts(engine, settings, *JAN, squads=("discovery",))["deployments"] == 3  # S1-S3
    assert dora_drill.row_counts(engine, settings, *JAN, kinds=("incidents",)) == {"incidents": 5}  # only those asked


def test_view_is_trends_window_and_previous_window_apart(loaded):
    engine, settings = loaded
    for by in ("week", "month"):
        view = dora.dora_view(engine, settings, *JAN, by=by, squads=("payments",))
        pd.testing.assert_frame_equal(view.trends, dora.dora_trends(engine, settings, *JAN, by=by, squads=("payments",)))
        pd.testing.assert_frame_equal(view.window, dora.dora_window(engine, settings, *JAN, squads=("payments",)))
        before = dora.dora_window(engine, settings, *dora.previous_window(*JAN), squads=("payments",))
        pd.testing.assert_frame_equal(view.previous, before.drop(columns=[c for c in before if c.endswith("_tier")]))
    assert view.window["deployments"].tolist() == [4, 4]  # payments (P1 P5 P6 P7) and the selection, which is payments
    # December 2023 (the 28 days before): P0 alone.
    assert dora.previous_window(*JAN) == (date(2023, 12, 4), date(2023, 12, 31))
    assert view.previous["deployments"].tolist() == [1, 1]


@pytest.mark.parametrize("windows", [
    # W2 (01-08 .. 01-14) crosses the boundary: each window counts only its own days of it (S1 01-08, S2 01-09
    # in the first; none in the second).
    [(date(2024, 1, 1), date(2024, 1, 10)), (date(2024, 1, 11), date(2024, 1, 28))],
    # A gap (01-06 .. 01-14, holding P7, S1, S2 and INC-1, INC-3) belongs to neither window.
    [(date(2024, 1, 1), date(2024, 1, 5)), (date(2024, 1, 15), date(2024, 1, 28))],
])
def test_windows_read_together_are_each_window_apart(loaded, windows):
    engine, settings = loaded
    together = dora.dora_windows(engine, settings, windows)
    for window, frame in zip(windows, together):
        pd.testing.assert_frame_equal(frame, dora.dora_window(engine, settings, *window))
    first, second = (f.loc[f["squad"].isna()].iloc[0] for f in together)
    if windows[1][0].day == 11:
        assert (first["deployments"], second["deployments"]) == (6, 2)  # P1 P5 P6 P7 S1 S2 | S3 L1
    else:
        assert (first["deployments"], second["deployments"]) == (3, 2)  # P1 P5 P6 | S3 L1
        assert (first["incidents"], second["incidents"]) == (1, 2)  # INC-2 | INC-5, INC-4


def test_headline_compares_with_previous_window(loaded):
    engine, settings = loaded
    head = dora.dora_headline(engine, settings, *JAN).set_index("key")
    window = dora.dora_window(engine, settings, *JAN)
    # The whole window's failed attempts: P2 only (a measure counting rows, not columns).
    assert window.loc[window["squad"].isna(), "failed_attempts"].tolist() == [1]
    assert window.loc[window["squad"] == "discovery", "failed_attempts"].tolist() == [0]
    # Now: 8 deployments / 28 days x 7 = 2 per week; before (2023-12-04 .. 12-31): P0 alone = 0.25 per week.
    assert head.loc["deployment_frequency", ["value", "previous", "change"]].tolist() == pytest.approx([2.0, 0.25, 1.75])
    assert head.loc["change_failure_rate", "tier"] == "low"
    assert head.loc["rework_rate", "value"] == pytest.approx(1 / 8) and head.loc["rework_rate", "tier"] is None
    assert pd.isna(head.loc["recovery_time", "previous"])  # no incidents in December: no comparison


def _write_csv(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tier_boundaries_through_the_store(db_url: str, tmp_path: Path):
    """20 deployments, one per weekday of 4 weeks, each head committed exactly 24 h before it finished;
    one incident names the first by sha and is resolved after exactly 1 h."""
    settings = Settings(db_url=db_url, squads_path=str(tmp_path / "none.csv"))
    days = [date(2024, 1, 1) + timedelta(days=d) for d in range(28) if (date(2024, 1, 1) + timedelta(days=d)).weekday() < 5]
    lines = [f"api,production,success,{d}T09:00:00Z,{d}T10:00:00Z,sha{n},{d - timedelta(days=1)}T10:00:00Z,main,false"
             for n, d in enumerate(days)]
    engine = store.make_engine(db_url)
    ingest_file(engine, _write_csv(tmp_path / "d.csv", "service,environment,status,started_at,finished_at,commit_sha,"
                                   "commit_time,ref,is_rework", lines), settings)
    ingest_file(engine, _write_csv(tmp_path / "i.csv", "incident_id,service,severity,started_at,resolved_at,"
                                   "deployment_ref,title", ["X1,api,SEV1,2024-01-01T11:00:00Z,2024-01-01T12:00:00Z,sha0,t"]),
                settings)
    tiers = dora.dora_tiers_frame(engine, settings, *JAN)
    total = tiers[tiers["squad"].isna()].iloc[0].to_dict()
    # 5 deployment days every week -> elite; lead exactly 24 h -> high; CFR 1/20 = 5 % -> elite;
    # recovery exactly 1 h -> high.
    assert total == {"squad": None, "deployment_frequency": "elite", "lead_time": "high",
                     "change_failure_rate": "elite", "recovery_time": "high"}
    engine.dispose()


@pytest.mark.parametrize(("func", "value", "tier"), [
    (dora_tiers.lead_time_tier, 23.99, "elite"), (dora_tiers.lead_time_tier, 24.0, "high"),
    (dora_tiers.lead_time_tier, 168.0, "high"), (dora_tiers.lead_time_tier, 168.01, "medium"),
    (dora_tiers.lead_time_tier, 720.0, "medium"), (dora_tiers.lead_time_tier, 720.01, "low"),
    (dora_tiers.change_failure_rate_tier, 0.05, "elite"), (dora_tiers.change_failure_rate_tier, 0.10, "high"),
    (dora_tiers.change_failure_rate_tier, 0.15, "medium"), (dora_tiers.change_failure_rate_tier, 0.1501, "low"),
    (dora_tiers.recovery_time_tier, 0.99, "elite"), (dora_tiers.recovery_time_tier, 1.0, "high"),
    (dora_tiers.recovery_time_tier, 24.0, "medium"), (dora_tiers.recovery_time_tier, 168.0, "medium"),
    (dora_tiers.recovery_time_tier, 168.01, "low"), (dora_tiers.lead_time_tier, None, None),
])
def test_tier_boundaries(func, value, tier):
    # Strict "<" where the DORA table says "<", otherwise the boundary value is in the better tier.
    assert func(value) == tier


def test_deployment_frequency_tier_boundaries():
    f = dora_tiers.deployment_frequency_tier
    assert f([5, 5, 4, 6], 40, 28) == "elite"  # median 5 deployment days a week
    assert f([1, 1, 0, 2], 4, 28) == "high"  # median exactly 1
    # median 0: per month = deployments / days x 30.4375; 1 in 30.4375 days is exactly one a month -> medium.
    assert f([0, 0, 1, 0, 0], 1, 30.4375) == "medium"
    assert f([0] * 8 + [1], 1, 62) == "low"  # 1 in 62 days = 0.49 a month
    assert f([0, 0], 0, 14) is None  # no deployments: no tier


def test_cli_json_contract(loaded, db_url: str):
    engine, settings = loaded
    engine.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "delivery_health", "metrics", "dora", "--db", db_url, "--squads", str(FIX / "squads.csv"),
         "--start", "2024-01-01", "--end", "2024-01-28", "--by", "week", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert set(result) == {"metric", "params", "rows", "tiers"} and result["metric"] == "dora"
    assert result["params"]["start"] == "2024-01-01" and result["params"]["by"] == "week"
    assert all(list(r) == dora.ROW_KEYS for r in result["rows"])
    total_w4 = next(r for r in result["rows"] if r["squad"] is None and r["period_start"] == "2024-01-22")
    # No deployments in W4: rates are null, not 0 or NaN; dates are YYYY-MM-DD.
    assert total_w4["change_failure_rate"] is None and total_w4["deployments"] == 0
    assert {t["squad"] for t in result["tiers"]} == {"discovery", "payments", "unassigned", None}
    assert all(set(t) == set(dora.TIER_KEYS) for t in result["tiers"])


def test_cli_default_window_is_last_days_to_as_of(loaded):
    engine, settings = loaded
    # as-of 2024-01-10, 7-day window: 2024-01-04 .. 2024-01-10 -> P5, P6, P7, S1, S2.
    result = dora.cli_result(engine, Settings(db_url=settings.db_url, squads_path=settings.squads_path,
                                              default_window_days=7),
                             MetricParams(as_of=date(2024, 1, 10), by="month"))
    assert (result["params"]["start"], result["params"]["end"]) == ("2024-01-04", "2024-01-10")
    total = next(r for r in result["rows"] if r["squad"] is None)
    assert total["deployments"] == 5 and total["deploys_per_week"] == pytest.approx(5.0)  # 5 in 7 days


def test_empty_store_gives_no_rows(tmp_path: Path):
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    engine = store.make_engine(url)
    store.init_db(engine)
    settings = Settings(db_url=url, squads_path=str(tmp_path / "none.csv"))
    assert dora.dora_trends(engine, settings, *JAN).empty
    assert dora.dora_headline(engine, settings, *JAN).empty
    assert dora.cli_result(engine, settings, MetricParams(start=JAN[0], end=JAN[1]))["rows"] == []

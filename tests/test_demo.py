"""The demo data set tells the stories ``delivery_health.demo.model`` promises, on the loaded data.

Built once (module fixture) at scale 0.15, seed 7, as of 2026-11-29, with data/squads.csv:
~9 s to generate and ingest, and every story holds at that scale (at 0.1 Payments has only ~25
deployments a quarter, too few for its failure-rate trend to show reliably). The DORA stories
compare the first and the last quarter of the 18-month window (137 days each):
2025-05-30..2025-10-13 against 2026-07-16..2026-11-28.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from delivery_health import store
from delivery_health.demo import load_demo, model, write_demo
from delivery_health.ingest import ingest_file
from delivery_health.metrics import actions, budget, dependencies, dora, dora_drill
from delivery_health.settings import Settings
from tests.conftest import ROOT

SEED, AS_OF, SCALE = 7, date(2026, 11, 29), 0.15
START = model.Demo(SEED, AS_OF).start.date()  # 548 days before as-of
END = AS_OF - timedelta(days=1)  # the last whole day
QUARTER = (END - START).days // 4
FIRST = (START, START + timedelta(days=QUARTER - 1))
LAST = (END - timedelta(days=QUARTER - 1), END)


@dataclass
class Loaded:
    engine: object
    settings: Settings
    out: Path
    lines: list[str]
    quarters: dict[str, pd.DataFrame] = field(default_factory=dict)

    def quarter(self, which: str) -> pd.DataFrame:
        """``dora_window`` over the first or last quarter, every squad (computed once: it is the slow part)."""
        if which not in self.quarters:
            self.quarters[which] = dora.dora_window(self.engine, self.settings, *(FIRST if which == "first" else LAST))
        return self.quarters[which]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("demo")
    url = f"duckdb:///{base / 'demo.duckdb'}"
    settings = Settings(db_url=url, squads_path=str(ROOT / "data" / "squads.csv"))
    engine = store.make_engine(url)
    lines = load_demo(engine, settings, seed=SEED, as_of=AS_OF, out_dir=base / "out", scale=SCALE)
    yield Loaded(engine, settings, base / "out", lines)
    engine.dispose()


def _squad(frame: pd.DataFrame, squad: str) -> pd.Series:
    return frame[frame["squad"] == squad].iloc[0]


def _quarters(d: Loaded, squad: str) -> tuple[pd.Series, pd.Series]:
    return _squad(d.quarter("first"), squad), _squad(d.quarter("last"), squad)


def test_every_file_loads_without_rejected_files(demo: Loaded) -> None:
    files = [line for line in demo.lines if not line.startswith("demo: ")]
    assert len(files) == len(sorted(p for p in demo.out.rglob("*") if p.is_file())) > 30
    assert demo.lines[-1].startswith(f"demo: {len(files)} files generated")


def test_search_lead_time_falls_and_deployment_frequency_rises(demo: Loaded) -> None:
    first, last = _quarters(demo, model.IMPROVING)
    # The model ramps lead time from ~5 days to ~6 hours and deploys from 0.2 to 1.6 a service-day.
    assert last["lead_time_median_hours"] < first["lead_time_median_hours"] / 2, (first, last)
    assert last["deploys_per_week"] > 2 * first["deploys_per_week"], (first, last)


def test_payments_change_failure_rate_rises_and_recovery_worsens(demo: Loaded) -> None:
    first, last = _quarters(demo, model.DEGRADING)
    # ~3 % of deployments followed by an incident at the start, ~30 % by now; recovery ~1 h to ~12 h.
    assert first["change_failure_rate"] < 0.10 and last["change_failure_rate"] > 0.20, (first, last)
    assert last["recovery_median_hours"] > 2 * first["recovery_median_hours"], (first, last)


def test_late_cross_team_dependency_is_open_and_late(demo: Loaded) -> None:
    rows = dependencies.dependency_risk(demo.engine, demo.settings, AS_OF).rows  # open dependencies only
    story = rows[(rows["blocker_summary"] == model.LATE_BLOCKER_SUMMARY)
                 & (rows["blocked_summary"] == model.LATE_BLOCKED_SUMMARY)]
    assert len(story) == 1
    dep = story.iloc[0]
    assert (dep["blocker_squad"], dep["blocked_squad"]) == (model.LATE_BLOCKER_SQUAD, model.LATE_BLOCKED_SQUAD)
    assert dep["cross_team"] and dep["late"] and dep["at_risk"]
    # Needed in two weeks (Checkout's next release); the blocker's fix version ships a month later.
    assert dep["need_date"] == AS_OF + timedelta(days=14)
    assert dep["land_date"] > dep["need_date"] + timedelta(days=14)


def test_platform_budget_is_over_plan_this_year(demo: Loaded) -> None:
    scopes = budget.burn_by_scope(demo.engine, demo.settings, as_of=AS_OF)  # default period: the as-of year
    platform = _squad(scopes.rename(columns={"scope": "squad"}), model.OVERRUN)
    assert platform["variance"] > 0 and platform["variance_pct"] > 0.03, platform
    others = scopes[scopes["scope"] != model.OVERRUN]
    assert (others["variance"] < 0).all()  # only Platform overruns
    cloud = budget.burn_view(demo.engine, demo.settings, as_of=AS_OF, squads=(model.OVERRUN,)).by_category
    assert _squad(cloud.rename(columns={"category": "squad"}), "cloud")["variance_pct"] > 0.15  # "~25 % over"


def test_identity_has_overdue_action_items_and_the_lowest_closure_rate(demo: Loaded) -> None:
    items = actions.items(demo.engine, demo.settings, START, AS_OF, AS_OF)
    per_squad = items.groupby("squad").agg(items=("item_id", "size"), resolved=("resolved", "sum"),
                                           overdue=("overdue", "sum"))
    closure = per_squad["resolved"] / per_squad["items"]
    assert per_squad.loc[model.OVERDUE, "overdue"] >= 5
    assert closure.idxmin() == model.OVERDUE and closure[model.OVERDUE] < 0.5, closure


def test_unassigned_shows_up_for_the_unmapped_service(demo: Loaded) -> None:
    assert _squad(demo.quarter("first"), "unassigned")["deployments"] > 0  # a squad of its own in the figures
    deps = dora_drill.deployments_in_window(demo.engine, demo.settings, START, END)
    notifier = deps[deps["service"] == model.UNMAPPED_SERVICE]
    assert len(notifier) > 0 and set(notifier["squad"]) == {"unassigned"}


def test_same_seed_and_as_of_give_byte_identical_files(demo: Loaded, tmp_path: Path) -> None:
    again = write_demo(tmp_path / "again", seed=SEED, as_of=AS_OF, scale=SCALE)
    first = {p.relative_to(demo.out): p.read_bytes() for p in demo.out.rglob("*") if p.is_file()}
    second = {p.relative_to(tmp_path / "again"): p.read_bytes() for p in again}
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


def test_reingesting_the_demo_files_changes_nothing(demo: Loaded) -> None:
    changed = []
    for line in demo.lines[:-1]:
        path = line.split(": ", 1)[0]
        result = ingest_file(demo.engine, path, demo.settings)
        if (result.inserted, result.updated) != (0, 0):
            changed.append(result.summary_line())
    assert changed == []

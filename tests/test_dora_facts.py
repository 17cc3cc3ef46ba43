"""The precomputed DORA building blocks (dora_facts) are read only while they answer the question asked.

Fixture: tests/fixtures/dora (see test_metrics_dora.py). Its squads file maps payments-api -> payments and
search -> discovery; legacy-batch is unassigned. January 2024 holds 8 production deployments.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.metrics import catalog, dora, dora_drill, dora_facts, overview
from delivery_health.settings import Settings
from delivery_health.squads import load_rules
from tests.conftest import ROOT

FIX = Path(__file__).resolve().parent / "fixtures" / "dora"
JAN = (date(2024, 1, 1), date(2024, 1, 28))


@pytest.fixture
def refreshed(db_url: str, tmp_path: Path) -> tuple:
    squads = tmp_path / "squads.csv"
    shutil.copy(FIX / "squads.csv", squads)
    settings = Settings(db_url=db_url, squads_path=str(squads))
    engine = store.make_engine(db_url)
    for name in ("deployments.csv", "commits.csv", "incidents.csv"):
        ingest_file(engine, FIX / name, settings)
    done = dora_facts.refresh(engine, settings)
    # 11 production-environment runs (P0..P3, P5..P7, S1..S3, L1; P4 is staging), 9 of them successful
    # deployments (P2 failed, P3 cancelled); 5 incidents. No two of the 9 deployments share a UTC day and squad.
    assert (done.rows["runs"], done.rows["production"], done.rows["attribution"], done.rows["incidents"],
            done.rows["deploy_days"]) == (11, 9, 5, 5, 9)
    yield engine, settings
    engine.dispose()


def _current(engine, settings: Settings) -> bool:
    with engine.connect() as conn:
        return dora_facts.is_current(conn, settings, load_rules(settings.squads_path))


def _squads(engine, settings: Settings) -> dict:
    total = dora.dora_window(engine, settings, *JAN)
    return dict(zip(total["squad"].fillna("all"), total["deployments"]))


def test_read_while_current_and_identical_to_computing_in_the_query(refreshed) -> None:
    engine, settings = refreshed
    assert _current(engine, settings)
    def read() -> list:
        return [dora.dora_trends(engine, settings, *JAN, by="week"), dora_drill.data_quality(engine, settings, *JAN),
                dora_drill.deployments_in_window(engine, settings, *JAN),
                dora_drill.deployments_in_window(engine, settings, *JAN, limit=3)]

    pre = read()
    with engine.begin() as conn:  # what the query would compute: the tables emptied are not read any more
        conn.execute(store.derived_state.delete())
    assert not _current(engine, settings)
    for precomputed, live in zip(pre, read()):
        pd.testing.assert_frame_equal(precomputed, live)
    # Read from the runs' precomputed counts: P1 ships c1 and c2 and INC-1 names it; the failed attempt P2 has none.
    runs = pre[2].set_index("id")
    p1, p2 = "csv:payments-api|production|2024-01-02T11:50:00", "csv:payments-api|production|2024-01-03T08:50:00"
    assert (runs.loc[p1, "commits"], runs.loc[p1, "incidents"], bool(runs.loc[p1, "failed"])) == (2, 1, True)
    assert pd.isna(runs.loc[p2, "commits"]) and not runs.loc[p2, "failed"]
    # January: P1, P5, P6, P7 (payments), S1, S2, S3 (discovery), L1 (unassigned).
    assert _squads(engine, settings) == {"payments": 4, "discovery": 3, "unassigned": 1, "all": 8}


def test_other_production_environments_are_computed_in_the_query(refreshed) -> None:
    engine, settings = refreshed
    staging = replace(settings, production_environments=("production", "prod", "staging"))
    assert not _current(engine, staging)
    # P4 (payments-api, staging, 01-03) now counts: payments 4 -> 5 deployments in January.
    assert _squads(engine, settings)["payments"] == 4 and _squads(engine, staging)["payments"] == 5


def test_an_edited_squad_mapping_is_computed_in_the_query(refreshed) -> None:
    engine, settings = refreshed
    with open(settings.squads_path, "a", encoding="utf-8") as fh:
        fh.write("batch,service,legacy-*\n")
    assert not _current(engine, settings)
    assert _squads(engine, settings).get("batch") == 1 and "unassigned" not in _squads(engine, settings)


def test_a_new_ingest_makes_them_stale_until_refreshed(refreshed, tmp_path: Path) -> None:
    engine, settings = refreshed
    extra = tmp_path / "more.csv"
    extra.write_text("service,environment,status,started_at,finished_at,commit_sha,commit_time,ref,is_rework\n"
                     "search,prod,success,2024-01-20T09:00:00Z,2024-01-20T09:10:00Z,s9sha,2024-01-20T08:00:00Z,"
                     "main,false\n",
                     encoding="utf-8")
    ingest_file(engine, extra, settings)
    assert not _current(engine, settings)
    assert _squads(engine, settings)["discovery"] == 4  # S1, S2, S3 and the new one
    assert dora_facts.refresh_if_stale(engine, settings) is not None
    assert _current(engine, settings) and _squads(engine, settings)["discovery"] == 4
    assert dora_facts.refresh_if_stale(engine, settings) is None  # current: nothing to do


def test_refresh_makes_the_tables_anew_with_columns_added_since(refreshed) -> None:
    engine, settings = refreshed
    with engine.begin() as conn:  # a store whose dora_incidents predates its attribution columns
        conn.execute(sa.text("DROP TABLE dora_incidents"))
        conn.execute(sa.text("CREATE TABLE dora_incidents (id VARCHAR, squad VARCHAR, started_at TIMESTAMP, "
                             "resolved_at TIMESTAMP, recovery_seconds DOUBLE PRECISION)"))
    done = dora_facts.refresh(engine, settings)
    assert done.rows["incidents"] == 5  # INC-1..INC-5
    incidents = dora_drill.incidents_in_window(engine, settings, *JAN)
    # INC-4 started 7 days and 1 minute after S3, its service's last deployment: attributed to none.
    assert incidents.set_index("id").loc["INC-4", "attributed_by"] == "none"


def test_cli_ingest_precomputes_and_refresh_recomputes(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'cli.duckdb'}"
    run = lambda *args: subprocess.run([sys.executable, "-m", "delivery_health", *args, "--db", url,  # noqa: E731
                                        "--squads", str(FIX / "squads.csv")],
                                       cwd=ROOT, capture_output=True, text=True, check=True).stdout
    out = run("ingest", str(FIX / "deployments.csv"), str(FIX / "commits.csv"), str(FIX / "incidents.csv"))
    assert "precomputed DORA building blocks" in out and "9 production" in out
    engine = store.make_engine(url)
    settings = Settings(db_url=url, squads_path=str(FIX / "squads.csv"))
    assert _current(engine, settings)
    engine.dispose()
    assert "9 production" in run("refresh")


def test_the_data_catalogue_is_read_while_current_and_computed_live_after_new_data(refreshed, tmp_path: Path) -> None:
    engine, settings = refreshed
    with engine.connect() as conn:
        assert catalog.is_current(conn)
        # Environments Prod, production and staging, lower-cased; 12 deployment rows from 2023-12-28 10:00.
        assert catalog.values(conn, catalog.ENVIRONMENT) == ["prod", "production", "staging"]
        spans = {label: (n, first) for label, n, first, _ in catalog.inventory(conn)}
    assert spans["Deployments"] == (12, datetime(2023, 12, 28, 10, 0))
    with engine.begin() as conn:  # a catalogue missing a kind of record (written by another version): computed live
        conn.execute(store.data_catalog.delete().where(store.data_catalog.c.value == "Deployments"))
        assert {label: n for label, n, _, _ in catalog.inventory(conn)}["Deployments"] == 12
    assert overview.environment_names(engine, settings) == ["prod", "production", "staging"]
    # A new environment loaded after the refresh: the catalogue is stale and the live answer is given instead.
    canary = tmp_path / "canary.csv"
    canary.write_text("service,environment,status,started_at,finished_at,commit_sha,commit_time,ref,is_rework\n"
                      "acme/search,Canary,success,2023-11-01T09:50:00Z,2023-11-01T10:00:00Z,z1,,main,false\n")
    ingest_file(engine, canary, settings)
    with engine.connect() as conn:
        assert not catalog.is_current(conn)
    assert "canary" in overview.environment_names(engine, settings)
    assert overview.first_record_date(engine, settings) == date(2023, 11, 1)
    assert dora_facts.refresh_if_stale(engine, settings) is not None
    with engine.connect() as conn:
        assert catalog.is_current(conn) and "canary" in catalog.values(conn, catalog.ENVIRONMENT)
    with engine.begin() as conn:  # a store whose DORA tables are current but whose catalogue is missing
        conn.execute(store.derived_state.delete().where(store.derived_state.c.id == catalog.NAME))
    assert dora_facts.refresh_if_stale(engine, settings) is not None

"""The store: schema version, upsert semantics, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from delivery_health import store


def _budget(amount: float, month: int = 1) -> dict:
    return {"id": f"payments|cloud|2026-{month:02d}|EUR", "scope": "payments", "category": "cloud",
            "month": date(2026, month, 1), "amount": amount, "currency": "EUR"}


def test_schema_version_recorded_once(engine) -> None:
    store.init_db(engine)  # a second init must not add a second row
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.schema_version.c.version)).scalars().all() == [store.SCHEMA_VERSION]


def test_upsert_inserts_then_ignores_identical_then_updates_changed(engine) -> None:
    with engine.begin() as conn:
        assert store.upsert(conn, store.budget_lines, [_budget(100.0), _budget(50.0, 2)]) == (2, 0)
    with engine.begin() as conn:
        # integer 100 equals the stored 100.0: identical, not an update
        assert store.upsert(conn, store.budget_lines, [_budget(100), _budget(50.0, 2)]) == (0, 0)
    with engine.begin() as conn:
        assert store.upsert(conn, store.budget_lines, [_budget(120.0), _budget(50.0, 2)]) == (0, 1)
    with engine.connect() as conn:
        amounts = dict(conn.execute(sa.select(store.budget_lines.c.month, store.budget_lines.c.amount)).all())
    assert amounts == {date(2026, 1, 1): 120.0, date(2026, 2, 1): 50.0}


def test_bulk_path_matches_row_path(engine) -> None:
    # 300 rows take DuckDB's DataFrame bulk path (over 200); the result must equal row-by-row inserts.
    rows = [_budget(float(i)) | {"id": f"s{i}", "scope": f"s{i}"} for i in range(300)]
    with engine.begin() as conn:
        assert store.upsert(conn, store.budget_lines, rows) == (300, 0)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(store.budget_lines.c.amount))).scalar_one()
    assert total == sum(range(300))


def test_work_is_retried_while_the_file_is_busy_and_other_errors_are_not(monkeypatch) -> None:
    monkeypatch.setattr(store, "BUSY_RETRY_SECONDS", 5.0)
    calls = []

    def busy_twice() -> str:
        calls.append(1)
        if len(calls) < 3:  # what DuckDB says while another connection holds the file
            raise RuntimeError("IO Error: Could not set lock on file: Conflicting lock is held")
        return "read"

    assert store.retry_while_busy(busy_twice) == "read" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise ValueError("no such column")

    calls.clear()
    with pytest.raises(ValueError):
        store.retry_while_busy(broken)
    assert len(calls) == 1  # a real error is not retried

    monkeypatch.setattr(store, "BUSY_RETRY_SECONDS", 0.3)
    with pytest.raises(store.DatabaseBusy):
        store.retry_while_busy(lambda: (_ for _ in ()).throw(RuntimeError("different configuration")))

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


def test_a_version_1_store_gets_computed_tag_ids_and_keeps_its_tags(engine) -> None:
    """Version 1 wrote each tag's id; version 2 computes it (store.COMPUTED_IDS). init_db makes the old table
    again: the same tags with the same ids, and its writes then go through the computed column."""
    tags = store.work_item_tags
    with engine.begin() as conn:  # the version-1 table, as init_db made it, with two tags
        conn.execute(sa.text("DROP TABLE work_item_tags"))
        conn.execute(sa.text("CREATE TABLE work_item_tags (id VARCHAR NOT NULL, item_key VARCHAR NOT NULL, "
                             "kind VARCHAR NOT NULL, value VARCHAR NOT NULL)"))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("CREATE UNIQUE INDEX ux_work_item_tags_id ON work_item_tags (id)"))
            conn.execute(sa.text("CREATE INDEX ix_work_item_tags_item_key ON work_item_tags (item_key)"))
        conn.execute(sa.text("INSERT INTO work_item_tags VALUES ('PAY-1|label|ops', 'PAY-1', 'label', 'ops'), "
                             "('PAY-1|component|Search', 'PAY-1', 'component', 'Search')"))
        conn.execute(store.schema_version.delete())
        conn.execute(store.schema_version.insert().values(version=1))
    store.init_db(engine)
    store.init_db(engine)  # once made again, the table is left as it is
    rows = [{"id": "PAY-1|label|ops", "item_key": "PAY-1", "kind": "label", "value": "ops"},
            {"id": "PAY-2|label|ops", "item_key": "PAY-2", "kind": "label", "value": "ops"}]
    with engine.begin() as conn:
        generated = conn.execute(sa.text("SELECT is_generated FROM information_schema.columns WHERE "
                                         "table_name = 'work_item_tags' AND column_name = 'id'")).scalar_one()
        assert generated == "ALWAYS"
        assert sorted(conn.execute(sa.select(tags.c.id, tags.c.value)).all()) == [
            ("PAY-1|component|Search", "Search"), ("PAY-1|label|ops", "ops")]
        assert store.upsert(conn, tags, rows) == (1, 0)  # PAY-1's label is there already: only PAY-2's is new
        versions = conn.execute(sa.select(store.schema_version.c.version)).scalars().all()
    assert sorted(versions) == [1, store.SCHEMA_VERSION]
    with engine.connect() as conn:
        assert conn.execute(sa.select(tags.c.id).where(tags.c.item_key == "PAY-2")).scalar_one() == "PAY-2|label|ops"


def test_a_version_2_store_drops_the_index_of_the_computed_tag_ids(engine) -> None:
    """Version 3 does not index the tags' computed id on PostgreSQL (store.COMPUTED_IDS): init_db drops the index
    a version-2 store has, and keeps the tags and the item_key index their lookups go through."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("CREATE UNIQUE INDEX ux_work_item_tags_id ON work_item_tags (id)"))
        conn.execute(sa.text("INSERT INTO work_item_tags (item_key, kind, value) VALUES ('PAY-1', 'label', 'ops')"))
        conn.execute(store.schema_version.delete())
        conn.execute(store.schema_version.insert().values(version=2))
    store.init_db(engine)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            indexes = set(conn.execute(sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'work_item_tags'")).scalars())
            assert indexes == {"ix_work_item_tags_item_key"}
        assert conn.execute(sa.select(store.work_item_tags.c.id)).scalars().all() == ["PAY-1|label|ops"]
        assert sorted(conn.execute(sa.select(store.schema_version.c.version)).scalars()) == [2, store.SCHEMA_VERSION]



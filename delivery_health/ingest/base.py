"""What every loader returns, and how it says a file is bad.

A loader is a function ``load(path, settings) -> Batch``: it reads the whole file
into rows of the canonical tables (no database access) or raises ``RejectedFile``
with the row and the reason. Rows it deliberately leaves out go into
``Batch.skipped`` with a reason, so nothing disappears silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from delivery_health.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa


class RejectedFile(Exception):
    """The file cannot be loaded; nothing of it is written."""

    def __init__(self, reason: str, row: int | str | None = None):
        self.reason = reason
        self.row = row
        super().__init__(f"row {row}: {reason}" if row is not None else reason)


@dataclass
class Batch:
    """Rows per canonical table name, plus what was read and what was skipped."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Or, from a columnar reader, a table's rows as one Arrow table of the columns a write gives
    # (``store.written_columns``), ids unique.
    frames: dict[str, pa.Table] = field(default_factory=dict)
    read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row reference, reason)
    # Child tables whose rows are owned by a parent key: table -> (owner column, owner keys).
    # Rows of those owners missing from this batch are removed (e.g. a label taken off an issue).
    owned: dict[str, tuple[str, list[str] | pa.ChunkedArray]] = field(default_factory=dict)
    # Issue keys the source no longer has (deleted in Jira, or moved out of a synced query): the rows this
    # source brought for them are removed (``store.delete_issues``).
    retired: list[str] = field(default_factory=list)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)

    def table_rows(self, table: str) -> list[dict[str, Any]]:
        """A table's rows as dicts, whichever way they were given."""
        return self.frames[table].to_pylist() if table in self.frames else self.rows.get(table, [])

    def skip(self, row_ref: int | str, reason: str) -> None:
        self.skipped.append((str(row_ref), reason))


Loader = Callable[[Path, Settings], Batch]

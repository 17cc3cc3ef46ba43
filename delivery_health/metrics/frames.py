"""Query results as DataFrames."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select


def read_frame(conn: Connection, query: Select, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of ``query``, named ``columns`` (default: the query's own column names).

    Built from plain tuples: handing pandas SQLAlchemy's Row objects costs five times as much
    (0.39 s against 0.08 s for 64k rows of 8 columns), and a drill-down holds 100k rows at 1M issues.
    When SQLAlchemy has no conversion to apply to any column (DuckDB hands back Python values of the
    right types), the driver's own rows are taken whole: half the time of fetching them one by one.
    """
    result = conn.execute(query)
    names = columns if columns is not None else list(result.keys())
    processors = getattr(result._metadata, "_processors", None)  # SQLAlchemy 2: one per column, None = as is
    if processors is not None and not any(processors):
        rows = result.cursor.fetchall()
        result.close()
    else:
        rows = [tuple(row) for row in result]
    return pd.DataFrame.from_records(rows, columns=names)

"""Query results as DataFrames."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select


def read_frame(conn: Connection, query: Select, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of ``query``, named ``columns`` (default: the query's own column names).

    Built from plain tuples: handing pandas SQLAlchemy's Row objects costs five times as much
    (0.39 s against 0.08 s for 64k rows of 8 columns), and a drill-down holds 100k rows at 1M issues.
    """
    result = conn.execute(query)
    names = columns if columns is not None else list(result.keys())
    return pd.DataFrame.from_records([tuple(row) for row in result], columns=names)

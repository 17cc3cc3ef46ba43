"""SQL functions that DuckDB and PostgreSQL spell the same way but SQLAlchemy cannot express directly."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from delivery_health.metrics.periods import quarter_shift

ID_LIST_SEPARATOR = ", "


class id_list(FunctionElement):  # noqa: N801 - used like sa.func.*
    """The distinct non-null values of a text column, sorted and joined with ``ID_LIST_SEPARATOR``
    (an aggregate: ``string_agg(DISTINCT x, ', ' ORDER BY x)``)."""

    type = sa.String()
    inherit_cache = True
    name = "id_list"


@compiles(id_list)
def _compile_id_list(element: id_list, compiler: Any, **kw: Any) -> str:
    (column,) = element.clauses
    text = compiler.process(column, **kw)
    separator = compiler.process(sa.literal(ID_LIST_SEPARATOR), **kw)
    return f"string_agg(DISTINCT {text}, {separator} ORDER BY {text})"


def period_start(by: str, instant: Any, fiscal_start: int = 1) -> sa.ColumnElement:
    """The DATE starting ``instant``'s period (``periods.period_start_of`` in SQL): a fiscal quarter is the
    calendar quarter of the instant moved back by the fiscal year's shift, moved forward again."""
    shift = quarter_shift(fiscal_start) if by == "quarter" else 0
    if not shift:
        return sa.cast(sa.func.date_trunc(by, instant), sa.Date)
    months = sa.literal_column(f"INTERVAL '{shift} month'")  # an int 1-2: nothing user-typed reaches the SQL text
    return sa.cast(sa.func.date_trunc(by, instant - months) + months, sa.Date)

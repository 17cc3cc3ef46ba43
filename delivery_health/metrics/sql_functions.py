"""SQL functions that DuckDB and PostgreSQL spell the same way but SQLAlchemy cannot express directly."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

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

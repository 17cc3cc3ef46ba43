"""CSV for people: cells a spreadsheet would run as a formula are neutralised."""

from __future__ import annotations

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_csv(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV with formula-like text cells prefixed by a quote."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(_neutralise)
    return out.to_csv(index=False).encode("utf-8")

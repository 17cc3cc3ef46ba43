"""The parameters every metric takes, and the JSON-ready rendering of a metric result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class MetricParams:
    """A selection: [start, end] inclusive dates, the as-of date, period grain and squads (empty = all)."""

    start: date | None = None
    end: date | None = None
    as_of: date = field(default_factory=lambda: datetime.utcnow().date())
    by: str = "week"
    squads: tuple[str, ...] = ()

    def window(self, default_days: int = 90) -> tuple[date, date]:
        end = self.end or self.as_of
        start = self.start or (end - timedelta(days=default_days - 1))
        return start, end

    def as_json(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end), "as_of": _iso(self.as_of), "by": self.by,
                "squads": list(self.squads)}


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (date, datetime)) else v


def json_value(v: Any) -> Any:
    """Dates as YYYY-MM-DD, NaN/NaT as null, numpy scalars as Python numbers."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat() if (v.hour, v.minute, v.second) == (0, 0, 0) else v.isoformat()
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if hasattr(v, "item"):
        return json_value(v.item())
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]

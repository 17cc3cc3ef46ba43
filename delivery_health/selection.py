"""The shared selection: period presets (incl. calendar quarters) and what they mean in dates.

Pure date logic, no Streamlit: the filter bar (``ui``), the overview and the report use it,
so "2026Q3" or "last 90 days" means the same everywhere.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

CUSTOM = "custom"
QUARTERS_OFFERED = 6  # the current quarter and the five before it
_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)
_RELATIVE = {"last-30-days": 30, "last-90-days": 90, "last-180-days": 180, "last-365-days": 365}


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """``"2026Q3"`` -> (2026-07-01, 2026-09-30), inclusive; ValueError for anything else."""
    m = _QUARTER.match(quarter.strip())
    if not m:
        raise ValueError(f"not a quarter: {quarter!r} (expected e.g. 2026Q3)")
    year, q = int(m.group(1)), int(m.group(2))
    start = date(year, 3 * q - 2, 1)
    return start, next_quarter_start(start) - timedelta(days=1)


def quarter_label(day: date) -> str:
    """The quarter containing ``day``, as ``2026Q3``."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def next_quarter_start(start: date) -> date:
    y, m = divmod(start.month - 1 + 3, 12)
    return date(start.year + y, m + 1, 1)


def previous_quarter(quarter: str) -> str:
    start, _ = quarter_bounds(quarter)
    return quarter_label(start - timedelta(days=1))


def period_presets(today: date, default_days: int = 90) -> list[str]:
    """The presets the filter bar offers, the default (``last-<default_days>-days``) first."""
    default = f"last-{default_days}-days"
    relative = [default] + [p for p in _RELATIVE if p != default]
    quarters, day = [], today
    for _ in range(QUARTERS_OFFERED):
        quarters.append(quarter_label(day))
        day = quarter_bounds(quarters[-1])[0] - timedelta(days=1)
    return relative + ["year-to-date"] + quarters + [CUSTOM]


def preset_label(preset: str) -> str:
    if preset in _RELATIVE or preset.startswith("last-"):
        return f"Last {preset.split('-')[1]} days"
    if preset == "year-to-date":
        return "Year to date"
    if preset == CUSTOM:
        return "Custom range"
    if _QUARTER.match(preset):
        return preset.replace("Q", " Q")
    return preset


def preset_window(preset: str, today: date) -> tuple[date, date] | None:
    """The inclusive dates of a preset (a quarter not yet over ends today); None for ``custom``."""
    if preset.startswith("last-") and preset.endswith("-days"):
        days = int(preset.split("-")[1])
        return today - timedelta(days=days - 1), today
    if preset == "year-to-date":
        return date(today.year, 1, 1), today
    if _QUARTER.match(preset):
        start, end = quarter_bounds(preset)
        return start, min(end, today) if start <= today else end
    if preset == CUSTOM:
        return None
    raise ValueError(f"unknown period preset {preset!r}")


def review_quarter(period: str, end: date) -> str:
    """The quarter a review shows: the period itself when it is a quarter, else the one containing ``end``."""
    return period.upper() if _QUARTER.match(period) else quarter_label(end)

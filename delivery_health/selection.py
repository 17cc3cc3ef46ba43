"""The shared selection: period presets (incl. calendar quarters) and what they mean in dates.

Pure date logic, no Streamlit: the filter bar (``ui``), the overview and the report use it,
so "2026 Q3" or "Last 90 days" means the same everywhere.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

# Presets are their own labels: the filter bar binds the period to the URL by its label (`?period=2026+Q3`).
CUSTOM = "Custom range"
YEAR_TO_DATE = "Year to date"
QUARTERS_OFFERED = 6  # at least the current quarter and the five before it ...
MAX_QUARTERS_OFFERED = 24  # ... and back to the first data, up to six years
RELATIVE_DAYS = (30, 90, 180, 365)
_QUARTER = re.compile(r"^(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)
_LAST_DAYS = re.compile(r"^Last (\d+) days$", re.IGNORECASE)


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """``"2026Q3"`` -> (2026-07-01, 2026-09-30), inclusive; ValueError for anything else."""
    m = _QUARTER.match(quarter.strip())
    if not m:
        raise ValueError(f"not a quarter: {quarter!r} (expected e.g. 2026Q3)")
    year, q = int(m.group(1)), int(m.group(2))
    start = date(year, 3 * q - 2, 1)
    return start, next_quarter_start(start) - timedelta(days=1)


def quarter_label(day: date) -> str:
    """The quarter containing ``day``, as ``2026 Q3`` (``quarter_bounds`` reads it back)."""
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


def next_quarter_start(start: date) -> date:
    y, m = divmod(start.month - 1 + 3, 12)
    return date(start.year + y, m + 1, 1)


def previous_quarter(quarter: str) -> str:
    start, _ = quarter_bounds(quarter)
    return quarter_label(start - timedelta(days=1))


def period_presets(today: date, default_days: int = 90, earliest: date | None = None) -> list[str]:
    """The presets the filter bar offers, the default (``Last <default_days> days``) first, then the
    quarters from the current one back to the one holding ``earliest`` (the first data)."""
    relative = [f"Last {default_days} days"] + [f"Last {n} days" for n in RELATIVE_DAYS if n != default_days]
    quarters, day = [], today
    while len(quarters) < MAX_QUARTERS_OFFERED and (len(quarters) < QUARTERS_OFFERED or (earliest and day >= earliest)):
        quarters.append(quarter_label(day))
        day = quarter_bounds(quarters[-1])[0] - timedelta(days=1)
    return relative + [YEAR_TO_DATE] + quarters + [CUSTOM]


def is_quarter(preset: str) -> bool:
    return bool(_QUARTER.match(preset.strip()))


def preset_window(preset: str, today: date) -> tuple[date, date] | None:
    """The inclusive dates of a preset (a quarter not yet over ends today); None for ``CUSTOM``."""
    last = _LAST_DAYS.match(preset.strip())
    if last:
        return today - timedelta(days=int(last.group(1)) - 1), today
    if preset == YEAR_TO_DATE:
        return date(today.year, 1, 1), today
    if is_quarter(preset):
        start, end = quarter_bounds(preset)
        return start, min(end, today) if start <= today else end
    if preset == CUSTOM:
        return None
    raise ValueError(f"unknown period preset {preset!r}")


def review_quarter(period: str, end: date) -> str:
    """The quarter a review shows: the period itself when it is a quarter, else the one containing ``end``."""
    return quarter_label(quarter_bounds(period)[0]) if is_quarter(period) else quarter_label(end)

"""The shared selection: period presets (incl. quarters) and what they mean in dates.

Pure date logic, no Streamlit: the filter bar (``ui``), the overview and the report use it,
so "2026 Q3" or "Last 90 days" means the same everywhere. Quarters and the year to date follow
the fiscal year (``Settings.fiscal_year_start_month``, passed as ``fiscal_start``; 1 = calendar).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from delivery_health.metrics import periods

# Presets are their own labels: the filter bar binds the period to the URL by its label (`?period=2026+Q3`).
CUSTOM = "Custom range"
YEAR_TO_DATE = "Year to date"
FISCAL_YEAR_TO_DATE = "Fiscal year to date"
QUARTERS_OFFERED = 6  # at least the current quarter and the five before it ...
MAX_QUARTERS_OFFERED = 24  # ... and back to the first data, up to six years
RELATIVE_DAYS = (30, 90, 180, 365)
_QUARTER = re.compile(r"^(?:FY\s*)?(\d{4})\s*-?\s*Q([1-4])$", re.IGNORECASE)
_LAST_DAYS = re.compile(r"^Last (\d+) days$", re.IGNORECASE)


def _fiscal_year_of(day: date, fiscal_start: int) -> int:
    """The fiscal year holding ``day``, named after the calendar year it ends in."""
    return day.year + 1 if fiscal_start > 1 and day.month >= fiscal_start else day.year


def _first_day(fiscal_year: int, fiscal_start: int) -> date:
    """The first day of the fiscal year named ``fiscal_year`` (in the calendar year before, unless in January)."""
    return date(fiscal_year - (1 if fiscal_start > 1 else 0), fiscal_start, 1)


def year_start(day: date, fiscal_start: int = 1) -> date:
    """The first day of the (fiscal) year holding ``day``."""
    return _first_day(_fiscal_year_of(day, fiscal_start), fiscal_start)


def quarter_bounds(quarter: str, fiscal_start: int = 1) -> tuple[date, date]:
    """``"2026Q3"`` -> (2026-07-01, 2026-09-30), inclusive; ValueError for anything else.

    With a fiscal year starting in another month the year is the fiscal year: starting in July,
    ``"FY2027 Q1"`` (or ``"2027Q1"``) is 2026-07-01 - 2026-09-30.
    """
    m = _QUARTER.match(quarter.strip())
    if not m:
        raise ValueError(f"not a quarter: {quarter!r} (expected e.g. {quarter_label(date(2026, 7, 1), fiscal_start)})")
    year, q = int(m.group(1)), int(m.group(2))
    start = _first_day(year, fiscal_start)
    for _ in range(q - 1):
        start = next_quarter_start(start)
    return start, next_quarter_start(start) - timedelta(days=1)


def quarter_label(day: date, fiscal_start: int = 1) -> str:
    """The quarter containing ``day``, as ``2026 Q3`` or, in a fiscal year not starting in January,
    ``FY2027 Q1`` (``quarter_bounds`` reads both back)."""
    q = (day.month - fiscal_start) % 12 // 3 + 1
    year = _fiscal_year_of(day, fiscal_start)
    return f"FY{year} Q{q}" if fiscal_start > 1 else f"{year} Q{q}"


def next_quarter_start(start: date) -> date:
    return periods.next_period_start(start, "quarter")


def previous_quarter(quarter: str, fiscal_start: int = 1) -> str:
    start, _ = quarter_bounds(quarter, fiscal_start)
    return quarter_label(start - timedelta(days=1), fiscal_start)


def year_to_date(fiscal_start: int = 1) -> str:
    """The year-to-date preset's label: "Fiscal year to date" when the fiscal year does not start in January."""
    return FISCAL_YEAR_TO_DATE if fiscal_start > 1 else YEAR_TO_DATE


def period_presets(today: date, default_days: int = 90, earliest: date | None = None,
                   fiscal_start: int = 1) -> list[str]:
    """The presets the filter bar offers, the default (``Last <default_days> days``) first, then the
    quarters from the current one back to the one holding ``earliest`` (the first data)."""
    relative = [f"Last {default_days} days"] + [f"Last {n} days" for n in RELATIVE_DAYS if n != default_days]
    quarters, day = [], today
    while len(quarters) < MAX_QUARTERS_OFFERED and (len(quarters) < QUARTERS_OFFERED or (earliest and day >= earliest)):
        quarters.append(quarter_label(day, fiscal_start))
        day = quarter_bounds(quarters[-1], fiscal_start)[0] - timedelta(days=1)
    return relative + [year_to_date(fiscal_start)] + quarters + [CUSTOM]


def is_quarter(preset: str) -> bool:
    return bool(_QUARTER.match(preset.strip()))


def preset_window(preset: str, today: date, fiscal_start: int = 1) -> tuple[date, date] | None:
    """The inclusive dates of a preset (a quarter not yet over ends today); None for ``CUSTOM``."""
    last = _LAST_DAYS.match(preset.strip())
    if last:
        return today - timedelta(days=int(last.group(1)) - 1), today
    if preset in (YEAR_TO_DATE, FISCAL_YEAR_TO_DATE):
        return year_start(today, fiscal_start), today
    if is_quarter(preset):
        start, end = quarter_bounds(preset, fiscal_start)
        return start, min(end, today) if start <= today else end
    if preset == CUSTOM:
        return None
    raise ValueError(f"unknown period preset {preset!r}")


def review_quarter(period: str, end: date, fiscal_start: int = 1) -> str:
    """The quarter a review shows: the period itself when it is a quarter, else the one containing ``end``."""
    day = quarter_bounds(period, fiscal_start)[0] if is_quarter(period) else end
    return quarter_label(day, fiscal_start)

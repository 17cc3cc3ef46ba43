"""Periods of a trend: ISO weeks (Monday), calendar months, quarters, and windows of whole days.

Quarters are calendar quarters unless the fiscal year starts in another month
(``Settings.fiscal_year_start_month``): a fiscal year starting in February has quarters
February-April, May-July, and so on. ``fiscal_start`` is that month (1 = January).

A period is half-open, ``[period_start, next_period_start)``; windows are inclusive dates
turned into half-open instants. DORA trends and action-item cohorts both use these.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

GRAINS = ("week", "month", "quarter")


def quarter_shift(fiscal_start: int) -> int:
    """Months the quarters start after calendar quarters (0, 1 or 2) when the fiscal year starts in ``fiscal_start``."""
    return (fiscal_start - 1) % 3


def period_start_of(day: date, by: str, fiscal_start: int = 1) -> date:
    """The start of the ISO week / calendar month / quarter (of the fiscal year) containing ``day``."""
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    if by == "quarter":
        month = day.year * 12 + day.month - 1  # months since year 0
        month -= (month - quarter_shift(fiscal_start)) % 3
        return date(month // 12, month % 12 + 1, 1)
    raise ValueError(f"unknown period {by!r} (one of {', '.join(GRAINS)})")


def next_period_start(start: date, by: str) -> date:
    if by == "week":
        return start + timedelta(days=7)
    months = 1 if by == "month" else 3
    y, m = divmod(start.month - 1 + months, 12)
    return date(start.year + y, m + 1, 1)


def periods(start: date, end: date, by: str, fiscal_start: int = 1) -> list[date]:
    """Every period start from the one containing ``start`` to the one containing ``end``."""
    out, p = [], period_start_of(start, by, fiscal_start)
    while p <= end:
        out.append(p)
        p = next_period_start(p, by)
    return out


def period_bounds(period: date, by: str, start: date, end: date) -> tuple[date, date]:
    """The inclusive dates of ``period`` clipped to the window [start, end]."""
    return max(period, start), min(next_period_start(period, by) - timedelta(days=1), end)


def instants(start: date, end: date) -> tuple[datetime, datetime]:
    """[start, end] inclusive dates as a half-open range of instants."""
    return datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time())

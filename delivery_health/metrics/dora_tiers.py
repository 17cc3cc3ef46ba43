"""DORA 2023 performance tiers (METRICS.md "Performance tiers"): the boundaries live here only.

Where the table says "<" the bound is strict; at every other boundary the boundary value
falls in the better tier. So: lead time exactly 24 h is high, exactly 1 week high;
change failure rate exactly 5 % elite; recovery exactly 1 h high, exactly 1 day medium.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import median

TIERS = ("elite", "high", "medium", "low")
DAY_HOURS = 24.0
WEEK_HOURS = 7 * DAY_HOURS
MONTH_HOURS = 30 * DAY_HOURS  # "one month" of the lead-time table: 30 days
DAYS_PER_MONTH = 365.25 / 12  # for "deployments per month"
ELITE_DEPLOY_DAYS_PER_WEEK = 5  # deployments on most working days (on demand)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def deployment_frequency_tier(weekly_deployment_days: Sequence[float], deployments: int, window_days: int) -> str | None:
    """Median deployment days per ISO week >= 5 elite, >= 1 high; else >= 1 deployment per month medium; else low.

    None when there were no production deployments at all (no data, not "low").
    """
    if not deployments or not weekly_deployment_days:
        return None
    typical = median(weekly_deployment_days)
    if typical >= ELITE_DEPLOY_DAYS_PER_WEEK:
        return "elite"
    if typical >= 1:
        return "high"
    return "medium" if deployments / window_days * DAYS_PER_MONTH >= 1 else "low"


def lead_time_tier(median_hours: float | None) -> str | None:
    """< 1 day elite; 1 day to 1 week high; to 1 month (30 days) medium; beyond low."""
    if _missing(median_hours):
        return None
    if median_hours < DAY_HOURS:
        return "elite"
    if median_hours <= WEEK_HOURS:
        return "high"
    return "medium" if median_hours <= MONTH_HOURS else "low"


def change_failure_rate_tier(rate: float | None) -> str | None:
    """<= 5 % elite; <= 10 % high; <= 15 % medium; beyond low."""
    if _missing(rate):
        return None
    for bound, tier in ((0.05, "elite"), (0.10, "high"), (0.15, "medium")):
        if rate <= bound:
            return tier
    return "low"


def recovery_time_tier(median_hours: float | None) -> str | None:
    """< 1 hour elite; < 1 day high; 1 day to 1 week medium; beyond low."""
    if _missing(median_hours):
        return None
    if median_hours < 1:
        return "elite"
    if median_hours < DAY_HOURS:
        return "high"
    return "medium" if median_hours <= WEEK_HOURS else "low"

"""Period presets, quarters and the hosted-mode allow-list: pure logic, checked against hand-worked dates."""

from __future__ import annotations

from datetime import date

import pytest

from delivery_health import selection
from delivery_health.access import is_allowed


def test_quarter_bounds_and_neighbours() -> None:
    assert selection.quarter_bounds("2026Q3") == (date(2026, 7, 1), date(2026, 9, 30))
    assert selection.quarter_bounds("2024q1") == (date(2024, 1, 1), date(2024, 3, 31))
    assert selection.quarter_bounds("2025-Q4") == (date(2025, 10, 1), date(2025, 12, 31))
    assert selection.previous_quarter("2026Q1") == "2025 Q4"  # crosses the year
    assert selection.quarter_label(date(2026, 11, 29)) == "2026 Q4"
    assert selection.quarter_bounds("2026 Q4") == (date(2026, 10, 1), date(2026, 12, 31))  # reads its labels back
    for bad in ("2026Q5", "Q3 2026", "2026", ""):
        with pytest.raises(ValueError):
            selection.quarter_bounds(bad)


def test_presets_resolve_to_inclusive_windows() -> None:
    today = date(2026, 11, 29)
    # 90 days ending today, today included: 29 Nov minus 89 days is 1 Sep.
    assert selection.preset_window("Last 90 days", today) == (date(2026, 9, 1), today)
    assert selection.preset_window(selection.YEAR_TO_DATE, today) == (date(2026, 1, 1), today)
    # A finished quarter is whole; the running one ends today.
    assert selection.preset_window("2026Q3", today) == (date(2026, 7, 1), date(2026, 9, 30))
    assert selection.preset_window("2026Q4", today) == (date(2026, 10, 1), today)
    assert selection.preset_window(selection.CUSTOM, today) is None


def test_offered_presets_start_with_the_default_and_list_six_quarters() -> None:
    presets = selection.period_presets(date(2026, 2, 10), default_days=90)
    assert presets[:4] == ["Last 90 days", "Last 30 days", "Last 180 days", "Last 365 days"]
    assert [p for p in presets if selection.is_quarter(p)] == [
        "2026 Q1", "2025 Q4", "2025 Q3", "2025 Q2", "2025 Q1", "2024 Q4"]
    assert presets[-1] == selection.CUSTOM
    # With data since May 2024, the quarters reach back to 2024 Q2.
    older = selection.period_presets(date(2026, 2, 10), default_days=90, earliest=date(2024, 5, 3))
    assert [p for p in older if selection.is_quarter(p)][-1] == "2024 Q2"


def test_review_quarter_is_the_period_or_the_quarter_of_its_end() -> None:
    assert selection.review_quarter("2025q2", date(2026, 11, 29)) == "2025 Q2"
    assert selection.review_quarter("Last 90 days", date(2026, 11, 29)) == "2026 Q4"


def test_fiscal_quarters_are_named_after_the_year_they_end_in() -> None:
    july = 7  # FY2027 = 1 July 2026 - 30 June 2027
    assert selection.quarter_label(date(2026, 11, 29), july) == "FY2027 Q2"
    assert selection.quarter_bounds("FY2027 Q2", july) == (date(2026, 10, 1), date(2026, 12, 31))
    assert selection.quarter_bounds("2027q1", july) == (date(2026, 7, 1), date(2026, 9, 30))  # the year is the FY
    assert selection.previous_quarter("FY2027 Q1", july) == "FY2026 Q4"
    assert selection.quarter_bounds("FY2026 Q4", july) == (date(2026, 4, 1), date(2026, 6, 30))
    # Starting in February, quarters are Feb-Apr, May-Jul, Aug-Oct, Nov-Jan: the last one crosses the year.
    assert selection.quarter_label(date(2027, 1, 31), 2) == "FY2027 Q4"
    assert selection.quarter_bounds("FY2027 Q4", 2) == (date(2026, 11, 1), date(2027, 1, 31))
    assert selection.quarter_label(date(2027, 2, 1), 2) == "FY2028 Q1"
    # Starting in December: FY2026 = Dec 2025 - Nov 2026, so 29 Nov 2026 is in its Q4 (Sep-Nov).
    assert selection.quarter_label(date(2026, 11, 29), 12) == "FY2026 Q4"
    assert selection.year_start(date(2026, 11, 29), 12) == date(2025, 12, 1)
    assert selection.year_start(date(2026, 12, 1), 12) == date(2026, 12, 1)
    # Starting in January is the calendar year: labels stay as they were, an "FY" prefix is read too.
    assert selection.quarter_bounds("FY2026 Q3", 1) == (date(2026, 7, 1), date(2026, 9, 30))


def test_fiscal_presets_and_review_quarter() -> None:
    today = date(2026, 11, 29)
    presets = selection.period_presets(today, default_days=90, fiscal_start=4)  # FY2027 = Apr 2026 - Mar 2027
    assert selection.FISCAL_YEAR_TO_DATE in presets and selection.YEAR_TO_DATE not in presets
    assert [p for p in presets if selection.is_quarter(p)][:3] == ["FY2027 Q3", "FY2027 Q2", "FY2027 Q1"]
    assert selection.preset_window(selection.FISCAL_YEAR_TO_DATE, today, 4) == (date(2026, 4, 1), today)
    assert selection.preset_window("FY2027 Q3", today, 4) == (date(2026, 10, 1), today)  # running: ends today
    assert selection.review_quarter("Last 90 days", today, 4) == "FY2027 Q3"
    assert selection.review_quarter("FY2026 Q4", today, 4) == "FY2026 Q4"


def test_allow_list_by_address_or_domain() -> None:
    emails, domains = ["Ana@Partner.io"], ["example.com", "@corp.example"]
    assert is_allowed("ana@partner.io", emails, domains)  # address, any case
    assert is_allowed("bo@EXAMPLE.com", emails, domains)  # domain
    assert is_allowed("cy@corp.example", emails, domains)  # a domain written with its @
    assert not is_allowed("dee@partner.io", emails, domains)  # same domain, other address
    assert not is_allowed("eve@notexample.com", emails, domains)  # suffix is not the domain
    assert not is_allowed(None, emails, domains)
    assert not is_allowed("bo@example.com", [], [])  # nobody is admitted by an empty list

"""The quarterly review pack: ``content`` gathers the figures, ``render_html`` draws them, ``pdf`` prints them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy.engine import Engine

from delivery_health.report.content import QuarterlyReport, ReportError, gather, parse_quarter
from delivery_health.settings import Settings

FORMATS = ("html", "pdf")

__all__ = ["FORMATS", "QuarterlyReport", "ReportError", "build_report", "gather", "parse_quarter"]


def build_report(engine: Engine, settings: Settings, quarter: str, fmt: str, squads: Iterable[str] = (),
                 as_of: date | None = None) -> bytes:
    """The pack for ``quarter`` ("2026Q3") as HTML (UTF-8) or PDF bytes, ready to save or offer as a download.

    ``squads`` narrows every section (empty = all); ``as_of`` is "today" for a quarter in progress
    (default: today, UTC). Raises ReportError for a bad quarter or format, or when printing fails.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    from delivery_health.report import render_html

    document = render_html.render(gather(engine, settings, quarter, tuple(squads), as_of))
    if fmt == "html":
        return document.encode("utf-8")
    from delivery_health.report.pdf import html_to_pdf

    return html_to_pdf(document)

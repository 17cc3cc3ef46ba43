"""Demo events-csv: the monthly release train, year-end code freezes and Checkout's peak-season freeze."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from delivery_health.demo.model import Demo


def _second_tuesday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(1 - first.weekday()) % 7 + 7)


def rows(demo: Demo) -> list[tuple[str, str, str, str, str]]:
    """(date, end_date, kind, label, squad) over the demo's 18 months and the next quarter."""
    start, end = demo.start.date(), demo.as_of + timedelta(days=92)
    out = []
    y, m = start.year, start.month
    while date(y, m, 1) <= end:
        day = _second_tuesday(y, m)
        if start <= day <= end:
            out.append((day.isoformat(), "", "release", f"Release train {y}.{m:02d}", ""))
        if m == 12:
            out.append((date(y, 12, 19).isoformat(), date(y + 1, 1, 4).isoformat(), "freeze", "Year-end code freeze", ""))
        if m == 11:
            out.append((date(y, 11, 20).isoformat(), date(y, 12, 2).isoformat(), "freeze", "Peak-season freeze",
                        "Checkout"))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def write(demo: Demo, out: Path) -> Path:
    path = out / "events.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "end_date", "kind", "label", "squad"])
        w.writerows(rows(demo))
    return path

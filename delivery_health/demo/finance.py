"""Demo finance exports: budget-csv, spend-csv and sows-csv.

Each squad has a monthly plan per category (headcount, tooling, cloud, vendor) for the
previous and the current calendar year, in EUR except Data (USD). Actuals are payroll
on the 25th, tool subscriptions on the 1st, weekly cloud bills and monthly vendor
invoices, close to plan except Platform's cloud bill, ~25 % over this year.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

from delivery_health.demo.model import OVERRUN, SQUADS, Demo, Squad

CATEGORIES = ("headcount", "tooling", "cloud", "vendor")
OVERRUN_FACTOR = 1.25
_CLOUD_PLAN = {"Platform": 46_000, "Data": 31_000, "Search": 14_000, "Checkout": 11_000, "Payments": 12_000}
_VENDOR_PLAN = {"Mobile": 9_000, "Data": 20_000, "Platform": 14_000, "Identity": 5_000, "Checkout": 4_000}
_TOOLS = (("Atlassian", 0.35), ("GitHub", 0.25), ("Datadog", 0.4))
_VENDORS = {"Mobile": "Blue Harbor Design", "Data": "Northwind Consulting", "Platform": "Cloudwise SRE",
            "Identity": "Kite Security Audits", "Checkout": "Lumen QA"}


def _months(demo: Demo) -> list[date]:
    """First days of every month of the previous and the current calendar year."""
    year = demo.as_of.year
    return [date(y, m, 1) for y in (year - 1, year) for m in range(1, 13)]


def plan(squad: Squad, category: str, month: date, this_year: int) -> float:
    """The monthly budget: fixed per year, 5 % more in the current year."""
    index = SQUADS.index(squad)
    base = {"headcount": 8_400.0 * (8 + index % 3),
            "tooling": 2_500.0 + 400 * index,
            "cloud": float(_CLOUD_PLAN.get(squad.name, 7_000)),
            "vendor": float(_VENDOR_PLAN.get(squad.name, 0))}[category]
    return round(base * (1.05 if month.year == this_year else 1.0), 2)


def write_budget(demo: Demo, out: Path) -> Path:
    path = out / "finance" / "budget.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["scope", "category", "month", "amount", "currency"])
        for squad in SQUADS:
            for category in CATEGORIES:
                for month in _months(demo):
                    amount = plan(squad, category, month, demo.as_of.year)
                    if amount:
                        w.writerow([squad.name, category, f"{month:%Y-%m}", f"{amount:.2f}", squad.currency])
    return path


def _factor(demo: Demo, squad: Squad, category: str, day: date, rng_value: float) -> float:
    if category == "cloud" and squad.name == OVERRUN:
        return OVERRUN_FACTOR + rng_value if day.year == demo.as_of.year else 1.03 + rng_value
    return 0.97 + rng_value


def write_spend(demo: Demo, out: Path) -> Path:
    rng = demo.rng("finance:spend")
    path = out / "finance" / "spend.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    first = _months(demo)[0]
    invoice = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["date", "scope", "category", "vendor", "amount", "currency", "reference"])

        def line(day: date, squad: Squad, category: str, vendor: str, amount: float) -> None:
            nonlocal invoice
            if day >= demo.as_of or amount <= 0:
                return  # only what has been booked by as_of
            invoice += 1
            w.writerow([day.isoformat(), squad.name, category, vendor, f"{amount:.2f}", squad.currency,
                        f"INV-{day:%Y%m}-{invoice:05d}"])

        for month in _months(demo):
            for squad in SQUADS:
                y = demo.as_of.year
                for tool, share in _TOOLS:
                    line(month, squad, "tooling", tool,
                         plan(squad, "tooling", month, y) * share * _factor(demo, squad, "tooling", month, rng.uniform(0, 0.06)))
                payday = month.replace(day=25)
                line(payday, squad, "headcount", "Payroll",
                     plan(squad, "headcount", month, y) * _factor(demo, squad, "headcount", payday, rng.uniform(0, 0.04)))
                vendor_day = month.replace(day=28)
                line(vendor_day, squad, "vendor", _VENDORS.get(squad.name, "Contractors Ltd"),
                     plan(squad, "vendor", month, y) * _factor(demo, squad, "vendor", vendor_day, rng.uniform(-0.05, 0.05)))
        # Cloud bills weekly (so the current month burns pro rata), each week at that month's plan.
        day = first
        while day < demo.as_of:
            for squad in SQUADS:
                monthly = plan(squad, "cloud", day.replace(day=1), demo.as_of.year)
                vendor = "Google Cloud" if squad.name == "Data" else "AWS"
                line(day, squad, "cloud", vendor, monthly * 12 / 365.25 * 7 *
                     _factor(demo, squad, "cloud", day, rng.uniform(-0.03, 0.03)))
            day += timedelta(days=7)
    return path


def write_sows(demo: Demo, out: Path) -> Path:
    """Five SOWs: Data's is consumed far ahead of time elapsed, Mobile's ends within 60 days."""
    today = demo.as_of
    rows = [
        ("SOW-DATA-01", "Northwind Consulting", "Data", 240_000, "USD", -120, 240, 195_000),
        ("SOW-MOB-02", "Blue Harbor Design", "Mobile", 90_000, "EUR", -300, 45, 76_500),
        ("SOW-IDN-03", "Kite Security Audits", "Identity", 60_000, "EUR", -60, 300, 9_000),
        ("SOW-PLAT-04", "Cloudwise SRE", "Platform", 150_000, "EUR", -200, 165, 81_000),
        ("SOW-CHK-05", "Lumen QA", "Checkout", 48_000, "EUR", -400, -35, 48_000),
    ]
    path = out / "finance" / "sows.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sow_id", "vendor", "scope", "value", "currency", "start_date", "end_date", "invoiced_to_date"])
        for sow_id, vendor, scope, value, currency, start, end, invoiced in rows:
            w.writerow([sow_id, vendor, scope, f"{value:.2f}", currency, (today + timedelta(days=start)).isoformat(),
                        (today + timedelta(days=end)).isoformat(), f"{invoiced:.2f}"])
    return path


def write(demo: Demo, out: Path) -> list[Path]:
    return [write_budget(demo, out), write_spend(demo, out), write_sows(demo, out)]

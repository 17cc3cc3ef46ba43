"""The demo organisation and the stories built into it on purpose.

Acme runs 8 squads, each with one Jira project and 4-5 services (GitHub repositories
``acme/<service>``); ``status-notifier`` belongs to nobody and is left out of
``data/squads.csv`` so that ``unassigned`` shows up honestly. Everything is generated
for the 18 months before ``as_of``.

Stories a VP would notice (each is checked by tests/test_demo.py on the loaded data):

* **Search improves**: its deployments per service per day ramp from 0.2 to 1.6 and
  its lead time for changes falls from ~5 days to ~6 hours over the 18 months.
* **Payments degrades**: the share of its deployments followed by an incident rises
  from ~3 % to ~30 %, and its incidents take longer to resolve (~1 h to ~12 h).
* **A late cross-team dependency**: ``LATE_BLOCKER`` (Platform) blocks
  ``LATE_BLOCKED`` (Checkout), due in two weeks for Checkout's next release, while
  the blocker's fix version ships a month later. Both are open.
* **Budget overrun**: Platform's cloud spend runs ~25 % over its plan this year.
* **Overdue action items**: Identity closes few of its incident action items, so
  many are open past their due date.

Dates and times are UTC. Randomness comes only from ``Demo.rng(name)``: a
``random.Random`` seeded by the demo seed and a stream name, so each part of the data
set is reproducible on its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

ORG = "acme"
MONTHS_BACK = 18


@dataclass(frozen=True)
class Squad:
    name: str
    project_key: str
    project_name: str
    services: tuple[str, ...]
    deploys_per_service_day: float  # steady rate; the story squads override it over time
    lead_time_hours: float  # median lead time for changes
    jira_format: str = "json"  # "json" (REST search pages) or "csv" (issue-navigator export)
    incident_source: str = "pagerduty"  # "pagerduty" | "incidents-csv" | "jira"
    currency: str = "EUR"


SQUADS: tuple[Squad, ...] = (
    Squad("Payments", "PAY", "Payments", ("payments-api", "payments-ledger", "payments-gateway",
                                          "payments-reconciler", "fraud-scoring"), 0.35, 40),
    Squad("Checkout", "CHK", "Checkout", ("checkout-web", "checkout-api", "cart-service", "pricing-engine",
                                          "promo-codes"), 1.0, 30),
    Squad("Identity", "IDN", "Identity & Access", ("identity-api", "auth-gateway", "user-profile",
                                                   "session-store", "mfa-service"), 0.6, 50),
    Squad("Search", "SRCH", "Search & Discovery", ("search-api", "search-indexer", "autocomplete",
                                                   "ranking-service", "catalog-sync"), 0.9, 120),
    Squad("Mobile", "MOB", "Mobile Apps", ("mobile-bff", "ios-app", "android-app", "push-notifications",
                                           "app-config"), 0.4, 140, jira_format="csv", incident_source="jira"),
    Squad("Platform", "PLAT", "Platform", ("platform-gateway", "platform-k8s-config", "observability-stack",
                                           "ci-runners", "secrets-broker"), 1.4, 18),
    Squad("Data", "DATA", "Data & Analytics", ("data-pipeline", "data-warehouse-etl", "events-collector",
                                               "reporting-api", "ml-features"), 1.0, 36, jira_format="csv",
          incident_source="incidents-csv", currency="USD"),
    Squad("Growth", "GRW", "Growth", ("growth-experiments", "email-campaigns", "referral-service",
                                      "landing-pages"), 1.6, 10, incident_source="jira"),
)
UNMAPPED_SERVICE = "status-notifier"  # deliberately absent from data/squads.csv
UNMAPPED_OWNER = SQUADS[5]  # Platform's people run it, but no mapping rule says so

IMPROVING = "Search"
DEGRADING = "Payments"
OVERRUN = "Platform"  # cloud spend ~25 % over plan this year
OVERDUE = "Identity"  # action items left open past their due date
LATE_BLOCKER_SQUAD = "Platform"
LATE_BLOCKED_SQUAD = "Checkout"
LATE_BLOCKER_SUMMARY = "Rate limiter v2 for the public gateway (mTLS rollout)"
LATE_BLOCKED_SUMMARY = "One-click checkout for returning customers"

FIRST_NAMES = ("Ada", "Bo", "Chen", "Dara", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena",
               "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Viktor", "Wen", "Yara")
LAST_NAMES = ("Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ivanova",
              "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt")


def squad_by_name(name: str) -> Squad:
    return next(s for s in SQUADS if s.name == name)


@dataclass(frozen=True)
class Person:
    name: str
    account_id: str


@dataclass
class Demo:
    """The demo's parameters and clock: ``start`` is 18 months before ``as_of`` (midnight UTC)."""

    seed: int
    as_of: date
    scale: float = 1.0

    @property
    def now(self) -> datetime:
        return datetime(self.as_of.year, self.as_of.month, self.as_of.day)

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=round(MONTHS_BACK * 30.44))

    @property
    def days(self) -> int:
        return (self.now - self.start).days

    def rng(self, stream: str) -> random.Random:
        """An independent, reproducible random stream (str seeds hash with SHA-512, not hash())."""
        return random.Random(f"delivery-health-demo:{self.seed}:{stream}")

    def progress(self, when: datetime) -> float:
        """0.0 at the start of the demo window, 1.0 at ``as_of``."""
        return min(1.0, max(0.0, (when - self.start).total_seconds() / (self.now - self.start).total_seconds()))

    def people(self, squad: Squad) -> list[Person]:
        rng = self.rng(f"people:{squad.name}")
        names = sorted({f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(9)})
        return [Person(n, f"712020:{rng.getrandbits(128):032x}") for n in names]


def sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def lognormal_hours(rng: random.Random, median: float, sigma: float = 0.8) -> float:
    """A positive duration around ``median`` hours with a long right tail."""
    return median * rng.lognormvariate(0.0, sigma)


def iso_z(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_jira(dt: datetime) -> str:
    """Jira REST timestamps: milliseconds and an offset without a colon."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def jira_csv_time(dt: datetime) -> str:
    """`12/Mar/24 3:45 PM`: Jira's default export format (English months, hour not zero-padded)."""
    hour = dt.hour % 12 or 12
    return f"{dt.day:02d}/{_MONTH_ABBR[dt.month - 1]}/{dt.year % 100:02d} {hour}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def jira_csv_date(d: date) -> str:
    """Date-only Jira fields still carry `12:00 AM`."""
    return jira_csv_time(datetime(d.year, d.month, d.day))

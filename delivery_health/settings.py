"""One settings object: every tunable with its default, environment variable and help text."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


def _meta(env: str, help: str) -> dict:
    return {"env": env, "help": help}


def _default_db() -> str:
    return f"duckdb:///{DATA_DIR / 'delivery_health.duckdb'}"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Lists are comma-separated in their environment variable."""

    db_url: str = field(default_factory=_default_db, metadata=_meta(
        "DELIVERY_HEALTH_DB", "SQLAlchemy URL of the store (DuckDB file by default; PostgreSQL works too)."))
    squads_path: str = field(default_factory=lambda: str(DATA_DIR / "squads.csv"), metadata=_meta(
        "DELIVERY_HEALTH_SQUADS", "Squad-mapping CSV (`squad,source,match`), applied when metrics are computed."))
    production_environments: tuple[str, ...] = field(default=("production", "prod"), metadata=_meta(
        "DELIVERY_HEALTH_PRODUCTION_ENVIRONMENTS", "Environments (case-insensitive) whose deployments count for DORA."))
    deploy_pattern: str = field(default="deploy|release", metadata=_meta(
        "DELIVERY_HEALTH_DEPLOY_PATTERN", "Regex (case-insensitive) a CI workflow/job name matches when it deploys."))
    default_branches: tuple[str, ...] = field(default=("main", "master"), metadata=_meta(
        "DELIVERY_HEALTH_DEFAULT_BRANCHES", "Branches a deploy workflow must run on to count as a production deployment."))
    rework_pattern: str = field(default="hotfix|rollback|revert", metadata=_meta(
        "DELIVERY_HEALTH_REWORK_PATTERN", "Regex (case-insensitive) on branch, workflow, tag or head-commit message marking rework; applied at ingest."))
    attribution_window_days: int = field(default=7, metadata=_meta(
        "DELIVERY_HEALTH_ATTRIBUTION_WINDOW_DAYS", "An incident is attributed to its service's latest deployment at most this many days before it."))
    stale_days: int = field(default=14, metadata=_meta(
        "DELIVERY_HEALTH_STALE_DAYS", "A blocker not updated for this many days makes its dependency stale."))
    closure_target: float = field(default=0.85, metadata=_meta(
        "DELIVERY_HEALTH_CLOSURE_TARGET", "Target closure rate of incident action items (fraction)."))
    incident_issue_types: tuple[str, ...] = field(default=("incident", "[system] incident"), metadata=_meta(
        "DELIVERY_HEALTH_INCIDENT_ISSUE_TYPES", "Jira issue types (case-insensitive) that are incidents."))
    action_item_labels: tuple[str, ...] = field(default=("action-item", "postmortem"), metadata=_meta(
        "DELIVERY_HEALTH_ACTION_ITEM_LABELS", "Jira labels (case-insensitive) that make an issue an incident action item."))
    jira_timezone: str = field(default="UTC", metadata=_meta(
        "DELIVERY_HEALTH_JIRA_TIMEZONE", "Time zone of the dates in Jira CSV exports (they carry none): the exporting user's profile zone."))
    fiscal_year_start_month: int = field(default=1, metadata=_meta(
        "DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH",
        "Month (1-12) the fiscal year starts in. Quarters, \"year to date\" and the default budget period follow it; "
        "a fiscal year is named after the calendar year it ends in (start 7: FY2027 = July 2026 - June 2027). "
        "1: calendar quarters."))
    default_window_days: int = field(default=90, metadata=_meta(
        "DELIVERY_HEALTH_WINDOW_DAYS", "Default length of the selected window (days) for tiers and pages."))
    sow_overconsumption_margin: float = field(default=0.10, metadata=_meta(
        "DELIVERY_HEALTH_SOW_OVERCONSUMPTION_MARGIN",
        "A vendor SOW is flagged when its consumed share exceeds its elapsed share of time by more than this (fraction: 0.10 = 10 points)."))
    sow_ending_days: int = field(default=60, metadata=_meta(
        "DELIVERY_HEALTH_SOW_ENDING_DAYS", "A vendor SOW is flagged when it ends within this many days of the as-of date."))

    keep_open_seconds: float = field(default=2.0, metadata=_meta(
        "DELIVERY_HEALTH_KEEP_OPEN_SECONDS",
        "The app keeps a DuckDB file open this long after its last query (reopening costs tens of ms at 1M issues); "
        "an ingest from another process waits at most this long for it. 0: closed after every query."))

    table_max_rows: int = field(default=5000, metadata=_meta(
        "DELIVERY_HEALTH_TABLE_MAX_ROWS",
        "Row tables on the pages show at most this many rows (their order's first); their CSV download holds all."))

    allowed_emails: tuple[str, ...] = field(default=(), metadata=_meta(
        "DELIVERY_HEALTH_ALLOWED_EMAILS", "Hosted mode: email addresses allowed in after the OIDC login (with `[auth]` in secrets)."))
    allowed_domains: tuple[str, ...] = field(default=(), metadata=_meta(
        "DELIVERY_HEALTH_ALLOWED_DOMAINS", "Hosted mode: email domains allowed in after the OIDC login (e.g. `example.com`)."))
    allow_uploads: bool = field(default=True, metadata=_meta(
        "DELIVERY_HEALTH_ALLOW_UPLOADS", "Whether the Data sources page accepts uploaded export files (off for a read-only hosted instance)."))

    def __post_init__(self) -> None:
        if not 1 <= self.fiscal_year_start_month <= 12:
            raise ValueError(f"fiscal_year_start_month (DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH) must be a month "
                             f"number from 1 to 12, not {self.fiscal_year_start_month}")

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Defaults, then environment variables, then explicit overrides (CLI flags)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, tuple):
                values[f.name] = tuple(v.strip() for v in raw.split(",") if v.strip())
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, (int, float)):
                kind = type(default)
                try:
                    values[f.name] = kind(raw)
                except ValueError:
                    what = "a whole number" if kind is int else "a number"
                    raise ValueError(f"{f.name} ({f.metadata['env']}) must be {what}, not {raw!r}") from None
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def documented_settings() -> list[tuple[str, str, object, str]]:
    """(name, environment variable, default, help) for every setting, for the README and tests."""
    s = Settings()
    return [(f.name, f.metadata["env"], getattr(s, f.name), f.metadata["help"]) for f in fields(Settings)]

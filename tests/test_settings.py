"""Every setting is documented in the README and read from its environment variable."""

from __future__ import annotations

import pytest

from delivery_health.settings import Settings, documented_settings
from tests.conftest import ROOT


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [env for _, env, _, _ in documented_settings() if f"`{env}`" not in readme]
    assert missing == []


def test_environment_overrides_defaults_and_flags_override_environment(monkeypatch) -> None:
    monkeypatch.setenv("DELIVERY_HEALTH_ATTRIBUTION_WINDOW_DAYS", "3")
    monkeypatch.setenv("DELIVERY_HEALTH_PRODUCTION_ENVIRONMENTS", "live, prod-eu")
    monkeypatch.setenv("DELIVERY_HEALTH_DB", "duckdb:///from-env.duckdb")
    s = Settings.from_env(db_url="duckdb:///from-flag.duckdb")
    assert s.attribution_window_days == 3
    assert s.production_environments == ("live", "prod-eu")
    assert s.db_url == "duckdb:///from-flag.duckdb"
    assert Settings().attribution_window_days == 7  # the default is untouched


def test_fiscal_year_start_month_is_read_and_checked(monkeypatch) -> None:
    monkeypatch.setenv("DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH", "7")
    assert Settings.from_env().fiscal_year_start_month == 7
    monkeypatch.setenv("DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH", "July")
    with pytest.raises(ValueError, match=r"START_MONTH\) must be a whole number, not 'July'"):
        Settings.from_env()
    monkeypatch.setenv("DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH", "13")
    with pytest.raises(ValueError, match=r"START_MONTH\) must be a month number from 1 to 12, not 13"):
        Settings.from_env()


def test_a_setting_that_is_not_a_number_is_named(monkeypatch) -> None:
    monkeypatch.setenv("DELIVERY_HEALTH_CLOSURE_TARGET", "high")
    with pytest.raises(ValueError, match=r"closure_target \(DELIVERY_HEALTH_CLOSURE_TARGET\) must be a number, not 'high'"):
        Settings.from_env()

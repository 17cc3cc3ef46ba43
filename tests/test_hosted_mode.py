"""Hosted mode: with `[auth]` in secrets every page asks for a login and admits only the allow-list."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from delivery_health import store
from delivery_health.ingest import ingest_file
from delivery_health.settings import Settings
from tests.conftest import ROOT
from tests.test_app_home import DEPLOYMENTS

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-cookie-secret",
        "client_id": "dh", "client_secret": "s", "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'hosted.duckdb'}"
    (tmp_path / "deployments.csv").write_text(DEPLOYMENTS)
    engine = store.make_engine(url)
    ingest_file(engine, tmp_path / "deployments.csv", Settings(db_url=url))
    engine.dispose()
    monkeypatch.setenv("DELIVERY_HEALTH_DB", url)
    monkeypatch.setenv("DELIVERY_HEALTH_SQUADS", str(tmp_path / "squads.csv"))
    monkeypatch.setenv("DELIVERY_HEALTH_ALLOWED_DOMAINS", "example.com")
    monkeypatch.setenv("DELIVERY_HEALTH_ALLOWED_EMAILS", "guest@partner.io")


def _run(page: str, user: dict, auth: bool = True) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    if auth:
        at.secrets["auth"] = AUTH
    at.user = user
    return at.run()


@pytest.mark.parametrize("page", ["app.py", "pages/1_DORA_trends.py", "pages/5_Data_sources.py"])
def test_a_visitor_who_is_not_logged_in_sees_only_the_login(loaded, page: str) -> None:
    at = _run(page, {"is_logged_in": False})
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.dataframe and not at.metric  # no figure leaks before the login


def test_an_account_off_the_allow_list_is_turned_away(loaded) -> None:
    at = _run("app.py", {"is_logged_in": True, "email": "mallory@example.org"})
    assert "mallory@example.org is not on this instance's allow-list" in at.error[0].value
    assert not at.dataframe


@pytest.mark.parametrize("email", ["ana@example.com", "guest@partner.io"])  # by domain, by address
def test_an_allowed_account_sees_the_dashboard(loaded, email: str) -> None:
    at = _run("app.py", {"is_logged_in": True, "email": email})
    assert not at.exception and not at.error
    assert any(f"Signed in as {email}" in c.value for c in at.sidebar.caption)
    assert len(at.dataframe) >= 2


def test_without_auth_secrets_the_app_is_local_and_open(loaded) -> None:
    at = _run("app.py", {"is_logged_in": False}, auth=False)
    assert not at.exception and "Log in" not in [b.label for b in at.button]
    assert len(at.dataframe) >= 2

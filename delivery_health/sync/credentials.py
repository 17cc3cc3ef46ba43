"""Jira credentials from the environment or `.streamlit/secrets.toml` `[jira]`; the token is never printed."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Where Streamlit itself looks for secrets: relative to the directory the command runs in.
SECRETS_PATH = Path(".streamlit") / "secrets.toml"


class CredentialsError(Exception):
    """The credentials cannot be resolved; the message names what to set, never a secret."""


@dataclass(frozen=True)
class JiraCredentials:
    """Where to connect and how: Cloud API token (email + token, basic auth), Data Center PAT (bearer) or anonymous."""

    server: str
    email: str | None = None
    token: str | None = field(default=None, repr=False)  # repr=False: a traceback or log never shows it
    origin: str = "none"  # "environment", the secrets file's path, or "none"

    @property
    def kind(self) -> str:
        if not self.token:
            return "anonymous"
        return "basic" if self.email else "bearer"

    def client_kwargs(self) -> dict:
        """Keyword arguments of `jira.JIRA` for this kind of credentials."""
        if self.kind == "basic":
            return {"basic_auth": (self.email, self.token)}
        if self.kind == "bearer":
            return {"token_auth": self.token}
        return {}

    def hint(self) -> str:
        """What the user should check when Jira refuses these credentials."""
        if self.origin == "environment":
            return "check JIRA_API_TOKEN/JIRA_EMAIL"
        if self.origin != "none":
            return f"check api_token/email of [jira] in {self.origin}"
        return "set JIRA_API_TOKEN (and JIRA_EMAIL for Jira Cloud)"


def display_server(server: str) -> str:
    """The server URL without any user:password part, for messages."""
    parts = urlsplit(server)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")


def resolve(server: str | None, env: Mapping[str, str] | None = None,
            secrets_path: Path | None = None) -> JiraCredentials:
    """Server from ``server`` or the secrets file; token from JIRA_API_TOKEN (+ JIRA_EMAIL), else the secrets file."""
    env = os.environ if env is None else env
    path = SECRETS_PATH if secrets_path is None else secrets_path
    table = _secrets_table(path)
    server = (server or str(table.get("server") or "")).strip()
    if not server:
        raise CredentialsError(f"no Jira server: pass --server URL or set server in [jira] of {path}")
    if not urlsplit(server).scheme.startswith("http") or not urlsplit(server).hostname:
        raise CredentialsError(f"--server must be an http(s) URL such as https://example.atlassian.net, not {display_server(server)!r}")
    server = server.rstrip("/")
    if env.get("JIRA_API_TOKEN"):
        return JiraCredentials(server, env.get("JIRA_EMAIL") or None, env["JIRA_API_TOKEN"], "environment")
    if table.get("api_token"):
        return JiraCredentials(server, str(table.get("email") or "") or None, str(table["api_token"]), str(path))
    return JiraCredentials(server)


def _secrets_table(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:  # its message gives line and column, not the content
        raise CredentialsError(f"{path} is not valid TOML ({exc})") from None
    table = data.get("jira") or {}
    if not isinstance(table, dict):
        raise CredentialsError(f"[jira] in {path} must be a table (server, email, api_token)")
    return table

"""Fetch issues from a live Jira with the `jira` library: every search page, full changelogs, project versions.

Cloud and Data Center differ (the library reads `deploymentType` from `serverInfo`):

- Cloud searches `/rest/api/3/search/jql` and pages with `nextPageToken` until it is absent
  or `isLast`; a changelog embedded in a search result is truncated (`total` > histories),
  so such issues' full history is paged from `/rest/api/3/issue/{key}/changelog`.
- Data Center searches `/rest/api/2/search` and pages with `startAt` up to `total`; it has no
  changelog endpoint, so a truncated history is re-read from `/rest/api/2/issue/{key}?expand=changelog`
  as far as that goes (the loader records any truncation left as a skipped-row note).

Every failure becomes a one-line ``JiraSyncError`` naming the server, never a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from jira import JIRA, JIRAError

from delivery_health.sync.credentials import JiraCredentials, display_server

PAGE_SIZE = 100  # what we ask for; servers may return fewer per page, which the paging copes with
CHANGELOG_PAGE_SIZE = 100
KEYS_PAGE_SIZE = 1000  # keys only: Data Center serves up to 1,000 a page by default, Cloud up to 5,000


class JiraSyncError(Exception):
    """A sync failed; the one-line message names the server and the reason, never a credential."""


@dataclass
class Fetched:
    """What one sync read from Jira, as the API returned it (changelogs completed where possible)."""

    deployment: str  # "Cloud", or the Data Center / Server deployment type
    pages: list[dict] = field(default_factory=list)  # search result pages
    fields: list[dict] = field(default_factory=list)  # `GET /field`: ids, names, schemas of custom fields
    versions: dict[str, list[dict]] = field(default_factory=dict)  # project key -> its versions
    notes: list[tuple[str, str]] = field(default_factory=list)  # (row reference, reason) for skipped rows
    changelogs_completed: int = 0

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "Cloud"


def connect(creds: JiraCredentials, *, timeout: float = 60.0, retries: int = 3) -> JIRA:
    """A client for the server's kind: REST v3 on Cloud (enhanced search), v2 on Data Center."""
    with _errors(creds):
        # The probe does not retry: a wrong URL, a refused connection or bad credentials should fail at once,
        # not after the library's back-off; the working client retries rate limits (429/503).
        probe = JIRA(creds.server, get_server_info=True, max_retries=0, timeout=timeout, **creds.client_kwargs())
        deployment = probe.deploymentType or "Server"
        version = "3" if deployment == "Cloud" else "2"
        client = JIRA(creds.server, options={"rest_api_version": version}, get_server_info=False,
                      max_retries=retries, timeout=timeout, **creds.client_kwargs())
    # What the library reads to decide Cloud (enhanced search) vs Data Center; set from the probe's serverInfo.
    client.deploymentType = deployment
    return client


def fetch(client: JIRA, creds: JiraCredentials, jql: str, *, page_size: int = PAGE_SIZE) -> Fetched:
    """Every issue matching ``jql`` with its changelog, the field list, and the versions of the projects seen."""
    out = Fetched(deployment=client.deploymentType or "Server")
    with _errors(creds):
        out.fields = client.fields()
        out.pages = _search_cloud(client, jql, page_size) if out.is_cloud else _search_dc(client, jql, page_size)
        for page in out.pages:
            for issue in page.get("issues") or []:
                _complete_changelog(client, issue, out)
        for project in sorted(_projects(out.pages)):
            out.versions[project] = _versions(client, project, out)
    return out


def matching_keys(client: JIRA, creds: JiraCredentials, jql: str) -> set[str]:
    """The key of every issue ``jql`` matches now: pages of keys only, to find the issues deleted in Jira or moved
    out of the query since an earlier sync (an incremental search cannot see them)."""
    search = _search_cloud if client.deploymentType == "Cloud" else _search_dc
    with _errors(creds):
        pages = search(client, jql, KEYS_PAGE_SIZE, fields="key", expand=None)
    return issue_keys(pages)


def issue_keys(pages: list[dict]) -> set[str]:
    return {i["key"] for page in pages for i in page.get("issues") or [] if isinstance(i.get("key"), str)}


def fields_page(fields: list[dict]) -> dict:
    """The field list as a search page without issues: the loader reads custom-field names and schemas from it."""
    return {"issues": [],
            "names": {f["id"]: f.get("name") for f in fields if isinstance(f, dict) and f.get("id")},
            "schema": {f["id"]: f["schema"] for f in fields if isinstance(f, dict) and f.get("id") and isinstance(f.get("schema"), dict)}}


def _search_cloud(client: JIRA, jql: str, page_size: int, fields: str = "*all",
                  expand: str | None = "changelog") -> list[dict]:
    """Enhanced search: follow nextPageToken until it is absent or the page says isLast."""
    pages: list[dict] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = client.enhanced_search_issues(jql, nextPageToken=token, maxResults=page_size, fields=fields,
                                             expand=expand, json_result=True)
        pages.append(_page(page, len(pages) + 1))
        token = page.get("nextPageToken")
        if not token or page.get("isLast") is True:
            return pages
        if token in seen:  # a server bug would otherwise loop forever
            raise JiraSyncError(f"Jira returned the page token of an earlier page again (page {len(pages) + 1})")
        seen.add(token)


def _search_dc(client: JIRA, jql: str, page_size: int, fields: str = "*all",
               expand: str | None = "changelog") -> list[dict]:
    """Legacy search: advance startAt by the issues received until total is reached or a page is empty."""
    pages: list[dict] = []
    start = 0
    while True:
        page = _page(client.search_issues(jql, startAt=start, maxResults=page_size, fields=fields,
                                          expand=expand, json_result=True), len(pages) + 1)
        pages.append(page)
        issues = page["issues"]
        start += len(issues)
        total = page.get("total")
        # The server may cap maxResults below what we asked: never infer the end from a short page.
        if not issues or (isinstance(total, int) and start >= total):
            return pages


def _page(page: Any, n: int) -> dict:
    if not isinstance(page, dict) or not isinstance(page.get("issues"), list):
        raise JiraSyncError(f"search page {n} is not a Jira search result (no issues list)")
    return page


def _complete_changelog(client: JIRA, issue: dict, out: Fetched) -> None:
    """Replace a truncated embedded changelog by the full history where the API gives it."""
    changelog = issue.get("changelog")
    key = issue.get("key")
    if not isinstance(changelog, dict) or not isinstance(key, str):
        return
    histories = changelog.get("histories") or []
    total = changelog.get("total")
    if not isinstance(total, int) or total <= len(histories):
        return
    try:
        if out.is_cloud:
            full = _changelog_pages(client, key)
        else:
            full = client.issue(key, fields="created", expand="changelog").raw.get("changelog") or {}
    except JIRAError as exc:
        if exc.status_code != 404:
            raise
        out.notes.append((key, f"full changelog not readable (HTTP 404); the {len(histories)} of {total} histories in the search result are loaded"))
        return
    if len(full.get("histories") or []) > len(histories):
        issue["changelog"] = full
        out.changelogs_completed += 1


def _changelog_pages(client: JIRA, key: str) -> dict:
    """`/issue/{key}/changelog` (Cloud) paged with startAt/maxResults until isLast, as an embedded changelog."""
    values: list[dict] = []
    total: int | None = None
    while True:
        # The library has no wrapper for this endpoint (pycontribs/jira#911): its JSON getter, same session and auth.
        page = client._get_json(f"issue/{key}/changelog", params={"startAt": len(values), "maxResults": CHANGELOG_PAGE_SIZE})
        if not isinstance(page, dict) or not isinstance(page.get("values", []), list):
            raise JiraSyncError(f"{key}: the changelog endpoint did not answer with a page of values")
        batch = page.get("values") or []
        values += batch
        total = page.get("total") if isinstance(page.get("total"), int) else total
        if not batch or page.get("isLast") is True or (total is not None and len(values) >= total):
            break
    return {"startAt": 0, "maxResults": len(values), "total": max(total or 0, len(values)), "histories": values}


def _projects(pages: list[dict]) -> set[str]:
    keys = set()
    for page in pages:
        for issue in page.get("issues") or []:
            project = ((issue.get("fields") or {}).get("project") or {}).get("key")
            if not project and isinstance(issue.get("key"), str) and "-" in issue["key"]:
                project = issue["key"].rsplit("-", 1)[0]
            if project:
                keys.add(project)
    return keys


def _versions(client: JIRA, project: str, out: Fetched) -> list[dict]:
    try:
        return [v.raw for v in client.project_versions(project)]
    except JIRAError as exc:
        if exc.status_code not in (403, 404):
            raise
        out.notes.append((project, f"project versions not readable (HTTP {exc.status_code}); "
                                   "releases keep the dates the issues carry"))
        return []


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


@contextmanager
def _errors(creds: JiraCredentials) -> Iterator[None]:
    """Turn library and network errors into one-line JiraSyncErrors (the library's own text holds request details)."""
    server = display_server(creds.server)
    try:
        yield
    except JIRAError as exc:
        code = exc.status_code
        if code is None:
            raise JiraSyncError(f"the Jira client failed for {server}: {exc.text}") from None
        if code in (401, 403):
            raise JiraSyncError(f"Jira refused the credentials (HTTP {code}) for {server}: {creds.hint()}") from None
        detail = (exc.text or "").replace("\n", " ").strip()
        where = f" ({exc.url.split('?')[0].replace(creds.server, '')})" if exc.url else ""
        raise JiraSyncError(f"Jira answered HTTP {code} for {server}{where}" + (f": {detail}" if detail else "")) from None
    except requests.Timeout:
        raise JiraSyncError(f"Jira at {server} did not answer in time") from None
    except requests.RequestException as exc:
        m = _ERRNO.search(str(exc))
        raise JiraSyncError(f"cannot reach Jira at {server}: {m.group(1).strip() if m else type(exc).__name__}") from None
    except ValueError:  # the library's JSON decoding: an HTML login or proxy page
        raise JiraSyncError(f"{server} did not answer with Jira JSON (is it the Jira base URL?)") from None
    except (KeyError, TypeError):  # serverInfo without versionNumbers and the like
        raise JiraSyncError(f"{server} does not look like a Jira REST API (unexpected serverInfo)") from None

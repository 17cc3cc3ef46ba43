"""A small synthetic Jira served over real HTTP on 127.0.0.1, in the Cloud or the Data Center shape.

Five issues in two projects (PAY, WEB) with a blocking link, a relates link, fix versions whose
release dates only the project's version list carries, and PAY-1 whose changelog (5 histories,
4 status moves) is truncated to 2 histories in search results. Values are synthetic, shaped like
/work/shared/samples/jira_json. The server caps every page at 2 items so paging always happens,
checks the credentials of every request, records what it was asked, and applies the one JQL
clause the sync adds (``updated >= "..."``, read as UTC); the rest of the JQL is not interpreted.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE_CAP = 2  # items per search or changelog page, whatever the client asks
SEARCH_CHANGELOG_CAP = 2  # histories embedded in a search result

_CATEGORIES = {"new": (2, "blue-gray", "To Do"), "indeterminate": (4, "yellow", "In Progress"), "done": (3, "green", "Done")}


def _status(name: str, category: str, sid: str) -> dict:
    cid, color, cname = _CATEGORIES[category]
    return {"self": f"https://jira.example.test/rest/api/2/status/{sid}", "description": "", "name": name, "id": sid,
            "statusCategory": {"self": f"https://jira.example.test/rest/api/2/statuscategory/{cid}", "id": cid,
                               "key": category, "colorName": color, "name": cname}}


def _user(name: str) -> dict:
    return {"accountId": f"712020:{sum(map(ord, name)):08d}-synthetic", "displayName": name, "active": True,
            "timeZone": "Europe/Berlin", "accountType": "atlassian"}


def _move(hid: str, created: str, frm: str, to: str, author: str = "Ana Lima") -> dict:
    return {"id": hid, "author": _user(author), "created": created,
            "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "1", "fromString": frm,
                       "to": "3", "toString": to}]}


def _other(hid: str, created: str, field: str, to: str) -> dict:
    return {"id": hid, "author": _user("Ana Lima"), "created": created,
            "items": [{"field": field, "fieldtype": "jira", "fieldId": field, "from": None, "fromString": None,
                       "to": None, "toString": to}]}


def _link(lid: str, other: str, direction: str, kind: str = "Blocks") -> dict:
    phrases = {"Blocks": ("is blocked by", "blocks"), "Relates": ("relates to", "relates to")}[kind]
    return {"id": lid, "type": {"id": "10000", "name": kind, "inward": phrases[0], "outward": phrases[1]},
            f"{direction}Issue": {"id": "1", "key": other, "fields": {"summary": f"linked {other}"}}}


def _issue(iid: str, key: str, project: tuple[str, str], issue_type: str, status: dict, created: str, updated: str,
           histories: list[dict], **fields: Any) -> dict:
    f = {"summary": f"Synthetic {key}", "issuetype": {"id": "10001", "name": issue_type, "subtask": False},
         "project": {"id": "1", "key": project[0], "name": project[1]}, "status": status, "created": created,
         "updated": updated, "resolutiondate": None, "duedate": None, "priority": {"id": "3", "name": "Medium"},
         "resolution": None, "labels": [], "components": [], "fixVersions": [], "versions": [], "issuelinks": [],
         "assignee": _user("Ana Lima"), "reporter": _user("Bo Chen"), "customfield_10016": None, "customfield_10020": None}
    f.update(fields)
    return {"expand": "operations,changelog,renderedFields", "id": iid, "self": f"https://jira.example.test/rest/api/2/issue/{iid}",
            "key": key, "fields": f, "changelog": {"startAt": 0, "maxResults": len(histories), "total": len(histories),
                                                    "histories": histories}}


PAY = ("PAY", "Payments")
WEB = ("WEB", "Web Shop")

ISSUES: list[dict] = [
    _issue("10001", "PAY-1", PAY, "Story", _status("Done", "done", "10002"),
           "2024-02-26T09:00:00.000+0100", "2024-03-07T16:20:00.000+0100", [
               _move("30001", "2024-03-01T10:00:00.000+0100", "To Do", "In Progress"),
               _other("30002", "2024-03-02T11:00:00.000+0100", "assignee", "Ana Lima"),
               _move("30003", "2024-03-04T12:00:00.000+0100", "In Progress", "In Review"),
               _move("30004", "2024-03-05T09:30:00.000+0100", "In Review", "In Progress"),
               _move("30005", "2024-03-07T16:20:00.000+0100", "In Progress", "Done"),
           ], resolution={"id": "1", "name": "Done"}, resolutiondate="2024-03-07T16:20:00.000+0100",
           fixVersions=[{"id": "10100", "name": "2.0", "released": True, "releaseDate": "2024-03-15"}],
           labels=["checkout"], components=[{"id": "1", "name": "API"}], customfield_10016=5.0,
           customfield_10020=[{"id": 7, "name": "PAY Sprint 3", "state": "closed", "boardId": 2}],
           issuelinks=[_link("20001", "WEB-3", "inward", "Relates")]),
    _issue("10002", "PAY-2", PAY, "Bug", _status("In Progress", "indeterminate", "3"),
           "2024-03-04T08:00:00.000+0000", "2024-03-12T10:00:00.000+0000", [
               _move("30006", "2024-03-05T09:00:00.000+0000", "To Do", "In Progress"),
           ], fixVersions=[{"id": "10101", "name": "2.1", "released": False, "releaseDate": "2024-04-30"}],
           issuelinks=[_link("20002", "WEB-1", "inward")]),
    # Its fix version carries no release date: only the project's version list has it.
    _issue("10101", "WEB-1", WEB, "Story", _status("In Progress", "indeterminate", "3"),
           "2024-03-01T14:00:00.000-0500", "2024-03-19T18:15:00.000-0400", [
               _move("30007", "2024-03-06T10:00:00.000-0500", "To Do", "In Progress"),
               _other("30008", "2024-03-19T18:15:00.000-0400", "labels", "frontend"),
           ], fixVersions=[{"id": "10200", "name": "5.0", "released": False}], labels=["frontend"],
           issuelinks=[_link("20002", "PAY-2", "outward")]),
    _issue("10102", "WEB-2", WEB, "Task", _status("Done", "done", "10002"),
           "2024-02-20T09:00:00.000-0500", "2024-03-08T12:00:00.000-0500", [],
           resolution={"id": "1", "name": "Done"}, resolutiondate="2024-03-08T12:00:00.000-0500"),
    _issue("10103", "WEB-3", WEB, "Bug", _status("In Review", "indeterminate", "10003"),
           "2024-03-11T09:00:00.000-0400", "2024-03-20T10:00:00.000-0400", [
               _move("30009", "2024-03-15T10:00:00.000-0400", "To Do", "In Review"),
           ], issuelinks=[_link("20001", "PAY-1", "outward", "Relates")]),
]

VERSIONS: dict[str, list[dict]] = {
    "PAY": [{"id": "10100", "name": "2.0", "archived": False, "released": True, "releaseDate": "2024-03-15", "projectId": 10000},
            {"id": "10101", "name": "2.1", "archived": False, "released": False, "releaseDate": "2024-04-30", "projectId": 10000}],
    "WEB": [{"id": "10200", "name": "5.0", "archived": False, "released": False, "releaseDate": "2024-04-15", "projectId": 10001},
            {"id": "10201", "name": "5.1", "archived": False, "released": False, "releaseDate": "2024-06-01", "projectId": 10001},
            {"id": "10202", "name": "Backlog", "archived": False, "released": False, "projectId": 10001}],
}

FIELDS: list[dict] = [
    {"id": "summary", "name": "Summary", "custom": False, "clauseNames": ["summary"], "schema": {"type": "string", "system": "summary"}},
    {"id": "status", "name": "Status", "custom": False, "clauseNames": ["status"], "schema": {"type": "status", "system": "status"}},
    {"id": "customfield_10016", "name": "Story point estimate", "custom": True, "clauseNames": ["cf[10016]"],
     "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float", "customId": 10016}},
    {"id": "customfield_10020", "name": "Sprint", "custom": True, "clauseNames": ["cf[10020]", "sprint"],
     "schema": {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint", "customId": 10020}},
]

_UPDATED_SINCE = re.compile(r'updated\s*>=\s*"([^"]+)"', re.IGNORECASE)


class JiraServer:
    """`with JiraServer("Cloud", token=..., email=...) as jira:` serves on ``jira.url`` until the block ends."""

    def __init__(self, deployment: str, *, token: str, email: str | None = None,
                 issue_changelog_cap: int | None = None, refuse_with: int = 401) -> None:
        self.deployment = deployment  # "Cloud" or "Server" (what Data Center reports)
        self.token, self.email = token, email
        self.issue_changelog_cap = issue_changelog_cap  # Data Center `/issue/{key}?expand=changelog` limit, None = all
        self.refuse_with = refuse_with  # the status for wrong credentials (403: e.g. Cloud after too many failed logins)
        self.issues = copy.deepcopy(ISSUES)
        self.requests: list[tuple[str, dict[str, list[str]]]] = []  # (path, query) of every authorised request
        self.refused = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "JiraServer":
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def is_cloud(self) -> bool:
        return self.deployment == "Cloud"

    def paths(self, prefix: str) -> list[dict[str, list[str]]]:
        """The queries of the requests whose path starts with ``prefix``, in order."""
        return [q for p, q in self.requests if p.startswith(prefix)]

    def jqls(self) -> list[str]:
        return [q["jql"][0] for p, q in self.requests if p.endswith("/search") or p.endswith("/search/jql")]

    # --- request handling -------------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        if self.email:
            want = "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        else:
            want = f"Bearer {self.token}"
        return header == want

    def _route(self, path: str, q: dict[str, list[str]]) -> tuple[int, Any]:
        m = re.fullmatch(r"/rest/api/([23])/(.+)", path)
        if not m:
            return 404, {"errorMessages": ["not found"]}
        version, rest = m.groups()
        if rest == "serverInfo":
            return 200, {"baseUrl": self.url, "version": "1001.0.0-SNAPSHOT" if self.is_cloud else "9.12.2",
                         "versionNumbers": [1001, 0, 0] if self.is_cloud else [9, 12, 2],
                         "deploymentType": self.deployment, "buildNumber": 100245, "serverTitle": "Synthetic Jira"}
        if rest == "field":
            return 200, FIELDS
        if "!!" in q.get("jql", [""])[0]:
            return 400, {"errorMessages": ["Error in the JQL Query: The character '!' is a reserved JQL character."], "errors": {}}
        if rest == "search/jql":
            return self._enhanced_search(q) if self.is_cloud else (404, {"errorMessages": ["null for uri"]})
        if rest == "search":
            if self.is_cloud:
                return 410, {"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."]}
            return self._legacy_search(q) if version == "2" else (404, {"errorMessages": ["null for uri"]})
        m = re.fullmatch(r"issue/([A-Z]+-\d+)/changelog", rest)
        if m:
            return self._changelog(m.group(1), q) if self.is_cloud else (404, {"errorMessages": ["null for uri"]})
        m = re.fullmatch(r"issue/([A-Z]+-\d+)", rest)
        if m:
            issue = self._find(m.group(1))
            if issue is None:
                return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
            if self.issue_changelog_cap is not None:
                issue["changelog"]["histories"] = issue["changelog"]["histories"][:self.issue_changelog_cap]
                issue["changelog"]["maxResults"] = self.issue_changelog_cap
            return 200, issue
        m = re.fullmatch(r"project/([A-Z]+)/versions", rest)
        if m and m.group(1) in VERSIONS:
            return 200, VERSIONS[m.group(1)]
        return 404, {"errorMessages": [f"no route for {path}"]}

    def _matching(self, q: dict[str, list[str]]) -> list[dict]:
        m = _UPDATED_SINCE.search(q.get("jql", [""])[0])
        if not m:
            return list(self.issues)
        since = datetime.fromisoformat(m.group(1)).replace(tzinfo=timezone.utc)
        return [i for i in self.issues
                if datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z") >= since]

    def _shaped(self, issue: dict, q: dict[str, list[str]]) -> dict:
        out = copy.deepcopy(issue)
        if "*all" not in ",".join(q.get("fields", [])).split(","):
            out["fields"] = {}  # enhanced search returns ids only unless fields are asked for
        if "changelog" in ",".join(q.get("expand", [])):
            out["changelog"]["histories"] = out["changelog"]["histories"][:SEARCH_CHANGELOG_CAP]
            out["changelog"]["maxResults"] = SEARCH_CHANGELOG_CAP
        else:
            del out["changelog"]
        return out

    def _size(self, q: dict[str, list[str]]) -> int:
        return min(int(q.get("maxResults", ["50"])[0]), PAGE_CAP)

    def _enhanced_search(self, q: dict[str, list[str]]) -> tuple[int, dict]:
        issues = self._matching(q)
        token = q.get("nextPageToken", [None])[0]
        start = int(base64.urlsafe_b64decode(token).decode().split(":")[1]) if token else 0
        end = start + self._size(q)
        page: dict[str, Any] = {"issues": [self._shaped(i, q) for i in issues[start:end]], "isLast": end >= len(issues)}
        if end < len(issues):
            page["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode()
        return 200, page

    def _legacy_search(self, q: dict[str, list[str]]) -> tuple[int, dict]:
        issues = self._matching(q)
        start, size = int(q.get("startAt", ["0"])[0]), self._size(q)
        return 200, {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(issues),
                     "issues": [self._shaped(i, q) for i in issues[start:start + size]]}

    def _changelog(self, key: str, q: dict[str, list[str]]) -> tuple[int, dict]:
        issue = self._find(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        histories = issue["changelog"]["histories"]
        start, size = int(q.get("startAt", ["0"])[0]), self._size(q)
        return 200, {"self": f"{self.url}/rest/api/3/issue/{key}/changelog", "maxResults": size, "startAt": start,
                     "total": len(histories), "isLast": start + size >= len(histories),
                     "values": histories[start:start + size]}

    def _find(self, key: str) -> dict | None:
        return next((copy.deepcopy(i) for i in self.issues if i["key"] == key), None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                if not server._authorised(self.headers.get("Authorization")):
                    server.refused += 1
                    self._send(server.refuse_with, {"errorMessages": ["You are not authenticated. Authentication required to perform this operation."]})
                    return
                q = parse_qs(parts.query)
                server.requests.append((parts.path, q))
                self._send(*server._route(parts.path, q))

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        return Handler

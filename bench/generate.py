"""Benchmark data sets: real-format export files of N Jira issues and proportional CI/incident/finance records.

Written column-wise with numpy and pandas (no per-record Python objects), so 1M issues take well under a
minute. Volumes per N issues (the ratios are in ``VOLUMES``): the Jira CSV holds every issue, a Jira JSON
search-result file holds another N/10 issues with their changelog, a deployments CSV holds N/2 deployments,
GitHub workflow runs N/20 (half of them deploy runs), incidents N/50, action items N/25. Everything spans
the ``SPAN_DAYS`` days before ``as_of`` so the pages' default 90-day window is full.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

SPAN_DAYS = 540
SQUADS = 20
SERVICES_PER_SQUAD = 5
VOLUMES = {"jira_json": 0.1, "deployments": 0.5, "runs": 0.05, "incidents": 0.02, "action_items": 0.04,
           "spend": 0.01}
_STATUSES = np.array(["Done", "In Progress", "To Do", "In Review"])
_CATEGORY = np.array(["Done", "In Progress", "To Do", "In Progress"])
_STATUS_P = [0.6, 0.15, 0.2, 0.05]
_LABELS = np.array(["", "", "", "", "customer", "tech-debt", "observability", "compliance"])
_TYPES = np.array(["Story", "Bug", "Task"])
_PEOPLE = np.array([f"{a} {b}" for a in ("Ada", "Ines", "Priya", "Sami", "Dara", "Yara", "Rosa", "Omar")
                    for b in ("Novak", "Schmidt", "Okafor", "Eriksen", "Jensen", "Ivanova")])


@dataclass(frozen=True)
class DataSet:
    """The files of one generated size, in ingest order, and the squad mapping that goes with them."""

    issues: int
    files: dict[str, Path]  # measure name -> file
    squads_csv: Path


def _squad(n: int) -> str:
    return f"Squad {n:02d}"


def _project(n: int) -> str:
    return f"SQ{n:02d}"


def _service(squad: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.char.add(np.char.add(np.char.add("sq", np.char.zfill(squad.astype(str), 2)), "-svc-"), k.astype(str))


def _times(rng: np.random.Generator, n: int, as_of: datetime, unique: bool = False) -> pd.Series:
    """``n`` naive UTC instants (whole seconds) in the span before ``as_of``, sorted; distinct when ``unique``."""
    span = SPAN_DAYS * 86400
    secs = rng.choice(span, size=n, replace=False) if unique else rng.integers(0, span, size=n)
    secs.sort()
    return pd.Series(pd.Timestamp(as_of - timedelta(days=SPAN_DAYS)) + pd.to_timedelta(secs, unit="s"))


def _iso(ts: pd.Series) -> pd.Series:
    out = ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.where(ts.notna(), "")


def _jira_time(ts: pd.Series) -> pd.Series:
    """`12/Mar/24 3:45 PM`: Jira's export format (English months, hour not zero-padded)."""
    out = ts.dt.strftime("%d/%b/%y %I:%M %p").str.replace(r" 0(\d):", r" \1:", regex=True)
    return out.where(ts.notna(), "")


def _hex(rng: np.random.Generator, n: int, length: int = 40) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, length // 2), dtype=np.uint8).tobytes().hex()
    return np.array([raw[i * length:(i + 1) * length] for i in range(n)], dtype=f"<U{length}")


def _hours(rng: np.random.Generator, n: int, median: float, sigma: float = 1.0) -> pd.Series:
    return pd.to_timedelta(rng.lognormal(np.log(median), sigma, size=n), unit="h").round("s")


def _issue_frame(rng: np.random.Generator, n: int, first_id: int, as_of: datetime, projects: list[int]) -> pd.DataFrame:
    """The fields both Jira formats carry, one row per issue."""
    created = _times(rng, n, as_of)
    proj = rng.choice(projects, size=n)
    seq = pd.Series(proj).groupby(proj).cumcount().to_numpy() + 1
    status_i = rng.choice(4, size=n, p=_STATUS_P)
    done = status_i == 0
    resolved = (created + _hours(rng, n, 96)).where(done)
    resolved = resolved.mask(resolved >= pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.Timedelta(minutes=1))
    updated = resolved.where(done, created + _hours(rng, n, 48))
    updated = updated.mask(updated >= pd.Timestamp(as_of), pd.Timestamp(as_of) - pd.Timedelta(minutes=1))
    due = (created + pd.to_timedelta(rng.integers(7, 60, size=n), unit="D")).dt.normalize()
    due = due.where(rng.random(n) < 0.3)
    sprint_no = ((created - created.min()).dt.days // 14 + 1).to_numpy()
    version = (sprint_no // 2).astype(str)
    frame = pd.DataFrame({
        "project": proj, "key": np.char.add(np.char.add(np.array([_project(p) for p in range(SQUADS)])[proj], "-"),
                                            seq.astype(str)),
        "id": (first_id + np.arange(n)).astype(str), "type": _TYPES[rng.integers(0, 3, size=n)],
        "status": _STATUSES[status_i], "category": _CATEGORY[status_i], "done": done,
        "assignee": _PEOPLE[rng.integers(0, len(_PEOPLE), size=n)],
        "reporter": _PEOPLE[rng.integers(0, len(_PEOPLE), size=n)],
        "created": created, "updated": updated, "resolved": resolved, "due": due,
        "component": _service(proj, rng.integers(0, SERVICES_PER_SQUAD, size=n)),
        "label": _LABELS[rng.integers(0, len(_LABELS), size=n)],
        "sprint": np.char.add(np.char.add(np.array([_project(p) for p in range(SQUADS)])[proj], " Sprint "),
                              sprint_no.astype(str)),
        "fix_version": np.char.add(np.char.add(np.char.lower(np.array([_project(p) for p in range(SQUADS)])[proj]),
                                               "-1."), np.char.add(version, ".0")),
        "points": rng.choice([1, 2, 3, 5, 8, 13], size=n).astype(str),
        "team": np.array([_squad(p) for p in range(SQUADS)])[proj],
    })
    frame["summary"] = "Improve " + frame["component"] + " " + frame["type"].str.lower() + " " + frame["id"]
    # 2 % of issues block another issue (half of them in another project): the dependency-risk page's links.
    frame["blocks"] = ""
    blockers = np.flatnonzero(rng.random(n) < 0.02)
    frame.loc[blockers, "blocks"] = frame["key"].to_numpy()[rng.integers(0, n, size=len(blockers))]
    return frame


def write_jira_csv(frame: pd.DataFrame, path: Path) -> Path:
    """A Jira Cloud "CSV (all fields)"-shaped export: repeated `Labels`, zone-less dates, a Blocks link column."""
    out = pd.DataFrame({
        "Summary": frame["summary"], "Issue key": frame["key"], "Issue id": frame["id"],
        "Issue Type": frame["type"], "Status": frame["status"], "Project key": frame["key"].str.split("-").str[0],
        "Project name": frame["team"], "Project type": "software", "Priority": "Medium",
        "Resolution": np.where(frame["done"], "Done", ""), "Assignee": frame["assignee"],
        "Reporter": frame["reporter"], "Created": _jira_time(frame["created"]),
        "Updated": _jira_time(frame["updated"]), "Resolved": _jira_time(frame["resolved"]),
        "Fix versions": frame["fix_version"], "Components": frame["component"],
        "Due date": _jira_time(frame["due"]), "Labels": frame["label"], "Labels_2": "",
        "Outward issue link (Blocks)": frame["blocks"], "Sprint": frame["sprint"],
        "Custom field (Story point estimate)": frame["points"], "Custom field (Team)": frame["team"],
        "Status Category": frame["category"],
    })
    header = [c.replace("_2", "") for c in out.columns]  # the real export repeats a multi-value column's name
    out.to_csv(path, index=False, header=header, lineterminator="\n")
    return path


def _jira_json_issue(r: dict, changelog: list[dict]) -> dict:
    return {
        "id": r["id"], "key": r["key"], "fields": {
            "summary": r["summary"], "issuetype": {"name": r["type"]},
            "project": {"key": r["key"].split("-")[0], "name": r["team"]},
            "status": {"name": r["status"], "statusCategory": {"key": {"Done": "done", "To Do": "new"}.get(
                r["category"], "indeterminate"), "name": r["category"]}},
            "priority": {"name": "Medium"}, "resolution": {"name": "Done"} if r["done"] else None,
            "created": r["created_s"], "updated": r["updated_s"], "resolutiondate": r["resolved_s"] or None,
            "duedate": r["due_s"] or None, "labels": [r["label"]] if r["label"] else [],
            "components": [{"name": r["component"]}], "fixVersions": [{"name": r["fix_version"]}],
            "assignee": {"displayName": r["assignee"]}, "reporter": {"displayName": r["reporter"]},
            "issuelinks": [{"type": {"name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
                            "outwardIssue": {"key": r["blocks"]}}] if r["blocks"] else [],
            "customfield_10001": {"name": r["team"], "title": r["team"]},
            "customfield_10016": float(r["points"]),
        },
        "changelog": {"startAt": 0, "maxResults": len(changelog), "total": len(changelog), "histories": changelog},
    }


def write_jira_json(frame: pd.DataFrame, path: Path, page_size: int = 100) -> Path:
    """Enhanced-search (`/rest/api/3/search/jql`) pages with `expand=changelog,names`, saved as a list of pages."""
    fmt = "%Y-%m-%dT%H:%M:%S.000+0000"
    work = frame.assign(
        created_s=frame["created"].dt.strftime(fmt), updated_s=frame["updated"].dt.strftime(fmt),
        resolved_s=frame["resolved"].dt.strftime(fmt).fillna(""), due_s=frame["due"].dt.strftime("%Y-%m-%d").fillna(""),
        started_s=(frame["created"] + (frame["updated"] - frame["created"]) / 3).dt.strftime(fmt))
    names = {"customfield_10001": "Team", "customfield_10016": "Story point estimate"}
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        records = work.to_dict("records")
        for start in range(0, len(records), page_size):
            issues = []
            for r in records[start:start + page_size]:
                moves = [{"id": f"{r['id']}1", "author": {"displayName": r["assignee"]}, "created": r["started_s"],
                          "items": [{"field": "status", "fromString": "To Do", "toString": "In Progress"}]}]
                if r["done"]:
                    moves.append({"id": f"{r['id']}2", "author": {"displayName": r["assignee"]},
                                  "created": r["resolved_s"],
                                  "items": [{"field": "status", "fromString": "In Progress", "toString": "Done"}]})
                issues.append(_jira_json_issue(r, moves))
            last = start + page_size >= len(records)
            page = {"issues": issues, "names": names, "isLast": last}
            if not last:
                page["nextPageToken"] = f"page{start // page_size + 1}"
            fh.write(("," if start else "") + json.dumps(page, separators=(",", ":")))
        fh.write("]")
    return path


def write_deployments(rng: np.random.Generator, n: int, as_of: datetime, path: Path) -> Path:
    """deployments-csv: 80 % production, 90 % successful, 3 % hotfixes (rework)."""
    started = _times(rng, n, as_of, unique=True)  # distinct start times: the CSV's natural key includes them
    finished = started + pd.to_timedelta(rng.integers(300, 1800, size=n), unit="s")
    squad = rng.integers(0, SQUADS, size=n)
    hotfix = rng.random(n) < 0.03
    out = pd.DataFrame({
        "service": np.char.add("acme/", _service(squad, rng.integers(0, SERVICES_PER_SQUAD, size=n))),
        "environment": np.where(rng.random(n) < 0.8, "production", "staging"),
        "status": rng.choice(["success", "failure", "cancelled"], size=n, p=[0.9, 0.08, 0.02]),
        "started_at": _iso(started), "finished_at": _iso(finished), "commit_sha": _hex(rng, n),
        "commit_time": _iso(started - _hours(rng, n, 20, 1.2)),
        "ref": np.where(hotfix, "hotfix/urgent", "main"), "is_rework": np.where(hotfix, "true", "false"),
    })
    out.to_csv(path, index=False, lineterminator="\n")
    return path


def write_runs(rng: np.random.Generator, n: int, as_of: datetime, path: Path, page_size: int = 100) -> Path:
    """GitHub "list workflow runs" pages: half deploy runs on main, half CI runs (skipped as not deployments)."""
    created = _times(rng, n, as_of)
    updated = created + pd.to_timedelta(rng.integers(120, 1500, size=n), unit="s")
    squad = rng.integers(0, SQUADS, size=n)
    repo = _service(squad, rng.integers(0, SERVICES_PER_SQUAD, size=n))
    deploy = rng.random(n) < 0.5
    frame = pd.DataFrame({
        "id": 9_000_000_000 + np.arange(n), "repo": repo, "deploy": deploy, "sha": _hex(rng, n),
        "created": _iso(created), "updated": _iso(updated), "commit": _iso(created - _hours(rng, n, 20, 1.2)),
        "conclusion": rng.choice(["success", "failure"], size=n, p=[0.9, 0.1]),
    })
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        records = frame.to_dict("records")
        for start in range(0, len(records), page_size):
            runs = [{"id": int(r["id"]), "name": "Deploy to production" if r["deploy"] else "CI",
                     "head_branch": "main", "head_sha": r["sha"],
                     "path": ".github/workflows/deploy.yml" if r["deploy"] else ".github/workflows/ci.yml",
                     "display_title": "Change", "run_number": start + i + 1, "event": "push", "status": "completed",
                     "conclusion": r["conclusion"], "created_at": r["created"], "updated_at": r["updated"],
                     "run_attempt": 1, "run_started_at": r["created"],
                     "head_commit": {"id": r["sha"], "message": "Change", "timestamp": r["commit"]},
                     "repository": {"name": r["repo"], "full_name": f"acme-gh/{r['repo']}"}}
                    for i, r in enumerate(records[start:start + page_size])]
            fh.write(("," if start else "") + json.dumps({"total_count": n, "workflow_runs": runs},
                                                         separators=(",", ":")))
        fh.write("]")
    return path


def write_incidents(rng: np.random.Generator, n: int, as_of: datetime, path: Path) -> pd.DataFrame:
    """incidents-csv (5 % still open); returns the incidents for the action items."""
    started = _times(rng, n, as_of)
    squad = rng.integers(0, SQUADS, size=n)
    resolved = started + _hours(rng, n, 3, 1.3)
    resolved = resolved.where((rng.random(n) > 0.05) & (resolved < pd.Timestamp(as_of)))
    frame = pd.DataFrame({
        "incident_id": np.char.add("INC-", np.arange(1, n + 1).astype(str)),
        "service": _service(squad, rng.integers(0, SERVICES_PER_SQUAD, size=n)),
        "severity": rng.choice(["SEV1", "SEV2", "SEV3", "SEV4"], size=n, p=[0.05, 0.15, 0.4, 0.4]),
        "started_at": _iso(started), "resolved_at": _iso(resolved), "deployment_ref": "",
        "title": "elevated error rate"})
    frame.to_csv(path, index=False, lineterminator="\n")
    return frame.assign(squad=squad, started=started)


def write_action_items(rng: np.random.Generator, n: int, incidents: pd.DataFrame, as_of: datetime,
                       path: Path) -> Path:
    """action-items-csv: follow-ups of random incidents, 70 % resolved, due 2-6 weeks after creation."""
    pick = rng.integers(0, len(incidents), size=n)
    created = incidents["started"].to_numpy()[pick] + pd.to_timedelta(rng.integers(1, 72, size=n), unit="h")
    created = pd.Series(created).where(pd.Series(created) < pd.Timestamp(as_of), pd.Timestamp(as_of))
    resolved = (created + _hours(rng, n, 240, 1.0)).where(rng.random(n) < 0.7)
    resolved = resolved.where(resolved < pd.Timestamp(as_of))
    pd.DataFrame({
        "item_id": np.char.add("AI-", np.arange(1, n + 1).astype(str)),
        "incident_id": incidents["incident_id"].to_numpy()[pick],
        "squad": np.array([_squad(s) for s in range(SQUADS)])[incidents["squad"].to_numpy()[pick]],
        "title": "Add an alert", "owner": _PEOPLE[rng.integers(0, len(_PEOPLE), size=n)],
        "created_at": _iso(created), "due_date": (created + pd.to_timedelta(rng.integers(14, 43, size=n), unit="D"))
        .dt.strftime("%Y-%m-%d"), "resolved_at": _iso(resolved),
        "status": np.where(resolved.notna(), "Done", "Open"),
    }).to_csv(path, index=False, lineterminator="\n")
    return path


def write_finance(rng: np.random.Generator, spend_lines: int, as_of: date, out: Path) -> dict[str, Path]:
    """budget-csv (24 months × 4 categories per squad), spend-csv (``spend_lines`` lines), sows-csv."""
    months = pd.period_range(end=pd.Period(as_of, "M") + 6, periods=24, freq="M")
    squads = [_squad(s) for s in range(SQUADS)]
    cats = ["headcount", "tooling", "cloud", "vendor"]
    budget = pd.DataFrame([(s, c, str(m), f"{10000 + 1000 * (i % 7):.2f}", "EUR")
                           for i, s in enumerate(squads) for c in cats for m in months],
                          columns=["scope", "category", "month", "amount", "currency"])
    days = pd.Timestamp(as_of) - pd.to_timedelta(rng.integers(0, 540, size=spend_lines), unit="D")
    spend = pd.DataFrame({
        "date": days.strftime("%Y-%m-%d"), "scope": np.array(squads)[rng.integers(0, SQUADS, size=spend_lines)],
        "category": np.array(cats)[rng.integers(0, 4, size=spend_lines)], "vendor": "Acme Cloud",
        "amount": np.round(rng.uniform(100, 5000, size=spend_lines), 2), "currency": "EUR",
        "reference": np.char.add("INV-", np.arange(1, spend_lines + 1).astype(str))})
    sows = pd.DataFrame({
        "sow_id": [f"SOW-{s:02d}" for s in range(SQUADS)], "vendor": "Northwind Consulting", "scope": squads,
        "value": "100000.00", "currency": "EUR", "start_date": (as_of - timedelta(days=200)).isoformat(),
        "end_date": (as_of + timedelta(days=165)).isoformat(),
        "invoiced_to_date": [f"{30000 + 2000 * s}.00" for s in range(SQUADS)]})
    paths = {"budget": out / "budget.csv", "spend": out / "spend.csv", "sows": out / "sows.csv"}
    budget.to_csv(paths["budget"], index=False, lineterminator="\n")
    spend.to_csv(paths["spend"], index=False, lineterminator="\n")
    sows.to_csv(paths["sows"], index=False, lineterminator="\n")
    return paths


def write_releases(frame: pd.DataFrame, as_of: datetime, path: Path) -> Path:
    """releases-csv: each fix version released the day after its last issue was created (future ones unreleased)."""
    per = frame.groupby("fix_version")["created"].max().reset_index()
    day = (per["created"] + pd.Timedelta(days=14)).dt.date
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["project", "version", "release_date", "released"])
        for version, d in zip(per["fix_version"], day):
            w.writerow([version.split("-")[0].upper(), version, d.isoformat(), str(d <= as_of.date()).lower()])
    return path


def write_squads(path: Path) -> Path:
    """The squad mapping: one project and one service pattern per squad."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["squad", "source", "match"])
        for s in range(SQUADS):
            w.writerow([_squad(s), "jira_project", _project(s)])
            w.writerow([_squad(s), "service", f"sq{s:02d}-*"])
    return path


def generate(issues: int, out: Path, seed: int = 11, as_of: date | None = None) -> DataSet:
    """Write every file of a data set of ``issues`` Jira issues under ``out`` (reused when already complete)."""
    out.mkdir(parents=True, exist_ok=True)
    done_marker = out / "complete.json"
    as_of = as_of or datetime.now(timezone.utc).date()
    names = {"jira-csv": "jira.csv", "jira-json": "jira-search.json", "releases-csv": "releases.csv",
             "deployments-csv": "deployments.csv", "github-actions-runs": "runs.json",
             "incidents-csv": "incidents.csv", "action-items-csv": "action-items.csv",
             "budget-csv": "budget.csv", "spend-csv": "spend.csv", "sows-csv": "sows.csv"}
    files = {k: out / v for k, v in names.items()}
    squads_csv = out / "squads.csv"
    stamp = {"issues": issues, "seed": seed, "as_of": as_of.isoformat()}
    if done_marker.exists() and json.loads(done_marker.read_text()) == stamp:
        return DataSet(issues, files, squads_csv)
    now = datetime.combine(as_of, datetime.min.time()) + timedelta(hours=12)
    rng = np.random.default_rng(seed)
    count = {k: max(int(issues * v), 10) for k, v in VOLUMES.items()}
    frame = _issue_frame(rng, issues, 100_000, now, list(range(SQUADS // 2, SQUADS)) + list(range(SQUADS // 2)))
    write_jira_csv(frame, files["jira-csv"])
    write_releases(frame, now, files["releases-csv"])
    del frame
    # The JSON export covers other issues (another key range): a second Jira site's projects.
    json_frame = _issue_frame(rng, count["jira_json"], 5_000_000, now, list(range(SQUADS)))
    json_frame["key"] = "J" + json_frame["key"]
    json_frame["blocks"] = np.where(json_frame["blocks"] != "", "J" + json_frame["blocks"], "")
    write_jira_json(json_frame, files["jira-json"])
    del json_frame
    write_deployments(rng, count["deployments"], now, files["deployments-csv"])
    write_runs(rng, count["runs"], now, files["github-actions-runs"])
    incidents = write_incidents(rng, count["incidents"], now, files["incidents-csv"])
    write_action_items(rng, count["action_items"], incidents, now, files["action-items-csv"])
    finance = write_finance(rng, count["spend"], as_of, out)
    files.update({"budget-csv": finance["budget"], "spend-csv": finance["spend"], "sows-csv": finance["sows"]})
    write_squads(squads_csv)
    done_marker.write_text(json.dumps(stamp))
    return DataSet(issues, files, squads_csv)

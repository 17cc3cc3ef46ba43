"""Demo incidents and their action items.

Each squad reports incidents through one tool (``Squad.incident_source``): PagerDuty
REST JSON, an incidents CSV naming the deployment's commit, or Jira issues of type
Incident (written by the Jira writers). Most incidents start shortly after a
deployment of their service, so attribution by service and time window finds it.
Action items of PagerDuty and CSV incidents go to action-items-csv; those of Jira
incidents become Jira issues (see ``demo.jira``).
"""

from __future__ import annotations

import csv
import json
import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from delivery_health.demo.delivery import ServiceHistory
from delivery_health.demo.model import DEGRADING, OVERDUE, SQUADS, Demo, iso_z, lognormal_hours, squad_by_name

PAGE_SIZE = 100
_BASE_FAILURE = {"Mobile": 0.03, "Data": 0.02}  # other squads: _DEFAULT_FAILURE
_DEFAULT_FAILURE = 0.012
_RECOVERY_HOURS = {"Identity": 2.0, "Data": 3.0, "Mobile": 4.0}  # others 1.5
_SYMPTOMS = ("elevated 5xx rate", "latency above SLO", "queue backlog growing", "failed health checks",
             "error budget burn", "timeouts calling downstream", "memory pressure and restarts",
             "stale data served", "login failures", "certificate expiry warning")
_ACTIONS = ("Add alert on {s} error rate", "Write runbook for {s} failover", "Add canary stage to {s} deploys",
            "Load-test {s} before peak", "Add contract test between {s} and its callers",
            "Raise connection pool limit for {s}", "Automate rollback of {s}", "Add dashboard for {s} saturation",
            "Review on-call escalation for {s}", "Fix missing retries in {s} client")


@dataclass
class Incident:
    id: str  # PagerDuty id or INC- number; Jira incidents get their key in demo.jira
    source: str  # pagerduty | incidents-csv | jira
    squad: str
    service: str
    started_at: datetime
    resolved_at: datetime | None
    severity: int  # 1 (worst) .. 4
    title: str
    deployment_sha: str | None = None
    number: int = 0
    action_items: list[ActionItem] = field(default_factory=list)


@dataclass
class ActionItem:
    id: str
    squad: str
    title: str
    owner: str
    created_at: datetime
    due: date
    resolved_at: datetime | None


def _failure_probability(demo: Demo, squad: str, when: datetime) -> float:
    if squad == DEGRADING:  # ~3 % of deployments cause an incident at the start, ~30 % by now
        return 0.03 + 0.27 * demo.progress(when)
    return _BASE_FAILURE.get(squad, _DEFAULT_FAILURE)


def _recovery_hours(demo: Demo, rng: random.Random, squad: str, started: datetime) -> float:
    if squad == DEGRADING:  # ~1 hour to ~12 hours
        return lognormal_hours(rng, 12.0 ** demo.progress(started), 0.6)
    return lognormal_hours(rng, _RECOVERY_HOURS.get(squad, 1.5), 0.7)


def _pd_id(rng: random.Random) -> str:
    return "P" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(6))


def _incident(demo: Demo, rng: random.Random, hist: ServiceHistory, started: datetime, sha_: str | None) -> Incident:
    squad = hist.squad.name if hist.service in hist.squad.services else "unassigned"
    source = hist.squad.incident_source if squad != "unassigned" else "pagerduty"
    resolved: datetime | None = started + timedelta(hours=_recovery_hours(demo, rng, hist.squad.name, started))
    if resolved >= demo.now or (demo.now - started < timedelta(days=20) and rng.random() < 0.1):
        resolved = None  # still open (a few recent ones forgotten in "acknowledged")
    severity = rng.choices((1, 2, 3, 4), weights=(1, 3, 5, 3))[0]
    title = f"{hist.service}: {rng.choice(_SYMPTOMS)}"
    return Incident("", source, squad, hist.service, started.replace(microsecond=0),
                    resolved.replace(microsecond=0) if resolved else None, severity, title,
                    sha_ if source == "incidents-csv" else None)


def _after_deployments(demo: Demo, rng: random.Random, hist: ServiceHistory) -> list[Incident]:
    found = []
    prod = hist.production
    for i, dep in enumerate(prod):
        if rng.random() >= _failure_probability(demo, hist.squad.name, dep.finished_at):
            continue
        window_end = prod[i + 1].finished_at if i + 1 < len(prod) else demo.now
        gap_minutes = min(6 * 60, (window_end - dep.finished_at).total_seconds() / 60 - 1)
        if gap_minutes < 10:
            continue  # the next deployment came too soon to tell which one broke it
        started = dep.finished_at + timedelta(minutes=rng.uniform(5, gap_minutes))
        found.append(_incident(demo, rng, hist, started, dep.head.sha))
    # Some incidents have nothing to do with a deployment (a dependency, load, an expiring certificate).
    for _ in range(max(1, len(found) // 8)):
        started = demo.start + timedelta(seconds=rng.uniform(0, (demo.now - demo.start).total_seconds() - 3600))
        found.append(_incident(demo, rng, hist, started, None))
    return found


def _action_items(demo: Demo, rng: random.Random, inc: Incident, counter: list[int]) -> None:
    people = demo.people(squad_by_name(inc.squad)) if inc.squad != "unassigned" else demo.people(SQUADS[5])
    for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
        created = (inc.resolved_at or inc.started_at + timedelta(hours=6)) + timedelta(hours=rng.uniform(1, 72))
        if created >= demo.now:
            continue
        counter[0] += 1
        closes = rng.random() < (0.3 if inc.squad == OVERDUE else 0.92)
        days = lognormal_hours(rng, 25.0 if inc.squad == OVERDUE else 9.0, 0.6)
        resolved = created + timedelta(days=days) if closes else None
        inc.action_items.append(ActionItem(
            f"AI-{counter[0]:05d}", inc.squad, rng.choice(_ACTIONS).format(s=inc.service), rng.choice(people).name,
            created.replace(microsecond=0), created.date() + timedelta(days=rng.choice((14, 21, 30))),
            resolved.replace(microsecond=0) if resolved and resolved < demo.now else None))


def generate(demo: Demo, histories: list[ServiceHistory]) -> list[Incident]:
    """All incidents, oldest first, with ids (Jira ones get keys later) and action items."""
    incidents = []
    for hist in histories:
        incidents += _after_deployments(demo, demo.rng(f"incidents:{hist.service}"), hist)
    incidents.sort(key=lambda i: (i.started_at, i.service))
    rng = demo.rng("incident-ids")
    counter = [0]
    for n, inc in enumerate(incidents, start=1):
        inc.number = n
        inc.id = _pd_id(rng) if inc.source == "pagerduty" else f"INC-{1000 + n}" if inc.source == "incidents-csv" else ""
        _action_items(demo, rng, inc, counter)
    return incidents


def _pd_incident(inc: Incident, rng: random.Random) -> dict:
    status = "resolved" if inc.resolved_at else rng.choice(("triggered", "acknowledged"))
    changed = inc.resolved_at or inc.started_at + timedelta(minutes=4)
    service_id = "PS" + inc.service.upper().replace("-", "")[:5]
    team = inc.squad
    out = {
        "id": inc.id, "type": "incident", "incident_number": inc.number, "title": inc.title,
        "description": inc.title, "summary": f"[#{inc.number}] {inc.title}",
        "created_at": iso_z(inc.started_at), "updated_at": iso_z(changed), "status": status,
        "incident_key": f"{rng.getrandbits(128):032x}",
        "service": {"id": service_id, "type": "service_reference", "summary": inc.service,
                    "self": f"https://api.pagerduty.com/services/{service_id}",
                    "html_url": f"https://acme.pagerduty.com/service-directory/{service_id}"},
        "urgency": "high" if inc.severity <= 2 else "low",
        "priority": {"id": f"PPRI{inc.severity}", "type": "priority", "summary": f"P{inc.severity}", "name": f"P{inc.severity}"},
        "teams": [{"id": "PT" + team[:5].upper(), "type": "team_reference", "summary": team}],
        "last_status_change_at": iso_z(changed),
        "alert_counts": {"all": 1, "triggered": 0 if inc.resolved_at else 1, "resolved": 1 if inc.resolved_at else 0},
        "is_mergeable": True,
        "self": f"https://api.pagerduty.com/incidents/{inc.id}",
        "html_url": f"https://acme.pagerduty.com/incidents/{inc.id}",
    }
    if inc.resolved_at:
        out["resolved_at"] = iso_z(inc.resolved_at)
    return out


def write_pagerduty(demo: Demo, incidents: list[Incident], out: Path) -> list[Path]:
    """`GET /incidents` pages, one file per half year (the API's longest date range)."""
    rng = demo.rng("pagerduty")
    mine = [i for i in incidents if i.source == "pagerduty"]
    paths = []
    for half in range(4):
        lo = demo.start + timedelta(days=183 * half)
        chunk = [_pd_incident(i, rng) for i in mine if lo <= i.started_at < lo + timedelta(days=183)]
        if not chunk:
            continue
        pages = [{"incidents": chunk[k:k + PAGE_SIZE], "limit": PAGE_SIZE, "offset": k,
                  "more": k + PAGE_SIZE < len(chunk), "total": None} for k in range(0, len(chunk), PAGE_SIZE)]
        path = out / "incidents" / f"pagerduty-incidents-{half + 1}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(pages, separators=(",", ":")), encoding="utf-8")
        paths.append(path)
    return paths


def write_incidents_csv(incidents: list[Incident], out: Path) -> Path:
    path = out / "incidents" / "incidents.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["incident_id", "service", "severity", "started_at", "resolved_at", "deployment_ref", "title"])
        for i in incidents:
            if i.source == "incidents-csv":
                w.writerow([i.id, i.service, f"SEV{i.severity}", iso_z(i.started_at),
                            iso_z(i.resolved_at) if i.resolved_at else "", i.deployment_sha or "", i.title])
    return path


def write_action_items_csv(incidents: list[Incident], out: Path) -> Path:
    path = out / "incidents" / "action-items.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "incident_id", "squad", "title", "owner", "created_at", "due_date", "resolved_at", "status"])
        for i in incidents:
            if i.source == "jira":
                continue
            for a in i.action_items:
                status = "Done" if a.resolved_at else ("In Progress" if a.id[-1] in "13579" else "Open")
                w.writerow([a.id, i.id, a.squad if a.squad != "unassigned" else "", a.title, a.owner,
                            iso_z(a.created_at), a.due.isoformat(), iso_z(a.resolved_at) if a.resolved_at else "", status])
    return path


def write(demo: Demo, incidents: list[Incident], out: Path) -> list[Path]:
    return write_pagerduty(demo, incidents, out) + [write_incidents_csv(incidents, out),
                                                    write_action_items_csv(incidents, out)]

"""Demo deployments and commits, written as GitHub Actions runs, deployments-csv and commits-csv.

Half of each squad's services deploy through GitHub Actions ("Deploy to production" on
``main``, plus pull-request CI runs the loader skips), the others report to a
deployments CSV (with some staging deployments). Every other service also ships its
``git log`` as commits-csv, so its deployments include several commits.
"""

from __future__ import annotations

import csv
import json
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from delivery_health.demo.model import (
    DEGRADING, IMPROVING, ORG, SQUADS, UNMAPPED_OWNER, UNMAPPED_SERVICE, Demo, Person, Squad, iso_z,
    lognormal_hours, sha,
)

VOLUME = 1.4  # scales every squad's deploy rate so the whole org makes ~20k deployments in 18 months
WEEKEND = 0.25  # weekend days see a quarter of a weekday's deployments
FAILED_ATTEMPTS = 0.05
CANCELLED_ATTEMPTS = 0.02
RUNS_PER_PAGE = 100
_CHANGES = ("Add retry to {c} client", "Tune {c} cache TTL", "Bump dependencies", "Fix flaky test in {c}",
            "Add metrics for {c}", "Refactor {c} handler", "Support new currency codes", "Improve error messages",
            "Feature flag for {c} rollout", "Reduce {c} p99 latency", "Update OpenAPI schema", "Clean up logging")


@dataclass
class Commit:
    sha: str
    committed_at: datetime
    author: str
    message: str


@dataclass
class Deployment:
    service: str
    squad: str
    started_at: datetime
    finished_at: datetime
    outcome: str  # success | failure | cancelled
    head: Commit
    commits: list[Commit] = field(default_factory=list)  # what a successful deployment shipped
    environment: str = "production"
    rework: bool = False
    ref: str = "main"


@dataclass
class ServiceHistory:
    service: str
    squad: Squad
    via_github: bool
    has_history: bool
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def production(self) -> list[Deployment]:
        """Successful production deployments, oldest first: what incidents attach to."""
        return [d for d in self.deployments if d.environment == "production" and d.outcome == "success"]


def _rate(demo: Demo, squad: Squad, when: datetime) -> float:
    p = demo.progress(when)
    base = 0.2 + 1.4 * p if squad.name == IMPROVING else squad.deploys_per_service_day
    return base * VOLUME * demo.scale


def _lead_median(demo: Demo, squad: Squad, when: datetime) -> float:
    if squad.name == IMPROVING:  # ~5 days down to ~6 hours
        return 120.0 * (6.0 / 120.0) ** demo.progress(when)
    return squad.lead_time_hours


def _deploy_times(demo: Demo, rng: random.Random, squad: Squad, rate_factor: float = 1.0) -> list[datetime]:
    times = []
    for day in range(demo.days):
        midnight = demo.start + timedelta(days=day)
        rate = _rate(demo, squad, midnight) * rate_factor * (WEEKEND if midnight.weekday() >= 5 else 1.0)
        n = int(rate) + (rng.random() < rate - int(rate))
        times += [midnight + timedelta(seconds=rng.randint(7 * 3600, 19 * 3600)) for _ in range(n)]
    return sorted(times)


def _new_commits(demo: Demo, rng: random.Random, squad: Squad, people: list[Person], service: str,
                 started: datetime, after: datetime) -> list[Commit]:
    """The commits a deployment starting at ``started`` ships, all after ``after`` (the previous head)."""
    head_time = started - timedelta(hours=lognormal_hours(rng, _lead_median(demo, squad, started)))
    head_time = max(head_time, after + (started - after) * rng.uniform(0.5, 0.95))
    count = 1 + min(int(rng.expovariate(0.6)), 7)
    times = sorted([head_time] + [max(after + timedelta(minutes=1), head_time - timedelta(hours=rng.uniform(0, 30)))
                                  for _ in range(count - 1)])
    component = service.split("-")[0]
    return [Commit(sha(rng), t.replace(microsecond=0), rng.choice(people).name,
                   rng.choice(_CHANGES).format(c=component)) for t in times]


def _rework_probability(demo: Demo, squad: Squad, when: datetime) -> float:
    return 0.03 + 0.12 * demo.progress(when) if squad.name == DEGRADING else 0.04


def _service_history(demo: Demo, squad: Squad, service: str, via_github: bool, has_history: bool,
                     rate_factor: float = 1.0) -> ServiceHistory:
    rng = demo.rng(f"deployments:{service}")
    people = demo.people(squad)
    hist = ServiceHistory(service, squad, via_github, has_history)
    last_head = demo.start - timedelta(days=2)
    pending: list[Commit] = []  # commits of a failed attempt, retried by the next deployment
    for started in _deploy_times(demo, rng, squad, rate_factor):
        finished = started + timedelta(minutes=rng.randint(4, 18), seconds=rng.randint(0, 59))
        if finished >= demo.now:
            break
        commits = pending or _new_commits(demo, rng, squad, people, service, started, last_head)
        roll = rng.random()
        outcome = "failure" if roll < FAILED_ATTEMPTS else "cancelled" if roll < FAILED_ATTEMPTS + CANCELLED_ATTEMPTS else "success"
        dep = Deployment(service, squad.name, started, finished, outcome, commits[-1])
        if outcome != "success":
            pending = commits
        else:
            pending, last_head = [], commits[-1].committed_at
            dep.commits = commits
            if rng.random() < _rework_probability(demo, squad, started):
                dep.rework = True
                if via_github:
                    dep.head.message = (f'Revert "{rng.choice(_CHANGES).format(c=service.split("-")[0])}"'
                                        if rng.random() < 0.5 else f"Hotfix: {dep.head.message.lower()}")
                else:
                    dep.ref = f"hotfix/{service}-{rng.randint(100, 999)}"
            if not via_github and rng.random() < 0.3:  # a staging deployment shortly before
                lead = timedelta(minutes=rng.randint(30, 120))
                hist.deployments.append(Deployment(service, squad.name, started - lead, finished - lead, "success",
                                                   dep.head, environment="staging"))
        hist.deployments.append(dep)
    return hist


def generate(demo: Demo) -> list[ServiceHistory]:
    """Every service's deployment attempts, oldest first."""
    histories = []
    for s_index, squad in enumerate(SQUADS):
        for index, service in enumerate(squad.services):
            histories.append(_service_history(demo, squad, service, via_github=(index + s_index) % 2 == 0,
                                              has_history=index % 2 == 0))
    histories.append(_service_history(demo, UNMAPPED_OWNER, UNMAPPED_SERVICE, via_github=False, has_history=False,
                                      rate_factor=0.05))
    return histories


def _run(rng: random.Random, dep: Deployment, run_id: int, number: int, workflow_id: int) -> dict:
    repo = f"{ORG}/{dep.service}"
    is_ci = dep.environment != "production"
    name = "CI" if is_ci else "Deploy to production"
    message = dep.head.message
    return {
        "id": run_id, "name": name, "head_branch": dep.ref, "head_sha": dep.head.sha,
        "path": f".github/workflows/{'ci' if is_ci else 'deploy'}.yml", "display_title": message.splitlines()[0],
        "run_number": number, "event": "pull_request" if is_ci else "push", "status": "completed",
        "conclusion": dep.outcome, "workflow_id": workflow_id,
        "url": f"https://api.github.com/repos/{repo}/actions/runs/{run_id}",
        "html_url": f"https://github.com/{repo}/actions/runs/{run_id}", "pull_requests": [],
        "created_at": iso_z(dep.started_at), "updated_at": iso_z(dep.finished_at), "run_attempt": 1,
        "run_started_at": iso_z(dep.started_at),
        "actor": {"login": dep.head.author.lower().replace(" ", "-"), "type": "User"},
        "head_commit": {
            "id": dep.head.sha, "tree_id": f"{rng.getrandbits(160):040x}", "message": message,
            "timestamp": iso_z(dep.head.committed_at),
            "author": {"name": dep.head.author, "email": f"{dep.head.author.lower().replace(' ', '.')}@acme.example"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        },
        "repository": {"id": zlib.crc32(repo.encode()), "name": dep.service,
                       "full_name": repo, "private": True, "owner": {"login": ORG, "type": "Organization"}},
    }


def _ci_runs(demo: Demo, rng: random.Random, hist: ServiceHistory) -> list[Deployment]:
    """Pull-request CI runs on feature branches: not deployments, skipped by the loader."""
    runs = []
    for dep in hist.deployments[::4]:
        at = dep.started_at - timedelta(hours=rng.uniform(1, 20))
        ci = Deployment(hist.service, hist.squad.name, at, at + timedelta(minutes=rng.randint(3, 12)),
                        rng.choice(("success", "success", "failure")), dep.head, environment="ci",
                        ref=f"feature/{hist.service.split('-')[0]}-{rng.randint(1000, 9999)}")
        runs.append(ci)
    return runs


def write_github(demo: Demo, hist: ServiceHistory, out: Path) -> Path:
    """One file per repository: the pages of `GET /repos/acme/<service>/actions/runs`, newest first."""
    rng = demo.rng(f"github:{hist.service}")
    attempts = sorted(hist.deployments + _ci_runs(demo, rng, hist), key=lambda d: d.started_at)
    base_id = 5_000_000_000 + rng.randint(0, 10**8)
    runs = [_run(rng, d, base_id + 37 * i, i + 1, 7_000_000 + (1 if d.environment == "production" else 2))
            for i, d in enumerate(attempts)]
    runs.reverse()
    pages = [{"total_count": len(runs), "workflow_runs": runs[i:i + RUNS_PER_PAGE]}
             for i in range(0, len(runs), RUNS_PER_PAGE)] or [{"total_count": 0, "workflow_runs": []}]
    path = out / "github" / f"{hist.service}-runs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pages, separators=(",", ":")), encoding="utf-8")
    return path


def write_deployments_csv(histories: list[ServiceHistory], out: Path) -> Path:
    path = out / "deployments" / "deployments.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["service", "environment", "status", "started_at", "finished_at", "commit_sha", "commit_time",
                    "ref", "is_rework", "pipeline"])
        rows = [d for h in histories if not h.via_github for d in h.deployments]
        for d in sorted(rows, key=lambda d: (d.started_at, d.service)):
            # Hotfix deployments leave is_rework empty: the loader tells them by their ref.
            rework = "" if d.rework else "false"
            w.writerow([f"{ORG}/{d.service}", d.environment, d.outcome, iso_z(d.started_at), iso_z(d.finished_at),
                        d.head.sha, iso_z(d.head.committed_at), d.ref, rework, f"{d.service}-deploy"])
    return path


def write_commits_csv(histories: list[ServiceHistory], out: Path) -> Path:
    path = out / "deployments" / "commits.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["repository", "sha", "committed_at", "author", "message"])
        for h in histories:
            if not h.has_history:
                continue
            seen: set[str] = set()
            for d in h.deployments:
                for c in d.commits:
                    if c.sha not in seen:
                        seen.add(c.sha)
                        w.writerow([f"{ORG}/{h.service}", c.sha, iso_z(c.committed_at), c.author, c.message])
    return path


def write(demo: Demo, histories: list[ServiceHistory], out: Path) -> list[Path]:
    paths = [write_github(demo, h, out) for h in histories if h.via_github]
    return paths + [write_deployments_csv(histories, out), write_commits_csv(histories, out)]

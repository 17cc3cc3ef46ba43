"""Demo Jira issues: one project per squad, ~25k issues with status histories, fix
versions, due dates, components, labels, sprints, a Team field and cross-team
blocking links; plus the incidents and action items of the squads that track them in Jira.

Issues are plain records here; ``jira_json`` and ``jira_csv`` write them in the two
export formats.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from delivery_health.demo.incidents import Incident
from delivery_health.demo.model import (
    LATE_BLOCKED_SQUAD, LATE_BLOCKED_SUMMARY, LATE_BLOCKER_SQUAD, LATE_BLOCKER_SUMMARY, SQUADS, Demo, Person, Squad,
    lognormal_hours, squad_by_name,
)

ISSUES = 25_000  # at scale 1
RELEASE_EVERY_DAYS = 14
SPRINT_DAYS = 14
CROSS_TEAM_BLOCKS = 0.012  # share of issues blocked by another squad's issue
LABELS = ("customer", "tech-debt", "security", "performance", "ux", "compliance", "observability")
_TYPES = (("Story", 50), ("Bug", 25), ("Task", 22), ("Spike", 3))
_PRIORITIES = (("Highest", 3), ("High", 17), ("Medium", 60), ("Low", 20))
_VERBS = ("Add", "Support", "Fix", "Improve", "Migrate", "Remove", "Refactor", "Document", "Expose", "Validate")
_OBJECTS = ("pagination on {c} list endpoint", "audit log for {c}", "{c} retries on timeout", "dark mode in {c}",
            "{c} metrics export", "feature flag for {c}", "{c} input validation", "the {c} admin screen",
            "{c} schema migration", "rate limits on {c}", "{c} error messages", "caching in {c}",
            "{c} dependency upgrade", "accessibility of {c}", "{c} CSV export", "{c} webhook delivery")


@dataclass
class Version:
    name: str
    release_date: date

    def released(self, today: date) -> bool:
        return self.release_date < today


@dataclass
class Move:
    at: datetime
    from_status: str
    to_status: str
    author: str


@dataclass
class Link:
    link_type: str  # Blocks | Relates
    direction: str  # outward: this issue blocks/relates to other
    other_key: str


@dataclass
class Issue:
    key: str
    id: int
    squad: Squad
    issue_type: str
    summary: str
    created: datetime
    reporter: Person
    assignee: Person | None
    priority: str = "Medium"
    status: str = "To Do"
    resolution: str | None = None
    resolved: datetime | None = None
    updated: datetime | None = None
    due: date | None = None
    components: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    fix_versions: list[Version] = field(default_factory=list)
    sprints: list[int] = field(default_factory=list)
    story_points: float | None = None
    moves: list[Move] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    incident_file: bool = False  # written with the project's incidents export


@dataclass
class Project:
    squad: Squad
    versions: list[Version]
    issues: list[Issue] = field(default_factory=list)

    def sprint_name(self, n: int) -> str:
        return f"{self.squad.project_key} Sprint {n}"


def releases(demo: Demo, squad: Squad) -> list[Version]:
    """Fix versions every two weeks from the start until ~10 weeks after as_of."""
    offset = SQUADS.index(squad) % RELEASE_EVERY_DAYS
    first = (demo.start + timedelta(days=offset)).date()
    count = (demo.days + 70) // RELEASE_EVERY_DAYS
    return [Version(f"{squad.project_key.lower()}-{3 + n // 12}.{n % 12}.0",
                    first + timedelta(days=RELEASE_EVERY_DAYS * n)) for n in range(count)]


def _release_on_or_after(versions: list[Version], day: date) -> Version | None:
    return next((v for v in versions if v.release_date >= day), None)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _walk(demo: Demo, rng: random.Random, issue: Issue, people: list[Person]) -> None:
    """Status history: To Do -> In Progress -> In Review -> Done, sometimes back to In Progress."""
    steps = [("In Progress", lognormal_hours(rng, 60, 1.0)), ("In Review", lognormal_hours(rng, 50, 0.8))]
    if rng.random() < 0.15:  # review sends it back
        steps += [("In Progress", lognormal_hours(rng, 6, 0.8)), ("In Review", lognormal_hours(rng, 20, 0.8))]
    steps.append(("Done", lognormal_hours(rng, 16, 0.8)))
    if rng.random() < 0.04:
        steps = [("Done", lognormal_hours(rng, 200, 0.8))]  # closed without doing it
        issue.resolution = "Won't Do"
    at, status = issue.created, "To Do"
    for to_status, hours in steps:
        at = at + timedelta(hours=hours)
        if at >= demo.now:
            break
        who = issue.assignee or rng.choice(people)
        issue.moves.append(Move(at.replace(microsecond=0), status, to_status, who.name))
        status = to_status
    issue.status = status
    if status == "Done":
        issue.resolved = issue.moves[-1].at
        issue.resolution = issue.resolution or "Done"
    else:
        issue.resolution = None
    last = issue.moves[-1].at if issue.moves else issue.created
    issue.updated = min(demo.now - timedelta(minutes=5), last + timedelta(hours=rng.uniform(0, 30)))


def _fill(demo: Demo, rng: random.Random, project: Project, issue: Issue, people: list[Person]) -> None:
    squad = project.squad
    comp = rng.choice(squad.services)
    issue.summary = issue.summary or f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS).format(c=comp)}"
    roll = rng.random()
    issue.components = [] if roll < 0.1 else [comp] if roll < 0.9 else sorted({comp, rng.choice(squad.services)})
    issue.labels = sorted(set(rng.sample(LABELS, rng.choice((0, 0, 1, 1, 2)))))
    issue.priority = _weighted(rng, _PRIORITIES)
    if issue.issue_type != "Spike":
        issue.story_points = float(rng.choice((1, 2, 3, 3, 5, 5, 8, 13)))
    _walk(demo, rng, issue, people)
    if rng.random() < 0.35:
        issue.due = (issue.created + timedelta(days=rng.randint(10, 60))).date()
    if issue.resolved:
        v = _release_on_or_after(project.versions, issue.resolved.date())
        issue.fix_versions = [v] if v else []
    elif rng.random() < 0.6:
        upcoming = [v for v in project.versions if v.release_date >= demo.as_of][:3]
        issue.fix_versions = [rng.choice(upcoming)] if upcoming else []
    first_sprint = int((issue.created - demo.start).days // SPRINT_DAYS) + 1
    last_day = (issue.resolved or (issue.moves[-1].at if issue.moves else issue.created))
    last_sprint = int((last_day - demo.start).days // SPRINT_DAYS) + 1
    if issue.moves:
        issue.sprints = list(range(first_sprint, min(last_sprint, first_sprint + 2) + 1))


def _projects(demo: Demo) -> list[Project]:
    projects = []
    next_id = 10_000
    total_weight = sum(1.0 for _ in SQUADS)
    for squad in SQUADS:
        rng = demo.rng(f"jira:{squad.project_key}")
        project = Project(squad, releases(demo, squad))
        people = demo.people(squad)
        count = max(60, round(ISSUES * demo.scale / total_weight * rng.uniform(0.85, 1.15)))
        span = (demo.now - demo.start).total_seconds()
        # A little more work each month: the square root skews creation times towards now.
        created = sorted(demo.start + timedelta(seconds=span * rng.random() ** 0.85) for _ in range(count))
        for at in created:
            issue = Issue("", 0, squad, _weighted(rng, _TYPES), "", at.replace(microsecond=0), rng.choice(people),
                          rng.choice(people) if rng.random() < 0.9 else None)
            _fill(demo, rng, project, issue, people)
            project.issues.append(issue)
        projects.append(project)
    for project in projects:
        for n, issue in enumerate(project.issues, start=1):
            issue.key, issue.id = f"{project.squad.project_key}-{n}", next_id
            next_id += 1
    return projects


def _block(blocker: Issue, blocked: Issue) -> None:
    blocker.links.append(Link("Blocks", "outward", blocked.key))
    blocked.links.append(Link("Blocks", "inward", blocker.key))


def _cross_team_links(demo: Demo, projects: list[Project]) -> None:
    rng = demo.rng("jira:links")
    everyone = [i for p in projects for i in p.issues if not i.incident_file]
    by_time = sorted(everyone, key=lambda i: i.created)
    for blocked in rng.sample(everyone, int(len(everyone) * CROSS_TEAM_BLOCKS)):
        for _ in range(6):
            blocker = rng.choice(by_time)
            if blocker.squad is blocked.squad or abs((blocker.created - blocked.created).days) > 30:
                continue
            if blocked.status == "Done" and blocker.status != "Done":
                continue
            _block(blocker, blocked)
            break
    for issue in rng.sample(everyone, len(everyone) // 100):  # some plain "relates to" links
        other = rng.choice(everyone)
        if other is not issue:
            issue.links.append(Link("Relates", "outward", other.key))
            other.links.append(Link("Relates", "inward", issue.key))


def _late_dependency(demo: Demo, projects: list[Project]) -> tuple[Issue, Issue]:
    """The story: Platform's blocker ships a month after Checkout's item is due."""
    rng = demo.rng("jira:late-dependency")
    by_squad = {p.squad.name: p for p in projects}
    blocker_p, blocked_p = by_squad[LATE_BLOCKER_SQUAD], by_squad[LATE_BLOCKED_SQUAD]
    due = demo.as_of + timedelta(days=14)
    made = []
    for project, summary in ((blocker_p, LATE_BLOCKER_SUMMARY), (blocked_p, LATE_BLOCKED_SUMMARY)):
        people = demo.people(project.squad)
        issue = Issue(f"{project.squad.project_key}-{len(project.issues) + 1}", 90_000 + len(made), project.squad,
                      "Story", summary, demo.now - timedelta(days=40), people[0], people[1], priority="High",
                      components=[project.squad.services[0]], labels=["customer"], story_points=8.0)
        project.issues.append(issue)
        made.append(issue)
    blocker, blocked = made
    started = blocker.created + timedelta(days=5)
    blocker.moves = [Move(started, "To Do", "In Progress", blocker.assignee.name)]  # type: ignore[union-attr]
    blocker.status, blocker.updated = "In Progress", started + timedelta(days=2)  # untouched for weeks: stale too
    blocker.fix_versions = [_release_on_or_after(blocker_p.versions, due + timedelta(days=30))]  # type: ignore[list-item]
    blocked.due = due
    blocked.fix_versions = [_release_on_or_after(blocked_p.versions, due)]  # type: ignore[list-item]
    blocked.updated = demo.now - timedelta(days=1, hours=rng.randint(1, 20))
    _block(blocker, blocked)
    return blocker, blocked


def _incident_issues(demo: Demo, projects: list[Project], incidents: list[Incident]) -> None:
    """Jira-tracked incidents (type Incident) and their action items (label action-item, Relates link)."""
    by_squad = {p.squad.name: p for p in projects}
    for inc in incidents:
        if inc.source != "jira":
            continue
        project = by_squad[inc.squad]
        people = demo.people(project.squad)
        rng = demo.rng(f"jira:incident:{inc.number}")
        key = f"{project.squad.project_key}-{len(project.issues) + 1}"
        inc.id = key
        issue = Issue(key, 100_000 + inc.number * 10, project.squad, "Incident", inc.title, inc.started_at,
                      rng.choice(people), rng.choice(people), priority=("Highest", "High", "Medium", "Low")[inc.severity - 1],
                      components=[inc.service], labels=["incident"], incident_file=True)
        ack = inc.started_at + timedelta(minutes=rng.randint(2, 20))
        issue.moves = [Move(ack, "To Do", "In Progress", issue.assignee.name)]  # type: ignore[union-attr]
        if inc.resolved_at:
            issue.moves.append(Move(inc.resolved_at, "In Progress", "Done", issue.assignee.name))  # type: ignore[union-attr]
            issue.status, issue.resolution, issue.resolved = "Done", "Done", inc.resolved_at
        else:
            issue.status = "In Progress"
        issue.updated = issue.moves[-1].at
        project.issues.append(issue)
        for n, item in enumerate(inc.action_items, start=1):
            owner = next((p for p in people if p.name == item.owner), people[0])
            ai = Issue(f"{project.squad.project_key}-{len(project.issues) + 1}", issue.id + n, project.squad, "Task",
                       item.title, item.created_at, issue.reporter, owner, due=item.due, labels=["action-item"],
                       components=[inc.service], incident_file=True)
            if item.resolved_at:
                begun = max(item.created_at + (item.resolved_at - item.created_at) / 3,
                            item.resolved_at - timedelta(hours=rng.uniform(2, 48)))
                ai.moves = [Move(begun.replace(microsecond=0), "To Do", "In Progress", owner.name),
                            Move(item.resolved_at, "In Progress", "Done", owner.name)]
                ai.status, ai.resolution, ai.resolved = "Done", "Done", item.resolved_at
            ai.updated = ai.moves[-1].at if ai.moves else ai.created
            ai.links.append(Link("Relates", "outward", key))
            issue.links.append(Link("Relates", "inward", ai.key))
            project.issues.append(ai)


OPEN_DEPENDENCIES = 24  # open cross-team blocks among work in progress, besides the chain and the cycle


def _open_dependencies(demo: Demo, projects: list[Project]) -> None:
    """Work in progress waiting on other squads: two dozen open blocks, a chain four items deep and a
    three-item cycle, so the dependency page has late, unscheduled and stale risks to show."""
    rng = demo.rng("jira:open-dependencies")
    open_items = [i for p in projects for i in p.issues if i.status != "Done" and not i.incident_file]
    if len(open_items) < 10:
        return
    rng.shuffle(open_items)
    chain, rest = open_items[:4], open_items[4:]
    for blocker, blocked in zip(chain, chain[1:]):  # chain[0] -> chain[1] -> chain[2] -> chain[3]
        _block(blocker, blocked)
    cycle = [i for i in rest[:12] if i.squad is not chain[0].squad][:3]
    for blocker, blocked in zip(cycle, cycle[1:] + cycle[:1]):
        _block(blocker, blocked)
    made = 0
    for blocked in rest[12:]:
        if made >= OPEN_DEPENDENCIES * demo.scale + 4:
            break
        blocker = rng.choice(rest)
        if blocker.squad is blocked.squad:
            continue
        if blocked.due is None and rng.random() < 0.6:  # most waiting items need their blocker by a date
            blocked.due = demo.as_of + timedelta(days=rng.randint(5, 45))
        _block(blocker, blocked)
        made += 1


def generate(demo: Demo, incidents: list[Incident]) -> list[Project]:
    """Every project with its issues; Jira incidents get their issue keys written back into ``incidents``."""
    projects = _projects(demo)
    _cross_team_links(demo, projects)
    _open_dependencies(demo, projects)
    _late_dependency(demo, projects)
    _incident_issues(demo, projects, incidents)
    return projects


def project_of(projects: list[Project], squad_name: str) -> Project:
    return next(p for p in projects if p.squad is squad_by_name(squad_name))

"""Dependency risk (METRICS.md "Dependency risk"): open blocking links, what lands too late, chains, cycles.

A dependency is a row of ``issue_links`` with ``is_blocking`` (``from_key`` = blocker,
``to_key`` = blocked; the loaders already turned "depends on" and inward links into that
direction). The list is *open as of* the as-of date: statuses are the current ones loaded,
so the as-of date only moves the staleness cut-off, and ``--start``/``--end`` are ignored
(a need date next quarter matters today, whatever window the sidebar shows).

Assumptions:
- Open = neither side's status category is Done. A side that is not in ``work_items``
  (a link to an issue outside the export) has an unknown status and counts as open; its
  squad is ``unassigned``, it has no dates, so as a blocker it is never stale but makes
  the dependency unscheduled when the blocked item has a need date.
- Need date = the blocked item's due date, else the release date of its earliest fix
  version (``work_item_tags`` kind ``fix_version`` joined to ``releases`` on project and
  version), else none. Land date = the same for the blocker.
- Stale = the blocker's ``updated_at`` is ``settings.stale_days`` or more calendar days
  before the as-of date.
- Depth is computed on every open dependency (a chain crosses squads and releases),
  before the squad and release filters pick rows; edges inside a cycle count as one level
  and are not followed (the cycle is reported instead), so depth is always finite.

Finding the open dependencies joins the links to their ends' issues, tags and releases: about 1 s on
PostgreSQL at 1M issues. ``refresh`` (with the DORA building blocks, after every ingest) writes them to
``dependency_edges``, read while it holds the current data and squad rules; otherwise the same rows are
computed in the query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from delivery_health import squads, store
from delivery_health.metrics import catalog
from delivery_health.metrics.frames import read_frame
from delivery_health.metrics.params import MetricParams, frame_records
from delivery_health.settings import Settings

NAME = "dependencies"
DEFINITION_VERSION = 1  # bump when what an edge holds changes: edges computed by an older version are not read
# The CLI contract (one row per open dependency); the page also uses the columns after these.
ROW_COLUMNS = ["blocker_key", "blocked_key", "blocker_squad", "blocked_squad", "cross_team", "blocker_status",
               "blocked_status", "need_date", "land_date", "late", "unscheduled", "stale", "at_risk", "depth"]
EXTRA_COLUMNS = ["risk_reason", "blocker_summary", "blocked_summary", "need_release", "land_release", "blocker_updated_at",
                 "blocker_depth", "in_cycle"]
COLUMNS = ROW_COLUMNS + EXTRA_COLUMNS
PAIR_COLUMNS = ["blocker_squad", "blocked_squad", "open", "at_risk"]


@dataclass
class DependencyRisk:
    """``rows``: one per open dependency (``COLUMNS``, dates as ``datetime.date``, booleans, depth an int);
    ``cycles``: key lists (each in blocking order, starting at its smallest key);
    ``squad_pairs``: ``PAIR_COLUMNS`` counts per (blocker squad, blocked squad)."""

    rows: pd.DataFrame
    cycles: list[list[str]] = field(default_factory=list)
    squad_pairs: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PAIR_COLUMNS))

    @property
    def empty(self) -> bool:
        return self.rows.empty


def _earliest_releases(keys: sa.CompoundSelect) -> sa.CTE:
    """``item_key, release_date, version``: each of ``keys``' issues' earliest dated fix version of its own
    project. One join over the fix-version tags of those issues only, not a lookup per issue and side."""
    t, r, wi = store.work_item_tags, store.releases, store.work_items
    ranked = (sa.select(t.c.item_key, r.c.release_date, r.c.version,
                        sa.func.row_number().over(partition_by=t.c.item_key,
                                                  order_by=[r.c.release_date, r.c.version]).label("rn"))
              .select_from(t.join(wi, wi.c.id == t.c.item_key)
                           .join(r, sa.and_(r.c.version == t.c.value, r.c.project_key == wi.c.project_key)))
              .where(t.c.kind == "fix_version", r.c.release_date.is_not(None), t.c.item_key.in_(keys))
              .subquery("ranked_releases"))
    # A CTE: both ends of the links read it, computed once. (Joining the tags to the ends' issues CTE
    # instead made PostgreSQL hash every fix-version tag: 1.16 s against 0.91 s at 1M issues.)
    return (sa.select(ranked.c.item_key, ranked.c.release_date, ranked.c.version).where(ranked.c.rn == 1)
            .cte("earliest_releases"))


def _live_edges(rules: list[squads.Rule]) -> sa.Select:
    """The open blocking dependencies, ``store.dependency_edges``'s columns, computed from the data tables."""
    links, wi = store.issue_links, store.work_items
    # CTEs, each computed once: the blocking links, then the issues at their ends (a few thousand of 1M:
    # joined twice each, the whole issues table would be hashed four times on PostgreSQL).
    blocking = (sa.select(links.c.from_key, links.c.to_key).where(links.c.is_blocking.is_(True))
                .distinct().cte("blocking"))
    ends = sa.union(sa.select(blocking.c.from_key), sa.select(blocking.c.to_key))
    items = sa.select(wi).where(wi.c.id.in_(ends)).cte("link_items")
    blocker, blocked = items.alias("blocker"), items.alias("blocked")
    earliest = _earliest_releases(ends)
    need, land = earliest.alias("need"), earliest.alias("land")
    not_done = lambda side: sa.func.coalesce(side.c.status_category, "") != "Done"  # noqa: E731 - unknown = open
    return (sa.select(
        blocking.c.from_key.label("blocker_key"), blocking.c.to_key.label("blocked_key"),
        squads.work_item_squad(rules, blocker).label("blocker_squad"),
        squads.work_item_squad(rules, blocked).label("blocked_squad"),
        blocker.c.status.label("blocker_status"), blocked.c.status.label("blocked_status"),
        blocker.c.summary.label("blocker_summary"), blocked.c.summary.label("blocked_summary"),
        sa.func.coalesce(blocked.c.due_date, need.c.release_date).label("need_date"),
        sa.case((blocked.c.due_date.is_(None), need.c.version)).label("need_release"),
        sa.func.coalesce(blocker.c.due_date, land.c.release_date).label("land_date"),
        sa.case((blocker.c.due_date.is_(None), land.c.version)).label("land_release"),
        blocker.c.updated_at.label("blocker_updated_at"),
    )
        .select_from(blocking.outerjoin(blocker, blocker.c.id == blocking.c.from_key)
                     .outerjoin(blocked, blocked.c.id == blocking.c.to_key)
                     .outerjoin(need, need.c.item_key == blocking.c.to_key)
                     .outerjoin(land, land.c.item_key == blocking.c.from_key))
        .where(not_done(blocker), not_done(blocked)))


def fingerprint(rules: list[squads.Rule]) -> str:
    """What the precomputed edges depend on besides the data: the squad rules and their definition's version."""
    return squads.fingerprint(rules, version=DEFINITION_VERSION)


def is_current(conn: Connection, rules: list[squads.Rule]) -> bool:
    """True when ``dependency_edges`` holds exactly what ``_live_edges`` would give now."""
    return store.derived_is_current(conn, NAME, fingerprint(rules))


def refresh(conn: Connection, rules: list[squads.Rule]) -> int:
    """Write the open dependencies of the data loaded now (in the caller's transaction); returns their count."""
    written = store.replace_rows(conn, store.dependency_edges, _live_edges(rules).subquery("edges"))
    store.record_derived(conn, NAME, fingerprint(rules))
    return written


def _risk_flags(edges: sa.FromClause, settings: Settings, as_of: date) -> dict[str, sa.ColumnElement]:
    """``late``, ``unscheduled``, ``stale`` and ``at_risk`` of an open dependency (the module docstring), in SQL:
    the page's rows and the scorecard's counts read the same expressions."""
    need, land = edges.c.need_date, edges.c.land_date
    stale_before = datetime.combine(as_of - timedelta(days=settings.stale_days - 1), time())
    late = sa.and_(need.isnot(None), land.isnot(None), land > need)
    unscheduled = sa.and_(need.isnot(None), land.is_(None))
    stale = sa.func.coalesce(edges.c.blocker_updated_at < stale_before, False)
    return {"late": late, "unscheduled": unscheduled, "stale": stale, "at_risk": sa.or_(late, unscheduled, stale)}


def _edges(conn: Connection, settings: Settings) -> sa.FromClause:
    """The precomputed open dependencies when current, else the same rows computed in the query."""
    rules = squads.load_rules(settings.squads_path)
    return store.dependency_edges if is_current(conn, rules) else _live_edges(rules).subquery("edges")


def _open_edges(engine: Engine, settings: Settings, as_of: date) -> pd.DataFrame:
    with engine.connect() as conn:
        edges = _edges(conn, settings)
        flags = _risk_flags(edges, settings, as_of)
        q = (sa.select(*(edges.c[c.name] for c in store.dependency_edges.columns),
                       *(flag.label(name) for name, flag in flags.items()))
             .order_by(edges.c.blocker_key, edges.c.blocked_key))
        return read_frame(conn, q)


def at_risk_by_squad_pair(engine: Engine, settings: Settings, as_of: date) -> list[tuple[str, str, int]]:
    """(blocker squad, blocked squad, open dependencies at risk as of ``as_of``) for every pair with any: what
    ``dependency_risk`` marks ``at_risk``, counted in the database (the scorecard needs no rows)."""
    if not store.database_exists(engine):
        return []
    with engine.connect() as conn:
        edges = _edges(conn, settings)
        q = (sa.select(edges.c.blocker_squad, edges.c.blocked_squad, sa.func.count())
             .where(_risk_flags(edges, settings, as_of)["at_risk"])
             .group_by(edges.c.blocker_squad, edges.c.blocked_squad))
        return [tuple(row) for row in conn.execute(q)]


def _components(nodes: list[str], blockers_of: dict[str, list[str]]) -> dict[str, int]:
    """Strongly connected components (iterative Tarjan): node -> component number."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    comp: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = 0
    done = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(blockers_of.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(blockers_of.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp[member] = done
                    if member == node:
                        break
                done += 1
    return comp


def _cycle_order(members: set[str], blocks: dict[str, list[str]]) -> list[str]:
    """The members in blocking order from the smallest key (exact for a simple cycle; a walk otherwise)."""
    start = min(members)
    order, node = [start], start
    while True:
        nxt = sorted(b for b in blocks.get(node, ()) if b in members and (b not in order or b == start))
        if not nxt or nxt[0] == start:
            break
        node = nxt[0]
        order.append(node)
    return order + sorted(members - set(order))


def _chains(edges: list[tuple[str, str]]) -> tuple[dict[str, int], list[list[str]], set[str]]:
    """(depth per key, cycles, keys in a cycle) of the blocker -> blocked graph."""
    blockers_of: dict[str, list[str]] = defaultdict(list)
    blocks: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        blockers_of[b].append(a)
        blocks[a].append(b)
    nodes = sorted({k for e in edges for k in e})
    comp = _components(nodes, blockers_of)
    members: dict[int, set[str]] = defaultdict(set)
    for node, c in comp.items():
        members[c].add(node)
    cyclic = {c for c, m in members.items() if len(m) > 1 or any(n in blockers_of[n] for n in m)}
    cycles = sorted(_cycle_order(members[c], blocks) for c in cyclic)
    # Tarjan numbers components in reverse topological order of the blocked-by graph: a
    # component's blockers are finished first, so a single pass in that order sees them done.
    depth: dict[str, int] = {}
    for c in sorted(members):
        for node in sorted(members[c]):
            outside = [1 + depth[b] for b in blockers_of[node] if comp[b] != c]
            inside = [1 for b in blockers_of[node] if comp[b] == c]
            depth[node] = max(outside + inside, default=0)
    return depth, cycles, {n for c in cyclic for n in members[c]}


def _reason(row: Any, as_of: date) -> str | None:
    """Why a dependency is at risk, in words (e.g. "lands 9 days late; stale: no update for 15 days")."""
    parts = []
    if row.late:
        parts.append(f"lands {(row.land_date - row.need_date).days} days late")
    if row.unscheduled:
        parts.append("blocker has no due date or dated fix version")
    if row.stale:
        parts.append(f"stale: no update for {(as_of - row.blocker_updated_at.date()).days} days")
    return "; ".join(parts) or None


def _fix_versions(engine: Engine, keys: list[str]) -> dict[str, set[str]]:
    t = store.work_item_tags
    found: dict[str, set[str]] = defaultdict(set)
    with engine.connect() as conn:
        for i in range(0, len(keys), 5000):
            q = sa.select(t.c.item_key, t.c.value).where(t.c.kind == "fix_version", t.c.item_key.in_(keys[i:i + 5000]))
            for key, version in conn.execute(q):
                found[key].add(version)
    return found


def dependency_risk(engine: Engine, settings: Settings, as_of: date, squads: tuple[str, ...] = (),
                    release: str | None = None) -> DependencyRisk:
    """Open dependencies as of ``as_of`` whose blocker or blocked squad is in ``squads`` (all when empty) and,
    when ``release`` is given, whose blocked item has that fix version. See the module docstring."""
    if not store.database_exists(engine):
        return DependencyRisk(pd.DataFrame(columns=COLUMNS))
    frame = _open_edges(engine, settings, as_of)
    if frame.empty:
        return DependencyRisk(pd.DataFrame(columns=COLUMNS))
    # Plain lists first: iterating pandas' Arrow-backed string columns costs ~1 µs a cell.
    depth, cycles, cyclic = _chains(list(zip(frame["blocker_key"].tolist(), frame["blocked_key"].tolist())))
    frame["cross_team"] = frame["blocker_squad"] != frame["blocked_squad"]
    for flag in ("late", "unscheduled", "stale", "at_risk"):
        frame[flag] = frame[flag].astype(bool)
    reasons = frame[["late", "unscheduled", "stale", "need_date", "land_date", "blocker_updated_at"]]
    frame["risk_reason"] = [_reason(r, as_of) for r in reasons.itertuples()]
    frame["depth"] = frame["blocked_key"].map(depth).astype(int)
    frame["blocker_depth"] = frame["blocker_key"].map(depth).astype(int)
    frame["in_cycle"] = frame["blocker_key"].isin(cyclic) & frame["blocked_key"].isin(cyclic)
    keep = pd.Series(True, index=frame.index)
    if squads:
        keep &= frame["blocker_squad"].isin(squads) | frame["blocked_squad"].isin(squads)
    if release:
        versions = _fix_versions(engine, sorted(set(frame["blocked_key"])))
        keep &= frame["blocked_key"].map(lambda k: release in versions.get(k, ()))
    rows = frame[keep][COLUMNS].reset_index(drop=True)
    selected = set(rows["blocker_key"]) | set(rows["blocked_key"])
    cycles = [c for c in cycles if selected & set(c)]
    return DependencyRisk(rows, cycles, _squad_pairs(rows))


def _squad_pairs(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    pairs = (rows.groupby(["blocker_squad", "blocked_squad"], as_index=False)
             .agg(open=("blocker_key", "size"), at_risk=("at_risk", "sum")))
    pairs["at_risk"] = pairs["at_risk"].astype(int)
    return pairs[PAIR_COLUMNS]


def release_options(engine: Engine, settings: Settings) -> list[str]:
    """Fix versions of items blocked by another item (for the page's release filter), earliest release first."""
    if not store.database_exists(engine):
        return []
    with engine.connect() as conn:
        found = catalog.blocked_releases(conn)
    return [v for v, _ in sorted(found, key=lambda x: (x[1] is None, x[1] or datetime.min, x[0]))]


def summary(result: DependencyRisk) -> dict[str, Any]:
    rows = result.rows
    count = lambda col: int(rows[col].sum()) if not rows.empty else 0  # noqa: E731
    return {"open": int(len(rows)), "cross_team": count("cross_team"), "late": count("late"),
            "unscheduled": count("unscheduled"), "stale": count("stale"), "at_risk": count("at_risk"),
            "cycles": result.cycles, "squad_pairs": frame_records(result.squad_pairs)}


def cli_result(engine: Engine, settings: Settings, params: MetricParams) -> dict[str, Any]:
    """The JSON object of `metrics dependencies`: ``--start``/``--end``/``--by`` do not apply (open as of ``--as-of``)."""
    result = dependency_risk(engine, settings, params.as_of, params.squads)
    return {"metric": NAME, "params": params.as_json(), "rows": frame_records(result.rows[ROW_COLUMNS]),
            "summary": summary(result)}

"""The deterministic demo data set: real-format export files, loaded through the real ingest path.

``write_demo`` generates the files (see ``demo.model`` for the organisation and the
stories built in); ``load_demo`` writes them and ingests each with
``delivery_health.ingest.ingest_file``, exactly as a user's exports would be.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

from sqlalchemy.engine import Engine

from delivery_health.demo import delivery, events, finance, incidents, jira, jira_csv, jira_json
from delivery_health.demo.model import Demo
from delivery_health.settings import DATA_DIR, Settings

DEFAULT_OUT = DATA_DIR / "demo_exports"


def write_demo(out_dir: str | Path = DEFAULT_OUT, seed: int = 7, as_of: date | None = None,
               scale: float = 1.0) -> list[Path]:
    """Write every demo export under ``out_dir``; returns the paths in ingest order.

    ``as_of`` (default: today, UTC) is the demo's "today"; ``scale`` shrinks the volumes
    (1.0 = ~25k issues and ~20k deployments) while keeping the stories.
    """
    out = Path(out_dir)
    demo = Demo(seed, as_of or datetime.now(timezone.utc).date(), scale)
    histories = delivery.generate(demo)
    found = incidents.generate(demo, histories)
    projects = jira.generate(demo, found)
    index = {i.key: i for p in projects for i in p.issues}
    paths: list[Path] = []
    csv_projects = [p for p in projects if p.squad.jira_format == "csv"]
    for n, project in enumerate(projects):
        if project.squad.jira_format == "csv":
            paths += jira_csv.write(demo, project, out, bom=n % 2 == 0)
        else:
            paths += jira_json.write(demo, project, index, out)
    paths.append(jira_csv.write_releases(demo, csv_projects, out))
    paths += delivery.write(demo, histories, out)
    paths += incidents.write(demo, found, out)
    paths += finance.write(demo, out)
    paths.append(events.write(demo, out))
    return paths


def iter_load_demo(engine: Engine, settings: Settings, seed: int = 7, as_of: date | None = None,
                   out_dir: str | Path | None = None, scale: float = 1.0) -> Iterator[str]:
    """Write the demo exports, then ingest them one by one, yielding one summary line per file."""
    from delivery_health.ingest import ingest_file

    t0 = time.perf_counter()
    paths = write_demo(out_dir or DEFAULT_OUT, seed=seed, as_of=as_of, scale=scale)
    t1 = time.perf_counter()
    for path in paths:
        yield ingest_file(engine, path, settings).summary_line()
    t2 = time.perf_counter()
    yield f"demo: {len(paths)} files generated in {t1 - t0:.1f}s, ingested in {t2 - t1:.1f}s"


def load_demo(engine: Engine, settings: Settings, seed: int = 7, as_of: date | None = None,
              out_dir: str | Path | None = None, scale: float = 1.0) -> list[str]:
    """Write and ingest the whole demo; the summary lines (one per file, then the timing)."""
    return list(iter_load_demo(engine, settings, seed=seed, as_of=as_of, out_dir=out_dir, scale=scale))

"""`make bench`: generate data sets, then measure ingest, the pages' queries and the pages in Chromium.

    python -m bench.run [--sizes 100k,1m] [--engine duckdb|postgresql|both] [--quick] [--repeats N]
                        [--repeat-budget SECONDS] [--no-browser]

Prints a table and writes the figures to artifacts/bench/results.json (and a timestamped copy).
Each ingest and each page's query set runs in a new process, so peak memory and "cold" are that process's own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import pg, report
from bench.generate import generate
from bench.measure import PAGES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "bench"
SETS_FILE = OUT / "page-query-sets.pickle"
SIZES = {"quick": 2_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
# Ingest order: issues first, then what refers to them.
FORMATS = ("jira-csv", "jira-json", "releases-csv", "deployments-csv", "github-actions-runs", "incidents-csv",
           "action-items-csv", "budget-csv", "spend-csv", "sows-csv")
# Server settings for the benchmark's throwaway PostgreSQL: room for sorts and hash joins of 1M rows.
PG_SETTINGS = ("shared_buffers=1GB", "work_mem=128MB", "maintenance_work_mem=512MB", "max_wal_size=4GB",
               "synchronous_commit=off", "full_page_writes=off")


def _child(*args: str, timeout: float = 3600) -> dict[str, Any]:
    """``python -m bench.measure ARGS`` in a new process; its JSON answer (subprocess.TimeoutExpired past
    ``timeout`` seconds)."""
    proc = subprocess.run([sys.executable, "-m", "bench.measure", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise RuntimeError(f"bench.measure {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def bench_engine(engine: str, url: str, data: Any, size: str, repeats: int, budget: float,
                 browser: bool, sets: dict[str, Any], page_timeout: float) -> dict[str, Any]:
    """Every measurement of one data set on one engine. ``sets``: the captured page query sets."""
    result: dict[str, Any] = {"ingest": {}, "queries": {}, "browser": None}
    for fmt in FORMATS:
        path = data.files[fmt]
        _log(f"{engine} {size}: ingest {fmt} ({path.stat().st_size / 1e6:.0f} MB)")
        m = _child("ingest", url, str(path), str(data.squads_csv))
        m["file_mb"] = path.stat().st_size / 1e6
        result["ingest"][fmt] = m
    _log(f"{engine} {size}: precompute the DORA building blocks (as every ingest ends)")
    result["refresh"] = _child("refresh", url, str(data.squads_csv))
    ref_db = OUT / "db" / f"reference-{size}.duckdb"
    ref_db.unlink(missing_ok=True)
    _log(f"{engine} {size}: DuckDB read_csv reference of the Jira CSV")
    result["reference"] = _child("reference", str(ref_db), str(data.files["jira-csv"]))
    ref_db.unlink(missing_ok=True)
    if engine == "postgresql":
        _log(f"{engine} {size}: PostgreSQL COPY reference of the Jira CSV")
        result["copy_reference"] = _child("copy-reference", url, str(data.files["jira-csv"]))
    for page in PAGES:
        _log(f"{engine} {size}: queries of page {page} (cold, then up to {repeats} warm repeats)")
        try:
            result["queries"][page] = _child("queries", url, str(data.squads_csv), str(SETS_FILE), page,
                                             str(repeats), str(budget), timeout=page_timeout)
        except subprocess.TimeoutExpired:
            _log(f"{engine} {size}: page {page}'s query set did not finish within {page_timeout:.0f} s")
            result["queries"][page] = {"timed_out": page_timeout}
    if browser:
        from bench import browser as chromium

        _log(f"{engine} {size}: pages in headless Chromium")
        result["browser"] = chromium.measure(url, str(data.squads_csv), {p: v["charts"] for p, v in sets.items()},
                                             timeout_s=page_timeout)
    return result


def capture_query_sets() -> dict[str, Any]:
    """Each page's ui.cached calls with its default filters, captured on the small data set: the calls depend on
    the filters' defaults (today's window, the squads, environments and currencies present), not on the volume."""
    data = generate(SIZES["quick"], OUT / "data" / "quick")
    db = OUT / "db" / "capture.duckdb"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    url = f"duckdb:///{db}"
    _log("capturing each page's ui.cached calls (AppTest, default filters, small data set)")
    for fmt in FORMATS:
        _child("ingest", url, str(data.files[fmt]), str(data.squads_csv))
    _child("refresh", url, str(data.squads_csv))
    return _child("capture", url, str(data.squads_csv), str(SETS_FILE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m", help="comma-separated: quick (2k), 100k, 1m, 10m")
    parser.add_argument("--engine", choices=["duckdb", "postgresql", "both"], default=None,
                        help="default: both when PostgreSQL's binaries exist, else duckdb")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke size only (same as --sizes quick)")
    parser.add_argument("--repeats", type=int, default=10, help="warm repeats of each page's query set")
    parser.add_argument("--repeat-budget", type=float, default=10.0,
                        help="seconds of warm repeats per page at most (at least one repeat is made)")
    parser.add_argument("--page-timeout", type=float, default=150.0,
                        help="seconds a page's whole query-set measurement may take before it is reported as timed out")
    parser.add_argument("--no-browser", action="store_true", help="skip the headless-Chromium page timings")
    args = parser.parse_args(argv)
    sizes = ["quick"] if args.quick else [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)} (one of {', '.join(SIZES)})")
    engine_choice = args.engine or ("both" if pg.available() else "duckdb")
    engines = ["duckdb", "postgresql"] if engine_choice == "both" else [engine_choice]
    if "postgresql" in engines and not pg.available():
        parser.error("PostgreSQL's initdb/pg_ctl are not installed (make system-deps installs them)")
    (OUT / "db").mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "sizes": {},
                           "machine": {"cpus": os.cpu_count()}, "engines": engines, "repeats": args.repeats}
    t_all = time.perf_counter()
    sets = capture_query_sets()
    partial = OUT / "results-partial.json"
    with ExitStack() as stack:
        server = stack.enter_context(pg.cluster(PG_SETTINGS)) if "postgresql" in engines else None
        for size in sizes:
            n = SIZES[size]
            _log(f"generating {size} ({n:,} issues)")
            t0 = time.perf_counter()
            data = generate(n, OUT / "data" / size)
            entry: dict[str, Any] = {"issues": n, "generate_seconds": time.perf_counter() - t0,
                                     "files": {k: {"path": str(p.relative_to(ROOT)), "mb": p.stat().st_size / 1e6}
                                               for k, p in data.files.items()}}
            for engine in engines:
                if engine == "duckdb":
                    db = OUT / "db" / f"bench-{size}.duckdb"
                    for stale in (db, db.with_suffix(".duckdb.wal")):
                        stale.unlink(missing_ok=True)
                    url = f"duckdb:///{db}"
                else:
                    url = pg.create_database(server, f"bench_{size}_{int(time.time())}")
                browser = not args.no_browser and size == sizes[-1]
                entry[engine] = bench_engine(engine, url, data, size, args.repeats, args.repeat_budget, browser, sets,
                                             args.page_timeout)
                run["sizes"][size] = entry
                partial.write_text(json.dumps(run, indent=2, default=str))  # figures so far, should a run be cut
    run["page_query_sets"] = sets
    run["total_seconds"] = time.perf_counter() - t_all
    run["growth"] = report.growth(run)
    run["targets"] = report.targets(run)
    text = report.render(run)
    print(text)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for name in ("results.json", f"results-{stamp}.json"):
        (OUT / name).write_text(json.dumps(run, indent=2, default=str))
    (OUT / "results.txt").write_text(text + "\n")
    print(f"\nFigures: {(OUT / 'results.json').relative_to(ROOT)} (and results-{stamp}.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

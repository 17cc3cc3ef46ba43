"""One measurement in its own process: an ingest, the refresh of the precomputed figures after it, the DuckDB
reference read, a page's query set, or the capture of the pages' query sets.

Run as ``python -m bench.measure KIND ...``; prints one JSON object on stdout. Peak memory is the
process's own high-water mark (``resource.getrusage``), so each measured ingest runs in a fresh process.
"""

from __future__ import annotations

import importlib
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Page name -> script, as `streamlit run app.py` serves them (the home page is app.py).
PAGES = {"home": "app.py", "dora": "pages/1_DORA_trends.py", "dependencies": "pages/2_Dependency_risk.py",
         "budget": "pages/3_Budget_burn.py", "actions": "pages/4_Action_items.py",
         "data_sources": "pages/5_Data_sources.py"}


def _peak_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child
    of a parent that held the 10M data set in memory reported the parent's 13 GB as its own peak."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024  # in kB
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def ingest(url: str, path: str, squads: str) -> dict[str, Any]:
    """The real loader: ``ingest_file`` parses and writes the file in one transaction."""
    from delivery_health import store
    from delivery_health.ingest import FORMATS, ingest_file, loader_for
    from delivery_health.settings import Settings

    # The clock times the load, not Python loading code (0.2 s): the loaders' modules, and pandas, which DuckDB
    # imports when it is first handed an Arrow table, are imported before it starts, as the reference's duckdb is.
    for fmt in FORMATS:
        loader_for(fmt)
    importlib.import_module("pandas")
    importlib.import_module("delivery_health.pg_copy")  # what a PostgreSQL write imports (numpy, pyarrow.compute)

    settings = Settings(db_url=url, squads_path=squads)
    engine = store.make_engine(url)
    before = _peak_mb()
    t0 = time.perf_counter()
    result = ingest_file(engine, path, settings)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return {"seconds": seconds, "peak_mb": _peak_mb(), "baseline_mb": before, "format": result.format,
            "read": result.read, "inserted": result.inserted, "updated": result.updated, "rejected": result.rejected}


def refresh(url: str, squads: str) -> dict[str, Any]:
    """What every writer runs after its files are in: the DORA building blocks precomputed (dora_facts)."""
    from delivery_health import store
    from delivery_health.metrics import dora_facts
    from delivery_health.settings import Settings

    engine = store.make_engine(url)
    before = _peak_mb()
    done = dora_facts.refresh(engine, Settings(db_url=url, squads_path=squads))
    engine.dispose()
    return {"seconds": done.seconds, "rows": done.rows, "peak_mb": _peak_mb(), "baseline_mb": before}


def reference(db_path: str, path: str) -> dict[str, Any]:
    """DuckDB's own CSV reader into a table of a fresh database file: the floor an ingest is compared with."""
    import duckdb

    before = _peak_mb()
    t0 = time.perf_counter()
    con = duckdb.connect(db_path)
    con.execute("CREATE TABLE reference AS SELECT * FROM read_csv(?)", [path])
    rows = con.execute("SELECT count(*) FROM reference").fetchone()[0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(), "baseline_mb": before, "read": rows}


def copy_reference(url: str, path: str) -> dict[str, Any]:
    """PostgreSQL's own bulk load of the same CSV: a new table of text columns and one COPY of the file into it,
    committed. What the server alone costs, the floor a PostgreSQL ingest can be compared with."""
    import csv

    import sqlalchemy as sa

    from delivery_health import store

    with open(path, newline="", encoding="utf-8") as fh:
        width = len(next(csv.reader(fh)))
    engine = store.make_engine(url)
    before = _peak_mb()
    t0 = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE TABLE "_bench_reference" ({", ".join(f"c{i} text" for i in range(width))})'))
        with open(path, "rb") as fh, conn.connection.driver_connection.cursor() as cur:
            cur.copy_expert('COPY "_bench_reference" FROM STDIN WITH (FORMAT csv, HEADER true)', fh, size=1 << 20)
            rows = cur.rowcount
    seconds = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE "_bench_reference"'))
    engine.dispose()
    return {"seconds": seconds, "peak_mb": _peak_mb(), "baseline_mb": before, "read": rows}


def capture(url: str, squads: str, out: str) -> dict[str, Any]:
    """Run every page once (Streamlit's AppTest, default filters) and record the calls it makes through
    ``ui.cached``: the page's query set, exactly as the page asks for it. Also counts its plotly charts."""
    import os
    import pickle

    os.environ["DELIVERY_HEALTH_DB"], os.environ["DELIVERY_HEALTH_SQUADS"] = url, squads
    from streamlit.testing.v1 import AppTest

    from delivery_health import ui

    original = ui.cached
    recorded: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def recording(func: Callable[..., Any], overrides: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        recorded.append((f"{func.__module__}.{func.__qualname__}", dict(overrides or {}), kwargs))
        return original(func, overrides=overrides, **kwargs)

    ui.cached = recording
    sets: dict[str, Any] = {}
    try:
        for page, script in PAGES.items():
            recorded.clear()
            at = AppTest.from_file(str(ROOT / script), default_timeout=900).run()
            if at.exception:
                raise RuntimeError(f"{script} raised: {at.exception[0].value}")
            calls = list(dict.fromkeys((f, tuple(sorted(o.items())), tuple(sorted(k.items()))) for f, o, k in recorded))
            sets[page] = {"calls": calls, "charts": len(at.get("plotly_chart"))}
    finally:
        ui.cached = original
    with open(out, "wb") as fh:
        pickle.dump(sets, fh)
    return {page: {"queries": len(v["calls"]), "charts": v["charts"]} for page, v in sets.items()}


def _resolve(func_path: str) -> Callable[..., Any]:
    import importlib

    module, name = func_path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def queries(url: str, squads: str, sets_file: str, page: str, repeats: int, budget_s: float) -> dict[str, Any]:
    """A page's query set, as the app runs it: cold, warm uncached, and warm through the cache.

    Cold: the first pass through ``ui.cached`` in this new process (empty cache, new engine), as a page's first
    view after the server starts. Warm: the same calls repeated directly (no cache, connections as the app
    makes them): ``repeats`` passes, fewer (at least 1) once they have taken ``budget_s`` seconds. Cached:
    passes through ``ui.cached`` again, which must all be cache hits.
    """
    import os
    import pickle
    from dataclasses import replace

    os.environ["DELIVERY_HEALTH_DB"], os.environ["DELIVERY_HEALTH_SQUADS"] = url, squads
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # bare mode warns that no app runs
    from delivery_health import store, ui
    from delivery_health.settings import Settings
    from delivery_health.warmup import load_app_modules

    load_app_modules(url)  # what `serve` loads before the first view
    with open(sets_file, "rb") as fh:
        captured = pickle.load(fh)[page]["calls"]
    base = Settings.from_env()
    # Named calls (a repeated function gets #2, #3): name, function, overrides, kwargs.
    calls: list[tuple[str, Callable[..., Any], dict[str, Any], dict[str, Any]]] = []
    for func_path, overrides, kwargs in captured:
        name = func_path.rsplit(".", 1)[1]
        n = sum(1 for c in calls if c[0].split("#")[0] == name)
        calls.append((f"{name}#{n + 1}" if n else name, _resolve(func_path), dict(overrides), dict(kwargs)))
    per: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for name, func, overrides, kwargs in calls:
        t = time.perf_counter()
        ui.cached(func, overrides=overrides, **kwargs)
        per[name] = {"cold": time.perf_counter() - t, "warm": []}
    cold = time.perf_counter() - t0
    # Connections as the app makes them (ui._call): on DuckDB one per call, the file kept open between calls.
    if store.duckdb_file(url) is not None:
        from delivery_health.readers import SharedReadOnly

        reader = SharedReadOnly(url, base.keep_open_seconds)
        call_engine = reader.engine
    else:
        pooled = store.make_engine(url)
        call_engine = lambda: nullcontext(pooled)  # noqa: E731
    totals: list[float] = []
    t_warm = time.perf_counter()
    while len(totals) < repeats and (not totals or time.perf_counter() - t_warm < budget_s):
        t_set = time.perf_counter()
        for name, func, overrides, kwargs in calls:
            t = time.perf_counter()
            with call_engine() as engine:
                func(engine, replace(base, **overrides), **kwargs)
            per[name]["warm"].append(time.perf_counter() - t)
        totals.append(time.perf_counter() - t_set)
    for m in per.values():
        warm = m.pop("warm")
        m.update(warm_median=statistics.median(warm), warm_p95=_p95(warm))
    return {"page": page, "cold": cold, "repeats": len(totals), "warm_median": statistics.median(totals),
            "warm_p95": _p95(totals), "cached_hit": _cached_hits(calls, max(3, min(repeats, 10))), "per_query": per}


def _cached_hits(calls: list[tuple[str, Callable[..., Any], dict[str, Any], dict[str, Any]]],
                 repeats: int) -> dict[str, Any]:
    """Passes through ``ui.cached`` (st.cache_data keyed on the arguments, the settings overrides and the data
    version) after the cache was filled: each must be a hit. The metric functions are wrapped to count their
    executions, and a hit runs none. Each pass still reads the data version (ui.data_version)."""
    import importlib

    from delivery_health import ui

    runs = {"n": 0}
    originals = {}
    for _, func, _, _ in calls:
        module = importlib.import_module(func.__module__)
        originals[(module, func.__name__)] = getattr(module, func.__name__)

        def counting(*args: Any, _f: Callable[..., Any] = func, **kw: Any) -> Any:
            runs["n"] += 1
            return _f(*args, **kw)
        setattr(module, func.__name__, counting)
    passes = []
    try:
        for _ in range(repeats):
            t = time.perf_counter()
            for _, func, overrides, kwargs in calls:
                ui.cached(func, overrides=overrides, **kwargs)
            passes.append(time.perf_counter() - t)
    finally:
        for (module, attr), original in originals.items():
            setattr(module, attr, original)
    t = time.perf_counter()
    ui.data_version()
    version_s = time.perf_counter() - t
    return {"median": statistics.median(passes), "p95": _p95(passes), "repeats": repeats,
            "metric_calls_after_first_pass": runs["n"], "hit": runs["n"] == 0, "data_version_seconds": version_s}


def main(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "ingest":
        out = ingest(*args)
    elif kind == "reference":
        out = reference(*args)
    elif kind == "copy-reference":
        out = copy_reference(*args)
    elif kind == "refresh":
        out = refresh(*args)
    elif kind == "capture":
        out = capture(*args)
    elif kind == "queries":
        url, squads, sets_file, page, repeats, budget = args
        out = queries(url, squads, sets_file, page, int(repeats), float(budget))
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])

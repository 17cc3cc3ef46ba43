"""`python -m delivery_health ...`: ingest, demo, metrics and the rest, the same functions the pages call."""

from __future__ import annotations

import argparse
import importlib
import sys
from datetime import date
from pathlib import Path

from delivery_health import store
from delivery_health.settings import Settings

# metric name -> module exposing `cli_result(engine, settings, params) -> dict`
METRICS: dict[str, str] = {
    "dora": "delivery_health.metrics.dora",
    "dependencies": "delivery_health.metrics.dependencies",
    "budget": "delivery_health.metrics.budget",
    "actions": "delivery_health.metrics.actions",
}


def _available_metrics() -> list[str]:
    return [name for name, mod in METRICS.items() if importlib.util.find_spec(mod) is not None]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m delivery_health", description="Delivery Health command line")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="SQLAlchemy URL of the store (default: $DELIVERY_HEALTH_DB or the DuckDB file in data/)")
    common.add_argument("--squads", help="squad-mapping CSV (default: $DELIVERY_HEALTH_SQUADS or data/squads.csv)")
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", parents=[common], help="load export files (format sniffed from content)")
    ing.add_argument("paths", nargs="+", metavar="PATH")
    ing.add_argument("--format", help="force a format instead of sniffing")

    demo = sub.add_parser("demo", parents=[common], help="write the demo exports and load them")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--as-of", type=date.fromisoformat, help="the demo's 'today' (default: today, UTC)")
    demo.add_argument("--out", type=Path, help="where to write the export files (default: data/demo_exports)")
    demo.add_argument("--if-empty", action="store_true", help="do nothing when the store already holds data")

    met = sub.add_parser("metrics", parents=[common], help="print a metric as json, csv or a table")
    met.add_argument("metric", choices=_available_metrics())
    met.add_argument("--start", type=date.fromisoformat)
    met.add_argument("--end", type=date.fromisoformat, help="inclusive")
    met.add_argument("--as-of", type=date.fromisoformat)
    met.add_argument("--by", choices=["week", "month", "quarter"], default="week",
                     help="trend period; quarters follow DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH")
    met.add_argument("--squad", action="append", default=[], help="repeatable; default all squads")
    met.add_argument("--format", choices=["json", "csv", "table"], default="table")

    sub.add_parser("refresh", parents=[common],
                   help="precompute the DORA figures and the data catalogue again (e.g. after editing the squad mapping)")

    rep = sub.add_parser("report", parents=[common], help="write the quarterly review pack as HTML or PDF")
    rep.add_argument("--quarter", required=True, help="quarter, e.g. 2026Q3; the year is the fiscal year when "
                     "DELIVERY_HEALTH_FISCAL_YEAR_START_MONTH is set (FY2027Q1)")
    rep.add_argument("--out", required=True, type=Path, help="FILE.html or FILE.pdf: the extension picks the format")
    rep.add_argument("--squad", action="append", default=[], help="repeatable; default all squads")
    rep.add_argument("--as-of", type=date.fromisoformat, help="'today' for a quarter in progress (default: today, UTC)")

    srv = sub.add_parser("serve", parents=[common], help="serve the app: streamlit run app.py, its modules loaded first")
    srv.add_argument("--port", type=int, default=8501)
    srv.add_argument("--address", default="localhost", help="interface to listen on (0.0.0.0: every one)")
    srv.add_argument("streamlit_options", nargs=argparse.REMAINDER,
                     help="further `streamlit run` options after `--`, e.g. -- --server.headless true")

    syn = sub.add_parser("sync", help="fetch from a live source into the store").add_subparsers(dest="source", required=True)
    sj = syn.add_parser("jira", parents=[common], help="Jira Cloud or Data Center issues of a JQL query, incrementally")
    sj.add_argument("--server", help="Jira base URL (default: server in [jira] of .streamlit/secrets.toml)")
    sj.add_argument("--jql", required=True, help='e.g. "project in (ABC, XYZ)"')
    sj.add_argument("--since", type=date.fromisoformat, help="only issues updated on or after this date (overrides the last sync)")
    sj.add_argument("--page-size", type=int, default=100, help="issues asked for per search page")
    return p


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from delivery_health.ingest import IngestError, ingest_file

    engine = store.make_engine(settings.db_url)
    failed = 0
    for path in args.paths:
        try:
            result = ingest_file(engine, path, settings, fmt=args.format)
        except IngestError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        print(result.summary_line())
    _refresh_derived(settings)
    return 1 if failed else 0


def _refresh_derived(settings: Settings) -> None:
    """After writing data: precompute what the pages read (nothing when it is already current)."""
    from delivery_health.metrics import dora_facts

    done = dora_facts.refresh_if_stale(settings.db_url, settings)
    if done is not None:
        print(done.summary_line())


def _cmd_refresh(args: argparse.Namespace, settings: Settings) -> int:
    from delivery_health.metrics import dora_facts

    engine = store.make_engine(settings.db_url)
    if not store.database_exists(engine):
        print(f"error: no Delivery Health store at {settings.db_url} (run ingest or demo first)", file=sys.stderr)
        return 2
    print(dora_facts.refresh(engine, settings).summary_line())
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from delivery_health import demo

    engine = store.make_engine(settings.db_url)
    if args.if_empty and not store.is_empty(engine):
        print("the store already holds data: demo not loaded")
        return 0
    for line in demo.load_demo(engine, settings, seed=args.seed, as_of=args.as_of, out_dir=args.out):
        print(line)
    _refresh_derived(settings)
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """`streamlit run app.py` in this process, once the app's modules and database dialect are loaded
    (``warmup.load_app_modules``): the first visitor after a start does not wait for them (1.1 s of the home
    page's first visit at 1M issues)."""
    import os

    from streamlit.web import cli as streamlit_cli

    from delivery_health.warmup import load_app_modules

    load_app_modules(settings.db_url)
    # The app reads its settings from the environment: --db and --squads reach it that way.
    os.environ["DELIVERY_HEALTH_DB"], os.environ["DELIVERY_HEALTH_SQUADS"] = settings.db_url, settings.squads_path
    options = [o for o in args.streamlit_options if o != "--"]
    app = Path(__file__).resolve().parent.parent / "app.py"
    return streamlit_cli.main(["run", str(app), "--server.port", str(args.port), "--server.address", args.address,
                               *options], prog_name="streamlit")


def _cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from delivery_health.metrics.params import MetricParams
    from delivery_health.render import render

    kwargs = {"start": args.start, "end": args.end, "by": args.by, "squads": tuple(args.squad)}
    if args.as_of:
        kwargs["as_of"] = args.as_of
    params = MetricParams(**kwargs)
    engine = store.make_engine(settings.db_url, read_only=settings.db_url.startswith("duckdb"))
    if not store.database_exists(engine):
        print(f"error: no Delivery Health store at {settings.db_url} (run ingest or demo first)", file=sys.stderr)
        return 2
    result = importlib.import_module(METRICS[args.metric]).cli_result(engine, settings, params)
    sys.stdout.write(render(result, args.format))
    return 0


def _cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    from delivery_health.sync.run import run_cli

    code = run_cli(args, settings)
    if code == 0:
        _refresh_derived(settings)
    return code


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from delivery_health.report import FORMATS, ReportError, build_report, parse_quarter

    fmt = args.out.suffix.lower().lstrip(".")
    try:
        parse_quarter(args.quarter, settings.fiscal_year_start_month)
        if fmt not in FORMATS:
            raise ReportError(f"--out {args.out}: the file name must end in .html or .pdf")
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = store.make_engine(settings.db_url, read_only=settings.db_url.startswith("duckdb"))
    if not store.database_exists(engine):
        print(f"error: no Delivery Health store at {settings.db_url} (run ingest or demo first)", file=sys.stderr)
        return 2
    try:
        data = build_report(engine, settings, args.quarter, fmt, squads=tuple(args.squad), as_of=args.as_of)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"{args.out}: quarterly review {args.quarter.strip().upper()} ({fmt}, {len(data):,} bytes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env(db_url=args.db, squads_path=args.squads)
    handler = {"ingest": _cmd_ingest, "demo": _cmd_demo, "metrics": _cmd_metrics, "sync": _cmd_sync,
               "report": _cmd_report, "refresh": _cmd_refresh, "serve": _cmd_serve}[args.command]
    return handler(args, settings)

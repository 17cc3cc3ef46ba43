"""The quarterly review pack end to end: fixture exports -> DuckDB file -> `report` CLI (subprocess) -> HTML/PDF.

The store holds the metric tests' own fixture files (tests/fixtures/dora, dependencies, budget,
actions), with one squad mapping joining their four. The actions incidents load after the DORA
ones and replace those of the same ids (INC-1..INC-5), so the only incident before April 2024 is
INC-0 (search, 2024-03-01 09:00-11:00). In the dependencies Jira CSV, APP-2's summary is
replaced by ``<script>alert(1)</script>``.

Hand-computed figures (besides "equal to the CLI's"):
- 2024Q1 DORA (91 days): 8 production deployments (P1, P5, P6, P7, S1, S2, S3, L1): 8 / 91 × 7 per
  week; rework 1 (P6) / 8; INC-0 is 52 days after S3, the last search deployment: attributed to
  none, so change failure rate 0 / 8 and recovery 2 h; lead times 0 (c5, clamped), 2, 12, 24, 24, 24,
  24, 36 h: median 24 h. 2023Q4: only P0 (1 / 92 × 7 per week, c0 shipped after 24 h).
- Dependencies as of 2024-03-31: 3 at risk: APP-2 (needed 2024-07-01) waits on APP-1 landing in 1.0
  (2024-07-10): late; WEB-1 (release 2.0, 2024-07-01) waits on API-1 due 2024-07-05: late; APP-4
  (needed by 1.0, 2024-07-10) waits on APP-3 with no date: unscheduled. Nothing stale (every
  blocker was updated in June, after the as-of date).
- 2024Q2 as of 2024-05-20 (in progress), action items created 04-01..05-20: A-1..A-8 = 8; resolved by
  05-20: A-1, A-2 (05-20 12:00), A-3, A-6 = 4, closure 0.5; overdue: A-4 (due 05-01, open) = 1;
  repeat incidents: INC-2 (checkout, 05-10) while A-2 and A-4 of INC-1 were open = 1.
- Scorecard, 2024Q2 as of 2024-05-20, squad Search: action items created 04-01..05-20: A-3, A-6 (resolved
  04-06, 05-15) and A-8 (resolved 06-20, after the as-of date): closure 2 / 3; 2024Q1: A-9 resolved
  03-05: 1 / 1. Budget (USD, scopes search/Search): planned to date 4 x 100 + 100 x 20/31 (May pro rata)
  = 464.52, burn 300 + 250 + 100 = 650: variance (650 - 464.52) / 464.52 = +39.9 %; as of 03-31 plan
  300, burn 550: +83.3 %. No tier (the search service's deployments are the first rule's, discovery's),
  no at-risk dependency. The organisation's closure is the 4 / 8 above (previous: A-9, 1 / 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from delivery_health import cli, selection, store
from delivery_health.charts.scorecard import COLUMNS_EXPLAINED, LINKS, scorecard_table
from delivery_health.ingest import ingest_file
from delivery_health.metrics import quarterly
from delivery_health.metrics.budget import FIGURES
from delivery_health.report import ReportError, build_report, parse_quarter
from delivery_health.report.content import previous_window, quarter_window
from delivery_health.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).resolve().parent / "fixtures"
XSS = "<script>alert(1)</script>"
FILES = ["dora/deployments.csv", "dora/commits.csv", "dora/incidents.csv", "dependencies/jira_search.json",
         "dependencies/releases.csv", "budget/budget.csv", "budget/spend.csv", "budget/sows.csv",
         "actions/action_items.csv", "actions/incidents.csv"]
# headline key -> the column of `metrics dora` rows it shows
DORA_COLUMNS = {"deployment_frequency": "deploys_per_week", "lead_time": "lead_time_median_hours",
                "change_failure_rate": "change_failure_rate", "recovery_time": "recovery_median_hours",
                "rework_rate": "rework_rate"}


class _Figures(HTMLParser):
    """data-key -> data-value of every element carrying one; the text of each <script>; all text outside scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-key" in a:
            assert a["data-key"] not in self.values, f"duplicate data-key {a['data-key']}"
            self.values[a["data-key"]] = a.get("data-value")
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


class _Scorecard(HTMLParser):
    """The ids of the pack's sections in order, and the text of each cell of the scorecard section's table."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.sections.append(dict(attrs)["id"])
        elif tag == "tr" and self.sections[-1:] == ["scorecard"]:
            self.rows.append([])
        elif tag in ("th", "td") and self.sections[-1:] == ["scorecard"]:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _charts(page: str) -> dict[str, tuple[list, dict]]:
    """data-chart key -> (traces, layout): the JSON arguments of the Plotly.newPlot call in each chart's div."""
    decoder = json.JSONDecoder()
    out = {}
    for part in page.split('<div class="chart" data-chart="')[1:]:
        key, rest = part[:part.index('"')], part[part.rindex("Plotly.newPlot(") + len("Plotly.newPlot("):]
        args = []
        for _ in range(3):  # the div's id, the traces, the layout
            value, end = decoder.raw_decode(rest.lstrip(" \n\t,"))
            args.append(value)
            rest = rest.lstrip(" \n\t,")[end:]
        out[key] = (args[1], args[2])
    return out


def _parse(path: Path) -> _Figures:
    parser = _Figures()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _num(v: str | None) -> float | None:
    return None if v in (None, "") else float(v)


def _same(report_value: str | None, cli_value) -> bool:
    if cli_value is None:
        return report_value == ""
    if isinstance(cli_value, str):
        return report_value == cli_value
    return _num(report_value) == pytest.approx(cli_value)


def _load(url: str, tmp: Path) -> str:
    """Ingest the fixture files (APP-2's summary made a script tag) into ``url``; returns the squads CSV path."""
    squads = tmp / "squads.csv"
    rules = [line for d in ("dora", "dependencies", "budget", "actions")
             for line in (FIX / d / "squads.csv").read_text().splitlines()[1:] if line.strip()]
    squads.write_text("squad,source,match\n" + "\n".join(rules) + "\n")
    jira = tmp / "jira_outward_only.csv"
    jira.write_text((FIX / "dependencies" / "jira_outward_only.csv").read_text().replace("Login page", XSS))
    settings = Settings(db_url=url, squads_path=str(squads))
    engine = store.make_engine(url)
    for path in [FIX / f for f in FILES[:3]] + [jira] + [FIX / f for f in FILES[3:]]:
        ingest_file(engine, path, settings)
    engine.dispose()
    return str(squads)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory) -> tuple[str, str]:
    tmp = tmp_path_factory.mktemp("report")
    url = f"duckdb:///{tmp / 'store.duckdb'}"
    return url, _load(url, tmp)


def _report(store_url: tuple[str, str], out: Path, *extra: str) -> subprocess.CompletedProcess:
    url, squads = store_url
    return subprocess.run([sys.executable, "-m", "delivery_health", "report", "--db", url, "--squads", squads,
                           "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def reports(store_url, tmp_path_factory) -> dict[str, Path]:
    """2024Q1 as HTML and PDF, 2024Q2 as HTML as of 2024-05-20 (a quarter in progress), all through the CLI."""
    out = tmp_path_factory.mktemp("packs")
    made = {}
    for name, args in (("q1.html", ["--quarter", "2024Q1"]), ("q1.pdf", ["--quarter", "2024q1"]),
                       ("q2.html", ["--quarter", "2024Q2", "--as-of", "2024-05-20"])):
        proc = _report(store_url, out / name, *args)
        assert proc.returncode == 0, proc.stderr
        made[name] = out / name
    return made


def _metrics(store_url: tuple[str, str], capsys, *args: str) -> dict:
    url, squads = store_url
    capsys.readouterr()
    assert cli.main(["metrics", *args, "--db", url, "--squads", squads, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_parse_quarter_gives_calendar_quarters():
    assert parse_quarter("2026Q3") == (date(2026, 7, 1), date(2026, 9, 30))
    assert parse_quarter("2024Q1") == (date(2024, 1, 1), date(2024, 3, 31))
    assert parse_quarter("2025-q4") == (date(2025, 10, 1), date(2025, 12, 31))
    for bad in ("2026Q5", "2026Q0", "Q3 2026", "2026", "", "2026-07", "0000Q1"):
        with pytest.raises(ReportError, match="expected YYYYQn"):
            parse_quarter(bad)


def test_fiscal_quarters_and_the_one_before():
    # Fiscal year from February: FY2027 Q1 = Feb-Apr 2026; the quarter before it crosses the year (Nov-Jan).
    assert parse_quarter("FY2027Q1", fiscal_start=2) == (date(2026, 2, 1), date(2026, 4, 30))
    q = quarter_window("FY2027 Q1", date(2026, 3, 15), fiscal_start=2)
    assert (q.label, q.as_of) == ("FY2027 Q1", date(2026, 3, 15))
    before = previous_window(q, fiscal_start=2)
    assert (before.label, before.start, before.end, before.as_of) == (
        "FY2026 Q4", date(2025, 11, 1), date(2026, 1, 31), date(2026, 1, 31))
    with pytest.raises(ReportError, match=r"the year is the fiscal year\), e.g. FY2027Q1"):
        parse_quarter("2026Q5", fiscal_start=7)


def test_html_and_pdf_are_written(reports):
    html = reports["q1.html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and len(html) > 10_000
    # Self-contained: plotly.js is inlined exactly once and nothing is fetched from elsewhere.
    assert html.count("plotly.js v") == 1 and 'src="http' not in html
    pdf = reports["q1.pdf"].read_bytes()
    assert pdf.startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(reports["q1.pdf"])], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 4  # a page per section at least


def test_pdf_shows_the_charts(reports, tmp_path):
    """Charts are drawn by plotly.js at print time: the printed pages must hold the deployments bars' blue."""
    subprocess.run(["pdftoppm", "-r", "30", str(reports["q1.pdf"]), str(tmp_path / "page")], check=True)
    blue = 0
    for ppm in sorted(tmp_path.glob("page*.ppm")):
        data = ppm.read_bytes()
        _, dims, _, pixels = data.split(b"\n", 3)  # P6 header: magic, "w h", maxval, then RGB bytes
        w, h = map(int, dims.split())
        pixels = pixels[-w * h * 3:]
        blue += sum(1 for i in range(0, len(pixels), 3)
                    if abs(pixels[i] - 0x1F) < 24 and abs(pixels[i + 1] - 0x77) < 24 and abs(pixels[i + 2] - 0xB4) < 24)
    assert blue > 200  # #1f77b4, plotly's bar colour here; no text or table of the pack uses it


def test_dora_figures_equal_the_cli(reports, store_url, capsys):
    got = _parse(reports["q1.html"]).values
    for label, start, end, field in (("2024Q1", "2024-01-01", "2024-03-31", "value"),
                                     ("2023Q4", "2023-10-01", "2023-12-31", "previous")):
        result = _metrics(store_url, capsys, "dora", "--start", start, "--end", end, "--by", "quarter")
        total = next(r for r in result["rows"] if r["squad"] is None)
        for key, col in DORA_COLUMNS.items():
            assert _same(got[f"dora.{key}.{field}"], total[col]), (label, key)
        tiers = next(t for t in result["tiers"] if t["squad"] is None)
        for key in ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"):
            assert _same(got[f"dora.{key}.{'tier' if field == 'value' else 'previous_tier'}"], tiers[key])
        if label == "2024Q1":  # per-squad tiers
            for t in result["tiers"]:
                for key in ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"):
                    assert _same(got[f"dora.tier.{t['squad'] or '(all)'}.{key}"], t[key])
    # Hand-computed (module docstring).
    assert _num(got["dora.deployment_frequency.value"]) == pytest.approx(8 / 91 * 7)
    assert _num(got["dora.deployment_frequency.previous"]) == pytest.approx(1 / 92 * 7)
    assert _num(got["dora.deployment_frequency.change"]) == pytest.approx(8 / 91 * 7 - 1 / 92 * 7)
    assert _num(got["dora.lead_time.value"]) == 24.0 and _num(got["dora.recovery_time.value"]) == 2.0
    assert _num(got["dora.change_failure_rate.value"]) == 0.0 and _num(got["dora.rework_rate.value"]) == 0.125
    assert got["dora.recovery_time.previous"] == "" and got["dora.recovery_time.change"] == ""


def test_dependency_figures_equal_the_cli(reports, store_url, capsys):
    got = _parse(reports["q1.html"]).values
    summary = _metrics(store_url, capsys, "dependencies", "--as-of", "2024-03-31")["summary"]
    for key in ("open", "at_risk", "late", "unscheduled", "stale", "cross_team"):
        assert _same(got[f"dependencies.{key}"], summary[key]), key
    assert _same(got["dependencies.cycles"], len(summary["cycles"]))
    assert (got["dependencies.at_risk"], got["dependencies.late"], got["dependencies.unscheduled"],
            got["dependencies.stale"]) == ("3", "2", "1", "0")


def test_budget_figures_equal_the_cli(reports, store_url, capsys):
    got = _parse(reports["q1.html"]).values
    result = _metrics(store_url, capsys, "budget", "--as-of", "2024-03-31")
    assert result["params"]["period_start"] == "2024-01-01" and result["params"]["period_end"] == "2024-12-31"
    for t in result["summary"]["totals"]:
        for key in FIGURES:
            assert _same(got[f"budget.{t['currency']}.{key}"], t[key]), (t["currency"], key)
    assert len(result["rows"]) == 5  # PAY, payments (EUR and USD), platform, Search
    for row in result["rows"]:
        for key in FIGURES:
            assert _same(got[f"budget.scope.{row['scope']}.{row['currency']}.{key}"], row[key]), (row, key)
    previous = _metrics(store_url, capsys, "budget", "--as-of", "2023-12-31")["summary"]["totals"]
    for t in previous:
        for key in FIGURES:
            assert _same(got[f"budget.previous.{t['currency']}.{key}"], t[key])


def _action_figures(result: dict) -> dict:
    totals = [r for r in result["rows"] if r["squad"] is None]
    items, resolved = sum(r["items"] for r in totals), sum(r["resolved"] for r in totals)
    due, on_time = sum(r["with_due_date"] for r in totals), sum(r["resolved_on_time"] for r in totals)
    return {"items": items, "resolved": resolved, "closure_rate": resolved / items if items else None,
            "on_time_closure_rate": on_time / due if due else None,
            "overdue": len(result["summary"]["overdue_items"]),
            "repeat_incidents": len(result["summary"]["repeat_incidents"])}


def test_action_item_figures_equal_the_cli(reports, store_url, capsys):
    got = _parse(reports["q2.html"]).values
    now = _action_figures(_metrics(store_url, capsys, "actions", "--start", "2024-04-01", "--end", "2024-05-20",
                                   "--as-of", "2024-05-20", "--by", "month"))
    before = _action_figures(_metrics(store_url, capsys, "actions", "--start", "2024-01-01", "--end", "2024-03-31",
                                      "--as-of", "2024-03-31", "--by", "month"))
    for key in now:
        assert _same(got[f"actions.{key}"], now[key]), key
        assert _same(got[f"actions.previous.{key}"], before[key]), key
    assert (now["items"], now["resolved"], now["closure_rate"], now["overdue"], now["repeat_incidents"]) == (
        8, 4, 0.5, 1, 1)
    rows = _metrics(store_url, capsys, "actions", "--start", "2024-04-01", "--end", "2024-05-20",
                    "--as-of", "2024-05-20", "--by", "month")["rows"]
    assert len(rows) == 6  # April and May: Payments, Search and all selected
    for row in rows:
        for key in ("items", "resolved", "closure_rate", "on_time_closure_rate", "overdue",
                    "time_to_close_median_hours"):
            assert _same(got[f"actions.cohort.{row['period_start']}.{row['squad'] or '(all)'}.{key}"], row[key])
    assert _num(got["actions.target"]) == 0.85


def test_quarter_in_progress_is_measured_to_the_as_of_date(reports):
    page = _parse(reports["q2.html"])
    assert page.values["report.quarter"] == selection.quarter_label(date(2024, 4, 1))
    assert "The quarter is in progress: figures are as of 2024-05-20." in "".join(page.text)


def test_export_text_is_escaped_never_markup(reports):
    raw = reports["q1.html"].read_text(encoding="utf-8")
    page = _parse(reports["q1.html"])
    assert XSS not in raw and "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert XSS in page.text  # shown as the at-risk item's text, in its own cell
    assert not any("alert(1)" in script for script in page.scripts)


def test_empty_store_explains_every_section(tmp_path):
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    engine = store.make_engine(url)
    store.init_db(engine)
    settings = Settings(db_url=url, squads_path=str(tmp_path / "squads.csv"))
    html = build_report(engine, settings, "2026Q3", "html", as_of=date(2026, 11, 29)).decode("utf-8")
    path = tmp_path / "empty.html"
    path.write_text(html, encoding="utf-8")
    page = _parse(path)
    text = " ".join(page.text)
    assert "The store holds no data yet" in text
    q3 = selection.quarter_label(date(2026, 7, 1))  # the app's spelling of 2026Q3
    assert f"No production deployments, deployment attempts or incidents in {q3}" in text
    assert "No open dependencies as of 2026-09-30" in text
    assert "No budget lines, spend lines or vendor SOWs for Jan 2026 – Dec 2026" in text
    assert f"No incident action items were created in {q3}" in text
    # Explanations, not zeros: no figure is shown and no chart (so no plotly.js either).
    assert "No DORA tiers, at-risk dependencies, budget lines or action items for " in text
    assert set(page.values) == {"report.quarter", "store.empty", "scorecard.empty", "dora.empty", "dependencies.empty", "budget.empty",
                                "actions.empty"}
    assert "plotly" not in html.lower()


def test_bad_requests_fail_clearly(store_url, tmp_path):
    for args, message in ((["--quarter", "2026Q5"], "invalid quarter '2026Q5'"),
                          (["--quarter", "2999Q1"], "quarter 2999Q1 has not started yet"),
                          (["--quarter", "2024Q1", "--out", str(tmp_path / "pack.docx")], "must end in .html or .pdf")):
        out = tmp_path / "pack.html"
        proc = _report(store_url, out, *args)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
        assert not out.exists() and not (tmp_path / "pack.docx").exists()


def test_same_figures_on_postgresql(store_url, pg_url, tmp_path):
    """Nothing in the pack depends on the engine: the same exports in PostgreSQL give the DuckDB file's figures."""
    url, squads = store_url
    pg_squads = _load(pg_url, tmp_path)
    figures = {}
    for name, db, mapping in (("duckdb", url, squads), ("postgresql", pg_url, pg_squads)):
        engine = store.make_engine(db, read_only=db.startswith("duckdb"))
        settings = Settings(db_url=db, squads_path=mapping)
        path = tmp_path / f"{name}.html"
        path.write_bytes(build_report(engine, settings, "2024Q1", "html"))
        engine.dispose()
        figures[name] = _parse(path).values
    duck, pg = figures["duckdb"], figures["postgresql"]
    assert len(duck) > 100 and set(duck) == set(pg)
    for key, value in duck.items():
        try:
            float(value)
        except (TypeError, ValueError):
            assert pg[key] == value, key
        else:
            assert float(pg[key]) == pytest.approx(float(value)), key


def test_scorecard_comes_first_and_equals_the_home_pages(reports, store_url):
    """The pack's first section is ``quarterly.squad_scorecard`` for the quarter as of the pack's today, shown
    as the home page's ``scorecard_table`` (without its app link), with the home page's explanation."""
    url, squads = store_url
    engine = store.make_engine(url, read_only=True)
    card = quarterly.squad_scorecard(engine, Settings(db_url=url, squads_path=squads), "2024Q2", date(2024, 5, 20))
    engine.dispose()
    got = _parse(reports["q2.html"]).values
    assert len(card) > 2
    for row in card.to_dict("records"):
        who = row["squad"] or "(all)"
        for col in quarterly.COLUMNS:
            assert _same(got[f"scorecard.{who}.{col}"], None if pd.isna(row[col]) else row[col]), (who, col)
    assert got["scorecard.today"] == "2024-05-20"
    # Hand-computed (module docstring): Search and the organisation.
    assert got["scorecard.Search.closure_rate"] == repr(2 / 3) and got["scorecard.Search.closure_rate_previous"] == "1.0"
    assert got["scorecard.Search.action_items"] == "3" and got["scorecard.Search.budget_currency"] == "USD"
    planned = 400 + 100 * 20 / 31
    assert _num(got["scorecard.Search.budget_variance_pct"]) == pytest.approx((650 - planned) / planned)
    assert _num(got["scorecard.Search.budget_variance_pct_previous"]) == pytest.approx(250 / 300)
    assert got["scorecard.Search.lead_time_tier"] == "" and got["scorecard.Search.at_risk_dependencies"] == "0"
    assert got["scorecard.(all).closure_rate"] == "0.5" and got["scorecard.(all).action_items"] == "8"

    page = _Scorecard()
    page.feed(reports["q2.html"].read_text(encoding="utf-8"))
    assert page.sections == ["scorecard", "dora", "dependencies", "budget", "actions"]
    shown = scorecard_table(card, "2024Q2").drop(columns=list(LINKS))
    assert page.rows[0] == list(shown.columns)
    assert page.rows[1:] == [[str(v) for v in r] for r in shown.itertuples(index=False)]
    search = dict(zip(page.rows[0], next(r for r in page.rows if r[0] == "Search")))
    assert search["Budget variance"] == "+40% (-43 pts) USD" and search["Action-item closure"] == "67% (-33 pts)"
    assert COLUMNS_EXPLAINED in " ".join(_parse(reports["q2.html"]).text)


# Releases and freezes: the DORA charts of 2024Q1 cover 2023-10-01..2024-03-31 (both quarters), the
# S-curves the budget year 2024. So the year-end freeze (overlapping both), the payments release and
# discovery's relaunch are on every chart; the autumn release only on the S-curves; the 2022 freeze
# nowhere. A payments-only pack drops discovery's relaunch.
EVENTS = """date,end_date,kind,label,squad
2023-12-20,2024-01-03,freeze,Year-end freeze,
2024-02-15,,release,Release 2024.02,payments
2024-03-01,,release,Search relaunch,discovery
2024-10-01,,release,Autumn release,
2022-06-01,2022-06-10,freeze,Old freeze,
"""
LABELS = {line.split(",")[3] for line in EVENTS.splitlines()[1:]}
TRENDS = ["Year-end freeze", "Release 2024.02 (payments)", "Search relaunch (discovery)"]


def test_events_annotate_the_trend_charts(tmp_path):
    squads = tmp_path / "squads.csv"
    squads.write_text("squad,source,match\n" + "\n".join(
        line for d in ("dora", "budget") for line in (FIX / d / "squads.csv").read_text().splitlines()[1:]) + "\n")
    url = f"duckdb:///{tmp_path / 'store.duckdb'}"
    settings = Settings(db_url=url, squads_path=str(squads))
    engine = store.make_engine(url)
    for name in ("dora/deployments.csv", "dora/commits.csv", "budget/budget.csv", "budget/spend.csv"):
        ingest_file(engine, FIX / name, settings)

    def charts(*picked: str) -> dict[str, tuple[list, dict]]:
        page = build_report(engine, settings, "2024Q1", "html", squads=picked, as_of=date(2024, 5, 20))
        return _charts(page.decode("utf-8"))

    before = charts()
    (tmp_path / "events.csv").write_text(EVENTS)
    ingest_file(engine, tmp_path / "events.csv", settings)
    after, payments = charts(), charts("payments")
    engine.dispose()

    trend_keys = {"dora.deployments", "dora.lead_time", "dora.rates", "dora.recovery"}
    curve_keys = {"budget.s_curve.EUR", "budget.s_curve.USD"}
    assert trend_keys | curve_keys <= set(after) and set(after) == set(before)
    for key, (traces, layout) in after.items():
        labels = [a["text"] for a in layout.get("annotations", [])]
        expected = TRENDS if key in trend_keys else [*TRENDS, "Autumn release"] if key in curve_keys else []
        events = [t for t in labels if t.split(" (")[0] in LABELS]
        assert events == expected, key
        # Without events nothing changes: the same traces, shapes and labels less the events' own.
        old_traces, old_layout = before[key]
        assert traces == old_traces, key
        old_shapes, shapes = old_layout.get("shapes", []), layout.get("shapes", [])
        assert len(shapes) == len(old_shapes) + len(events) and all(s in shapes for s in old_shapes), key
        assert [a for a in layout.get("annotations", []) if a["text"] not in events] == old_layout.get(
            "annotations", []), key
    for key in trend_keys:
        assert [a["text"] for a in payments[key][1]["annotations"] if a["text"] in TRENDS] == TRENDS[:2], key

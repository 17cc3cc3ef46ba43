"""The quarterly review pack as one self-contained HTML file (plotly.js inlined once, print CSS).

Every text that can come from an export (summaries, squads, scopes, vendors, titles) goes
through ``html.escape``. Every figure sits in an element with a stable ``data-key`` and its
exact value in ``data-value`` (floats as ``repr``, dates ISO, missing as ""), so tests and
scripts can read the numbers without parsing the formatted text.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from delivery_health.charts import actions as action_charts
from delivery_health.charts import scorecard as scorecard_charts
from delivery_health.charts import budget as budget_charts
from delivery_health.charts import dependencies as dependency_charts
from delivery_health.charts import dora as dora_charts
from delivery_health.charts.annotations import with_events
from delivery_health.metrics import dora, quarterly
from delivery_health.report.content import QuarterlyReport, Window

ALL = "(all)"  # the data-key token of a whole-selection row (squad names come from exports: "all" could be one)
CHART_WIDTH = 700  # px: an A4 portrait page less 2 x 12 mm margins is ~700 CSS px wide
_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       max-width: 760px; margin: 24px auto; padding: 0 12px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; border-bottom: 2px solid #333; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta, .note { color: #555; font-size: 12.5px; }
.empty { background: #eef4fb; border-left: 4px solid #6a9fd4; padding: 8px 12px; }
.warn { background: #fff6e5; border-left: 4px solid #f0a020; padding: 6px 12px; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 12.5px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.tier { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 11.5px; }
.chart { width: 700px; margin: 8px 0 16px; break-inside: avoid; page-break-inside: avoid; }
ol.toc { margin: 4px 0 0 18px; padding: 0; }
section { margin-top: 28px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section { break-before: page; page-break-before: always; margin-top: 0; }
  section:first-of-type { break-before: auto; page-break-before: auto; margin-top: 18px; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; page-break-inside: avoid; }
}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _missing(v: Any) -> bool:
    if v is None or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def raw(v: Any) -> str:
    """The exact value for ``data-value``: repr of floats, ISO dates, "" when missing."""
    if _missing(v):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if hasattr(v, "item") and not isinstance(v, (str, date)):
        v = v.item()
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def pct(v: Any) -> str:
    return "–" if _missing(v) else f"{v:.0%}"


def money(v: Any) -> str:
    return "–" if _missing(v) else f"{v:,.0f}"


def count(v: Any) -> str:
    return "–" if _missing(v) else f"{int(v):,}"


def day(v: Any) -> str:
    return "–" if _missing(v) else (v.isoformat() if isinstance(v, date) else str(v))


def days(hours: Any) -> str:
    return "–" if _missing(hours) else f"{hours / 24:.1f} days"


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def text(v: Any) -> str:
    return "" if _missing(v) else str(v)


def td(key: str | None, value: Any, shown: str, num: bool = True, style: str = "") -> str:
    attrs = f' data-key="{esc(key)}" data-value="{esc(raw(value))}"' if key else ""
    cls = ' class="num"' if num else ""
    css = f' style="{esc(style)}"' if style else ""
    return f"<td{cls}{attrs}{css}>{esc(shown)}</td>"


def table(head: list[str], rows: list[str], nums: list[bool] | None = None) -> str:
    """Headings and ready-made rows; ``nums`` right-aligns headings (default: all but the first)."""
    nums = nums if nums is not None else [i > 0 for i in range(len(head))]
    cells = "".join(f'<th{" class=num" if n else ""}>{esc(h)}</th>' for h, n in zip(head, nums))
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def frame_table(frame: pd.DataFrame, columns: list[tuple[str, str, Callable[[Any], str], bool]],
                key: Callable[[Any, str], str] | None = None) -> str:
    """A table of ``frame``: (column, heading, formatter, numeric) each; ``key(row, column)`` names data-keys."""
    rows = []
    for r in frame.itertuples(index=False):
        cells = "".join(td(key(r, c) if key else None, getattr(r, c), fmt(getattr(r, c)), num)
                        for c, _, fmt, num in columns)
        rows.append(f"<tr>{cells}</tr>")
    return table([h for _, h, _, _ in columns], rows, [n for *_, n in columns]) if rows else ""


def empty(key: str, message: str) -> str:
    return f'<p class="empty" data-key="{esc(key)}">{esc(message)}</p>'


class Charts:
    """Embeds plotly figures; the first one carries plotly.js inline, the others reuse it."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: go.Figure, key: str) -> str:
        fig.update_layout(width=CHART_WIDTH, template="plotly_white")
        body = fig.to_html(full_html=False, include_plotlyjs=self.count == 0,
                           config={"displayModeBar": False, "responsive": False})
        self.count += 1
        return f'<div class="chart" data-chart="{esc(key)}">{body}</div>'


def _quarter_line(fig: go.Figure, q: Window) -> go.Figure:
    fig.add_shape(type="line", x0=q.start, x1=q.start, y0=0, y1=1, yref="paper",
                  line={"color": "#555", "dash": "dot", "width": 1})
    fig.add_annotation(x=q.start, y=1, yref="paper", text=f"{q.label} →", showarrow=False, xanchor="left",
                       yanchor="bottom", font={"size": 11, "color": "#555"})
    return fig


# ---- sections ------------------------------------------------------------------------------------

def _tier_cell(key: str, tier: Any, none: str = "no data") -> str:
    colour = dora_charts.TIER_COLORS.get(tier if isinstance(tier, str) else None, "#d9d9d9")
    label = tier if isinstance(tier, str) else none
    return (f'<td data-key="{esc(key)}" data-value="{esc(raw(tier))}">'
            f'<span class="tier" style="background:{esc(colour)}">{esc(label)}</span></td>')


# Per display column of ``scorecard_table`` (its ``LINKS`` are app links, left out): the
# ``squad_scorecard`` columns the cell shows, the one the cell's data-key names first.
_SCORECARD_CELLS = {
    "Squad": ("squad",),
    **{scorecard_charts.TIER_LABELS[t]: (f"{t}_tier", f"{t}_tier_previous") for t in quarterly.TIERS},
    "At-risk dependencies (now)": ("at_risk_dependencies",),
    "Budget variance": ("budget_variance_pct", "budget_variance_pct_previous", "budget_currency"),
    "Action-item closure": ("closure_rate", "closure_rate_previous", "action_items"),
}


def _keyed_cell(keys: list[str], values: list[Any], shown: str, num: bool) -> str:
    """A cell keyed by its first figure; the others (previous quarter, currency, count) key spans around the text."""
    inner = esc(shown)
    for key, value in reversed(list(zip(keys[1:], values[1:]))):
        inner = f'<span data-key="{esc(key)}" data-value="{esc(raw(value))}">{inner}</span>'
    cls = ' class="num"' if num else ""
    return f'<td{cls} data-key="{esc(keys[0])}" data-value="{esc(raw(values[0]))}">{inner}</td>'


def _scorecard(r: QuarterlyReport, chart: Charts) -> str:
    s, q, p = r.scorecard, r.quarter, r.previous
    out = [f"<h2>Squads at a glance: {esc(q.label)} vs {esc(p.label)}</h2>"]
    if s.empty:
        return "".join(out) + empty("scorecard.empty", s.empty)
    shown = scorecard_charts.scorecard_table(s.card, q.label).drop(columns=list(scorecard_charts.LINKS))
    heads = list(shown.columns)
    nums = [h != "Squad" for h in heads]  # right-aligned and unwrapped: "medium ▼ (was high)" stays on one line
    rows = []
    for (_, display), record in zip(shown.iterrows(), s.card.to_dict("records")):
        who = ALL if _missing(record["squad"]) else record["squad"]
        rows.append("<tr>" + "".join(
            _keyed_cell([f"scorecard.{who}.{c}" for c in _SCORECARD_CELLS[h]],
                        [record[c] for c in _SCORECARD_CELLS[h]], text(display[h]), num)
            for h, num in zip(heads, nums)) + "</tr>")
    out.append(table(heads, rows, nums))
    later = (f" The Dependency risk section counts them as of {q.as_of}, the end of {q.label}."
             if s.today != q.as_of else "")
    out.append(f'<p class="note">{esc(scorecard_charts.COLUMNS_EXPLAINED)} Today is <span data-key="scorecard.today" '
               f'data-value="{esc(raw(s.today))}">{s.today}</span>.{esc(later)}</p>')
    return "".join(out)


def _dora(r: QuarterlyReport, chart: Charts) -> str:
    s, q, p = r.dora, r.quarter, r.previous
    out = ["<h2>DORA: the five keys</h2>"]
    if s.empty:
        return "".join(out) + empty("dora.empty", s.empty)
    rows = []
    for h in s.headline:
        k = f"dora.{h['key']}"
        none = "no DORA tier" if h["key"] not in dora.TIER_KEYS else "no data"
        rows.append("<tr>" + td(None, None, h["label"], num=False)
                    + td(f"{k}.value", h["value"], dora_charts.format_value(h["key"], h["value"]))
                    + _tier_cell(f"{k}.tier", h["tier"], none)
                    + td(f"{k}.previous", h["previous"], dora_charts.format_value(h["key"], h["previous"]))
                    + _tier_cell(f"{k}.previous_tier", h["previous_tier"], none)
                    + td(f"{k}.change", h["change"], dora_charts.format_change(h["key"], h["change"]) or "–")
                    + td(None, None, "higher" if h["higher_is_better"] else "lower", num=False) + "</tr>")
    out.append(table(["Key", q.label, "Tier", p.label, "Tier", "Change", "Better when"], rows,
                     [False, True, False, True, False, True, False]))
    out.append(f'<p class="note">Tiers are the DORA 2023 clusters over each whole quarter; rework rate has no DORA '
               f'tier. Change = {esc(q.label)} − {esc(p.label)} (percentage points for rates).</p>')
    for c in s.checks.itertuples(index=False):
        out.append(f'<p class="warn"><b>{esc(c.count)} {esc(c.check)}</b>: {esc(c.detail)}</p>')
    out.append(f"<h3>Trends by week, {esc(p.label)} and {esc(q.label)}</h3>")
    for name, build in (("deployments", dora_charts.deployments_figure), ("lead_time", dora_charts.lead_time_figure),
                        ("rates", dora_charts.rates_figure), ("recovery", dora_charts.recovery_figure)):
        out.append(chart(_quarter_line(with_events(build(s.trends), s.events), q), f"dora.{name}"))
    out.append(f"<h3>Tiers per squad, {esc(q.label)}</h3>")
    labels = [label for key, label, *_ in dora.HEADLINE if key in dora.TIER_KEYS]
    rows = []
    for t in s.tiers.itertuples(index=False):
        who = ALL if _missing(t.squad) else t.squad
        rows.append("<tr>" + td(None, None, "All selected" if _missing(t.squad) else who, num=False)
                    + "".join(_tier_cell(f"dora.tier.{who}.{k}", getattr(t, k)) for k in dora.TIER_KEYS[1:])
                    + "</tr>")
    out.append(table(["Squad", *labels], rows, [False] * (len(labels) + 1)))
    return "".join(out)


_DEP_MEASURES = (("open", "Open dependencies"), ("at_risk", "At risk (late, unscheduled or stale)"),
                 ("late", "Late: blocker lands after the need date"), ("unscheduled", "Unscheduled: blocker has no date"),
                 ("stale", "Stale: blocker not updated recently"), ("cross_team", "Cross-team"))


def _dependencies(r: QuarterlyReport, chart: Charts) -> str:
    s, q, p = r.dependencies, r.quarter, r.previous
    out = ["<h2>Dependency risk</h2>"]
    if s.empty:
        return "".join(out) + empty("dependencies.empty", s.empty)
    rows = ["<tr>" + td(None, None, label, num=False) + td(f"dependencies.{k}", s.summary[k], count(s.summary[k]))
            + "</tr>" for k, label in _DEP_MEASURES]
    cycles = len(s.summary["cycles"])
    rows.append("<tr>" + td(None, None, "Blocking cycles", num=False) + td("dependencies.cycles", cycles, count(cycles))
                + "</tr>")
    out.append(table(["Open blocking links", f"as of {q.as_of}"], rows))
    out.append('<p class="note">Statuses, due dates and fix versions are the latest loaded; the as-of date sets the '
               f"staleness cut-off. No comparison with {esc(p.label)}: exports hold each issue's current status and no "
               "link history, so the dependencies open back then cannot be rebuilt.</p>")
    out.append(f"<h3>At risk: {plural(s.at_risk_total, 'dependency', 'dependencies')}"
               f"{esc(f', the {len(s.at_risk)} needed soonest') if s.at_risk_total > len(s.at_risk) else ''}</h3>")
    if s.at_risk.empty:
        out.append('<p class="note">No open dependency is late, unscheduled or stale.</p>')
    else:
        out.append(frame_table(s.at_risk, [
            ("blocked_key", "Blocked", text, False), ("blocked_summary", "Blocked item", text, False),
            ("need_date", "Needed by", day, False), ("need_release", "For release", text, False),
            ("blocked_squad", "Waiting squad", text, False), ("blocker_key", "Blocker", text, False),
            ("blocker_summary", "Blocker item", text, False), ("blocker_squad", "Delivering squad", text, False),
            ("land_date", "Lands", day, False), ("risk_reason", "Why at risk", text, False),
            ("depth", "Chain", count, True)]))
    out.append(chart(dependency_charts.squad_matrix(s.squad_pairs), "dependencies.squad_matrix"))
    out.append('<p class="note">Rows: the squad that must deliver (blocker); columns: the squad that waits. '
               "Each cell: at-risk / open dependencies.</p>")
    if s.cycles:
        out.append("<h3>Blocking cycles</h3><ul>" + "".join(
            f"<li>{esc(' → '.join([*c, c[0]]))}</li>" for c in s.cycles) + "</ul>")
    return "".join(out)


_BUDGET_FIGURES = (("budget_total", "Total budget", money), ("planned_to_date", "Planned to date", money),
                   ("burn_to_date", "Burn to date", money), ("variance", "Variance (burn − planned)", money),
                   ("variance_pct", "Variance, % of planned", pct), ("run_rate_monthly", "Run rate a month", money),
                   ("forecast_at_completion", "Forecast at completion", money),
                   ("exhaustion_date", "Budget exhausted on", day))


def _budget(r: QuarterlyReport, chart: Charts) -> str:
    s, q, p = r.budget, r.quarter, r.previous
    out = ["<h2>Budget burn</h2>"]
    if s.empty:
        return "".join(out) + empty("budget.empty", s.empty)
    out.append(f'<p class="note">Budget period {s.period[0]:%b %Y} – {s.period[1]:%b %Y}, as of {q.as_of}. '
               "Burn to date = spend from the period start; planned to date = budget of the months so far (the "
               "as-of month pro rata); run rate = mean monthly spend of the last 3 complete months; forecast = burn "
               f"+ run rate × remaining months. {esc(p.label)} is shown as of its own end, over its own budget period "
               f"({s.previous_period[0]:%b %Y} – {s.previous_period[1]:%b %Y}). Currencies are never added together.</p>")
    if s.totals.empty:
        out.append(empty("budget.totals_empty", f"No budget or spend lines for {s.period[0]:%b %Y} – "
                                                f"{s.period[1]:%b %Y}: only vendor SOWs are shown."))
    previous = {t["currency"]: t for t in s.previous_totals.to_dict("records")}
    for t in s.totals.to_dict("records"):
        cur, old = t["currency"], previous.get(t["currency"], {})
        out.append(f"<h3>{esc(cur)}</h3>")
        rows = ["<tr>" + td(None, None, label, num=False) + td(f"budget.{cur}.{k}", t[k], fmt(t[k]))
                + td(f"budget.previous.{cur}.{k}", old.get(k), fmt(old.get(k))) + "</tr>"
                for k, label, fmt in _BUDGET_FIGURES]
        out.append(table([cur, f"as of {q.as_of}", f"as of {p.as_of}"], rows))
        series = s.series[s.series["currency"] == cur].reset_index(drop=True)
        curve = with_events(budget_charts.s_curve(series, t, q.as_of), s.events)
        out.append(chart(curve, f"budget.s_curve.{cur}"))
    if not s.by_scope.empty:
        out.append(f"<h3>By scope, as of {q.as_of}</h3>")
        out.append(frame_table(s.by_scope, [
            ("scope", "Scope", text, False), ("currency", "Currency", text, False),
            ("budget_total", "Budget", money, True), ("planned_to_date", "Planned", money, True),
            ("burn_to_date", "Burn", money, True), ("variance", "Variance", money, True),
            ("variance_pct", "Var. %", pct, True), ("run_rate_monthly", "Run rate", money, True),
            ("forecast_at_completion", "Forecast", money, True), ("exhaustion_date", "Exhausted", day, True)],
            key=lambda row, c: f"budget.scope.{row.scope}.{row.currency}.{c}"))
    if not s.sows.empty:
        flagged = int(s.sows["flagged"].astype(bool).sum())
        out.append(f"<h3>Vendor SOWs: {flagged} of {len(s.sows)} flagged</h3>")
        out.append(frame_table(s.sows, [
            ("sow_id", "SOW", text, False), ("vendor", "Vendor", text, False), ("scope", "Scope", text, False),
            ("currency", "Cur.", text, False), ("value", "Value", money, True),
            ("consumed_pct", "Consumed", pct, True), ("elapsed_pct", "Elapsed", pct, True),
            ("end_date", "Ends", day, True), ("flag_reason", "Why flagged", text, False)],
            key=lambda row, c: f"budget.sow.{row.sow_id}.{c}"))
    return "".join(out)


_ACTION_FIGURES = (("items", "Action items created", count), ("resolved", "Resolved by the as-of date", count),
                   ("closure_rate", "Closure rate", pct), ("on_time_closure_rate", "On-time closure rate", pct),
                   ("overdue", "Overdue (open past due)", count), ("repeat_incidents", "Repeat incidents", count))


def _actions(r: QuarterlyReport, chart: Charts) -> str:
    s, q, p = r.actions, r.quarter, r.previous
    out = ["<h2>Incident action items</h2>"]
    if s.empty:
        return "".join(out) + empty("actions.empty", s.empty)
    rows = ["<tr>" + td(None, None, label, num=False) + td(f"actions.{k}", s.headline[k], fmt(s.headline[k]))
            + td(f"actions.previous.{k}", s.previous[k], fmt(s.previous[k])) + "</tr>" for k, label, fmt in _ACTION_FIGURES]
    out.append(table(["Items created in the quarter", f"{q.label} as of {q.as_of}", f"{p.label} as of {p.as_of}"],
                     rows))
    closure = s.headline["closure_rate"]
    gap = "" if closure is None else f" ({(closure - s.target) * 100:+.0f} points)"
    out.append(f'<p class="note">Target closure rate <span data-key="actions.target" data-value="{esc(raw(s.target))}">'
               f"{esc(pct(s.target))}</span>{esc(gap)}. Cohorts are the items created in each month; closure = "
               "resolved by the as-of date / items; on time = resolved by the due date / items with one.</p>")
    out.append(chart(action_charts.closure(s.cohorts, s.target), "actions.closure"))
    out.append("<h3>Cohorts</h3>")
    out.append(frame_table(s.cohorts, [
        ("period_start", "Created in", lambda v: f"{v:%b %Y}" if isinstance(v, date) else text(v), False),
        ("squad", "Squad", lambda v: "All selected" if _missing(v) else str(v), False),
        ("items", "Items", count, True), ("resolved", "Resolved", count, True),
        ("closure_rate", "Closure", pct, True), ("on_time_closure_rate", "On time", pct, True),
        ("overdue", "Overdue", count, True), ("time_to_close_median_hours", "Median to close", days, True)],
        key=lambda row, c: f"actions.cohort.{raw(row.period_start)}.{ALL if _missing(row.squad) else row.squad}.{c}"))
    out.append(f"<h3>Overdue: {plural(s.overdue_total, 'item', 'items')}"
               f"{esc(f', the {len(s.overdue)} most overdue') if s.overdue_total > len(s.overdue) else ''}</h3>")
    if s.overdue.empty:
        out.append('<p class="note">No action item of these cohorts is past its due date.</p>')
    else:
        out.append(frame_table(s.overdue, [
            ("item_id", "Item", text, False), ("incident_id", "Incident", text, False), ("squad", "Squad", text, False),
            ("owner", "Owner", text, False), ("title", "Title", text, False), ("due_date", "Due", day, True),
            ("days_overdue", "Days overdue", count, True)]))
    out.append(f"<h3>Repeat incidents: {len(s.repeats)}</h3>")
    if s.repeats.empty:
        out.append('<p class="note">No incident in the quarter hit a service that still had open action items from '
                   "an earlier incident.</p>")
    else:
        out.append(frame_table(s.repeats, [
            ("incident_id", "Incident", text, False), ("service", "Service", text, False),
            ("squad", "Squad", text, False), ("started_at", "Started", text, False), ("title", "Title", text, False),
            ("open_items", "Open items then", text, False), ("earlier_incidents", "From incidents", text, False)]))
    return "".join(out)


_SECTIONS = (("scorecard", "Squads at a glance", _scorecard), ("dora", "DORA: the five keys", _dora),
             ("dependencies", "Dependency risk", _dependencies), ("budget", "Budget burn", _budget),
             ("actions", "Incident action items", _actions))


def render(report: QuarterlyReport) -> str:
    """The whole pack as one HTML document (UTF-8 text)."""
    q, p = report.quarter, report.previous
    chart = Charts()
    body = "".join(f'<section id="{key}">{build(report, chart)}</section>' for key, _, build in _SECTIONS)
    who = ", ".join(report.squads) if report.squads else "all squads"
    progress = (f" The quarter is in progress: figures are as of {q.as_of}." if q.in_progress else "")
    banner = empty("store.empty", "The store holds no data yet, so every section below is empty. Load your exports "
                   "with `python -m delivery_health ingest PATH...` (or the demo data set with "
                   "`python -m delivery_health demo`) and generate the pack again.") if report.store_empty else ""
    title = f"Delivery Health quarterly review {q.label}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head><body>'
        f'<header><h1>{esc(title)}</h1>'
        f'<p class="meta" data-key="report.quarter" data-value="{esc(q.label)}">{esc(q.label)}: {q.start} – {q.end}, '
        f'compared with {esc(p.label)} ({p.start} – {p.end}). Squads: {esc(who)}.{esc(progress)} Generated '
        f'{report.generated_at:%Y-%m-%d %H:%M} UTC.</p>{banner}'
        f'<ol class="toc">{"".join(f"<li>{esc(label)}</li>" for _, label, _ in _SECTIONS)}</ol></header>'
        f"{body}</body></html>")

"""Budget burn: spend vs plan per currency, run rate, forecast and exhaustion date, variance, vendor SOWs."""

from __future__ import annotations

import streamlit as st

from delivery_health import ui
from delivery_health.charts import budget as charts
from delivery_health.charts.annotations import with_events
from delivery_health.metrics import budget, overview

ui.start_page("Budget burn", "💶")
filters = ui.sidebar_filters()
cfg = ui.settings()

st.title("Budget burn")
st.caption(
    "**Burn to date** = spend from the budget period start to the as-of date (that day included). "
    "**Planned to date** = budget of the months so far, the current month pro rata by days elapsed. "
    "**Variance** = burn - planned (positive = over plan). **Run rate** = mean monthly spend of the last 3 complete "
    "months. **Forecast at completion** = burn + run rate × remaining months; the **exhaustion date** is when that "
    "forecast reaches the total budget. Amounts in different currencies are never added together. "
    "The sidebar's squad filter applies (a budget scope is a squad or a project); its date range does not — "
    "use the as-of date and budget period below.")

left, right = st.columns(2)
as_of = left.date_input("As of", value=filters.end, key="budget_as_of")
fiscal_start = ui.settings().fiscal_year_start_month
default_period = budget.budget_period(None, None, as_of, fiscal_start)
# The key carries the year so that moving the as-of date to another year resets the default period.
chosen = right.date_input("Budget period (whole months)", value=default_period,
                          key=f"budget_period_{default_period[0]}")
start, end = chosen if isinstance(chosen, (tuple, list)) and len(chosen) == 2 else default_period
start, end = budget.budget_period(start, end, as_of, fiscal_start)
params = {"start": start, "end": end, "as_of": as_of, "squads": filters.squads}

totals = ui.cached(budget.burn_totals, **params)
sows = ui.cached(budget.sow_ledger, **params)
if totals.empty and sows.empty:
    ui.show_empty(f"No budget lines, spend lines or vendor SOWs for {start:%b %Y} – {end:%b %Y}"
                  f"{' and the selected squads' if filters.squads else ''}. Load them with "
                  "`python -m delivery_health ingest budget.csv spend.csv sows.csv` (generic CSVs: "
                  "`scope,category,month,amount,currency`, `date,scope,category,vendor,amount,currency,reference`, "
                  "`sow_id,vendor,scope,value,currency,start_date,end_date,invoiced_to_date`), "
                  "or choose another period.")
    st.stop()


def _money(value: float) -> str:
    return f"{value:,.0f}"


if totals.empty:
    ui.show_empty(f"No budget or spend lines for {start:%b %Y} – {end:%b %Y}: only vendor SOWs are shown below.")
else:
    currency = st.radio("Currency", list(totals["currency"]), horizontal=True, key="currency", bind="query-params",
                        help="Each currency is shown on its own: amounts are never converted or summed across them.")
    view = ui.cached(budget.burn_view, **params, currency=currency)
    t = view.totals.iloc[0].to_dict()
    first, second = st.columns(3), st.columns(3)
    first[0].metric(f"Total budget ({currency})", _money(t["budget_total"]))
    first[1].metric(f"Planned to date ({currency})", _money(t["planned_to_date"]),
                    help="Budget of the months so far, the as-of month pro rata by days elapsed (as-of day included).")
    pct = t["variance_pct"]
    pct_text = f" ({pct:+.0%})" if pct is not None and pct == pct else ""  # pct != pct: NaN, nothing planned yet
    first[2].metric(f"Burn to date ({currency})", _money(t["burn_to_date"]),
                    delta=f"{t['variance']:+,.0f} vs plan{pct_text}", delta_color="inverse",
                    help="Variance = burn to date - planned to date; red when over plan.")
    second[0].metric(f"Run rate ({currency} a month)", _money(t["run_rate_monthly"]),
                     help="Mean monthly spend over the last 3 complete months before the as-of date.")
    second[1].metric(f"Forecast at completion ({currency})", _money(t["forecast_at_completion"]),
                     delta=f"{t['forecast_at_completion'] - t['budget_total']:+,.0f} vs budget", delta_color="inverse",
                     help="Burn to date + run rate × the months left in the period.")
    exhausted = t["exhaustion_date"]
    second[2].metric("Budget exhausted on", exhausted.isoformat() if exhausted else "not in period",
                     help="When cumulative spend (actual, then the forecast at the run rate) reaches the total budget.")

    series = view.series
    events = ui.cached(overview.events_in_window, start=start, end=end, squads=filters.squads)
    st.plotly_chart(with_events(charts.s_curve(series, t, as_of), events), width="stretch", key="s_curve")
    with st.expander("Monthly figures behind the curve"):
        st.dataframe(series, hide_index=True, width="stretch")
        ui.download_csv(series, f"budget_monthly_{currency}.csv")

    by_scope, by_category = view.by_scope, view.by_category
    money = st.column_config.NumberColumn(format="localized")
    table_config = {c: money for c in ("budget_total", "planned_to_date", "burn_to_date", "variance",
                                       "run_rate_monthly", "forecast_at_completion")}
    table_config["variance_pct"] = st.column_config.NumberColumn("variance % of plan", format="percent")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.variance_bars(by_scope, "scope", currency, "Variance by scope"), width="stretch",
                        key="variance_scope")
    with right:
        st.plotly_chart(charts.variance_bars(by_category, "category", currency, "Variance by category"),
                        width="stretch", key="variance_category")
    st.subheader("By scope: burn, run rate and forecast")
    st.dataframe(by_scope, hide_index=True, width="stretch", column_config=table_config)
    ui.download_csv(by_scope, f"budget_by_scope_{currency}.csv", "Download by scope")
    with st.expander("By category"):
        st.dataframe(by_category, hide_index=True, width="stretch", column_config=table_config)
        ui.download_csv(by_category, f"budget_by_category_{currency}.csv", "Download by category")

    st.subheader("Lines behind the figures")
    left, right = st.columns(2)
    scope = left.selectbox("Scope", ["All scopes"] + list(by_scope["scope"]), key="drill_scope")
    category = right.selectbox("Category", ["All categories"] + list(by_category["category"]), key="drill_category")
    drill = {**params, "currency": currency, "scope": None if scope == "All scopes" else scope,
             "category": None if category == "All categories" else category}
    spend, lines = ui.cached(budget.lines_behind, **drill)
    st.markdown(f"**Spend lines** ({len(spend)}): `in_burn_to_date` lines make burn to date; "
                "`in_run_rate` lines (the last 3 complete months) make the run rate.")
    ui.rows_table(spend, f"spend_lines_{currency}.csv", "Download spend lines")
    st.markdown(f"**Budget lines** ({len(lines)}): planned to date = amount × share of the month elapsed.")
    ui.rows_table(lines, f"budget_lines_{currency}.csv", "Download budget lines")

st.subheader("Vendor SOWs")
if sows.empty:
    ui.show_empty("No vendor SOW overlaps this budget period. Load a sows-csv file "
                  "(`sow_id,vendor,scope,value,currency,start_date,end_date,invoiced_to_date`).")
else:
    st.caption(f"Consumed = invoiced to date / SOW value; elapsed = days elapsed / SOW days, at the as-of date. "
               f"A SOW is **flagged** when consumed is more than {cfg.sow_overconsumption_margin * 100:g} points "
               f"ahead of elapsed (spending faster than time passes), or when it ends within "
               f"{cfg.sow_ending_days} days (renew or close it). Each SOW keeps its own currency.")
    flagged = int(sows["flagged"].sum())
    if flagged:
        st.warning(f"{flagged} of {len(sows)} SOWs flagged: see the reasons in the ledger.")
    st.plotly_chart(charts.sow_chart(sows), width="stretch", key="sow_chart")
    st.dataframe(sows, hide_index=True, width="stretch", column_config={
        "consumed_pct": st.column_config.NumberColumn("consumed", format="percent"),
        "elapsed_pct": st.column_config.NumberColumn("elapsed", format="percent"),
        "value": st.column_config.NumberColumn(format="localized"),
        "invoiced_to_date": st.column_config.NumberColumn(format="localized"),
        "flag_reason": st.column_config.TextColumn("why flagged", width="large"),
    })
    ui.download_csv(sows, "vendor_sows.csv", "Download SOW ledger")

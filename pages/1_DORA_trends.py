"""DORA trends: the five keys with tiers, their trends, squads side by side, and the rows behind them."""

import streamlit as st

from delivery_health import ui
from delivery_health.charts import dora as charts
from delivery_health.charts.annotations import with_events
from delivery_health.metrics import dora, dora_drill, overview

ui.start_page("DORA trends", "📈")
filters = ui.sidebar_filters()
selection = {"start": filters.start, "end": filters.end, "squads": filters.squads,
             "overrides": ui.dora_overrides(filters)}

st.title("DORA trends")
days = (filters.end - filters.start).days + 1
st.caption(f"{filters.label} ({days} days) · production = {', '.join(filters.environments)}. "
           "The five DORA keys of production deployments; tiers are the DORA 2023 clusters over the whole window.")

by = st.radio("Trend by", ["week", "month"], horizontal=True, key="by",
              bind="query-params")
rows, window, previous = ui.cached(dora.dora_view, by=by, **selection)
if rows.empty:
    ui.show_empty("No production deployments, deployment attempts or incidents in this window for this selection. "
                  "Widen the date range or squads in the sidebar, or load deployments (GitHub Actions runs, "
                  "deployments CSV), commit history and incidents with `python -m delivery_health ingest PATH...` "
                  "(or the demo data set with `python -m delivery_health demo`).")
    st.stop()

# ---- headline ----------------------------------------------------------------------------------------
_BADGE = {"elite": "green", "high": "blue", "medium": "orange", "low": "red"}
headline = dora.headline_rows(window, previous)
st.subheader("The five keys")
st.caption(f"Change is against the previous {days} days.")
for col, item in zip(st.columns(len(headline)), headline.to_dict("records")):
    with col:
        st.metric(item["label"], charts.format_value(item["key"], item["value"]),
                  delta=charts.format_change(item["key"], item["change"]),
                  delta_color="normal" if item["higher_is_better"] else "inverse",
                  help=dora.HOW_COMPUTED[item["key"]], border=True)
        if item["tier"]:
            st.badge(f"{item['tier']} (DORA)", color=_BADGE[item["tier"]])
        elif item["key"] == "rework_rate":
            st.badge("no DORA tier", color="gray")
        else:
            st.badge("no data for a tier", color="gray")

# ---- data quality -------------------------------------------------------------------------------------
for check in ui.cached(dora_drill.data_quality, **selection).to_dict("records"):
    st.warning(f"**{check['count']} {check['check']}**: {check['detail']}", icon="⚠️")

# ---- trends -------------------------------------------------------------------------------------------
st.subheader(f"Trends by {by}")
st.caption("Whole selection. A partial first or last period is measured over its days inside the window. "
           "Dashed lines are releases, shaded bands freeze windows (events CSV).")
left, right = st.columns(2)
events = ui.cached(overview.events_in_window, start=filters.start, end=filters.end, squads=filters.squads)
left.plotly_chart(with_events(charts.deployments_figure(rows), events), key="chart_deployments")
right.plotly_chart(with_events(charts.lead_time_figure(rows), events), key="chart_lead_time")
left.plotly_chart(with_events(charts.rates_figure(rows), events), key="chart_rates")
right.plotly_chart(with_events(charts.recovery_figure(rows), events), key="chart_recovery")
with st.expander("How these are computed"):
    for item in headline.to_dict("records"):
        st.markdown(f"**{item['label']}** — {dora.HOW_COMPUTED[item['key']]}")

# ---- squads -------------------------------------------------------------------------------------------
st.subheader("Squads compared")
st.plotly_chart(charts.squad_comparison_figure(window), key="chart_squads")
squad_table = window.assign(squad=window["squad"].fillna("All selected"))
st.dataframe(squad_table, hide_index=True, width="stretch")
ui.download_csv(squad_table, "dora_squads.csv", "Download squad comparison")
st.dataframe(rows.assign(squad=rows["squad"].fillna("All selected")), hide_index=True, width="stretch")
ui.download_csv(rows, f"dora_by_{by}.csv", f"Download the {by}ly figures")

# ---- drill-down ---------------------------------------------------------------------------------------
st.subheader("Behind the figures")
choices = ["whole window"] + sorted(set(rows["period_start"]), reverse=True)
period = st.selectbox("Period", choices, key="dora_period",
                      format_func=lambda p: p if isinstance(p, str) else f"{by} of {p:%d %b %Y}")
start, end = (filters.start, filters.end) if isinstance(period, str) else dora.period_bounds(
    period, by, filters.start, filters.end)
drill = {"start": start, "end": end, "squads": filters.squads, "overrides": ui.dora_overrides(filters)}
# Lazy tabs: only the open tab's rows are fetched and drawn (each is a query and a table of up to 10k rows).
tabs = st.tabs(["Deployments", "Commits (lead time)", "Incidents"], key="dora_drill_tab", on_change="rerun")
for tab, (name, func) in zip(tabs, dora_drill.DRILLS.items()):
    if not tab.open:
        continue
    with tab:
        total = ui.cached(dora_drill.row_counts, kinds=(name,), **drill)[name]
        if not total:
            st.text(f"No {name} in {start:%d %b %Y} – {end:%d %b %Y} for this selection.")
            continue
        st.caption(f"{total:,} {name}, {start:%d %b %Y} – {end:%d %b %Y}.")
        ui.drill_table(func, total, f"dora_{name}_{start}_{end}.csv", f"Download {name}", **drill)

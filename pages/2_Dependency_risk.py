"""Dependency risk: what will land too late for which release, between which squads, through which chains."""

import streamlit as st

from delivery_health import ui
from delivery_health.charts import dependencies as charts
from delivery_health.metrics import dependencies

ui.start_page("Dependency risk", "🔗")
filters = ui.sidebar_filters()
settings = ui.settings()
as_of = ui.today()

st.title("Dependency risk")
st.caption(f"Open blocking links between Jira issues as of {as_of:%Y-%m-%d} (the date range does not apply: "
           "an open dependency matters whenever it was created). A dependency is **at risk** when the blocker lands "
           "after the blocked item's need date (**late**), has no date while the blocked item needs one "
           f"(**unscheduled**), or has not been updated for {settings.stale_days} days (**stale**). Need/land date: "
           "the item's due date, else the release date of its earliest fix version. A squad filter keeps a "
           "dependency when either side belongs to a selected squad.")

ALL = "All releases"
release = st.selectbox("Release (fix version of the blocked item)", [ALL, *ui.cached(dependencies.release_options)],
                       key="release", bind="query-params")
result = ui.cached(dependencies.dependency_risk, as_of=as_of, squads=filters.squads,
                   release=None if release == ALL else release)

if result.empty:
    ui.show_empty("No open dependencies for this selection. Dependencies come from Jira issue links of a blocking "
                  "kind (Blocks, Depends on): load a Jira CSV or JSON export with "
                  "`python -m delivery_health ingest PATH`, or clear the squad and release filters.")
    st.stop()

summary = dependencies.summary(result)
cols = st.columns(6)
for col, (label, key, help_text) in zip(cols, [
        ("Open", "open", "Open blocking links in the selection"),
        ("At risk", "at_risk", "Late, unscheduled or stale"),
        ("Late", "late", "Blocker's land date is after the blocked item's need date"),
        ("Unscheduled", "unscheduled", "Blocker has no date while the blocked item has a need date"),
        ("Stale", "stale", f"Blocker not updated for {settings.stale_days} days"),
        ("Cross-team", "cross_team", "Blocker and blocked item belong to different squads")]):
    col.metric(label, summary[key], help=help_text)

if result.cycles:
    st.warning(f"{len(result.cycles)} blocking cycle(s): these items wait on each other and none can finish first. "
               "Break the cycle by re-planning one of the links.")
    st.text("\n".join(" → ".join([*cycle, cycle[0]]) for cycle in result.cycles))

rows = result.rows
st.subheader("At risk: what will land too late, for which release")
at_risk = rows[rows["at_risk"]][[
    "blocked_key", "blocked_summary", "risk_reason", "need_date", "need_release", "blocked_squad", "blocker_key",
    "blocker_summary", "blocker_squad", "land_date", "land_release", "depth"]]
if at_risk.empty:
    st.success("No open dependency is late, unscheduled or stale.")
else:
    st.dataframe(at_risk, hide_index=True, width="stretch", column_config={
        "blocked_key": "Blocked", "blocked_summary": "Blocked item", "blocked_squad": "Waiting squad",
        "need_date": st.column_config.DateColumn("Needed by"), "need_release": "For release",
        "blocker_key": "Blocker", "blocker_summary": "Blocker item", "blocker_squad": "Delivering squad",
        "land_date": st.column_config.DateColumn("Lands"), "land_release": "In release",
        "risk_reason": "Why at risk", "depth": st.column_config.NumberColumn("Chain depth", help=(
            "Blockers standing in line behind the blocked item (longest chain)"))})
    ui.download_csv(at_risk, "dependencies_at_risk.csv", "Download at-risk dependencies")

left, right = st.columns([2, 3])
with left:
    st.plotly_chart(charts.squad_matrix(result.squad_pairs), width="stretch")
    st.caption("Rows: the squad that must deliver (blocker); columns: the squad that waits. "
               "Each cell: at-risk / open dependencies; redder = more at risk.")
    with st.expander("Squad pairs behind the matrix"):
        st.dataframe(result.squad_pairs, hide_index=True, width="stretch")
        ui.download_csv(result.squad_pairs, "dependency_squad_pairs.csv", "Download squad pairs")
with right:
    st.plotly_chart(charts.network(rows), width="stretch")
    st.caption("Arrows point from blocker to blocked item. Items further right have longer chains of open "
               "blockers behind them (depth); red = at risk, "
               "dashed orange = part of a cycle. Hover an item for its summary, squad and status.")

with st.expander(f"All {len(rows)} open dependencies"):
    ui.rows_table(rows, "dependencies_open.csv", "Download open dependencies")

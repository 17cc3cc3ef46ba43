"""Incident action items: are follow-ups closed, on time, and do incidents repeat while they are open?"""

import streamlit as st

from delivery_health import ui
from delivery_health.charts import actions as charts
from delivery_health.charts.annotations import with_events
from delivery_health.metrics import actions, overview

ui.start_page("Action items", "✅")
filters = ui.sidebar_filters()
settings = ui.settings()
as_of = ui.today()

st.title("Incident action items")
by = st.radio("Cohort period", actions.GRAINS, index=actions.GRAINS.index("month"), horizontal=True,
              key="cohort", bind="query-params", help="Items are grouped by the week, month or quarter they were created in (a cohort).")
st.caption(f"Items created {filters.start:%Y-%m-%d} to {filters.end:%Y-%m-%d} (widened to whole {by}s), as of "
           f"{as_of:%Y-%m-%d}. **Closure rate** = items resolved / items in the cohort; **on-time** = resolved on or "
           "before the due date / items with a due date; **overdue** = open with a due date in the past; "
           "**time to close** = median of resolved − created over resolved items.")

selection = dict(start=filters.start, end=filters.end, as_of=as_of, squads=filters.squads)
cohorts = ui.cached(actions.cohorts, by=by, **selection)
items = ui.cached(actions.items, by=by, **selection)
repeats = ui.cached(actions.repeat_incidents, **selection)

if cohorts.empty:
    ui.show_empty("No incident action items were created in this window for these squads. Load an action-items CSV "
                  "(`item_id,incident_id,squad,title,created_at,due_date,resolved_at,status`) or Jira issues "
                  "labelled as action items with `python -m delivery_health ingest PATH`, or widen the date range.")
    st.stop()

head = actions.headline(cohorts, items, repeats)
pct = lambda v: "–" if v is None else f"{v:.0%}"  # noqa: E731 - display only
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Action items", head["items"])
c2.metric("Closure rate", pct(head["closure_rate"]), help=f"Target {settings.closure_target:.0%}",
          delta=None if head["closure_rate"] is None else f"{(head['closure_rate'] - settings.closure_target) * 100:+.0f} pts vs target")
c3.metric("On-time closure", pct(head["on_time_closure_rate"]))
c4.metric("Overdue now", head["overdue"])
c5.metric("Repeat incidents", head["repeat_incidents"],
          help="Incidents on a service that still had open action items from an earlier incident of that service")

events = ui.cached(overview.events_in_window, start=filters.start, end=filters.end, squads=filters.squads)
st.plotly_chart(with_events(charts.closure(cohorts, settings.closure_target), events), width="stretch")
with st.expander("Cohorts behind the chart (per squad and in total)"):
    st.dataframe(cohorts, hide_index=True, width="stretch", column_config={
        "squad": st.column_config.TextColumn("squad", help="empty = all selected squads"),
        "closure_rate": st.column_config.NumberColumn(format="percent"),
        "on_time_closure_rate": st.column_config.NumberColumn(format="percent"),
        "time_to_close_median_hours": st.column_config.NumberColumn("median hours to close", format="%.1f")})
    ui.download_csv(cohorts, "action_item_cohorts.csv", "Download cohorts")

left, right = st.columns(2)
with left:
    st.subheader("Overdue ageing")
    overdue = items[items["overdue"]]
    if overdue.empty:
        st.success("No action item of these cohorts is past its due date.")
    else:
        who = st.radio("Group by", ["squad", "owner"], horizontal=True, key="ageing_by")
        st.plotly_chart(charts.overdue_ageing(items, who), width="stretch")
        with st.expander(f"The {len(overdue)} overdue items"):
            ui.rows_table(overdue, "action_items_overdue.csv", "Download overdue items",
                          columns=["item_id", "incident_id", "squad", "owner", "title", "due_date", "days_overdue",
                                   "overdue_bucket"])
with right:
    st.subheader("Time to close")
    st.caption("Median days from creation to resolution of the resolved items of each cohort; "
               "the bold line is all selected squads.")
    st.plotly_chart(with_events(charts.time_to_close(cohorts), events), width="stretch")

st.subheader("Repeat incidents")
if repeats.empty:
    st.success("No incident in the window hit a service that still had open action items from an earlier incident.")
else:
    st.caption("Incidents that started while action items from an earlier incident of the same service were open. "
               "Pick one to see which items; the download lists them for every incident.")
    ui.rows_table(repeats, "repeat_incidents.csv", "Download repeat incidents",
                  download=lambda: ui.cached(actions.repeat_item_lists, **selection))
    picked = st.selectbox("Open items behind", repeats["incident_id"], key="repeat_incident")
    row = repeats.set_index("incident_id").loc[picked]
    items_n, incidents_n = int(row["open_item_count"]), int(row["earlier_incident_count"])
    st.markdown(f"**{picked}** started with {items_n} open action item{'' if items_n == 1 else 's'} "
                f"from {incidents_n} earlier incident{'' if incidents_n == 1 else 's'}:")
    ui.rows_table(ui.cached(actions.repeat_incident_items, incident_id=picked), f"repeat_{picked}_items.csv",
                  "Download these items")

with st.expander(f"All {len(items)} action items of these cohorts"):
    ui.rows_table(items, "action_items.csv", "Download action items")

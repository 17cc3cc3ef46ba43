"""Home: the quarterly review per squad, then what data is loaded, from where, and what was skipped."""

import streamlit as st

from delivery_health import selection, ui
from delivery_health.charts.scorecard import COLUMNS_EXPLAINED, LINKS, scorecard_table
from delivery_health.metrics import overview, quarterly

ui.start_page("Delivery Health", "📦")
filters = ui.sidebar_filters()
st.title("Delivery Health")
st.caption("How healthy is software delivery: DORA trends, dependency risk, budget burn and incident follow-ups, "
           "from the exports you already have.")

inventory = ui.cached(overview.data_inventory)
history = ui.cached(overview.ingest_history)

if history.empty:
    ui.show_empty(
        "No data is loaded yet. Load exports with `python -m delivery_health ingest PATH...` "
        "(Jira CSV/JSON, GitHub Actions runs, PagerDuty incidents, generic CSVs) or the demo data set with "
        "`python -m delivery_health demo`, then reload this page.")
    st.stop()

# ---- quarterly review ---------------------------------------------------------------------------------
quarter = ui.review_quarter(filters)
previous = selection.previous_quarter(quarter, ui.settings().fiscal_year_start_month)
st.subheader(f"Quarterly review: {quarter} vs {previous}")
st.caption(
    "The quarter is the Period filter's when it is a quarter, else the one containing its end date. "
    f"{COLUMNS_EXPLAINED} Each row links to the pages behind its figures, filtered to that squad and quarter.")
# The whole scorecard is cached and the squad filter picks its rows: changing squads does not recompute it.
card = quarterly.for_squads(ui.cached(quarterly.squad_scorecard, quarter=quarter, as_of=ui.today(),
                                      overrides=ui.dora_overrides(filters)), filters.squads)
st.dataframe(scorecard_table(card, quarter), hide_index=True, width="stretch",
             column_config={column: st.column_config.LinkColumn(text, display_text=text)
                            for column, (_, text) in LINKS.items()})
ui.download_csv(card, "quarterly_scorecard.csv", "Download the scorecard")
ui.review_pack_download(quarter, filters)

# ---- data loaded ------------------------------------------------------------------------------------
st.subheader("Data loaded")
st.dataframe(inventory, hide_index=True, width="stretch",
             column_config={"records": "Records", "rows": st.column_config.NumberColumn("Rows", format="%d"),
                            "first": "From", "last": "To"})

ui.sources_and_skipped_rows(history)

"""Home: what data is loaded, from where, and what was skipped. Pages are in pages/."""

import streamlit as st

from delivery_health import ui
from delivery_health.metrics import overview

st.set_page_config(page_title="Delivery Health", page_icon="📦", layout="wide")
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

st.subheader("Data loaded")
st.dataframe(inventory, hide_index=True, width="stretch",
             column_config={"records": "Records", "rows": st.column_config.NumberColumn("Rows", format="%d"),
                            "first": "From", "last": "To"})

st.subheader("Sources")
st.caption("Per export format: files loaded, the last ingest, and rows read, inserted, updated and rejected "
           "by the latest load of each file.")
st.dataframe(history, hide_index=True, width="stretch")

skipped = ui.cached(overview.skipped_rows)
st.subheader("Data quality")
if skipped.empty:
    st.success("Every row of every loaded file was used.")
else:
    st.warning(f"{len(skipped)} rows of loaded files were not used. Each is listed with its file and reason.")
    st.dataframe(skipped, hide_index=True, width="stretch")
    ui.download_csv(skipped, "skipped_rows.csv", "Download skipped rows")

"""Data sources: upload export files (same loaders as the CLI), then see the ingest history and skipped rows."""

import streamlit as st

from delivery_health import ui
from delivery_health.ingest import FORMATS
from delivery_health.ingest.uploads import ingest_uploads
from delivery_health.metrics import dora_facts, overview

ui.start_page("Data sources", "📥")
settings = ui.settings()

st.title("Data sources")

if not settings.allow_uploads:
    ui.show_empty("Uploads are disabled on this instance (DELIVERY_HEALTH_ALLOW_UPLOADS is off). "
                  "Its administrator loads exports with `python -m delivery_health ingest PATH...`.")
else:
    st.caption("Upload exports in any format of the README's table: Jira CSV or REST JSON, GitHub Actions runs, "
               "PagerDuty incidents, or the generic CSVs. Each file is loaded in one transaction, all of it or "
               "none of it; loading the same file again changes nothing.")
    uploaded = st.file_uploader("Export files", accept_multiple_files=True, key="uploads")
    fmt = st.selectbox("Format", [None, *FORMATS], format_func=lambda f: f or "Detect from content", key="upload_format",
                       help="Leave on 'Detect from content' unless a file is recognised as the wrong format.")
    if st.button("Ingest", type="primary", disabled=not uploaded, key="ingest"):
        with st.spinner("Loading…"):
            ui.release_reader()
            st.session_state["upload_results"] = ingest_uploads(
                settings.db_url, settings, [(f.name, f.getvalue()) for f in uploaded], fmt=fmt)
            dora_facts.refresh_if_stale(settings.db_url, settings)

    results = st.session_state.get("upload_results")
    if results:
        failed = [r for r in results if not r.ok]
        loaded = [r for r in results if r.ok]
        if loaded:
            st.success(f"{len(loaded)} of {len(results)} files loaded: format, rows read, inserted, updated, rejected.")
            # File names come from users' files: shown as plain text, never as markdown.
            st.code("\n".join(r.line() for r in loaded), language=None, wrap_lines=True)
        if failed:
            st.error(f"{len(failed)} of {len(results)} files were rejected and nothing of them was written: "
                     "file, format, row and reason.")
            st.code("\n".join(r.line() for r in failed), language=None, wrap_lines=True)

history = ui.cached(overview.ingest_history)
if history.empty:
    ui.show_empty("Nothing has been loaded yet.")
else:
    ui.sources_and_skipped_rows(history)

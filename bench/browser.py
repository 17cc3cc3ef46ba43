"""Navigation-to-charts time of each page in headless Chromium, against the app as `make run` serves it (tests/browser.py)."""

from __future__ import annotations

import time
from typing import Any

from tests.browser import chromium_page, exception_texts, served_app

# URL path of each page (`streamlit run` names a page after its file, without the number prefix).
PATHS: dict[str, str] = {"home": "", "dora": "DORA_trends", "dependencies": "Dependency_risk",
                         "budget": "Budget_burn", "actions": "Action_items", "data_sources": "Data_sources"}

# Rendered: the script run has finished (Streamlit's own `data-test-script-state` on the app root goes from
# `initial` through `running` to `notRunning`), the page's title is there and every chart on it has drawn its SVG
# (at least one on a page that has charts: AppTest counts charts the browser may lay out lazily).
_READY = """([n]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    if (!main || !main.querySelector('h1')) return false;
    const plots = main.querySelectorAll('.js-plotly-plot');
    return plots.length >= Math.min(n, 1) && [...plots].every(p => p.querySelector('.main-svg'));
}"""


def _visit(page: Any, url: str, charts: int, timeout_ms: int) -> dict[str, Any]:
    """Seconds from navigation to the page rendered; None when it did not render within the timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    try:
        page.wait_for_function(_READY, arg=[charts], timeout=timeout_ms, polling=50)
        seconds: float | None = time.perf_counter() - t0
    except PlaywrightTimeout:
        seconds = None
    return {"seconds": seconds, "charts": page.locator(".js-plotly-plot").count(), "errors": exception_texts(page)}


def measure(db_url: str, squads_path: str, charts_per_page: dict[str, int],
            timeout_s: float = 180.0) -> dict[str, Any]:
    """Per page: the first visit after the server starts (cold caches) and a second visit (warm caches).

    ``charts_per_page``: how many plotly charts each page draws (counted when its query set was captured).
    """
    out: dict[str, Any] = {}
    with served_app(db_url, squads_path) as base, chromium_page() as page:
        for name, charts in charts_per_page.items():
            path = PATHS[name]
            cold = _visit(page, f"{base}/{path}", charts, int(timeout_s * 1000))
            warm = _visit(page, f"{base}/{path}", charts, int(timeout_s * 1000))
            out[name] = {"cold": cold["seconds"], "warm": warm["seconds"], "charts": warm["charts"], "timeout": timeout_s,
                         "errors": cold["errors"] + warm["errors"]}
    return out

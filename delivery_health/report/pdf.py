"""Print an HTML document to PDF with Debian's headless Chromium (charts drawn by the inlined plotly.js)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from delivery_health.report.content import ReportError

CHROMIUM = "/usr/bin/chromium"
# Virtual time lets the page's scripts (plotly drawing every chart) finish before printing, without a sleep.
VIRTUAL_TIME_BUDGET_MS = 30_000
TIMEOUT_SECONDS = 180


def chromium_path() -> str | None:
    """Where Chromium is, or None: PDF output needs it (HTML does not)."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _chromium() -> str:
    found = chromium_path()
    if not found:
        raise ReportError(f"PDF output needs Debian's chromium ({CHROMIUM}): install it with "
                          "`apt-get install chromium` (`make test` does), or ask for .html instead")
    return found


def html_to_pdf(document: str) -> bytes:
    """``document`` (a self-contained HTML page) printed to A4 PDF bytes; ReportError when Chromium fails."""
    with tempfile.TemporaryDirectory(prefix="dh-report-") as tmp:
        source, target = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(document, encoding="utf-8")
        cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={Path(tmp) / 'profile'}",  # never share a profile lock
               f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}", f"--print-to-pdf={target}", source.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise ReportError(f"chromium did not print the report within {TIMEOUT_SECONDS} s") from None
        data = target.read_bytes() if target.exists() else b""
        if proc.returncode != 0 or not data.startswith(b"%PDF"):
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ReportError(f"chromium could not print the report to PDF (exit {proc.returncode}): {last}")
        return data

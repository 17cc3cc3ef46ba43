"""`make run` on a fresh copy of the repository loads the demo and serves the home page."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import chromium_page, exception_texts, free_port, screenshot, wait_for_app, wait_healthy
from tests.conftest import ROOT

pytestmark = pytest.mark.browser


def _fresh_copy(dest: Path) -> None:
    """The files a clone would have (tracked and not ignored), without data or the venv."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.splitlines()
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def test_make_run_serves_health_and_home_page_with_demo_data(tmp_path: Path) -> None:
    repo = tmp_path / "clone"
    _fresh_copy(repo)
    assert not (repo / "data" / "delivery_health.duckdb").exists()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELIVERY_HEALTH_")}
    # The venv is the one this suite runs in (creating another would only re-download the same wheels);
    # the data directory, the database and the demo exports are the copy's own, so this is a first start.
    venv = Path(sys.executable).parent.parent
    proc = subprocess.Popen(["make", "run", f"PORT={port}", "ADDRESS=127.0.0.1", f"VENV={venv}"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, timeout=300, proc=proc)
        assert (repo / "data" / "delivery_health.duckdb").exists()
        with chromium_page() as page:
            page.goto(base)
            wait_for_app(page, timeout_ms=60000)
            page.get_by_text("Data loaded").wait_for(timeout=120000)  # after the cold quarterly scorecard
            # Data grids mount after the script run: wait for the second one (inventory, sources).
            page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=30000)
            assert exception_texts(page) == []
            assert "No data is loaded yet" not in page.content()
            screenshot(page, "home")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        print(out[-3000:] if out else "")

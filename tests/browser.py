"""Serve the app with `streamlit run` on 127.0.0.1 and drive Debian's headless Chromium with Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{base_url}/_stcore/health did not answer ok within {timeout}s")


@contextmanager
def served_app(db_url: str, squads_path: str | None = None, env: dict[str, str] | None = None) -> Iterator[str]:
    """The app served as `make run` serves it (`python -m delivery_health serve`) against ``db_url``; yields the base URL."""
    port = free_port()
    # The store and squads go in as `serve`'s own options (it hands them to the app), not the environment.
    full_env = {k: v for k, v in os.environ.items() if k not in ("DELIVERY_HEALTH_DB", "DELIVERY_HEALTH_SQUADS")}
    options = ["--db", db_url] + (["--squads", squads_path] if squads_path else [])
    proc = subprocess.Popen(
        [sys.executable, "-m", "delivery_health", "serve", "--port", str(port), "--address", "127.0.0.1", *options,
         "--", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**full_env, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc=proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    """A Playwright page in Debian's headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_for_app(page, timeout_ms: int = 30000) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' status widget)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && document.querySelector('[data-testid=\"stMainBlockContainer\"], section.main')",
        timeout=timeout_ms)
    page.wait_for_timeout(300)


def exception_texts(page) -> list[str]:
    return [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_charts(page, count: int, timeout_ms: int = 30000) -> None:
    """Wait until ``count`` plotly charts have drawn: each mounts on its own, with several svg layers."""
    page.wait_for_function(
        "n => [...document.querySelectorAll('.js-plotly-plot')].filter(p => p.querySelector('svg')).length >= n",
        arg=count, timeout=timeout_ms)

"""What `serve` does before the first visitor: the app's modules and dialect loaded, and kept out of the
garbage collector's full passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_load_app_modules_imports_the_app_and_freezes_it(tmp_path: Path) -> None:
    # In a fresh interpreter: freezing is process-wide, and the imports must not be this test run's.
    code = ("import gc, json, sys; from delivery_health.warmup import load_app_modules; "
            f"load_app_modules('duckdb:///{tmp_path / 'none.duckdb'}'); "
            "print(json.dumps([gc.get_freeze_count(), len(gc.get_objects()), "
            "[m in sys.modules for m in ('plotly.graph_objects', 'delivery_health.metrics.dora', "
            "'delivery_health.charts', 'duckdb_engine')]]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    frozen, tracked, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [True, True, True, True]
    # Hundreds of thousands of objects (modules, classes, functions) frozen; the collector tracks only a few new.
    assert frozen > 100_000 and tracked < frozen / 10
    assert not (tmp_path / "none.duckdb").exists()  # the dialect is loaded without opening a database

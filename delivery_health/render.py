"""Renderers of one metric result: JSON, CSV and a plain-text table."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd


def render(result: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result, indent=2, default=str) + "\n"
    frame = pd.DataFrame(result.get("rows", []))
    if fmt == "csv":
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        return buf.getvalue()
    if frame.empty:
        return "(no rows)\n"
    return frame.to_string(index=False) + "\n"

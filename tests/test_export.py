"""CSV downloads: text a spreadsheet would run as a formula is neutralised; numbers and other text are not touched."""

from __future__ import annotations

import io

import pandas as pd

from delivery_health.export import safe_csv


def test_formula_like_text_cells_are_quoted_and_numbers_kept() -> None:
    frame = pd.DataFrame({
        "summary": ["=HYPERLINK(\"http://x\")", "+1 improvement", "-rf cleanup", "@SUM(A1)", "plain", None],
        "amount": [-5.0, 1.5, 0.0, 2.0, 3.0, 4.0],
    })
    back = pd.read_csv(io.BytesIO(safe_csv(frame)), keep_default_na=False)
    assert list(back["summary"]) == ["'=HYPERLINK(\"http://x\")", "'+1 improvement", "'-rf cleanup", "'@SUM(A1)",
                                     "plain", ""]
    assert list(back["amount"]) == [-5.0, 1.5, 0.0, 2.0, 3.0, 4.0]  # a negative number is data, not a formula

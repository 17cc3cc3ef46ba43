"""Small parsers shared by the loaders: timestamps, dates, numbers, CSV reading."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from delivery_health.ingest.base import RejectedFile


def read_text(path: Path) -> str:
    """Decode UTF-8 (with or without BOM), falling back to cp1252 for Excel's 'CSV (Comma delimited)'."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def csv_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV text, with a sniffed `,`/`;` delimiter.

    Parsed by a real CSV parser (quoted multi-line cells, CRLF inside cells).
    Rows whose cells are all empty (Excel re-save) are dropped.
    """
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise RejectedFile("the file is empty", row=1) from None
    rows = [r for r in reader if any(c.strip() for c in r)]
    return [h.strip() for h in header], rows


def parse_timestamp(value: str | None, default_tz: str = "UTC") -> datetime | None:
    """ISO 8601 (with `Z`, `+00:00` or `+0000`, or none) to naive UTC; empty -> None.

    Raises ValueError on anything else.
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s or s.upper() in ("NULL", "NONE", "NAN", "NAT"):
        return None
    s = s.replace("Z", "+00:00").replace("z", "+00:00")
    m = re.match(r"^(.*[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$", s)
    if m:  # +0000 -> +00:00 (Jira)
        s = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(default_tz))
    return dt.astimezone(timezone.utc).replace(tzinfo=None)


def parse_date(value: str | None) -> date | None:
    """`YYYY-MM-DD` (or a full timestamp, whose date part is taken); empty -> None."""
    if value is None:
        return None
    s = str(value).strip()
    if not s or s.upper() in ("NULL", "NONE"):
        return None
    return date.fromisoformat(s[:10])


def parse_float(value: str | None) -> float | None:
    if value is None:
        return None
    s = str(value).strip().replace(",", "")
    if not s or s.upper() in ("NULL", "NONE", "NAN"):
        return None
    return float(s)


def parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    s = str(value).strip().lower()
    if s in ("", "null", "none"):
        return None
    if s in ("true", "t", "yes", "y", "1"):
        return True
    if s in ("false", "f", "no", "n", "0"):
        return False
    raise ValueError(f"not a boolean: {value!r}")

"""Small parsers shared by the loaders: timestamps, dates, numbers, CSV reading."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from delivery_health.ingest.base import RejectedFile


def decode(raw: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (with or without BOM), else cp1252 (Excel's 'CSV (Comma delimited)')."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252"), "cp1252"


def read_text(path: Path) -> str:
    """The file's text, decoded as ``decode`` does."""
    return decode(path.read_bytes())[0]


# The longest cell the CSV readers take. The csv module's own limit, 128 KB, is less than a Jira description or
# comment can hold; a longer cell, or a quote never closed (the rest of the file read as one cell), is reported
# with its record.
MAX_CELL_CHARS = 256 << 20


def _csv_records(source: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """The records of a CSV text; one the csv module cannot read rejects the file, naming the record."""
    csv.field_size_limit(MAX_CELL_CHARS)
    n = 0  # records read, the header being the first
    try:
        for n, cells in enumerate(csv.reader(source, delimiter=delimiter), start=1):
            yield cells
    except csv.Error as exc:
        raise RejectedFile(f"a record the CSV reader cannot read: {exc}", row=n + 1) from None


def csv_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV text, with a sniffed `,`/`;` delimiter.

    Parsed by a real CSV parser (quoted multi-line cells, CRLF inside cells).
    Rows whose cells are all empty (Excel re-save) are dropped.
    """
    reader = _csv_records(io.StringIO(text, newline=""), csv_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        raise RejectedFile("the file is empty", row=1) from None
    rows = [r for r in reader if any(c.strip() for c in r)]
    return [h.strip() for h in header], rows


_BASIC_OFFSET = re.compile(r"^(.*[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$")


def parse_timestamp(value: str | None, default_tz: str = "UTC") -> datetime | None:
    """ISO 8601 (with `Z`, `+00:00` or `+0000`, or none) to naive UTC; empty -> None.

    Raises ValueError on anything else.
    """
    if value is None:
        return None
    s = str(value).strip()
    if not s or s.upper() in ("NULL", "NONE", "NAN", "NAT"):
        return None
    if len(s) > 11 and s[10] in "T " and s.endswith(("Z", "+00:00")):
        # The common UTC forms need no zone arithmetic: a third of a deployments export's load time.
        try:
            naive = datetime.fromisoformat(s[:-1] if s[-1] == "Z" else s[:-6])
        except ValueError:
            naive = None
        if naive is not None and naive.tzinfo is None:
            return naive
    try:
        dt = datetime.fromisoformat(s)  # Python 3.11 reads Jira's `+0000` itself: half the time of the rewrite below
    except ValueError:
        s = s.replace("Z", "+00:00").replace("z", "+00:00")
        m = _BASIC_OFFSET.match(s)
        if m:  # +0000 -> +00:00
            s = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
        dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(default_tz))
    return dt.replace(tzinfo=None) - dt.utcoffset()


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


def csv_delimiter(text: str) -> str:
    """`;` when the first line has more semicolons than commas (European Excel), else `,`."""
    first_line = text.split("\n", 1)[0]
    return ";" if first_line.count(";") > first_line.count(",") else ","


def csv_records(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (record number, {column: cell}) pairs, the header being record 1.

    Like ``csv_rows`` but keeps each record's number for error messages; all-empty
    records are dropped yet still counted, and short records get empty cells.
    """
    reader = _csv_records(io.StringIO(text, newline=""), csv_delimiter(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RejectedFile("the file is empty", row=1) from None
    records = [(n, dict(zip(header, cells + [""] * (len(header) - len(cells)))))
               for n, cells in enumerate(reader, start=2) if any(c.strip() for c in cells)]
    return header, records


def parse_amount(value: str | None) -> float | None:
    """A money amount: thousands separators and spaces allowed, `(1,234.50)` is negative; empty -> None."""
    if value is None:
        return None
    s = str(value).strip().replace(" ", "")
    negative = s.startswith("(") and s.endswith(")")
    number = parse_float(s[1:-1] if negative else s)
    return -number if negative and number is not None else number


@functools.lru_cache(maxsize=4096)  # an export repeats a few hundred names in every row
def service_name(repository: str | None) -> str | None:
    """A repository or service name normalised to one service key: last path segment, no `.git`, lower-case.

    So `acme/Payments-API`, `payments-api` and `git@host:acme/payments-api.git` are one service.
    """
    if repository is None:
        return None
    name = re.split(r"[/:]", str(repository).strip().rstrip("/"))[-1]
    name = name[:-4] if name.lower().endswith(".git") else name
    return name.lower() or None


@functools.lru_cache(maxsize=64)
def _case_insensitive(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def matches(pattern: str, *texts: str | None) -> bool:
    """True when the case-insensitive regex ``pattern`` is found in any of the non-empty texts."""
    regex = _case_insensitive(pattern)
    return any(regex.search(t) for t in texts if t)


# CI status words -> canonical outcome (success | failure | cancelled | running); anything else is "other".
OUTCOME_WORDS: dict[str, str] = {
    **dict.fromkeys(("success", "succeeded", "successful", "ok", "passed"), "success"),
    **dict.fromkeys(("failed", "failure", "error", "errored", "timed_out", "startup_failure"), "failure"),
    **dict.fromkeys(("cancelled", "canceled", "aborted", "skipped", "neutral", "stale", "action_required"), "cancelled"),
    **dict.fromkeys(("running", "in_progress", "pending", "queued", "waiting", "requested"), "running"),
}


@functools.lru_cache(maxsize=1024)
def outcome_of(status: str | None) -> str:
    """The canonical outcome of a CI status word (case-insensitive; spaces and dashes read as `_`)."""
    key = re.sub(r"[\s-]+", "_", (status or "").strip().lower())
    return OUTCOME_WORDS.get(key, "other")


def utf8_csv_header(path: Path) -> tuple[list[str], str] | None:
    """The stripped header cells and sniffed delimiter of a CSV file read as UTF-8, reading only its first
    record (a quoted header cell may span lines); None when that much is not UTF-8."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            first_line = fh.readline()
            delimiter = csv_delimiter(first_line)
            header = next(_csv_records(itertools.chain([first_line], fh), delimiter), None)
    except UnicodeDecodeError:
        return None
    if header is None:
        raise RejectedFile("the file is empty", row=1)
    return [h.strip() for h in header], delimiter


def csv_cell_records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (record number, cells) pairs, the header being record 1.

    For files whose header repeats a name (Jira's Labels, Sprint, issue links), which a
    dict per record would collapse. All-empty records are dropped yet still counted.
    """
    reader = _csv_records(io.StringIO(text, newline=""), csv_delimiter(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RejectedFile("the file is empty", row=1) from None
    # A non-blank first cell (the usual case) settles it without looking at the others.
    return header, [(n, cells) for n, cells in enumerate(reader, start=2)
                    if cells and (cells[0].strip() or any(c.strip() for c in cells))]


# Month abbreviations of Jira's `dd/MMM/yy` dates in the exporting user's language, after
# accents and dots are stripped (`févr.` -> `fevr`, `Mär` -> `mar`): English, French,
# German, Spanish, Italian, Portuguese and Dutch. No token names two different months.
_MONTHS: dict[str, int] = {
    **dict.fromkeys(("jan", "janv", "ene", "gen"), 1),
    **dict.fromkeys(("feb", "fev", "fevr", "febr"), 2),
    **dict.fromkeys(("mar", "mars", "marz", "mrz", "mrt"), 3),
    **dict.fromkeys(("apr", "avr", "abr"), 4),
    **dict.fromkeys(("may", "mai", "mag", "mei"), 5),
    **dict.fromkeys(("jun", "juin", "giu"), 6),
    **dict.fromkeys(("jul", "juil", "lug"), 7),
    **dict.fromkeys(("aug", "aout", "ago"), 8),
    **dict.fromkeys(("sep", "sept", "set"), 9),
    **dict.fromkeys(("oct", "okt", "ott", "out"), 10),
    **dict.fromkeys(("nov",), 11),
    **dict.fromkeys(("dec", "dez", "dic"), 12),
}

# Day first: `12/Mar/24 3:45 PM`, `10/oct./16 11:54 AM`, Excel's `16/02/2017 15:26`, `12.03.24 15:45`;
# the time is optional and the hour is not zero-padded.
_DAY_FIRST = re.compile(
    r"^(\d{1,2})[/.\-]([^\W\d_]+\.?|\d{1,2})[/.\-](\d{4}|\d{2})"
    r"(?:,?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?\s?[Mm]\.?)?)?$"
)


def _month(token: str) -> int:
    if token.isdigit():
        return int(token)
    plain = "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))
    plain = plain.lower().rstrip(".")
    if plain not in _MONTHS:
        raise ValueError(f"unknown month {token!r}")
    return _MONTHS[plain]


def _day_first_local(s: str) -> datetime | None:
    """The naive local time of a day-first Jira/Excel date; None when ``s`` is not one."""
    m = _DAY_FIRST.match(s)
    if not m:
        return None
    day, month, year, hour, minute, second, meridiem = m.groups()
    y = int(year)
    if len(year) == 2:  # strptime's %y pivot: 69-99 -> 19xx, 00-68 -> 20xx
        y += 1900 if y >= 69 else 2000
    h = int(hour or 0)
    if meridiem:
        if not 1 <= h <= 12:
            raise ValueError(f"hour {h} with AM/PM in {s!r}")
        h = h % 12 + (12 if meridiem.lower() == "p" else 0)
    return datetime(y, _month(month), int(day), h, int(minute or 0), int(second or 0))


def parse_jira_datetime(value: str | None, tz: str = "UTC") -> datetime | None:
    """A Jira CSV timestamp in zone ``tz`` (the file carries none) to naive UTC; empty -> None.

    Accepts `12/Mar/24 3:45 PM` (localised months too: `oct.`, `août`, `Mär`), Excel's
    day-first `16/02/2017 15:26`, and ISO 8601. Raises ValueError on anything else.
    """
    s = (value or "").strip()
    if not s:
        return None
    local = _day_first_local(s)
    if local is None:
        return parse_timestamp(s, tz)
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(timezone.utc).replace(tzinfo=None)


def parse_jira_date(value: str | None) -> date | None:
    """The calendar date of a Jira date-only field (`24/Mar/26 12:00 AM`, `2026-03-24`); empty -> None.

    No zone conversion: a due date is a day in the user's calendar, not an instant.
    """
    s = (value or "").strip()
    if not s:
        return None
    local = _day_first_local(s)
    return local.date() if local is not None else parse_date(s)


# The two halves of the common day-first shape `12/Mar/24 3:45 PM`, each read on its own:
# together they are exactly `_DAY_FIRST` with a single space between date and time.
_DATE_PART = re.compile(r"^(\d{1,2})[/.\-]([^\W\d_]+\.?|\d{1,2})[/.\-](\d{4}|\d{2})$")
_TIME_PART = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?\s?[Mm]\.?)?$")


def jira_date_part(s: str) -> date | None:
    """The day of a `12/Mar/24` date part; None when it is not one (or not a valid day)."""
    m = _DATE_PART.match(s)
    if not m:
        return None
    day, month, year = m.groups()
    y = int(year)
    if len(year) == 2:
        y += 1900 if y >= 69 else 2000
    try:
        return date(y, _month(month), int(day))
    except ValueError:
        return None


def jira_time_part(s: str) -> time | None:
    """The time of day of a `3:45 PM` time part (empty: midnight); None when it is not a valid one."""
    if not s:
        return time(0, 0)
    m = _TIME_PART.match(s)
    if not m:
        return None
    hour, minute, second, meridiem = m.groups()
    h = int(hour)
    if meridiem:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if meridiem.lower() == "p" else 0)
    try:
        return time(h, int(minute), int(second or 0))
    except ValueError:
        return None


_UNSEEN = object()  # a part not looked at yet (None means: not the common shape)


class JiraTimes:
    """``parse_jira_datetime`` and ``parse_jira_date`` for the many cells of one file, in zone ``tz``.

    Same results, faster: in the common `12/Mar/24 3:45 PM` shape the date part and the time
    part are each parsed once per distinct string (a 1M-issue export repeats a few thousand of
    each) and the zone's offset is subtracted directly. Any other shape, and any value the fast
    path does not accept, goes through the general parser, which decides (and raises) as before.
    """

    def __init__(self, tz: str = "UTC"):
        self.tz = tz
        self._zone: ZoneInfo | None = None  # looked up on first use, as parse_jira_datetime does
        self._days: dict[str, date | None] = {}
        self._times: dict[str, time | None] = {}

    def column(self, values: list[str | None], days: bool = False) -> tuple[list[Any], int | None]:
        """``datetime`` (``date`` when ``days``) of every value in one pass, and the index of the first
        value refused (the values up to it only), or None. A 1M-issue export has 3M timestamps."""
        out: list[Any] = []
        append = out.append
        day_memo, time_memo = self._days, self._times
        for i, value in enumerate(values):
            s = (value or "").strip()
            if not s:
                append(None)
                continue
            day_s, _, time_s = s.partition(" ")
            day = day_memo.get(day_s, _UNSEEN)
            if day is _UNSEEN:
                day = day_memo[day_s] = jira_date_part(day_s)
            clock = None
            if day is not None:
                clock = time_memo.get(time_s, _UNSEEN)
                if clock is _UNSEEN:
                    clock = time_memo[time_s] = jira_time_part(time_s)
            try:
                if clock is None:  # not the common shape: the general parser decides
                    append(parse_jira_date(s) if days else parse_jira_datetime(s, self.tz))
                elif days:
                    append(day)
                else:
                    if self._zone is None:
                        self._zone = ZoneInfo(self.tz)
                    local = datetime.combine(day, clock)
                    append(local - self._zone.utcoffset(local))
            except ValueError:
                return out, i
        return out, None


def read_json(path: Path) -> object:
    """The file's JSON; invalid JSON rejects the file at the line of the error."""
    import json

    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise RejectedFile(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", row=exc.lineno) from None


def json_items(data: object, key: str) -> list[tuple[str, dict]]:
    """(JSON location, item) for each item of a REST page `{key: [...]}`, a list of pages, or a bare list of items.

    The location (e.g. `[1].incidents[3]`) is what a RejectedFile names as the row.
    """
    pages = data if isinstance(data, list) else [data]
    many = isinstance(data, list)
    items: list[tuple[str, dict]] = []
    for i, page in enumerate(pages):
        where = f"[{i}]" if many else ""
        if not isinstance(page, dict):
            raise RejectedFile(f"expected an object (a page of {key} or one item)", row=where or None)
        if key not in page:
            items.append((where, page))  # a bare list of items
            continue
        if not isinstance(page[key], list):
            raise RejectedFile(f"{key} is not a list", row=where or None)
        prefix = f"{where}." if many else ""
        items += [(f"{prefix}{key}[{j}]", item) for j, item in enumerate(page[key])]
    for where, item in items:
        if not isinstance(item, dict):
            raise RejectedFile(f"expected an object in {key}", row=where)
    return items

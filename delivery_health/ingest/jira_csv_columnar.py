"""The Jira CSV loader's fast path: DuckDB reads the file and reshapes it column by column.

Same rows as the record-by-record loader in ``jira_csv`` (a test holds the two equal on every
fixture and sample), in a fraction of the time: a 1M-issue export is 100+ million cells, and
Python objects per cell cost seconds per million. Python still decides everything that is a
rule: each distinct date part, time part and story-point value is parsed by ``parsing``, and
link direction by ``jira_common``; SQL only joins those answers back onto the rows.

It takes the common case only. A file that is not UTF-8, that DuckDB's reader refuses, or that
has anything the record-by-record loader reports (an empty key, a bad date or number, a repeated
key or issue id) returns None: that loader then reads it and accepts it, or names the row and
the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from delivery_health import store
from delivery_health.ingest import jira_common, parsing
from delivery_health.ingest.base import Batch
from delivery_health.ingest.jira_common import JiraLink
from delivery_health.settings import Settings

# Python's str.strip() whitespace (str.isspace), every character of it; and as an RE2 class.
_WHITESPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b))) + \
    "\u2028\u2029\u202f\u205f\u3000"
_SPACE = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE) + "]"
_ISSUE_KEY = r"^[A-Za-z][A-Za-z0-9_]*-\d+$"  # jira_csv._ISSUE_KEY, in RE2
# Multi-valued fields stored as tags: (tag kind, the columns' normalised names).
TAG_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("component", ("components",)), ("label", ("labels",)), ("fix_version", ("fix versions",)),
    ("affects_version", ("affects versions",)), ("sprint", ("sprint",)),
)
# Single-valued fields: work-item column -> the columns that may hold it (first non-empty wins).
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "key": ("issue key",), "issue_id": ("issue id",), "project_key": ("project key",),
    "project_name": ("project name",), "issue_type": ("issue type",), "summary": ("summary",),
    "status": ("status",), "status_category": ("status category",), "priority": ("priority",),
    "resolution": ("resolution",), "assignee": ("assignee",), "reporter": ("reporter",),
    "team": ("custom field (team)",), "parent_key": ("parent key",), "epic_key": ("custom field (epic link)",),
    "parent_ref": ("parent id", "parent"), "component": ("components",),
    "created": ("created",), "updated": ("updated",), "resolved": ("resolved",), "due": ("due date",),
    "points": ("custom field (story points)", "custom field (story point estimate)"),
}


# Rows per chunk of a frame handed to the writer: one chunk per reading thread. DuckDB writes each chunk it is
# given as whole row groups (_ROW_GROUP_ROWS) and one partial group that the checkpoint after the write rewrites;
# the default 131,072-row chunks left 28 partial groups over 1M issues' 3.5M tags, and 1.3 s of rewriting.
_FRAME_CHUNK_ROWS = 1 << 40
_ROW_GROUP_ROWS = 122_880


# DuckDB's CSV reader's buffer, and so the longest record it takes (a longer one leaves the file to the record
# reader). Reading the 1M-issue bench file took 0.98 s with it, 1.32 s with DuckDB's default and 1.65 s with 256 MB
# (the 10M one: 7.9 s, 12.9 s with the default); 24 MB was as slow as the default.
_READ_BUFFER_BYTES = 64 << 20


class Columns(Protocol):
    """What this needs of ``jira_csv._Columns``: positions by normalised name, and the link columns."""

    header: list[str]
    links: list[tuple[str, str, list[int]]]

    def positions(self, *names: str) -> list[int]: ...


class _NotCommon(Exception):
    """Something the record-by-record loader must read (and may reject): leave the file to it."""


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _starts_visible(i: int) -> str:
    """Whether column ``i``'s cell starts with a character in `!`..`~` (strings compare by bytes)."""
    return f"(c{i} >= '!' AND c{i} < chr(127))"


def _may_need_stripping(column: pa.ChunkedArray) -> bool:
    """Whether a cell of ``column`` is empty, or starts or ends with a byte outside `!`..`~`. Every whitespace
    character does (a non-ASCII one ends in a byte of 128 or more); most cells neither start nor end with one.

    Read off the Arrow buffers, the first and last byte of every cell: the same test in SQL (`c[-1]`) took
    0.45 s at 1M issues. A null or empty cell has no bytes; the byte gathered for it is the first of the next
    cell or the last of the one before, tested anyway."""
    for chunk in column.chunks:
        large = pa.types.is_large_string(chunk.type)
        if not (large or pa.types.is_string(chunk.type)):
            return True  # a layout this does not read: strip it
        _, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, np.int64 if large else np.int32, len(chunk) + 1,
                                chunk.offset * (8 if large else 4))
        empty = np.diff(offsets) == 0
        if chunk.null_count:
            empty &= np.asarray(chunk.is_valid())
        if empty.any():
            return True
        data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.empty(0, np.uint8)
        if len(data) == 0:
            continue
        first = data[np.minimum(offsets[:-1], len(data) - 1)]
        last = data[np.maximum(offsets[1:] - 1, 0)]
        if min(first.min(), last.min()) < ord("!") or max(first.max(), last.max()) > ord("~"):
            return True
    return False


def _stripped(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column``'s cells stripped as ``str.strip`` does, empty as null."""
    trimmed = pc.utf8_trim(column, characters=_WHITESPACE)
    return pc.if_else(pc.equal(trimmed, ""), None, trimmed)


def _first(cells: list[str]) -> str:
    """The first non-NULL of ``cells`` (SQL expressions)."""
    if not cells:
        return "NULL::VARCHAR"
    return cells[0] if len(cells) == 1 else f"coalesce({', '.join(cells)})"


@dataclass
class _Reader:
    con: duckdb.DuckDBPyConnection
    cells: pa.Table | None = None  # the records' cells, ``f``'s source: a registered Arrow table

    def set_cells(self, cells: pa.Table) -> None:
        self.cells = cells
        self.con.register("cells", cells)

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def put(self, name: str, columns: dict[str, pa.Array]) -> None:
        """A Python-computed lookup table as a DuckDB table."""
        self.con.register(f"_{name}_arrow", pa.table(columns))
        self.run(f"CREATE TABLE {name} AS SELECT * FROM _{name}_arrow")
        self.con.unregister(f"_{name}_arrow")

    def frame(self, sql: str, ordered: bool = True) -> pa.Table:
        """The rows of ``sql`` as one Arrow table; ``ordered=False`` for rows whose order carries nothing.

        A result whose order DuckDB keeps comes in a chunk per batch of its input, not per thread: the tags
        came in 44 chunks and left as many partial row groups to rewrite (0.4 s).
        """
        self.run(f"SET preserve_insertion_order = {str(ordered).lower()}")
        try:
            return self.con.sql(sql).to_arrow_table(_FRAME_CHUNK_ROWS)
        finally:
            self.run("RESET preserve_insertion_order")

    def frame_beside(self, select_list: str, rows: int) -> pa.Table:
        """``SELECT select_list FROM f POSITIONAL JOIN derived d`` (``rows`` rows) as one Arrow table.

        DuckDB makes a positional join on one thread: one part per DuckDB thread is made at once, each on its
        own cursor (0.48 -> 0.27 s at 1M issues on 2 cores). Every part but the last is whole row groups, so
        the writer is left no partial group to rewrite.
        """
        threads = int(self.rows("SELECT current_setting('threads')")[0][0])
        size = max(rows // threads // _ROW_GROUP_ROWS, 1) * _ROW_GROUP_ROWS
        bounds = [(start, start + size) for start in range(0, rows, size)]
        bounds[-1] = (bounds[-1][0], rows)  # the last part takes the rest

        def part(bound: tuple[int, int]) -> pa.Table:
            # A registration is its connection's own: on the cursor, ``cells`` (and so ``f``) is the part's rows.
            with self.con.cursor() as cursor:
                cursor.register("cells", self.cells.slice(bound[0], bound[1] - bound[0]))
                return cursor.sql(f"""SELECT {select_list} FROM f POSITIONAL JOIN
                                      (SELECT * FROM derived WHERE n >= {bound[0]} AND n < {bound[1]}) d""").to_arrow_table(
                    _FRAME_CHUNK_ROWS)

        with ThreadPoolExecutor(threads) as pool:
            return pa.concat_tables(pool.map(part, bounds))


def _read_records(db: _Reader, path: Path, cols: Columns, delimiter: str) -> tuple[int, ...]:
    """``f``: per record (as the csv module splits them; all-blank ones left out), its number ``n`` in file
    order, the TEXT_FIELDS and the cells ``v{i}`` of the tag and link columns, stripped. Returns the counts
    ``_batch_of`` checks: records, keys, distinct keys, records without a creation date, issue ids, distinct ids.

    A record is left out when all its cells are whitespace; a key starting with a visible ASCII character settles
    that at once. The cells are read as they are into an Arrow table (0.8 s at 1M issues, 1.0 s into a DuckDB
    table), then only the columns with a cell that may need stripping (``_may_need_stripping``) are stripped:
    stripping as the file was read cost 1.2 s more.
    DuckDB's parallel reader cannot pad short records (Excel drops trailing empty cells) in a file
    with quoted line breaks; such a file is read again on one thread.
    """
    width = len(cols.header)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    multi = sorted({i for _, _, positions in cols.links for i in positions}
                   | {i for _, names in TAG_FIELDS for i in cols.positions(*names)})
    used = sorted({i for names in TEXT_FIELDS.values() for i in cols.positions(*names)} | set(multi))
    every_cell = ", ".join(f"c{i}" for i in range(width))
    for padding in (False, True):
        try:
            cells = db.con.sql(f"""SELECT {', '.join(f'c{i}' for i in used)} FROM read_csv(?,
                       header = true, auto_detect = false, columns = {columns}, delim = ?, quote = '"', escape = '"',
                       strict_mode = true, null_padding = {str(padding).lower()}, parallel = {str(not padding).lower()},
                       buffer_size = {_READ_BUFFER_BYTES}, max_line_size = {_READ_BUFFER_BYTES})
                       WHERE {' OR '.join(_starts_visible(i) for i in cols.positions(*TEXT_FIELDS['key']))}
                          OR NOT regexp_full_match(concat({every_cell}), '{_SPACE}*')""",
                               params=[str(path), delimiter]).to_arrow_table(_FRAME_CHUNK_ROWS)
            break
        except duckdb.Error as exc:  # a short record, or one with more cells than the header
            if padding:
                raise _NotCommon(str(exc)) from None
    with ThreadPoolExecutor() as pool:  # numpy lets go of the GIL: columns tested side by side
        flagged = list(pool.map(_may_need_stripping, cells.columns))
    for at, i in enumerate(used):
        if flagged[at]:
            cells = cells.set_column(at, f"c{i}", _stripped(cells.column(at)))
    db.set_cells(cells.append_column("n", pa.array(np.arange(cells.num_rows, dtype=np.int64))))
    selected = [f"{_first([f'c{i}' for i in cols.positions(*names)])} AS {name}" for name, names in TEXT_FIELDS.items()]
    db.run(f"CREATE VIEW f AS SELECT n, {', '.join(selected + [f'c{i} AS v{i}' for i in multi])} FROM cells")
    return tuple(db.rows(f"""SELECT count(*), count(key), count(DISTINCT key),
                                    count(*) FILTER (WHERE created IS NULL AND {'true' if cols.positions('created') else 'false'}),
                                    count(issue_id), count(DISTINCT issue_id) FROM f""")[0])


def _parsed_map(db: _Reader, name: str, values: list[str], parse: Callable[[str], Any], kind: pa.DataType) -> None:
    """``name``(s, v): ``parse`` of each distinct string; a value it refuses leaves the file to the other loader."""
    try:
        parsed = [parse(v) for v in values]
    except ValueError as exc:
        raise _NotCommon(str(exc)) from None
    db.put(name, {"s": pa.array(values, pa.string()), "v": pa.array(parsed, kind)})


def _time_maps(db: _Reader, tz: str) -> None:
    """``instants``(s, v): the UTC time of every distinct created/updated/resolved string, ``due_days``(s, v) the
    day of every due date, as ``parsing.JiraTimes`` reads them."""
    # Split once per distinct string, not per cell (4M at 1M issues: 0.25 s more).
    db.run("""CREATE TABLE stamps AS SELECT s, split_part(s, ' ', 1) AS day_s,
               CASE WHEN position(' ' IN s) > 0 THEN s[position(' ' IN s) + 1:] ELSE '' END AS time_s, due
               FROM (SELECT DISTINCT s, due FROM (SELECT created AS s, false AS due FROM f UNION ALL
                     SELECT updated, false FROM f UNION ALL SELECT resolved, false FROM f UNION ALL SELECT due, true FROM f)
                     WHERE s IS NOT NULL)""")
    days = [r[0] for r in db.rows("SELECT DISTINCT day_s FROM stamps")]
    _parsed_map(db, "day_parts", days, parsing.jira_date_part, pa.date32())
    times = [r[0] for r in db.rows("SELECT DISTINCT time_s FROM stamps")]
    _parsed_map(db, "time_parts", times, parsing.jira_time_part, pa.time64("us"))
    db.run("""CREATE TABLE stamp_parts AS SELECT s.s, s.due, d.v AS day, t.v AS clock FROM stamps s
              LEFT JOIN day_parts d ON d.s = s.day_s LEFT JOIN time_parts t ON t.s = s.time_s""")
    # Shapes other than `12/Mar/24 3:45 PM` (ISO 8601, odd spacing): the general parsers, string by string.
    odd = db.rows("SELECT s, due FROM stamp_parts WHERE day IS NULL OR clock IS NULL")
    odd_times = [s for s, due in odd if not due]
    odd_days = [s for s, due in odd if due]
    _parsed_map(db, "odd_instants", odd_times, lambda s: parsing.parse_jira_datetime(s, tz), pa.timestamp("us"))
    _parsed_map(db, "odd_days", odd_days, parsing.parse_jira_date, pa.date32())
    # The zone's offset per local day: one subtraction for a day with one offset, and each time of the
    # rare day the offset changes on (a DST switch) computed on its own, as JiraTimes does (fold 0).
    zone = ZoneInfo(tz)
    local_days = [r[0] for r in db.rows("SELECT DISTINCT day FROM stamp_parts WHERE NOT due AND day IS NOT NULL AND clock IS NOT NULL")]
    offsets = []
    for d in local_days:
        start, end = zone.utcoffset(datetime.combine(d, time(0))), zone.utcoffset(datetime.combine(d, time(23, 59, 59)))
        offsets.append(start.total_seconds() if start == end else None)
    db.put("day_offsets", {"day": pa.array(local_days, pa.date32()), "seconds": pa.array(offsets, pa.float64())})
    switching = [r[0] for r in db.rows("""SELECT DISTINCT p.day + p.clock FROM stamp_parts p JOIN day_offsets o
                                          ON o.day = p.day WHERE NOT p.due AND o.seconds IS NULL""")]
    db.put("switch_instants", {"local": pa.array(switching, pa.timestamp("us")),
                               "v": pa.array([t - zone.utcoffset(t) for t in switching], pa.timestamp("us"))})
    db.run("""CREATE TABLE instants AS
              SELECT p.s, coalesce(w.v, p.day + p.clock - to_microseconds(CAST(o.seconds * 1e6 AS BIGINT))) AS v
              FROM stamp_parts p JOIN day_offsets o ON o.day = p.day
              LEFT JOIN switch_instants w ON w.local = p.day + p.clock
              WHERE NOT p.due AND p.day IS NOT NULL AND p.clock IS NOT NULL
              UNION ALL SELECT s, v FROM odd_instants""")
    db.run("""CREATE TABLE due_days AS SELECT s, day AS v FROM stamp_parts WHERE due AND day IS NOT NULL AND clock IS NOT NULL
              UNION ALL SELECT s, v FROM odd_days""")


def _link_rows(db: _Reader, cols: Columns) -> list[tuple[str, str]]:
    """``link_cells``(n, key, g, p, link_type, other): every linked key of every link column group g (in
    header order), p its first position; returns each group's (link type, direction)."""
    parts, kinds = [], []
    for g, (link_type, direction, positions) in enumerate(cols.links):
        kinds.append((link_type, direction))
        for p, i in enumerate(positions):
            parts.append(f"SELECT n, key, {g} AS g, {p} AS p, {_lit(link_type)} AS link_type, v{i} AS other FROM f")
    if not parts:
        db.run("CREATE TABLE link_cells (n BIGINT, key VARCHAR, g INTEGER, p INTEGER, link_type VARCHAR, other VARCHAR)")
        return kinds
    db.run(f"""CREATE TABLE link_cells AS SELECT n, key, g, min(p) AS p, link_type, other
               FROM ({' UNION ALL '.join(parts)}) WHERE other IS NOT NULL GROUP BY n, key, g, link_type, other""")
    return kinds


def _tags_sql(cols: Columns) -> str:
    """Each record's tags: per kind, the non-empty cells of its columns, a value repeated in a later column once.

    A repeat is dropped by comparing a cell with the earlier ones of its record, not by a DISTINCT over all the
    tags (3.5M at 1M issues: 0.2 s more). The cells of a record are unnested together, so its tags lie side by
    side: a row group of tags then holds a third as many issue keys as when each column was scanned on its own
    (a union), and the store compresses them faster (3.5M tags made and written in 0.74 s against 1.07 s)."""
    listed, values = [], []
    for kind, names in TAG_FIELDS:
        earlier: list[int] = []
        for i in cols.positions(*names):
            repeats = " AND ".join(f"v{i} IS DISTINCT FROM v{j}" for j in earlier)
            listed.append(_lit(kind))
            values.append(f"CASE WHEN {repeats} THEN v{i} END" if repeats else f"v{i}")
            earlier.append(i)
    if not listed:
        return "SELECT NULL::VARCHAR AS key, NULL::VARCHAR AS kind, NULL::VARCHAR AS value WHERE false"
    # Two lists unnested in one SELECT are zipped: each value beside its kind.
    return f"""SELECT key, kind, value FROM (SELECT key, unnest([{', '.join(listed)}]) AS kind,
                                                      unnest([{', '.join(values)}]) AS value FROM f)
               WHERE value IS NOT NULL"""


def _select_list(table_name: str, given: dict[str, str]) -> str:
    """``given`` expressions as ``table_name``'s written columns, in its order, each cast to its type (missing: NULL)."""
    table = store.metadata.tables[table_name]
    types = {"VARCHAR": "VARCHAR", "DATETIME": "TIMESTAMP", "DATE": "DATE", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN"}
    return ", ".join(f"CAST({given.get(c.name, 'NULL')} AS {types.get(str(c.type), 'VARCHAR')}) AS {c.name}"
                     for c in store.written_columns(table))


def batch_of(path: Path, cols: Columns, delimiter: str, settings: Settings,
             story_points: Callable[[str], float | None], source_file: str) -> Batch | None:
    """The file's rows as Arrow tables (``Batch.frames``), or None when it is not the common case."""
    try:
        return _batch_of(path, cols, delimiter, settings, story_points, source_file)
    except _NotCommon:
        return None


def _batch_of(path: Path, cols: Columns, delimiter: str, settings: Settings,
              story_points: Callable[[str], float | None], source_file: str) -> Batch:
    with duckdb.connect() as con:
        db = _Reader(con)
        read, keys, distinct_keys, no_created, ids, distinct_ids = _read_records(db, path, cols, delimiter)
        if read == 0 or keys < read or distinct_keys < read or no_created or distinct_ids < ids:
            raise _NotCommon("an empty key or creation date, or a repeated key or issue id")
        _time_maps(db, settings.jira_timezone)
        points = [r[0] for r in db.rows("SELECT DISTINCT points FROM f WHERE points IS NOT NULL")]
        _parsed_map(db, "points_map", points, story_points, pa.float64())
        kinds = _link_rows(db, cols)
        src = {"source": "'jira-csv'", "source_file": _lit(source_file)}

        done = ", ".join(_lit(s) for s in sorted(jira_common.DONE_STATUSES))
        # What the joins give each record, in file order: the work items set it beside the record's cells by
        # position (a positional join). Joined and sorted with all the cells, the rows took 0.4 s more at 1M issues.
        db.run(f"""CREATE TABLE derived AS SELECT x.n, x.status_category, x.created_at, x.updated_at, x.resolved_at,
                   x.due_date, x.parent_key, coalesce(x.epic_key, p.key) AS epic_key, x.story_points
                   FROM (SELECT f.n, coalesce(f.status_category, CASE WHEN r.v IS NOT NULL OR lower(f.status) IN ({done})
                                THEN 'Done' ELSE 'To Do' END) AS status_category,
                           c.v AS created_at, u.v AS updated_at, r.v AS resolved_at, d.v AS due_date,
                           coalesce(f.parent_key, CASE WHEN f.parent_ref IS NOT NULL THEN coalesce(by_id.key,
                                CASE WHEN regexp_full_match(f.parent_ref, '{_ISSUE_KEY}') THEN f.parent_ref END) END)
                               AS parent_key,
                           f.epic_key, sp.v AS story_points
                         FROM f LEFT JOIN instants c ON c.s = f.created LEFT JOIN instants u ON u.s = f.updated
                         LEFT JOIN instants r ON r.s = f.resolved LEFT JOIN due_days d ON d.s = f.due
                         LEFT JOIN points_map sp ON sp.s = f.points
                         LEFT JOIN (SELECT issue_id, key FROM f WHERE issue_id IN (SELECT parent_ref FROM f)) by_id
                             ON by_id.issue_id = f.parent_ref) x
                   -- Cloud 2025+ dropped `Epic Link` for `Parent`: a parent that is an Epic is also the epic.
                   LEFT JOIN (SELECT key FROM f WHERE lower(issue_type) = 'epic') p ON p.key = x.parent_key
                   ORDER BY x.n""")
        work_items = db.frame_beside(_select_list('work_items', {
            'id': 'f.key', **{c: f'f.{c}' for c in ('issue_id', 'project_key', 'project_name', 'issue_type', 'summary',
                                                   'status', 'priority', 'resolution', 'assignee', 'reporter', 'team')},
            **{c: f'd.{c}' for c in ('status_category', 'created_at', 'updated_at', 'resolved_at', 'due_date',
                                     'parent_key', 'epic_key', 'story_points')}, **src}), read)
        if work_items.num_rows != read:  # a join matched twice: the rows beside the cells would not be theirs
            raise _NotCommon("a join matched a record twice")
        tags = db.frame(f"""SELECT {_select_list('work_item_tags', {'item_key': 'key', 'kind': 'kind', 'value': 'value'})}
            FROM ({_tags_sql(cols)})""", ordered=False)

        edge_sql = []
        for g, (link_type, direction) in enumerate(kinds):
            first, _, blocking = jira_common.link_edge("this", JiraLink(link_type, direction, "other"))
            a, b = ("key", "other") if first == "this" else ("other", "key")
            edge_sql.append(f"SELECT {a} AS a, {b} AS b, link_type, {str(blocking).lower()} AS blocking "
                            f"FROM link_cells WHERE g = {g}")
        links = db.frame(f"""SELECT DISTINCT {_select_list('issue_links', {
            'id': "a || '|' || link_type || '|' || b", 'from_key': 'a', 'to_key': 'b', 'link_type': 'link_type',
            'is_blocking': 'blocking', **src})} FROM ({' UNION ALL '.join(edge_sql)})""") if edge_sql else None

        incident_types = ", ".join(_lit(t.lower()) for t in settings.incident_issue_types) or "NULL"
        db.run(f"CREATE TABLE incident_keys AS SELECT key, n FROM f WHERE lower(issue_type) IN ({incident_types})")
        incidents = db.frame(f"""SELECT {_select_list('incidents', {
            'id': 'i.key', 'service': 'i.component', 'severity': 'i.priority', 'title': 'i.summary', 'status': 'i.status',
            'started_at': 'd.created_at', 'resolved_at': 'd.resolved_at', 'jira_key': 'i.key', **src})}
            FROM incident_keys k JOIN f i ON i.n = k.n JOIN derived d ON d.n = k.n ORDER BY k.n""")
        # An issue's incident: the first incident among its own links (header order), else the first incident
        # in the file that links to it (the other loader mirrors such links onto it, in file order).
        action_labels = ", ".join(_lit(a.lower()) for a in settings.action_item_labels) or "NULL"
        labelled = " OR ".join(f"lower(v{i}) IN ({action_labels})" for i in cols.positions("labels")) or "false"
        actions = db.frame(f"""WITH own AS (
                SELECT l.n, arg_min(l.other, (l.g, l.p)) AS incident FROM link_cells l
                JOIN incident_keys k ON k.key = l.other GROUP BY l.n),
            mirrored AS (
                SELECT t.n, arg_min(k.key, k.n) AS incident FROM link_cells l JOIN incident_keys k ON k.n = l.n
                JOIN f t ON t.key = l.other WHERE t.n <> l.n GROUP BY t.n),
            chosen AS (SELECT n FROM own UNION SELECT n FROM mirrored UNION SELECT n FROM f WHERE {labelled})
            SELECT {_select_list('action_items', {
                'id': 'i.key', 'incident_id': 'coalesce(o.incident, m.incident)', 'title': 'i.summary',
                'owner': 'i.assignee', 'status': 'i.status', 'created_at': 'd.created_at', 'due_date': 'd.due_date',
                'resolved_at': 'd.resolved_at', 'jira_key': 'i.key', **src})}
            FROM chosen c JOIN f i ON i.n = c.n JOIN derived d ON d.n = c.n
            LEFT JOIN own o ON o.n = c.n LEFT JOIN mirrored m ON m.n = c.n
            WHERE i.key NOT IN (SELECT key FROM incident_keys)
            ORDER BY c.n""")

    batch = Batch(read=read)
    for name, frame in (("work_items", work_items), ("work_item_tags", tags), ("issue_links", links),
                        ("incidents", incidents), ("action_items", actions)):
        if frame is not None and (frame.num_rows or name == "work_item_tags"):  # tags: removed ones go
            batch.frames[name] = frame
    batch.owned["work_item_tags"] = ("item_key", work_items.column("id"))
    return batch


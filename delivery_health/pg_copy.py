"""PostgreSQL's COPY FROM STDIN, fed from Python: rows as its text format, Arrow tables as its binary format.

Each runs on the cursor of the caller's transaction, so a failure rolls back the whole file.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_EPOCH_US = 946_684_800 * 1_000_000  # PostgreSQL's epoch, 2000-01-01, in Unix microseconds
_EPOCH_DAYS = 10_957


def copy_rows(dbapi: Any, table_name: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """``rows`` (dicts; a missing column is NULL) appended to ``table_name``'s ``columns`` by one text COPY."""
    buf = io.StringIO()
    for r in rows:
        buf.write("\t".join([_text_field(r.get(c)) for c in columns]))
        buf.write("\n")
    buf.seek(0)
    with dbapi.cursor() as cur:
        cur.copy_expert(f'COPY "{table_name}" ({_listed(columns)}) FROM STDIN', buf)


def copy_frame(dbapi: Any, table_name: str, columns: Sequence[str], frame: pa.Table, freeze: bool = False) -> None:
    """An Arrow table's rows appended to ``table_name``'s ``columns`` by one binary COPY; ``freeze``: written
    frozen (the table must have been created or truncated in this transaction)."""
    with dbapi.cursor() as cur:
        cur.copy_expert(f'COPY "{table_name}" ({_listed(columns)}) FROM STDIN WITH (FORMAT binary'
                        f'{", FREEZE" if freeze else ""})', BinaryRows(frame))


def _listed(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _text_field(value: Any) -> str:
    """One field of the text format: NULL is \\N, backslash and control characters escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, int, float)):
        return value.isoformat() if isinstance(value, date) else repr(value)
    return str(value).translate(_TEXT_ESCAPES)


class BinaryRows(io.RawIOBase):
    """An Arrow table's rows in the binary format, made a batch at a time as COPY reads them (the server reads one
    while the next is made). The server parses nothing: 1M issues were copied in 1.75 s, as CSV in 3.5 s (mostly
    the timestamps' text)."""

    BATCH_ROWS = 16_384
    HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
    TRAILER = b"\xff\xff"

    def __init__(self, frame: pa.Table) -> None:
        super().__init__()
        batches = frame.to_batches(max_chunksize=self.BATCH_ROWS)
        self._parts = itertools.chain([self.HEADER], map(binary_rows, batches), [self.TRAILER])

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """The next part (header, a batch's rows, trailer), whatever ``size``: COPY sends what it is given."""
        return next(self._parts, b"")


def binary_rows(batch: pa.RecordBatch) -> bytes:
    """A record batch's rows in the binary format: per row the field count, then per field its length (-1 for
    NULL) and its bytes, all big-endian. Each field's lengths and bytes are Arrow binary arrays; one element-wise
    join makes the rows, side by side in one buffer."""
    n = batch.num_rows

    def fixed(values: np.ndarray) -> pa.Array:
        """Big-endian values as a binary array of their bytes."""
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(values.itemsize), n, [None, pa.py_buffer(values.tobytes())]
                                                    ).cast(pa.binary())

    parts = [fixed(np.full(n, batch.num_columns, ">i2"))]
    for column in batch.columns:
        valid = np.asarray(column.is_valid()) if column.null_count else None
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            data = column.cast(pa.binary()).fill_null(b"")
            lengths = pc.binary_length(data).to_numpy().astype(np.int32)
        else:
            raw = _binary_values(column)
            data = fixed(raw)
            lengths = np.full(n, raw.itemsize, np.int32)
            if valid is not None:  # a NULL has no bytes
                data = pc.if_else(pa.array(valid), data, pa.scalar(b"", pa.binary()))
        if valid is not None:
            lengths[~valid] = -1
        parts += [fixed(lengths.astype(">i4")), data]
    rows = pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.binary()))
    offsets = np.frombuffer(rows.buffers()[1], np.int32, n + 1, rows.offset * 4)
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]].tobytes()


def _binary_values(column: pa.Array) -> np.ndarray:
    """A column of fixed width as PostgreSQL's binary values (NULL as zero): timestamp (microseconds since its
    epoch), date (days since it), float8, bool."""
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.tz is None:
        micros = np.asarray(column.cast(pa.timestamp("us")).cast(pa.int64()).fill_null(0))
        return (micros - _EPOCH_US).astype(">i8")
    if pa.types.is_date32(kind):
        return (np.asarray(column.cast(pa.int32()).fill_null(0)) - _EPOCH_DAYS).astype(">i4")
    if pa.types.is_float64(kind):
        return np.asarray(column.fill_null(0.0)).astype(">f8")
    if pa.types.is_boolean(kind):
        return np.asarray(column.fill_null(False)).astype(np.uint8)
    raise TypeError(f"no binary COPY for an Arrow {kind} column")

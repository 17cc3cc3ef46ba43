"""In-app uploads: each uploaded export is staged under its own name and ingested exactly as the CLI does.

The app reads through a read-only engine; an upload gets its own read-write engine that
is disposed as soon as the files are in, so the app never holds a write connection.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from sqlalchemy.engine import Engine

from delivery_health import store
from delivery_health.ingest import FORMATS, IngestError, IngestResult, ingest_file
from delivery_health.settings import Settings


class UploadsDisabled(Exception):
    """This instance does not accept uploads (``allow_uploads`` is off)."""


@dataclass(frozen=True)
class UploadResult:
    """One uploaded file's outcome: ``result`` when it was loaded, ``error`` when it was rejected whole."""

    name: str
    result: IngestResult | None = None
    error: IngestError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def line(self) -> str:
        """One line of plain text: the summary, or the file, row and reason it was rejected for."""
        if self.result is not None:
            return self.result.summary_line()
        return str(self.error)


def display_name(name: str) -> str:
    """The uploaded file's own name, without any directory part a client may send."""
    base = PureWindowsPath(PurePosixPath(name).name).name.strip()
    return base if base not in ("", ".", "..") else "upload"


def _ingest_one(engine: Engine, settings: Settings, name: str, data: bytes, fmt: str | None) -> UploadResult:
    shown = display_name(name)
    with tempfile.TemporaryDirectory(prefix="dh-upload-") as tmp:
        # Staged under its own name: loaders that record the file name see the user's name.
        path = Path(tmp) / shown
        path.write_bytes(data)
        try:
            return UploadResult(shown, result=ingest_file(engine, path, settings, fmt=fmt, name=shown))
        except IngestError as exc:
            return UploadResult(shown, error=exc)


def ingest_uploads(db: str | Engine, settings: Settings, files: list[tuple[str, bytes]],
                   fmt: str | None = None) -> list[UploadResult]:
    """Ingest uploaded ``(file name, content)`` pairs, each in its own transaction; one result per file, in order.

    ``db`` is a URL (a read-write engine is made and disposed here) or an engine the caller owns.
    ``fmt`` overrides format sniffing for every file.
    """
    if not settings.allow_uploads:
        raise UploadsDisabled("uploads are disabled on this instance (DELIVERY_HEALTH_ALLOW_UPLOADS)")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    engine = store.make_engine(db) if isinstance(db, str) else db
    try:
        return [_ingest_one(engine, settings, name, data, fmt) for name, data in files]
    finally:
        if isinstance(db, str):
            engine.dispose()  # no write connection outlives the upload

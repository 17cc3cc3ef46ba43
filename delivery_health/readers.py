"""Read-only engines on a DuckDB file for the app's calls, sharing the file's open database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from delivery_health import store


class SharedReadOnly:
    """Read-only engines on one DuckDB file, one connection each, that share the file's open database.

    Opening a DuckDB file costs 20-80 ms at 1M issues; while another connection to it is open in the
    process, under 1 ms. So one extra connection is kept open between calls and closed ``idle_seconds``
    after the last call ends (``Settings.keep_open_seconds``; 0: when each call ends): an ingest in another
    process then gets the file (its writer retries while busy). Thread-safe: each call has its own
    connection; the kept one is only held.
    """

    def __init__(self, url: str, idle_seconds: float):
        self.url, self.idle_seconds = url, idle_seconds
        self._lock = threading.Lock()
        self._kept: Engine | None = None
        self._calls = 0
        self._timer: threading.Timer | None = None

    @property
    def is_open(self) -> bool:
        return self._kept is not None

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """A one-connection read-only engine for one call, disposed when the call ends."""
        with self._lock:
            self._calls += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        call: Engine | None = None
        try:
            with self._lock:
                if self._kept is None:
                    kept = store.make_engine(self.url, read_only=True, single_connection=True)
                    kept.connect().close()  # StaticPool: the connection stays open until dispose()
                    self._kept = kept
            call = store.make_engine(self.url, read_only=True, single_connection=True)
            yield call
        finally:
            if call is not None:
                call.dispose()
            with self._lock:
                self._calls -= 1
                if self._calls == 0 and self._kept is not None:
                    if self.idle_seconds <= 0:
                        self._close_kept()
                    else:
                        self._timer = threading.Timer(self.idle_seconds, self.close_if_idle)
                        self._timer.daemon = True
                        self._timer.start()

    def close_if_idle(self) -> None:
        """Close the kept connection unless a call is running (a writer in this process calls it first)."""
        with self._lock:
            if self._calls == 0 and self._kept is not None:
                self._close_kept()

    def _close_kept(self) -> None:  # with the lock held
        self._kept.dispose()
        self._kept = None

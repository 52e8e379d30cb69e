"""The app's own SQLite files (journal, dismissals, phash cache, frame cache), opened one way.

Each store is one connection opened once, in WAL mode, shared by every thread behind one
lock; it is closed by `close()` or by leaving a `with` block. A store states its schema and
how durable a commit must be (the journal: FULL, so a committed row survives a power cut;
caches: NORMAL, where a lost last write only costs recomputing it). An SQLite failure (a
full disk, a damaged file) becomes an `AppError` naming the file, never a traceback.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from stash_dedupe.errors import AppError

_Store = TypeVar("_Store", bound="SqliteStore")
# How long opening waits for another process holding the file (as the busy timeout does).
_OPEN_TIMEOUT_SECONDS = 30


class SqliteStore:
    """A context-managed SQLite file of the app's own; subclasses add what they store."""

    SCHEMA = ""
    SYNCHRONOUS = "NORMAL"
    NAME = "database"  # how messages name the store ("removal journal", ...)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: each statement commits on its own outside transaction().
            self._connection = sqlite3.connect(
                self.path,
                timeout=_OPEN_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            self._connection.row_factory = sqlite3.Row
            self._prepare()
        except (sqlite3.Error, OSError) as error:
            raise AppError(f"The {self.NAME} {self.path} cannot be opened: {error}.") from error

    def _prepare(self) -> None:
        """Set the connection's modes and create the schema. Two processes opening a new
        file at once (the window and the CLI) can meet in the switch to WAL, which SQLite
        answers "database is locked" at once instead of waiting: try again, as the timeout
        would have."""
        deadline = time.monotonic() + _OPEN_TIMEOUT_SECONDS
        while True:
            try:
                self._connection.execute("PRAGMA journal_mode = WAL")
                self._connection.execute(f"PRAGMA synchronous = {self.SYNCHRONOUS}")
                self._connection.execute("PRAGMA foreign_keys = ON")
                self._connection.executescript(self.SCHEMA)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def __enter__(self: _Store) -> _Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Several statements committed together (or not at all)."""
        with self._lock, self._readable_errors():
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self._readable_errors():
            return self._connection.execute(sql, parameters).fetchall()

    def write(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one statement, committed when this returns; gives the new row id of an INSERT."""
        with self._lock, self._readable_errors():
            cursor = self._connection.execute(sql, parameters)
            return cursor.lastrowid or 0

    @contextmanager
    def _readable_errors(self) -> Iterator[None]:
        """A full disk or a broken file is the user's to fix, so say so (not a bug)."""
        try:
            yield
        except sqlite3.Error as error:
            raise AppError(self.describe_failure(error)) from error

    def describe_failure(self, error: sqlite3.Error) -> str:
        return f"The {self.NAME} {self.path} cannot be used: {error}."

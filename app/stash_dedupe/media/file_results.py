"""What the app computes per library file and keeps (phashes, frame fingerprints).

A result belongs to a file as it was: it is used only while the file's path, size and mod
time are those it was computed from. A file whose computation failed is recorded apart with
the reason, so the user is told and the next run can try again.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from stash_dedupe.store import SqliteStore

FAILURES_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    library TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL,
    PRIMARY KEY (library, file_id)
);
"""


@dataclass(frozen=True)
class FileFailure:
    """A file whose result could not be computed, and the reason, for the user."""

    file_id: int
    path: str
    reason: str


class FileResultStore(SqliteStore):
    """A cache of per-file results (the subclass's tables) and of failures (this one's)."""

    SYNCHRONOUS = "NORMAL"  # a cache: after a power cut the last results are computed again

    @staticmethod
    def record_failure(connection: sqlite3.Connection, library: str, failure: FileFailure) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
            (library, failure.file_id, failure.path, failure.reason, time.time()),
        )

    @staticmethod
    def forget_failure(connection: sqlite3.Connection, library: str, file_id: int) -> None:
        connection.execute(
            "DELETE FROM failures WHERE library = ? AND file_id = ?", (library, file_id)
        )

    def failures(self, library: str) -> list[FileFailure]:
        """The files whose latest computation failed, with the reason."""
        rows = self.query(
            "SELECT file_id, path, reason FROM failures WHERE library = ? ORDER BY file_id",
            (library,),
        )
        return [FileFailure(row["file_id"], row["path"], row["reason"]) for row in rows]

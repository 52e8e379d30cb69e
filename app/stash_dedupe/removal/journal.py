"""The removal journal: a write-ahead record of every file the app removes or restores.

Each action is committed as 'planned' before the filesystem is touched and marked 'done'
after, so after a crash `recovery.reconcile` can tell, file by file, what happened. SQLite in
WAL mode with synchronous=FULL, so a committed row survives a killed process or a power cut.

Rows are written by `removal` only; the read functions at the bottom serve history views.
In an action row `original_path` is where the action took the file from and `destination`
where it put it (for an undo: from the trash back to the library). A hardlink action (and
its undo) also records `link_target`, the kept file whose hardlink replaced the original.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from stash_dedupe.appdata import AppPaths
from stash_dedupe.errors import NotFoundError, RefusedError, is_row_id
from stash_dedupe.removal.lock import FileLock, LockTimeout
from stash_dedupe.store import SqliteStore

# How long a removal waits for another one (another window, request or CLI run) to finish.
REMOVAL_LOCK_WAIT_SECONDS = 300.0

TRASH, MOVE, DELETE, HARDLINK, UNDO = "trash", "move", "delete", "hardlink", "undo"
REMOVAL_MODES = (TRASH, MOVE, DELETE, HARDLINK)

PLANNED, DONE, SKIPPED, FAILED, UNDONE = "planned", "done", "skipped", "failed", "undone"
RUNNING, FINISHED, INTERRUPTED = "running", "finished", "interrupted"

_TABLES = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    mode TEXT NOT NULL CHECK (mode IN ('trash', 'move', 'delete', 'hardlink', 'undo')),
    trash_dir TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted'))
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches (id),
    time TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('trash', 'move', 'delete', 'hardlink', 'undo')),
    file_id INTEGER NOT NULL,
    original_path TEXT NOT NULL,
    destination TEXT,
    trash_info_path TEXT,
    size INTEGER NOT NULL,
    mtime REAL,
    keeper_ids TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('planned', 'done', 'skipped', 'failed', 'undone')),
    reason TEXT,
    undoes_action_id INTEGER REFERENCES actions (id),
    link_target TEXT
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS actions_by_batch ON actions (batch_id);
CREATE INDEX IF NOT EXISTS actions_by_state ON actions (state);
"""
_VERSION = 2  # 2: the hardlink mode and `link_target`

# A version 1 journal is copied into tables of the current shape (SQLite cannot change a
# CHECK constraint in place), in one transaction: all of it is upgraded or none.
_UPGRADE_FROM_1 = (
    "DROP INDEX IF EXISTS actions_by_batch",
    "DROP INDEX IF EXISTS actions_by_state",
    "ALTER TABLE actions RENAME TO actions_v1",
    "ALTER TABLE batches RENAME TO batches_v1",
    *(table.strip() for table in _TABLES.split(";") if table.strip()),
    "INSERT INTO batches SELECT * FROM batches_v1",
    "INSERT INTO actions SELECT *, NULL FROM actions_v1",
    "DROP TABLE actions_v1",
    "DROP TABLE batches_v1",
    *(index.strip() for index in _INDEXES.split(";") if index.strip()),
)


@dataclass(frozen=True)
class Batch:
    """One removal (or undo) run, with totals for the history view."""

    id: int
    started: str
    finished: str | None
    mode: str
    trash_dir: str | None
    status: str
    action_count: int
    done_count: int
    done_bytes: int
    undone_count: int = 0  # of done_count, the files an undo has put back since


@dataclass(frozen=True)
class Action:
    """One file's step in a batch; `destination` is None for a delete or a platform trash."""

    id: int
    batch_id: int
    time: str
    mode: str
    file_id: int
    original_path: str
    destination: str | None
    trash_info_path: str | None
    size: int
    mtime: float | None
    keeper_ids: tuple[int, ...]
    state: str
    reason: str | None
    undoes_action_id: int | None
    link_target: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _action_from_row(row: sqlite3.Row) -> Action:
    return Action(
        id=row["id"],
        batch_id=row["batch_id"],
        time=row["time"],
        mode=row["mode"],
        file_id=row["file_id"],
        original_path=row["original_path"],
        destination=row["destination"],
        trash_info_path=row["trash_info_path"],
        size=row["size"],
        mtime=row["mtime"],
        keeper_ids=tuple(json.loads(row["keeper_ids"])),
        state=row["state"],
        reason=row["reason"],
        undoes_action_id=row["undoes_action_id"],
        link_target=row["link_target"],
    )


class Journal(SqliteStore):
    """An open journal database. Safe to share between threads (one lock around the connection)."""

    SCHEMA = _TABLES + _INDEXES
    SYNCHRONOUS = "FULL"  # a committed row must survive a killed process or a power cut
    NAME = "removal journal"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._upgrade()
        self._removal_lock = FileLock(self.path.with_name(self.path.name + ".lock"))

    @classmethod
    def open(cls, path: str | Path | None = None) -> Journal:
        """Open (creating if needed) the journal, by default the app's (AppPaths.journal)."""
        return cls(Path(path) if path is not None else AppPaths.for_this_run().journal)

    @contextmanager
    def removal_lock(self, timeout: float = REMOVAL_LOCK_WAIT_SECONDS) -> Iterator[None]:
        """The one critical section for removing, undoing and reconciling, across threads and
        processes: whoever holds it is the only one moving files this journal records.

        One journal serves every library the user opens, and reconcile and undo work on all
        of it, so the lock is the journal's rather than one library's. Re-entrant.
        """
        try:
            with self._removal_lock.hold(timeout):
                yield
        except LockTimeout:
            raise RefusedError(
                "Another removal or undo (in this window, another one, or the command line) "
                f"has been running for over {timeout:.0f} s; try again when it has finished."
            ) from None

    def _upgrade(self) -> None:
        """Bring a journal written by an older version to the current shape, keeping its rows."""
        with self.transaction() as connection:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version >= _VERSION:
                return
            columns = {row[1] for row in connection.execute("PRAGMA table_info(actions)")}
            if "link_target" not in columns:  # a version 1 journal (a new one has it)
                for statement in _UPGRADE_FROM_1:
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {_VERSION}")

    def describe_failure(self, error: sqlite3.Error) -> str:
        return (
            f"The removal journal {self.path} cannot be used: {error}. Files are checked"
            " against it at the next start."
        )

    # Writing (used by removal.execute, removal.trash and removal.recovery).

    def start_batch(self, mode: str, trash_dir: str | None) -> int:
        return self.write(
            "INSERT INTO batches (started, mode, trash_dir, status) VALUES (?, ?, ?, ?)",
            (_now(), mode, trash_dir, RUNNING),
        )

    def finish_batch(self, batch_id: int, status: str = FINISHED) -> None:
        self.write(
            "UPDATE batches SET finished = ?, status = ? WHERE id = ?", (_now(), status, batch_id)
        )

    def add_action(
        self,
        batch_id: int,
        mode: str,
        file_id: int,
        original_path: str,
        destination: str | None,
        size: int,
        mtime: float | None,
        keeper_ids: tuple[int, ...],
        state: str = PLANNED,
        reason: str | None = None,
        trash_info_path: str | None = None,
        undoes_action_id: int | None = None,
        link_target: str | None = None,
    ) -> int:
        """Record one action; for 'planned' this must happen before the file is touched."""
        return self.write(
            "INSERT INTO actions (batch_id, time, mode, file_id, original_path, destination,"
            " trash_info_path, size, mtime, keeper_ids, state, reason, undoes_action_id,"
            " link_target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                batch_id,
                _now(),
                mode,
                file_id,
                original_path,
                destination,
                trash_info_path,
                size,
                mtime,
                json.dumps(list(keeper_ids)),
                state,
                reason,
                undoes_action_id,
                link_target,
            ),
        )

    def set_destination(
        self, action_id: int, destination: str, trash_info_path: str | None = None
    ) -> None:
        """Change a planned action's destination (a trash name was taken meanwhile)."""
        self.write(
            "UPDATE actions SET destination = ?, trash_info_path = ? WHERE id = ?",
            (destination, trash_info_path, action_id),
        )

    def set_state(self, action_id: int, state: str, reason: str | None = None) -> None:
        self.write(
            "UPDATE actions SET state = ?, reason = COALESCE(?, reason) WHERE id = ?",
            (state, reason, action_id),
        )

    def complete_undo(self, undo_action_id: int, reason: str | None = None) -> None:
        """Mark an undo done and the action it reverses 'undone', in one transaction."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE actions SET state = ?, reason = COALESCE(?, reason) WHERE id = ?",
                (DONE, reason, undo_action_id),
            )
            connection.execute(
                "UPDATE actions SET state = ? WHERE id ="
                " (SELECT undoes_action_id FROM actions WHERE id = ?)",
                (UNDONE, undo_action_id),
            )

    def interrupt_running_batches(self) -> None:
        """After a crash, batches that never finished are marked so in the history."""
        self.write(
            "UPDATE batches SET status = ?, finished = ? WHERE status = ?",
            (INTERRUPTED, _now(), RUNNING),
        )

    # Reading.

    def action(self, action_id: int) -> Action:
        rows = (
            self.query("SELECT * FROM actions WHERE id = ?", (action_id,))
            if is_row_id(action_id)
            else []
        )
        if not rows:
            raise NotFoundError(f"There is no removal action {action_id} in the journal.")
        return _action_from_row(rows[0])

    def batch(self, batch_id: int) -> Batch:
        for batch in list_batches(self, batch_id=batch_id):
            return batch
        raise NotFoundError(f"There is no removal batch {batch_id} in the journal.")

    def actions_in_state(self, state: str) -> list[Action]:
        rows = self.query("SELECT * FROM actions WHERE state = ? ORDER BY id", (state,))
        return [_action_from_row(row) for row in rows]


def removed_file_ids(journal: Journal) -> set[int]:
    """Files the app has removed and not restored; they must vanish from the duplicate groups."""
    placeholders = ", ".join("?" for _ in REMOVAL_MODES)
    rows = journal.query(
        f"SELECT DISTINCT file_id FROM actions WHERE state = ? AND mode IN ({placeholders})",
        (DONE, *REMOVAL_MODES),
    )
    return {row["file_id"] for row in rows}


def linked_file_ids(journal: Journal) -> dict[int, tuple[str, str]]:
    """Files replaced by a hardlink to their keeper and not restored: (path, kept path) by
    file id. Their path still holds the file, so only the link tells they are resolved."""
    rows = journal.query(
        "SELECT file_id, original_path, link_target FROM actions"
        " WHERE state = ? AND mode = ? AND link_target IS NOT NULL ORDER BY id",
        (DONE, HARDLINK),
    )
    return {row["file_id"]: (row["original_path"], row["link_target"]) for row in rows}


def list_batches(journal: Journal, batch_id: int | None = None) -> list[Batch]:
    """All batches, newest first, with how many files each moved and how many bytes.

    `done_count` includes files restored since, so a batch's history does not change;
    `undone_count` says how many of them were restored (all of them: nothing left to undo).
    """
    if batch_id is not None and not is_row_id(batch_id):
        return []
    rows = journal.query(
        "SELECT b.*, COUNT(a.id) AS action_count,"
        " COALESCE(SUM(a.state IN ('done', 'undone')), 0) AS done_count,"
        " COALESCE(SUM(CASE WHEN a.state IN ('done', 'undone') THEN a.size END), 0) AS done_bytes,"
        " COALESCE(SUM(a.state = 'undone'), 0) AS undone_count"
        " FROM batches b LEFT JOIN actions a ON a.batch_id = b.id"
        " WHERE ? IS NULL OR b.id = ? GROUP BY b.id ORDER BY b.id DESC",
        (batch_id, batch_id),
    )
    return [
        Batch(
            id=row["id"],
            started=row["started"],
            finished=row["finished"],
            mode=row["mode"],
            trash_dir=row["trash_dir"],
            status=row["status"],
            action_count=row["action_count"],
            done_count=row["done_count"],
            done_bytes=row["done_bytes"],
            undone_count=row["undone_count"],
        )
        for row in rows
    ]


def batch_actions(journal: Journal, batch_id: int) -> list[Action]:
    """The actions of one batch in the order they happened."""
    journal.batch(batch_id)  # NotFoundError for an unknown batch rather than an empty list
    rows = journal.query("SELECT * FROM actions WHERE batch_id = ? ORDER BY id", (batch_id,))
    return [_action_from_row(row) for row in rows]


_CSV_COLUMNS = (
    "action_id",
    "batch_id",
    "batch_started",
    "batch_status",
    "time",
    "mode",
    "state",
    "file_id",
    "original_path",
    "destination",
    "trash_info_path",
    "size",
    "mtime",
    "keeper_ids",
    "reason",
    "undoes_action_id",
    "link_target",
)


def export_history_csv(journal: Journal, fileobj: TextIO) -> int:
    """Write every action as one CSV row (a record users can keep); returns the row count."""
    rows = journal.query(
        "SELECT a.*, b.started AS batch_started, b.status AS batch_status"
        " FROM actions a JOIN batches b ON b.id = a.batch_id ORDER BY a.id"
    )
    writer = csv.writer(fileobj)
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row["id"],
                row["batch_id"],
                row["batch_started"],
                row["batch_status"],
                row["time"],
                row["mode"],
                row["state"],
                row["file_id"],
                row["original_path"],
                row["destination"] or "",
                row["trash_info_path"] or "",
                row["size"],
                "" if row["mtime"] is None else row["mtime"],
                " ".join(str(file_id) for file_id in json.loads(row["keeper_ids"])),
                row["reason"] or "",
                row["undoes_action_id"] or "",
                row["link_target"] or "",
            ]
        )
    return len(rows)

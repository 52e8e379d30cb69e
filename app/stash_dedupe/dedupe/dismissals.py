"""'Not a duplicate' decisions, kept in the app's own SQLite database so later scans hide them.

A file is known by its Stash file id plus a content fingerprint (oshash, else md5, else
phash, else size): Stash keeps file ids across rescans, and the fingerprint makes sure a
decision never carries over to other content that later got the same id (or to another
Stash database whose ids happen to overlap).

Two kinds of decision:
- a *group* dismissal says "these files are not duplicates of each other": a later group
  made only of (some of) them stays hidden; a new file joining them shows the group again.
- a *file* dismissal says "this file is not a duplicate of those": the file is dropped from
  any group whose other files are all among those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from stash_dedupe.appdata import AppPaths
from stash_dedupe.errors import AppError, NotFoundError, is_row_id
from stash_dedupe.models import MediaFile
from stash_dedupe.store import SqliteStore

GROUP, FILE = "group", "file"

FileKey = tuple[int, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dismissals (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('group', 'file')),
    media TEXT NOT NULL,
    created TEXT NOT NULL,
    file_id INTEGER,
    fingerprint TEXT,
    path TEXT
);
CREATE TABLE IF NOT EXISTS dismissal_members (
    dismissal_id INTEGER NOT NULL REFERENCES dismissals (id) ON DELETE CASCADE,
    file_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS members_by_dismissal ON dismissal_members (dismissal_id);
"""


def file_key(file: MediaFile) -> FileKey:
    """How a dismissal recognises a file across rescans: its id and what its content is."""
    fingerprint = file.oshash or file.md5 or file.phash or f"size:{file.size}"
    return file.file_id, fingerprint


@dataclass(frozen=True)
class DismissedFile:
    file_id: int
    fingerprint: str
    path: str

    @property
    def key(self) -> FileKey:
        return self.file_id, self.fingerprint


@dataclass(frozen=True)
class Dismissal:
    """One decision; for a file dismissal `file` is the file and `members` the others."""

    id: int
    kind: str
    media: str
    created: str
    file: DismissedFile | None
    members: tuple[DismissedFile, ...]


class DismissalRules:
    """All decisions in a form quick to apply to thousands of groups."""

    def __init__(self, dismissals: Iterable[Dismissal]) -> None:
        self._group_sets: list[frozenset[FileKey]] = []
        self._not_duplicate_of: dict[FileKey, set[FileKey]] = {}
        for dismissal in dismissals:
            keys = frozenset(member.key for member in dismissal.members)
            if dismissal.kind == GROUP:
                self._group_sets.append(keys)
            elif dismissal.file is not None:
                self._not_duplicate_of.setdefault(dismissal.file.key, set()).update(keys)
        # Every file id a decision names: a group without any is shown as found.
        self.file_ids = frozenset(
            key[0] for keys in (*self._group_sets, *self._not_duplicate_of.values()) for key in keys
        ) | frozenset(key[0] for key in self._not_duplicate_of)

    def __bool__(self) -> bool:
        return bool(self._group_sets or self._not_duplicate_of)

    def visible_files(self, files: Sequence[MediaFile]) -> list[MediaFile]:
        """The files of a group still to review; an empty list when the group is hidden."""
        if not self:
            return list(files)
        keys = {file.file_id: file_key(file) for file in files}
        all_keys = set(keys.values())
        kept = []
        for file in files:
            own = keys[file.file_id]
            excluded = self._not_duplicate_of.get(own)
            if excluded is not None and all_keys - {own} <= excluded:
                continue
            kept.append(file)
        if len(kept) < 2:
            return []
        kept_keys = {keys[file.file_id] for file in kept}
        if any(kept_keys <= group_set for group_set in self._group_sets):
            return []
        return kept


class DismissalStore(SqliteStore):
    """The dismissals database (one connection shared by threads, like every store)."""

    SCHEMA = _SCHEMA
    NAME = "dismissals database"

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__(Path(path) if path is not None else AppPaths.for_this_run().dismissals)

    def dismiss_group(self, media: str, files: Sequence[MediaFile]) -> Dismissal:
        """Remember that these files are not duplicates of each other."""
        if len(files) < 2:
            raise AppError("A group to dismiss needs at least two files.")
        return self._add(GROUP, media, None, files)

    def dismiss_file(self, media: str, file: MediaFile, others: Sequence[MediaFile]) -> Dismissal:
        """Remember that `file` is not a duplicate of any of `others`."""
        others = [other for other in others if other.file_id != file.file_id]
        if not others:
            raise AppError("A file can only be dismissed from a group with other files.")
        return self._add(FILE, media, file, others)

    def _add(
        self, kind: str, media: str, file: MediaFile | None, members: Sequence[MediaFile]
    ) -> Dismissal:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        own = file_key(file) if file is not None else (None, None)
        with self.transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO dismissals (kind, media, created, file_id, fingerprint, path)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, media, created, own[0], own[1], file.path if file else None),
            )
            dismissal_id = int(cursor.lastrowid or 0)
            connection.executemany(
                "INSERT INTO dismissal_members (dismissal_id, file_id, fingerprint, path)"
                " VALUES (?, ?, ?, ?)",
                [(dismissal_id, *file_key(member), member.path) for member in members],
            )
        return self.get(dismissal_id)

    def get(self, dismissal_id: int) -> Dismissal:
        for dismissal in self.list_dismissals(dismissal_id=dismissal_id):
            return dismissal
        raise NotFoundError(f"There is no dismissal {dismissal_id}.")

    def list_dismissals(
        self, media: str | None = None, dismissal_id: int | None = None
    ) -> list[Dismissal]:
        """Dismissals, newest first (for the review-and-undo view and for the rules)."""
        if dismissal_id is not None and not is_row_id(dismissal_id):
            return []
        with self.transaction():  # one consistent read of both tables
            rows = self.query(
                "SELECT * FROM dismissals WHERE (? IS NULL OR media = ?) AND (? IS NULL OR id = ?)"
                " ORDER BY id DESC",
                (media, media, dismissal_id, dismissal_id),
            )
            member_rows = self.query("SELECT * FROM dismissal_members ORDER BY rowid")
        members: dict[int, list[DismissedFile]] = {}
        for row in member_rows:
            members.setdefault(row["dismissal_id"], []).append(
                DismissedFile(row["file_id"], row["fingerprint"], row["path"])
            )
        return [
            Dismissal(
                id=row["id"],
                kind=row["kind"],
                media=row["media"],
                created=row["created"],
                file=(
                    DismissedFile(row["file_id"], row["fingerprint"], row["path"])
                    if row["kind"] == FILE
                    else None
                ),
                members=tuple(members.get(row["id"], ())),
            )
            for row in rows
        ]

    def rules(self) -> DismissalRules:
        return DismissalRules(self.list_dismissals())

    def undo(self, dismissal_id: int) -> Dismissal:
        """Forget one decision; its files show up in groups again."""
        dismissal = self.get(dismissal_id)
        self.write("DELETE FROM dismissals WHERE id = ?", (dismissal_id,))
        return dismissal

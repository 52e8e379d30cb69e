"""Which listed files are where the database says (after path mappings): the missing-files check.

Stash may list files this machine cannot see: media moved since the last scan, or Stash runs
in Docker or on a NAS and sees other paths than here. Such files can be neither previewed nor
removed, so the review counts only present files. A check looks at every file (in batches,
reporting progress: a library may hold a million), and its answer is kept per session;
`refresh` looks again at a few files before acting on them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from stash_dedupe.jobs import Progress
from stash_dedupe.models import MediaFile
from stash_dedupe.stash.pathmap import PathMapping, to_local

# Files looked at between two progress reports (and cancel checks).
CHECK_BATCH = 2000


def file_exists(path: str) -> bool:
    """Whether something is at `path`; an unreadable path (too long, a bad share) is not."""
    try:
        return os.path.exists(path)
    except (OSError, ValueError):
        return False


class FilePresence:
    """What the last check found: the ids of missing files, and how many files were checked.

    Until a check has run nothing counts as missing (`checked` is 0): the review then shows
    every file, as before the check existed. Safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._missing: frozenset[int] = frozenset()
        self._checked = 0
        self._total = 0
        self.version = 0  # grows with each change, so caches built on an older answer can tell

    @property
    def missing(self) -> frozenset[int]:
        return self._missing

    @property
    def checked(self) -> int:
        return self._checked

    @property
    def complete(self) -> bool:
        return self._total > 0 and self._checked >= self._total

    def is_missing(self, file_id: int) -> bool:
        return file_id in self._missing

    def check(self, files: Sequence[MediaFile], progress: Progress | None = None) -> int:
        """Look at every file's path, `CHECK_BATCH` at a time; returns how many are missing.

        The answer replaces the previous one only once every file was looked at."""
        batches = (
            [(file.file_id, file.path) for file in files[start : start + CHECK_BATCH]]
            for start in range(0, len(files), CHECK_BATCH)
        )
        return self.check_paths(batches, len(files), progress)

    def check_paths(
        self,
        batches: Iterable[Sequence[tuple[int, str]]],
        total: int,
        progress: Progress | None = None,
        pause: Callable[[], None] | None = None,
    ) -> int:
        """`check` for (file id, path) pairs given a batch at a time (as a scan reads them:
        a million paths never sit in memory at once), `total` of them in all. `pause` is
        called before each batch of `CHECK_BATCH` files (to give way to other work)."""
        missing: set[int] = set()
        done = 0
        for batch in batches:
            for start in range(0, len(batch), CHECK_BATCH):
                if pause is not None:
                    pause()
                if progress is not None:
                    progress(done, total, f"Looking for files: {done:,} of {total:,}")
                part = batch[start : start + CHECK_BATCH]
                missing.update(file_id for file_id, path in part if not file_exists(path))
                done += len(part)
        total = done
        if progress is not None:
            progress(total, total, f"{len(missing):,} of {total:,} files not found")
        with self._lock:
            self._missing = frozenset(missing)
            self._checked = self._total = total
            self.version += 1
        return len(missing)

    def refresh(self, files: Iterable[MediaFile]) -> bool:
        """Look again at a few files (those about to be shown or acted on); whether any
        changed presence since the last look."""
        files = list(files)
        found_missing = {file.file_id for file in files if not file_exists(file.path)}
        with self._lock:
            looked = {file.file_id for file in files}
            updated = (self._missing - looked) | found_missing
            if updated == self._missing:
                return False
            self._missing = frozenset(updated)
            self.version += 1
            return True


@dataclass(frozen=True)
class MappingPreview:
    """What one path mapping would do to the library: how many files it maps (their Stash
    path starts with its Stash prefix) and how many of those exist at the mapped path."""

    stash_prefix: str
    local_prefix: str
    mapped_files: int
    present_files: int
    sample_path: str | None  # one mapped path, to show what the mapping makes of a file


def preview_mappings(
    stash_paths: Sequence[str], mappings: Sequence[PathMapping], sample_limit: int = 2000
) -> list[MappingPreview]:
    """For each mapping as typed (before saving): files it maps and how many of those exist.

    A mapping only takes files no earlier mapping took (the first matching rule wins). At
    most `sample_limit` mapped files per mapping are looked at on disk and the count of
    present ones is scaled from them, so a preview stays quick on a million files."""
    previews = []
    taken: set[int] = set()
    for mapping in mappings:
        mapped: list[str] = []
        for index, stash_path in enumerate(stash_paths):
            if index not in taken and _maps(stash_path, mapping):
                taken.add(index)
                mapped.append(to_local(stash_path, [mapping]))
        step = max(1, -(-len(mapped) // sample_limit))  # ceiling: at most sample_limit looks
        sample = mapped[::step]
        present = sum(1 for path in sample if file_exists(path))
        if len(sample) < len(mapped):
            present = round(present * len(mapped) / len(sample))
        previews.append(
            MappingPreview(
                stash_prefix=mapping.stash_prefix,
                local_prefix=mapping.local_prefix,
                mapped_files=len(mapped),
                present_files=present,
                sample_path=mapped[0] if mapped else None,
            )
        )
    return previews


def _maps(stash_path: str, mapping: PathMapping) -> bool:
    """Whether `mapping` applies to a path (the test `to_local` makes)."""
    prefix = mapping.stash_prefix.rstrip("/\\") or mapping.stash_prefix
    return (
        bool(prefix)
        and bool(mapping.local_prefix)
        and (stash_path == prefix or stash_path.startswith((prefix + "/", prefix + "\\")))
    )

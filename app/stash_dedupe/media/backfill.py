"""Phash backfill: hash the files Stash has no phash for, keep the results in the app's cache.

The cache is an SQLite database in the app's data dir keyed by (library, Stash file id) and
checked against path, size and mod time, so it survives Stash rescans and app updates, and a
crash or quit loses at most the files in flight. Grouping uses Stash's phash first, then the
cache. Exact video hashes (ffmpeg, as Stash) and approximate ones (OpenCV fallback) are kept
apart: an approximate hash never stands in for an exact one.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stash_dedupe.appdata import AppPaths
from stash_dedupe.errors import AppError
from stash_dedupe.jobs import PAUSED, Job
from stash_dedupe.media.ffmpeg_tools import FfmpegSlots, share_ffmpeg_slots
from stash_dedupe.media.file_results import FAILURES_SCHEMA, FileFailure, FileResultStore
from stash_dedupe.models import IMAGE, VIDEO, FileColumns, MediaFile

CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS phashes (
    library TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mod_time TEXT,
    phash TEXT NOT NULL,
    exact INTEGER NOT NULL,
    computed_at REAL NOT NULL,
    PRIMARY KEY (library, file_id)
);
"""


@dataclass(frozen=True)
class HashTask:
    """A file to hash, with the size and mod time Stash has for it (the cache row's check)."""

    file_id: int
    media: str
    path: str
    size: int
    mod_time: str | None
    exact: bool = False  # images: goimagehash's exact pipeline instead of the fast one


@dataclass(frozen=True)
class HashOutcome:
    """What hashing a task gave: its phash (exact: Stash's own value), or why there is none."""

    task: HashTask
    phash: str | None
    exact: bool
    error: str | None


@dataclass(frozen=True)
class CachedPhash:
    """A cache row: the phash of a file as it was when hashed (size and mod time as Stash had
    them then)."""

    file_id: int
    path: str
    size: int
    mod_time: str | None
    phash: str
    exact: bool


@dataclass(frozen=True)
class BackfillReport:
    """What a backfill run did: how many files it hashed, and which failed and why."""

    hashed: int
    failed: tuple[FileFailure, ...]


def library_key(database_path: str) -> str:
    """Identify a Stash library by its database's real path (file ids are per database)."""
    return os.path.realpath(database_path)


class PhashCache(FileResultStore):
    """Phashes the app computed, per library and file id, with the path, size and mod time they
    were computed for; and the files whose hashing failed, with the reason."""

    SCHEMA = CACHE_SCHEMA + FAILURES_SCHEMA
    NAME = "phash cache"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(Path(path) if path else AppPaths.for_this_run().phash_cache)

    def lookup(self, library: str, files: Iterable[MediaFile]) -> dict[int, CachedPhash]:
        """The cached phash of each file whose path, size and mod time still match."""
        wanted = {file.file_id: file for file in files}
        return {
            entry.file_id: entry
            for entry in self.entries(library)
            if (file := wanted.get(entry.file_id))
            and (file.path, file.size, file.mod_time) == (entry.path, entry.size, entry.mod_time)
        }

    def entries(self, library: str) -> list[CachedPhash]:
        """Every phash cached for a library, unchecked: the caller compares size and mod time."""
        rows = self.query(
            "SELECT file_id, path, size, mod_time, phash, exact FROM phashes WHERE library = ?"
            " ORDER BY file_id",
            (library,),
        )
        return [
            CachedPhash(file_id, path, size, mod_time, phash, bool(exact))
            for file_id, path, size, mod_time, phash, exact in rows
        ]

    def store(self, library: str, outcome: HashOutcome) -> None:
        self.store_many(library, [outcome])

    def store_many(self, library: str, outcomes: Sequence[HashOutcome]) -> None:
        """Record a batch of results in one transaction."""
        now = time.time()
        with self.transaction() as connection:
            for outcome in outcomes:
                task = outcome.task
                if outcome.phash is not None:
                    connection.execute(
                        "INSERT OR REPLACE INTO phashes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            library,
                            task.file_id,
                            task.path,
                            task.size,
                            task.mod_time,
                            outcome.phash,
                            int(outcome.exact),
                            now,
                        ),
                    )
                    self.forget_failure(connection, library, task.file_id)
                else:
                    reason = outcome.error or "unknown error"
                    failure = FileFailure(task.file_id, task.path, reason)
                    self.record_failure(connection, library, failure)


def with_cached_phashes(
    files: Sequence[MediaFile], library: str, cache: PhashCache | None = None
) -> list[MediaFile]:
    """Files with Stash's phash, or else the cached one (exact video hashes only)."""
    missing = [file for file in files if not file.phash]
    if not missing:
        return list(files)
    own_cache = cache is None
    cache = cache or PhashCache()
    try:
        cached = cache.lookup(library, missing)
    finally:
        if own_cache:
            cache.close()
    result = []
    for file in files:
        hit = cached.get(file.file_id)
        if hit is not None and not file.phash and (hit.exact or file.media == IMAGE):
            file = replace(file, phash=hit.phash)
        result.append(file)
    return result


def with_cached_phash_columns(
    columns: FileColumns,
    library: str,
    cache: PhashCache,
    stamps: Callable[[Sequence[int]], Mapping[int, tuple[str, int, str | None]]],
) -> FileColumns:
    """`with_cached_phashes` for columns: cached phashes fill the rows Stash has none for.

    Only files both missing a phash and present in the cache are checked, against the
    (path, size, mod time) that `stamps` gives for a list of file ids.
    """
    entries = {
        entry.file_id: entry
        for entry in cache.entries(library)
        if entry.exact or columns.media == IMAGE
    }
    if not entries:
        return columns
    cached_ids = np.fromiter(entries, dtype=np.int64, count=len(entries))
    rows = columns.rows_of(cached_ids)
    candidates = rows >= 0
    candidates[candidates] = ~columns.has_phash[rows[candidates]]
    if not candidates.any():
        return columns
    current = stamps(cached_ids[candidates].tolist())
    phashes, has_phash = columns.phashes.copy(), columns.has_phash.copy()
    wanted = zip(cached_ids[candidates].tolist(), rows[candidates].tolist(), strict=True)
    for file_id, row in wanted:
        entry = entries[file_id]
        if current.get(file_id) == (entry.path, entry.size, entry.mod_time):
            phashes[row] = int(entry.phash, 16)
            has_phash[row] = True
    return dataclasses.replace(columns, phashes=phashes, has_phash=has_phash)


def files_to_hash(
    files: Sequence[MediaFile], library: str, cache: PhashCache, exact_images: bool = False
) -> list[HashTask]:
    """The files with no phash in Stash and no usable one in the cache (zip members aside).

    A cached fast image hash is usable unless `exact_images` asks for Stash's exact values
    (worth it before sending them to Stash); an approximate video hash never is.
    """
    candidates = [file for file in files if not file.phash and file.zip_file_id is None]
    cached = cache.lookup(library, candidates)

    def usable(file: MediaFile) -> bool:
        hit = cached.get(file.file_id)
        return hit is not None and (hit.exact or (file.media == IMAGE and not exact_images))

    return [
        HashTask(
            file.file_id,
            file.media,
            file.path,
            file.size,
            file.mod_time,
            exact=exact_images and file.media == IMAGE,
        )
        for file in candidates
        if not usable(file)
    ]


def hash_one(task: HashTask) -> HashOutcome:
    """Runs in a worker process: one file's phash, or the reason it could not be made."""
    from stash_dedupe.media.phash import image_phash, video_phash

    try:
        if task.media == VIDEO:
            result = video_phash(task.path)
            return HashOutcome(task, result.phash, result.exact, None)
        # The fast image mode is within a few bits of Stash, so only exact mode is marked exact.
        return HashOutcome(task, image_phash(task.path, exact=task.exact), task.exact, None)
    except AppError as error:
        return HashOutcome(task, None, False, error.message)
    except Exception as error:  # a decoder's own failure: report it for this file only
        return HashOutcome(task, None, False, f"{type(error).__name__}: {error}")


def hash_batch(tasks: Sequence[HashTask]) -> list[HashOutcome]:
    """Runs in a worker process: several files in one round trip (small images hash in a
    couple of milliseconds, less than it takes to hand a task to a worker and back)."""
    return [hash_one(task) for task in tasks]


# A batch is a video alone, or images up to these limits: small enough that pause and cancel
# still take effect within a fraction of a second.
BATCH_IMAGES = 32
BATCH_EXACT_IMAGES = 4
BATCH_BYTES = 32 * 1024 * 1024


def _next_batch(queue: list[HashTask]) -> list[HashTask]:
    """Take the next batch from the end of `queue`."""
    batch = [queue.pop()]
    if batch[0].media == VIDEO:
        return batch
    limit = BATCH_EXACT_IMAGES if batch[0].exact else BATCH_IMAGES
    size = batch[0].size
    while queue and len(batch) < limit and queue[-1].media == IMAGE:
        if queue[-1].exact != batch[0].exact or size + queue[-1].size > BATCH_BYTES:
            break
        size += queue[-1].size
        batch.append(queue.pop())
    return batch


def _start_worker(ffmpeg_slots: FfmpegSlots) -> None:
    """Workers already use every core between them: keep BLAS from adding threads of its own
    (set before the worker first imports numpy), and share one ffmpeg slot per worker."""
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    share_ffmpeg_slots(ffmpeg_slots)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The hashing processes: spawned (not forked: the app process runs Qt and server threads
    that fork would copy), one BLAS thread each, sharing one ffmpeg slot per worker."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(context.BoundedSemaphore(workers),),
    )


def run_backfill(
    job: Job,
    tasks: Sequence[HashTask],
    library: str,
    workers: int | None = None,
    cache_path: str | None = None,
) -> BackfillReport:
    """Hash `tasks` on a process pool (the work is CPU-bound), storing results as they come.

    Tasks go out in small batches (see _next_batch), at most 2 per worker in flight, so pause
    and cancel take effect quickly.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    cache = PhashCache(cache_path)
    job.total = len(tasks)
    hashed = 0
    failed: list[FileFailure] = []
    pending: dict[Future[list[HashOutcome]], list[HashTask]] = {}
    queue = list(reversed(tasks))
    try:
        with worker_pool(workers) as pool:
            while queue or pending:
                accepting = not job.cancel_requested and job.state != PAUSED
                while accepting and queue and len(pending) < 2 * workers:
                    batch = _next_batch(queue)
                    pending[pool.submit(hash_batch, batch)] = batch
                if not pending:
                    job.checkpoint()  # waits while paused, raises Cancelled once cancelled
                    continue
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    batch = pending.pop(future)
                    outcomes = future.result()
                    cache.store_many(library, outcomes)
                    failures = [outcome for outcome in outcomes if outcome.phash is None]
                    failed.extend(
                        FileFailure(outcome.task.file_id, outcome.task.path, outcome.error or "")
                        for outcome in failures
                    )
                    hashed += len(outcomes) - len(failures)
                    last = failures[-1].task if failures else batch[-1]
                    prefix = "failed: " if failures else ""
                    job.advance(len(outcomes), failed=len(failures), message=prefix + last.path)
    finally:
        cache.close()
    return BackfillReport(hashed, tuple(failed))

"""Sampled frames and pair scores kept on disk, so a group is sampled once, not at every look.

One SQLite file per folder, keyed by path and checked against the file's size and mtime
(`FileStamp`), so a changed file is sampled again. The app's cache lives in the app data dir
as it is at each call (`app_frame_cache`), never in a folder frozen at first use.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from stash_dedupe.appdata import AppPaths
from stash_dedupe.errors import AppError
from stash_dedupe.media.decoding import FileStamp
from stash_dedupe.media.frame_results import PairComparison, SampledFrames
from stash_dedupe.media.similarity import Crop
from stash_dedupe.store import SqliteStore

log = logging.getLogger(__name__)

SAMPLING_VERSION = 1  # bump when sampling, cropping or scoring changes, to drop old cache rows


class FrameCache:
    """Sampled frames and pair scores in one SQLite file, keyed by path.

    A row is used only while the file's size and mtime (nanoseconds) are those it was made from,
    so a replaced or re-encoded file is sampled again. `FrameCache(None)` caches nothing.
    """

    FILE_NAME = "frames.sqlite3"

    def __init__(self, directory: Path | str | None) -> None:
        self.database: Path | None = None
        self._store: _FrameStore | None = None
        if directory is not None:
            self.database = Path(directory) / self.FILE_NAME
            self._store = _FrameStore(self.database)

    def load_frames(self, stamp: FileStamp, k: int) -> SampledFrames | None:
        row = self._fetch(
            "SELECT meta, gray, strip FROM sampled_frames WHERE path = ? AND k = ? AND version = ?"
            " AND size = ? AND mtime_ns = ?",
            (stamp.path, k, SAMPLING_VERSION, stamp.size, stamp.mtime_ns),
        )
        if row is None:
            return None
        meta, gray, strip = json.loads(row[0]), row[1], row[2]
        jpegs, start = [], 0
        for length in meta["strip_lengths"]:
            jpegs.append(bytes(strip[start : start + length]))
            start += length
        return SampledFrames(
            stamp=stamp,
            duration=meta["duration"],
            width=meta["width"],
            height=meta["height"],
            crop=Crop(*meta["crop"]),
            positions=tuple(meta["positions"]),
            gray=np.frombuffer(gray, np.uint8).reshape(meta["gray_shape"]).copy(),
            strip=tuple(jpegs),
        )

    def load_picture(self, stamp: FileStamp) -> tuple[int, int, Crop] | None:
        """Frame size and crop from any sampling of this file version, without the frames."""
        row = self._fetch(
            "SELECT meta FROM sampled_frames WHERE path = ? AND version = ? AND size = ?"
            " AND mtime_ns = ? LIMIT 1",
            (stamp.path, SAMPLING_VERSION, stamp.size, stamp.mtime_ns),
        )
        if row is None:
            return None
        meta = json.loads(row[0])
        return meta["width"], meta["height"], Crop(*meta["crop"])

    def save_frames(self, frames: SampledFrames) -> None:
        meta = {
            "duration": frames.duration,
            "width": frames.width,
            "height": frames.height,
            "crop": [frames.crop.x, frames.crop.y, frames.crop.width, frames.crop.height],
            "positions": list(frames.positions),
            "gray_shape": list(frames.gray.shape),
            "strip_lengths": [len(jpeg) for jpeg in frames.strip],
        }
        stamp = frames.stamp
        self._store_row(
            "INSERT OR REPLACE INTO sampled_frames VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stamp.path,
                len(frames.positions),
                SAMPLING_VERSION,
                stamp.size,
                stamp.mtime_ns,
                json.dumps(meta),
                frames.gray.tobytes(),
                b"".join(frames.strip),
            ),
        )

    def load_pair(self, keeper: FileStamp, other: FileStamp, k: int) -> PairComparison | None:
        row = self._fetch(
            "SELECT result FROM pair_scores WHERE keeper_path = ? AND other_path = ? AND k = ?"
            " AND version = ? AND keeper_size = ? AND keeper_mtime_ns = ? AND other_size = ?"
            " AND other_mtime_ns = ?",
            _pair_key(keeper, other, k),
        )
        if row is None:
            return None
        result = json.loads(row[0])
        return PairComparison(
            keeper_path=keeper.path,
            other_path=other.path,
            column_scores=tuple(result["column_scores"]),
            score=result["score"],
            offset_seconds=result["offset_seconds"],
            offset_score=result["offset_score"],
        )

    def save_pair(
        self, keeper: FileStamp, other: FileStamp, k: int, comparison: PairComparison
    ) -> None:
        result = {
            "column_scores": list(comparison.column_scores),
            "score": comparison.score,
            "offset_seconds": comparison.offset_seconds,
            "offset_score": comparison.offset_score,
        }
        self._store_row(
            "INSERT OR REPLACE INTO pair_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_pair_key(keeper, other, k), json.dumps(result)),
        )

    def _fetch(self, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self._store is None:
            return None
        try:
            rows = self._store.query(sql, parameters)
        except AppError as error:  # a broken cache only costs time: sample again
            log.warning("%s; sampling again", error.message)
            return None
        return tuple(rows[0]) if rows else None

    def _store_row(self, sql: str, parameters: tuple[Any, ...]) -> None:
        if self._store is None:
            return
        try:
            self._store.write(sql, parameters)
        except AppError as error:  # a full disk must not fail the comparison itself
            log.warning("%s; the frame cache was not updated", error.message)


def _pair_key(keeper: FileStamp, other: FileStamp, k: int) -> tuple[Any, ...]:
    """A pair's row key, in the columns' order: both files as they were, K, the version."""
    return (
        keeper.path, other.path, k, SAMPLING_VERSION,
        keeper.size, keeper.mtime_ns, other.size, other.mtime_ns,
    )  # fmt: skip


class _FrameStore(SqliteStore):
    """The frame cache's SQLite file."""

    NAME = "frame cache"
    SCHEMA = """
        CREATE TABLE IF NOT EXISTS sampled_frames (
            path TEXT NOT NULL, k INTEGER NOT NULL, version INTEGER NOT NULL,
            size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
            meta TEXT NOT NULL, gray BLOB NOT NULL, strip BLOB NOT NULL,
            PRIMARY KEY (path, k, version));
        CREATE TABLE IF NOT EXISTS pair_scores (
            keeper_path TEXT NOT NULL, other_path TEXT NOT NULL,
            k INTEGER NOT NULL, version INTEGER NOT NULL,
            keeper_size INTEGER NOT NULL, keeper_mtime_ns INTEGER NOT NULL,
            other_size INTEGER NOT NULL, other_mtime_ns INTEGER NOT NULL,
            result TEXT NOT NULL,
            PRIMARY KEY (keeper_path, other_path, k, version));
    """


_app_caches: dict[Path, FrameCache] = {}
_app_caches_lock = threading.Lock()


def app_frame_cache(folder: Path | None = None) -> FrameCache:
    """The cache in `folder` (default: the app's, AppPaths.frame_cache, looked up at each call,
    as STASH_DEDUPE_HOME may change while the process runs). One FrameCache per folder: its
    schema is set up once, not per file."""
    folder = folder or AppPaths.for_this_run().frame_cache
    with _app_caches_lock:
        cache = _app_caches.get(folder)
        if cache is None or cache.database is None or not cache.database.is_file():
            cache = _app_caches[folder] = FrameCache(folder)
        return cache

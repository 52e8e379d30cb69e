"""Frame comparison: do two files that phash put together really show the same pictures?

Phash looks at one montage per file; this module looks at the pictures themselves so the user
can see (and the app can score) whether a group holds true duplicates.

Videos: K frames are taken at the same *relative* positions in every file, skipping the first
and last 5% (intros, credits, fades):

    position_i = 0.05 + (i + 0.5) * 0.9 / K        (K = 9: 10%, 20%, ... 90%)

(each then nudged up to 1 s later, see `sample_time`, which makes seeking much cheaper).

Each frame is decoded with OpenCV (seek, then read; a sequential scan when seeking fails), black
letterbox/pillarbox bars are cropped, and the picture is scaled to 160x90 grayscale. Two files
are compared column by column with SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
K1 = 0.01, K2 = 0.03, mean over the region where the window fits). SSIM rather than a pixel
difference because re-encoding, rescaling and brightness shifts change pixels but keep
structure, while different content with the same look (studio, set, palette) does not keep it.
The overall score is the median of the columns, so one odd column (a watermark, a fade that
landed differently) cannot decide alone. When the durations differ, the other file may be a
trimmed copy: it is also sampled at absolute times shifted by the duration difference (start
trimmed), none (end trimmed) or half of it (both), and the best shift is reported.

Images get the same SSIM after scaling to a common size. Frames and scores are cached on disk,
keyed by path, size and modification time, so a changed file is sampled again.

Every decode runs in a worker thread with a deadline: a file that hangs FFmpeg produces a
`MediaError`, never a hung app. Broken media (missing, empty, truncated, not a video) produces a
`MediaError` with a message for the user, or an error status per file in `compare_group`.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sqlite3
import statistics
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from PIL import Image, ImageOps

from stash_dedupe.appdata import app_data_dir
from stash_dedupe.errors import MediaError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_FRAME_COUNT = 9
EDGE_SKIP = 0.05  # fraction skipped at each end of a video
COMPARE_SIZE = (160, 90)  # width, height of the grayscale pictures SSIM compares
STRIP_MAX_SIDE = 240  # longest side of the colour strip frames shown in the UI
WORK_MAX_SIDE = 640  # decoded frames are shrunk to this at once: memory, and bars need no more
JPEG_QUALITY = 82
SEEK_NUDGE_SECONDS = 1.0  # see sample_time; capped at SEEK_NUDGE_FRACTION of short videos
SEEK_NUDGE_FRACTION = 0.02
THUMBNAIL_POSITION = 0.15  # the first frame is often black; 15% in usually shows the subject
DEFAULT_TIMEOUT = 60.0  # seconds per decode job; a 10-min 1080p file needs a few
SAMPLING_VERSION = 1  # bump when sampling, cropping or scoring changes, to drop old cache rows

# Where a score becomes "the same video". Measured by tests/test_frames.py (median SSIM, 160x90):
#   duplicates   480x270 clip re-encoded to 240x136 at crf 36: 0.89 (columns 0.80-0.90)
#                letterboxed copy: 1.00; copy missing its first 2 s: 0.70 at the same relative
#                positions, 1.00 once shifted by the 2.0 s the search finds
#                phash vectors v01-v04 (re-encodes, VP9, letterbox) pairwise: 0.94-0.99
#                v05 (first 7.8 s only, MPEG-4 at 29.97 fps) vs v01-v04: 0.94-0.99, shift 0 s
#                images: p* vs n* re-encodes, 400 px, watermark, brighter: 0.95-1.00
#   different    same generator, other seed (same style and motion): 0.13-0.15
#                same backdrops, other shapes moving ("same set, other action"): 0.74
#                v06 (other photos, portrait) vs v01-v05: 0.13-0.19
#                v07 (v01 rotated 90 degrees; rotation is not searched) vs v01-v05: 0.18-0.30
#                images: different photos 0.06-0.31; a 5% crop 0.43, a mirror 0.05
# 0.8 sits between the hardest non-duplicate (0.74) and the harshest re-encode (0.89).
DEFAULT_MATCH_THRESHOLD = 0.8

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif"}
)

# Letterbox detection: a line is a bar when fewer than BAR_BRIGHT_FRACTION of its pixels are
# brighter than DARK_LEVEL (video black is luma 16, decoded to about 0; noise and ringing stay
# well under 32). Bars thinner than MIN_BAR_FRACTION of the side are encoder edge noise.
DARK_LEVEL = 32
BAR_BRIGHT_FRACTION = 0.02
MIN_BAR_FRACTION = 0.01

# Durations closer than this are the same cut: no shifted alignment is tried. An absolute
# bound, since relative positions in files that differ by d seconds are up to 0.9 d apart.
SAME_DURATION_SECONDS = 0.5
# A shifted alignment is reported only when it beats the relative positions by this much.
OFFSET_MIN_GAIN = 0.02


# ---------------------------------------------------------------------------------------------
# Plain data


@dataclass(frozen=True)
class FileStamp:
    """One version of a file, as the cache knows it: a new size or mtime is a new file."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Crop:
    """The picture inside black bars, in decoded pixels (after rotation metadata is applied)."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, eq=False)
class SampledFrames:
    """K frames of one video, cropped, ready to compare (`gray`) and to show (`strip`)."""

    stamp: FileStamp
    duration: float  # seconds
    width: int  # decoded frame size
    height: int
    crop: Crop
    positions: tuple[float, ...]  # relative positions in the video, 0..1
    gray: np.ndarray  # (K, 90, 160) uint8: what SSIM compares
    strip: tuple[bytes, ...]  # one colour JPEG per position, longest side STRIP_MAX_SIDE

    @property
    def path(self) -> str:
        return self.stamp.path

    @property
    def times(self) -> tuple[float, ...]:
        return tuple(sample_time(position, self.duration) for position in self.positions)

    @property
    def has_bars(self) -> bool:
        return (self.crop.width, self.crop.height) != (self.width, self.height)


@dataclass(frozen=True)
class PairComparison:
    """How similar `other_path` is to the keeper.

    `column_scores` are per position (same relative positions in both files). `score` is the
    better of their median and the best shifted alignment's median. `offset_seconds` is None
    when the relative positions won; otherwise it is the shift found: the other file at time t
    shows the keeper at time t + offset (2.0 = the other copy lacks the keeper's first 2 s).
    """

    keeper_path: str
    other_path: str
    column_scores: tuple[float, ...]
    score: float
    offset_seconds: float | None = None
    offset_score: float | None = None


@dataclass(frozen=True)
class FileComparison:
    """One file of a group: its frames and its similarity to the keeper, or why it has none."""

    path: str
    error: str | None = None
    frames: SampledFrames | None = None
    column_scores: tuple[float, ...] = ()
    score: float | None = None
    offset_seconds: float | None = None

    @property
    def status(self) -> str:
        return "error" if self.error else "ok"


@dataclass(frozen=True)
class GroupComparison:
    """Frame strips and scores for a group of videos, compared with the keeper."""

    keeper_index: int
    positions: tuple[float, ...]
    files: tuple[FileComparison, ...]


# ---------------------------------------------------------------------------------------------
# Public API: videos


def sample_positions(k: int = DEFAULT_FRAME_COUNT) -> tuple[float, ...]:
    """The K relative positions, centred in K equal slices of the middle 90% of a video."""
    if k < 1:
        raise ValueError("k must be at least 1")
    span = 1.0 - 2 * EDGE_SKIP
    return tuple(EDGE_SKIP + (index + 0.5) * span / k for index in range(k))


def sample_time(position: float, duration: float) -> float:
    """Seconds into a video for a relative position, nudged a little later.

    OpenCV seeks to the keyframe before (target - 16 frames) and decodes forward. A target
    exactly on a keyframe (10% of a file whose length is a multiple of the GOP, which is common)
    would decode the whole previous GOP; SEEK_NUDGE_SECONDS later it decodes a few frames.
    """
    return position * duration + min(SEEK_NUDGE_SECONDS, SEEK_NUDGE_FRACTION * duration)


def sample_frames(
    path: str,
    k: int = DEFAULT_FRAME_COUNT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cache: FrameCache | None = None,
    workers: int | None = None,
) -> SampledFrames:
    """Sample K cropped frames of a video (from the cache when the file is unchanged)."""
    result = _sample_many([path], k, timeout, _cache_or_default(cache), _worker_count(workers))[0]
    if isinstance(result, MediaError):
        raise result
    return result


def compare_videos(
    keeper_path: str,
    other_path: str,
    k: int = DEFAULT_FRAME_COUNT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cache: FrameCache | None = None,
    workers: int | None = None,
) -> PairComparison:
    """How much `other_path` shows the same video as `keeper_path`; MediaError if unreadable."""
    cache = _cache_or_default(cache)
    workers = _worker_count(workers)
    keeper_stamp, other_stamp = file_stamp(keeper_path), file_stamp(other_path)
    cached = cache.load_pair(keeper_stamp, other_stamp, k)
    if cached is not None:
        return cached
    keeper, other = _sample_many([keeper_path, other_path], k, timeout, cache, workers)
    for result in (keeper, other):
        if isinstance(result, MediaError):
            raise result
    assert isinstance(keeper, SampledFrames) and isinstance(other, SampledFrames)
    comparison = _compare_sampled(keeper, other, timeout, workers)
    cache.save_pair(keeper.stamp, other.stamp, k, comparison)
    return comparison


def sample_group(
    paths: Sequence[str],
    k: int = DEFAULT_FRAME_COUNT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cache: FrameCache | None = None,
    workers: int | None = None,
) -> list[SampledFrames | MediaError]:
    """Sample K frames of every file (cached ones are read back); a broken file gets its error.

    Sampling first tells where the black bars are, which can change the keeper to compare with.
    """
    return _sample_many(paths, k, timeout, _cache_or_default(cache), _worker_count(workers))


def known_picture(path: str, cache: FrameCache | None = None) -> tuple[int, int, Crop] | None:
    """(frame width, frame height, picture crop) of a video sampled before, if still unchanged."""
    try:
        stamp = file_stamp(path)
    except MediaError:
        return None
    return _cache_or_default(cache).load_picture(stamp)


def compare_group(
    paths: Sequence[str],
    keeper_index: int,
    k: int = DEFAULT_FRAME_COUNT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cache: FrameCache | None = None,
    workers: int | None = None,
) -> GroupComparison:
    """Frame strips of every file and their scores against the keeper; broken files get an error."""
    if not 0 <= keeper_index < len(paths):
        raise ValueError(f"keeper_index {keeper_index} is outside the group of {len(paths)}")
    cache = _cache_or_default(cache)
    workers = _worker_count(workers)
    sampled = _sample_many(paths, k, timeout, cache, workers)
    keeper = sampled[keeper_index]
    files: list[FileComparison] = []
    for index, (path, result) in enumerate(zip(paths, sampled, strict=True)):
        if isinstance(result, MediaError):
            files.append(FileComparison(path, error=result.message))
        elif index == keeper_index:
            files.append(FileComparison(path, frames=result, column_scores=(1.0,) * k, score=1.0))
        elif isinstance(keeper, MediaError):
            files.append(FileComparison(path, frames=result))
        else:
            try:
                pair = cache.load_pair(keeper.stamp, result.stamp, k)
                if pair is None:
                    pair = _compare_sampled(keeper, result, timeout, workers)
                    cache.save_pair(keeper.stamp, result.stamp, k, pair)
            except MediaError as error:
                files.append(FileComparison(path, error=error.message, frames=result))
                continue
            files.append(
                FileComparison(
                    path,
                    frames=result,
                    column_scores=pair.column_scores,
                    score=pair.score,
                    offset_seconds=pair.offset_seconds,
                )
            )
    return GroupComparison(keeper_index, sample_positions(k), tuple(files))


def frame_thumbnail(path: str, max_side: int = 320, *, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """A JPEG for the UI: a video frame 15% in (not the often-black first one), or the image."""
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return encode_jpeg(_load_image(path, max_side))
    file_stamp(path)
    name = Path(path).name
    _, frames = _call_with_deadline(
        lambda cancelled: _decode_video(
            path,
            positions=(THUMBNAIL_POSITION,),
            cancelled=cancelled,
            timeout=timeout,
            max_side=max(max_side, 1),
        ),
        timeout,
        name,
    )
    return encode_jpeg(frames[0])


# ---------------------------------------------------------------------------------------------
# Public API: images, heat maps, JPEG


def compare_images(path_a: str, path_b: str) -> float:
    """SSIM of two images after scaling both to one common size, in grayscale."""
    load_side = 2 * COMPARE_SIZE[0]  # detail enough to shrink well; JPEGs decode at 1/4-1/8
    image_a, image_b = _load_image(path_a, load_side), _load_image(path_b, load_side)
    size = _common_image_size(image_a, image_b)
    return ssim(_to_compare_gray(image_a, size), _to_compare_gray(image_b, size))


def image_difference_heatmap(path_a: str, path_b: str, max_side: int = 320) -> bytes:
    """Where two images differ, as a colour-mapped JPEG the size of `path_a`'s preview."""
    return difference_heatmap(_load_image(path_a, max_side), _load_image(path_b, max_side))


def difference_heatmap(frame_a: np.ndarray, frame_b: np.ndarray) -> bytes:
    """JPEG of |a - b| in grayscale, colour-mapped (black = same, yellow = very different).

    `frame_b` is scaled to `frame_a`'s size. The difference is doubled so that compression noise
    stays dark while changed content stands out. Works on strip frames (`decode_jpeg`) or on the
    160x90 grayscale pictures SSIM saw (`SampledFrames.gray[i]`).
    """
    gray_a, gray_b = _as_gray(frame_a), _as_gray(frame_b)
    if gray_b.shape != gray_a.shape:
        gray_b = cv2.resize(
            gray_b, (gray_a.shape[1], gray_a.shape[0]), interpolation=cv2.INTER_AREA
        )
    difference = cv2.convertScaleAbs(cv2.absdiff(gray_a, gray_b), alpha=2.0)
    return encode_jpeg(cv2.applyColorMap(difference, cv2.COLORMAP_INFERNO))


def encode_jpeg(frame: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR or grayscale frame, for the UI."""
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return data.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """A BGR frame back from `encode_jpeg` (e.g. a strip frame, for a heat map)."""
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError("not a JPEG OpenCV can decode")
    return frame


def ssim(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Mean SSIM of two same-size grayscale images (Wang et al. 2004, Gaussian window).

    11x11 Gaussian window with sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, averaged over
    the pixels where the whole window fits (the 'valid' region of the reference code).
    """
    if image_a.shape != image_b.shape:
        raise ValueError(f"SSIM needs equal shapes, got {image_a.shape} and {image_b.shape}")
    a = image_a.astype(np.float64)
    b = image_b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(values: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(values, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mean_a, mean_b = blur(a), blur(b)
    variance_a = blur(a * a) - mean_a * mean_a
    variance_b = blur(b * b) - mean_b * mean_b
    covariance = blur(a * b) - mean_a * mean_b
    ssim_map = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / (
        (mean_a * mean_a + mean_b * mean_b + c1) * (variance_a + variance_b + c2)
    )
    if min(ssim_map.shape) > 10:
        ssim_map = ssim_map[5:-5, 5:-5]
    return float(ssim_map.mean())


def detect_crop(frames: Sequence[np.ndarray]) -> Crop:
    """The picture area inside near-black bars that are present in every informative frame.

    All-black frames (fades, night scenes) say nothing about bars and are ignored; taking the
    smallest bar over the rest means a dark scene edge in one frame is not cut from all of them.
    """
    height, width = frames[0].shape[:2]
    bars: list[tuple[int, int, int, int]] = []
    for frame in frames:
        bright = _as_gray(frame) > DARK_LEVEL
        if bright.mean() < BAR_BRIGHT_FRACTION:
            continue
        content_rows = np.flatnonzero(bright.mean(axis=1) >= BAR_BRIGHT_FRACTION)
        content_columns = np.flatnonzero(bright.mean(axis=0) >= BAR_BRIGHT_FRACTION)
        bars.append(
            (
                int(content_rows[0]),
                height - 1 - int(content_rows[-1]),
                int(content_columns[0]),
                width - 1 - int(content_columns[-1]),
            )
        )
    if not bars:
        return Crop(0, 0, width, height)
    top, bottom, left, right = (min(sides) for sides in zip(*bars, strict=True))
    top, bottom = (bar if bar >= MIN_BAR_FRACTION * height else 0 for bar in (top, bottom))
    left, right = (bar if bar >= MIN_BAR_FRACTION * width else 0 for bar in (left, right))
    return Crop(left, top, width - left - right, height - top - bottom)


def file_stamp(path: str) -> FileStamp:
    """Size and mtime of a media file, or a MediaError saying why it cannot be read."""
    name = Path(path).name or path
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise MediaError(f"{name}: the file does not exist ({path}).") from None
    except OSError as error:
        raise MediaError(f"{name}: cannot read the file ({error.strerror}).") from None
    if not Path(path).is_file():
        raise MediaError(f"{name}: not a regular file ({path}).")
    if status.st_size == 0:
        raise MediaError(f"{name}: the file is empty (0 bytes).")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{name}: no permission to read the file.")
    return FileStamp(str(path), status.st_size, status.st_mtime_ns)


# ---------------------------------------------------------------------------------------------
# Cache


class FrameCache:
    """Sampled frames and pair scores in one SQLite file, keyed by path.

    A row is used only while the file's size and mtime (nanoseconds) are those it was made from,
    so a replaced or re-encoded file is sampled again. `FrameCache(None)` caches nothing.
    """

    FILE_NAME = "frames.sqlite3"

    def __init__(self, directory: Path | str | None) -> None:
        self.database: Path | None = None
        if directory is None:
            return
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.database = Path(directory) / self.FILE_NAME
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(
                """
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
            )

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
        self._store(
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
            (
                keeper.path,
                other.path,
                k,
                SAMPLING_VERSION,
                keeper.size,
                keeper.mtime_ns,
                other.size,
                other.mtime_ns,
            ),
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
        self._store(
            "INSERT OR REPLACE INTO pair_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                keeper.path,
                other.path,
                k,
                SAMPLING_VERSION,
                keeper.size,
                keeper.mtime_ns,
                other.size,
                other.mtime_ns,
                json.dumps(result),
            ),
        )

    def _connect(self) -> sqlite3.Connection:
        assert self.database is not None
        return sqlite3.connect(self.database, timeout=30)

    def _fetch(self, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self.database is None:
            return None
        try:
            with closing(self._connect()) as connection:
                return connection.execute(sql, parameters).fetchone()
        except sqlite3.Error as error:  # a broken cache only costs time: sample again
            log.warning("frame cache %s unreadable, sampling again: %s", self.database, error)
            return None

    def _store(self, sql: str, parameters: tuple[Any, ...]) -> None:
        if self.database is None:
            return
        try:
            with closing(self._connect()) as connection, connection:
                connection.execute(sql, parameters)
        except sqlite3.Error as error:  # a full disk must not fail the comparison itself
            log.warning("frame cache %s not updated: %s", self.database, error)


@functools.lru_cache(maxsize=1)
def default_cache() -> FrameCache:
    """The app's cache in app_data_dir()/frames."""
    return FrameCache(app_data_dir() / "frames")


# ---------------------------------------------------------------------------------------------
# Sampling and comparing


@dataclass(frozen=True)
class _VideoInfo:
    duration: float
    fps: float
    width: int
    height: int


def _cache_or_default(cache: FrameCache | None) -> FrameCache:
    return default_cache() if cache is None else cache


def _worker_count(workers: int | None) -> int:
    return max(1, workers if workers is not None else (os.cpu_count() or 2))


def _sample_many(
    paths: Sequence[str], k: int, timeout: float, cache: FrameCache, workers: int
) -> list[SampledFrames | MediaError]:
    """Sample several videos at once; each file's positions are split over the workers."""
    positions = sample_positions(k)
    results: list[SampledFrames | MediaError | None] = [None] * len(paths)
    stamps: dict[int, FileStamp] = {}
    for index, path in enumerate(paths):
        try:
            stamp = file_stamp(path)
        except MediaError as error:
            results[index] = error
            continue
        cached = cache.load_frames(stamp, k)
        if cached is not None:
            results[index] = cached
        else:
            stamps[index] = stamp

    chunks = _split(positions, math.ceil(workers / max(1, len(stamps))))
    jobs = [(index, chunk) for index in stamps for chunk in chunks]
    outputs = _run_parallel(
        [
            functools.partial(_decode_video, paths[index], positions=chunk, timeout=timeout)
            for index, chunk in jobs
        ],
        [Path(paths[index]).name for index, _ in jobs],
        timeout,
        workers,
    )
    for index, stamp in stamps.items():
        parts = [
            output
            for (job_index, _), output in zip(jobs, outputs, strict=True)
            if job_index == index
        ]
        errors = [part for part in parts if isinstance(part, MediaError)]
        if errors:
            results[index] = errors[0]
            continue
        info = parts[0][0]
        sampled = _build_sampled(stamp, info, positions, [f for part in parts for f in part[1]])
        cache.save_frames(sampled)
        results[index] = sampled
    return [result for result in results if result is not None]


def _build_sampled(
    stamp: FileStamp, info: _VideoInfo, positions: tuple[float, ...], frames: list[np.ndarray]
) -> SampledFrames:
    work_crop = detect_crop(frames)
    crop = _rescale_crop(work_crop, _size(frames[0]), (info.width, info.height))
    pictures = [_apply_crop(frame, work_crop) for frame in frames]
    return SampledFrames(
        stamp=stamp,
        duration=info.duration,
        width=info.width,
        height=info.height,
        crop=crop,
        positions=positions,
        gray=np.stack([_to_compare_gray(picture, COMPARE_SIZE) for picture in pictures]),
        strip=tuple(encode_jpeg(_fit(picture, STRIP_MAX_SIDE)) for picture in pictures),
    )


def _compare_sampled(
    keeper: SampledFrames, other: SampledFrames, timeout: float, workers: int
) -> PairComparison:
    """Column scores at the same relative positions, then shifted alignments if durations differ."""
    column_scores = tuple(ssim(a, b) for a, b in zip(keeper.gray, other.gray, strict=True))
    relative_score = statistics.median(column_scores)
    best = _best_offset(keeper, other, timeout, workers)
    if best is not None and best[1] >= relative_score + OFFSET_MIN_GAIN:
        offset, offset_score = best
        return PairComparison(
            keeper.path, other.path, column_scores, offset_score, round(offset, 3), offset_score
        )
    return PairComparison(keeper.path, other.path, column_scores, relative_score)


def _offset_candidates(keeper_duration: float, other_duration: float) -> list[float]:
    """Shifts to try: the other copy lost its start, its end, or half of the difference at each."""
    difference = keeper_duration - other_duration
    if abs(difference) <= SAME_DURATION_SECONDS:
        return []
    return [difference, 0.0, difference / 2]


def _best_offset(
    keeper: SampledFrames, other: SampledFrames, timeout: float, workers: int
) -> tuple[float, float] | None:
    """Sample the other file at the keeper's times minus each candidate shift; best median SSIM."""
    minimum_columns = max(3, math.ceil(len(keeper.positions) / 2))
    plans: list[tuple[float, list[int]]] = []
    for offset in _offset_candidates(keeper.duration, other.duration):
        columns = [
            column
            for column, time in enumerate(keeper.times)
            if 0.0 <= time - offset <= other.duration * (1 - EDGE_SKIP / 2)
        ]
        if len(columns) >= minimum_columns:
            plans.append((offset, columns))
    if not plans:
        return None
    times = sorted(
        {round(keeper.times[column] - offset, 3) for offset, columns in plans for column in columns}
    )
    chunks = _split(tuple(times), workers)
    outputs = _run_parallel(
        [
            functools.partial(_decode_video, other.path, times=chunk, timeout=timeout)
            for chunk in chunks
        ],
        [Path(other.path).name] * len(chunks),
        timeout,
        workers,
    )
    pictures: dict[float, np.ndarray] = {}
    for chunk, output in zip(chunks, outputs, strict=True):
        if isinstance(output, MediaError):
            raise output
        work_crop = _rescale_crop(other.crop, (other.width, other.height), _size(output[1][0]))
        for time, frame in zip(chunk, output[1], strict=True):
            pictures[time] = _to_compare_gray(_apply_crop(frame, work_crop), COMPARE_SIZE)
    scored = [
        (
            offset,
            statistics.median(
                ssim(keeper.gray[column], pictures[round(keeper.times[column] - offset, 3)])
                for column in columns
            ),
        )
        for offset, columns in plans
    ]
    return max(scored, key=lambda item: item[1])


# ---------------------------------------------------------------------------------------------
# Decoding


def _decode_video(
    path: str,
    *,
    positions: Sequence[float] | None = None,
    times: Sequence[float] | None = None,
    timeout: float,
    cancelled: threading.Event,
    max_side: int = WORK_MAX_SIDE,
) -> tuple[_VideoInfo, list[np.ndarray]]:
    """Decode frames at relative positions or absolute times, shrunk to `max_side`.

    Seeks first; frames whose seek fails or lands far from the target are read again by one
    sequential scan, which also tells a truncated file (the scan ends early) from a bad index.
    """
    name = Path(path).name
    capture = _open_capture(path, timeout)
    try:
        info = _video_info(capture, name)
        if times is None:
            times = [sample_time(position, info.duration) for position in positions or ()]
        targets = list(times)
        tolerance = max(0.5, 2.0 / info.fps)
        frames: list[np.ndarray | None] = []
        for target in targets:
            if cancelled.is_set():
                raise MediaError(f"{name}: decoding was abandoned after the deadline.")
            capture.set(cv2.CAP_PROP_POS_MSEC, target * 1000.0)
            ok, frame = capture.read()
            landed = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            frames.append(frame if ok and abs(landed - target) <= tolerance else None)
    except cv2.error as error:
        raise MediaError(f"{name}: OpenCV failed while decoding ({error.err}).") from None
    finally:
        capture.release()

    missing = [index for index, frame in enumerate(frames) if frame is None]
    if missing:
        found = _read_sequentially(path, [targets[i] for i in missing], timeout, cancelled)
        for index, frame in zip(missing, found, strict=True):
            if frame is None:
                raise MediaError(
                    f"{name}: cannot decode the frame at {targets[index]:.1f} s of "
                    f"{info.duration:.1f} s; the file looks truncated or damaged."
                )
            frames[index] = frame
    return info, [_fit(frame, max_side) for frame in frames if frame is not None]


def _read_sequentially(
    path: str, targets: Sequence[float], timeout: float, cancelled: threading.Event
) -> list[np.ndarray | None]:
    """Fallback for files that do not seek: grab every frame from the start up to each target."""
    name = Path(path).name
    capture = _open_capture(path, timeout)
    found: dict[float, np.ndarray] = {}
    try:
        pending = sorted(targets)
        while pending and capture.grab():
            if cancelled.is_set():
                raise MediaError(f"{name}: decoding was abandoned after the deadline.")
            now = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if now + 1e-3 >= pending[0]:
                ok, frame = capture.retrieve()
                while ok and pending and now + 1e-3 >= pending[0]:
                    found[pending.pop(0)] = frame
    except cv2.error as error:
        raise MediaError(f"{name}: OpenCV failed while decoding ({error.err}).") from None
    finally:
        capture.release()
    return [found.get(target) for target in targets]


def _open_capture(path: str, timeout: float) -> cv2.VideoCapture:
    """Open with FFmpeg's own I/O timeouts as well, so a stalled drive also aborts inside FFmpeg."""
    milliseconds = int(timeout * 1000)
    capture = cv2.VideoCapture(
        path,
        cv2.CAP_FFMPEG,
        [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            milliseconds,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            milliseconds,
            # One decoding thread per capture: the pool already runs one capture per core,
            # and FFmpeg's frame threads only add latency to each seek (measured ~20% slower).
            cv2.CAP_PROP_N_THREADS,
            1,
        ],
    )
    if not capture.isOpened():
        raise MediaError(
            f"{Path(path).name}: cannot open it as a video (unknown format or codec, no video "
            "stream, or a damaged file)."
        )
    return capture


def _video_info(capture: cv2.VideoCapture, name: str) -> _VideoInfo:
    fps = capture.get(cv2.CAP_PROP_FPS)
    frame_count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise MediaError(f"{name}: the video stream has no picture size.")
    if not (fps > 0 and frame_count > 0 and math.isfinite(fps) and math.isfinite(frame_count)):
        raise MediaError(f"{name}: cannot tell how long the video is (no frame rate or length).")
    return _VideoInfo(frame_count / fps, fps, width, height)


def _call_with_deadline(work: Callable[[threading.Event], T], timeout: float, name: str) -> T:
    """Run `work` in a daemon thread and give up after `timeout` seconds.

    A decoder stuck inside FFmpeg cannot be interrupted from Python, so the thread is abandoned:
    it is a daemon (never delays the app's exit) and is told to stop before its next frame.
    """
    cancelled = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(cancelled)
        except BaseException as error:  # re-raised in the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"decode {name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        cancelled.set()
        raise MediaError(
            f"{name}: gave up after {timeout:g} s of decoding (the file may be damaged or on a "
            "drive that stopped answering)."
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _run_parallel(
    works: Sequence[Callable[..., T]], names: Sequence[str], timeout: float, workers: int
) -> list[T | MediaError]:
    """Run decode jobs on a thread pool (OpenCV releases the GIL); MediaErrors become results.

    Pool threads only wait on deadline threads, so the pool itself can never hang.
    """
    if not works:
        return []

    def run(work: Callable[..., T], name: str) -> T | MediaError:
        try:
            return _call_with_deadline(lambda cancelled: work(cancelled=cancelled), timeout, name)
        except MediaError as error:
            return error

    with ThreadPoolExecutor(max_workers=min(workers, len(works))) as pool:
        return list(pool.map(run, works, names))


def _split(items: tuple[float, ...], parts: int) -> list[tuple[float, ...]]:
    """Split into at most `parts` contiguous runs, so each worker seeks forward only."""
    parts = max(1, min(parts, len(items)))
    bounds = [round(index * len(items) / parts) for index in range(parts + 1)]
    return [items[bounds[index] : bounds[index + 1]] for index in range(parts)]


# ---------------------------------------------------------------------------------------------
# Pixels


def _fit(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longest side is at most `max_side` (never enlarge)."""
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def _apply_crop(frame: np.ndarray, crop: Crop) -> np.ndarray:
    return frame[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width]


def _size(frame: np.ndarray) -> tuple[int, int]:
    return frame.shape[1], frame.shape[0]


def _rescale_crop(crop: Crop, from_size: tuple[int, int], to_size: tuple[int, int]) -> Crop:
    """The same crop in the pixels of a frame of another size (decoded vs shrunk)."""
    scale_x, scale_y = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return Crop(
        round(crop.x * scale_x),
        round(crop.y * scale_y),
        max(1, round(crop.width * scale_x)),
        max(1, round(crop.height * scale_y)),
    )


def _as_gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _to_compare_gray(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(_as_gray(picture), size, interpolation=cv2.INTER_AREA)


def _common_image_size(image_a: np.ndarray, image_b: np.ndarray) -> tuple[int, int]:
    """COMPARE_SIZE's width, and the mean aspect of both images (so the score is symmetric)."""
    aspect = (image_a.shape[0] / image_a.shape[1] + image_b.shape[0] / image_b.shape[1]) / 2
    width = COMPARE_SIZE[0]
    return width, min(4 * width, max(16, round(width * aspect)))


def _load_image(path: str, max_side: int) -> np.ndarray:
    """A BGR preview of an image no larger than `max_side`, upright, transparency on white."""
    file_stamp(path)
    name = Path(path).name
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # decode at 1/2..1/8 scale: much faster
            image = ImageOps.exif_transpose(image)
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            rgb = _to_rgb(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(f"{name}: cannot read it as an image ({error}).") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """8-bit RGB from any Pillow mode; 16-bit gray keeps its range, alpha is laid on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.uint32)
        if image.mode == "I" and values.max(initial=0) <= 255:
            gray = values.astype(np.uint8)
        else:
            gray = (values >> 8).astype(np.uint8)
        return np.dstack([gray] * 3)
    if image.mode == "F":
        gray = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
        return np.dstack([gray] * 3)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))

"""Frame fingerprints: a time-ordered sequence of 64-bit perceptual hashes per video.

Phash sums a whole video up in one hash, so a trimmed copy, a copy with an intro, a part or a
compilation hashes differently. A fingerprint keeps one small hash per frame with its time,
so two videos can be matched segment by segment (see dedupe/overlaps.py).

Frames come from Stash's scrubber sprite when it has one (`<generated>/vtt/<hash>_sprite.jpg`,
cell times from `<hash>_thumbs.vtt`): no video is decoded at all. Otherwise ffmpeg decodes the
video once and keeps a small grey frame every SAMPLE_INTERVAL seconds (decoding keyframes
only is ~15x cheaper, but gives one frame per GOP, 2-10 s apart in most files: too sparse
for segment ends within 2 s; see bench/bench_overlaps.py). Each frame is hashed the
same way in both cases: black bars found over the whole video are cropped, the picture is
shrunk to 32x32, and the 8x8 lowest DCT frequencies are compared with their median (the
classic DCT phash). Flat frames (black, fades, a title card's plain field) are dropped: they
match everything. Fingerprints are cached like phashes, keyed by (library, file id) and checked
against path, size and mod time.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from stash_dedupe.appdata import AppPaths
from stash_dedupe.errors import AppError, MediaError
from stash_dedupe.jobs import PAUSED, Job
from stash_dedupe.media.file_results import FAILURES_SCHEMA, FileFailure, FileResultStore
from stash_dedupe.media.similarity import detect_crop
from stash_dedupe.models import MediaFile

FINGERPRINT_VERSION = 1  # bump when frames are taken or hashed differently: old rows drop
SAMPLE_INTERVAL = 1.0  # seconds between sampled frames
MAX_SAMPLED_FRAMES = 7200  # longer videos are sampled more sparsely (2 h at 1 frame/s)
SAMPLE_SIZE = (128, 72)  # width, height of the grey frames ffmpeg hands over
# A sprite of 81 cells over a long video has one cell per duration/81 seconds; beyond this
# step its cells are too far apart to line up with another copy's, and ffmpeg samples instead.
MAX_SPRITE_STEP = 20.0
# Frames whose grey levels spread less than this (standard deviation) are flat: no evidence.
FLAT_DEVIATION = 8.0
HASH_SIDE = 32  # frames are shrunk to this square before the DCT
LOW_FREQUENCIES = 8  # the 8x8 lowest frequencies give the 64 bits
# ffmpeg may take this long plus this many seconds per second of video before it is stopped.
TIMEOUT_BASE = 60.0
TIMEOUT_PER_VIDEO_SECOND = 2.0
SPRITE = "sprite"
SAMPLED = "sampled"

_CUE = re.compile(
    r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*-->\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)[^\n]*\n"
    r"[^\n]*#xywh=(\d+),(\d+),(\d+),(\d+)"
)

CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    library TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mod_time TEXT,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    duration REAL NOT NULL,
    step REAL NOT NULL,
    times BLOB NOT NULL,
    hashes BLOB NOT NULL,
    computed_at REAL NOT NULL,
    PRIMARY KEY (library, file_id)
);
"""


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A video's frame hashes in time order. `step` is the seconds between frames taken
    (flat frames leave gaps); `source` says where the frames came from (sprite or sampled)."""

    file_id: int
    duration: float
    step: float
    times: np.ndarray  # float64 seconds, ascending
    hashes: np.ndarray  # uint64, one per time
    source: str


@dataclass(frozen=True)
class FingerprintTask:
    """One video to fingerprint: its identity for the cache, and Stash's sprite if any."""

    file_id: int
    path: str
    size: int
    mod_time: str | None
    sprite: str | None = None
    vtt: str | None = None


@dataclass(frozen=True)
class FingerprintReport:
    computed: int
    failed: list[FileFailure] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Hashing frames


def _dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: D @ x is the DCT of the column x."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2 / size)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix(HASH_SIDE)[:LOW_FREQUENCIES]
_BIT_VALUES = np.left_shift(np.uint64(1), np.arange(63, -1, -1, dtype=np.uint64))


def hash_frames(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hashes, informative mask) of one video's grey frames, all of one size.

    Black bars found over all the frames are cropped first, so a letterboxed copy hashes as
    the original; flat frames are marked uninformative (their hash is meaningless).
    """
    if not frames:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=bool)
    crop = detect_crop(frames)
    small = np.empty((len(frames), HASH_SIDE, HASH_SIDE), dtype=np.float64)
    informative = np.empty(len(frames), dtype=bool)
    for index, frame in enumerate(frames):
        picture = frame[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width]
        informative[index] = float(picture.std()) >= FLAT_DEVIATION
        small[index] = cv2.resize(picture, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
    coefficients = (_DCT @ small @ _DCT.T).reshape(len(frames), -1)
    median = np.median(coefficients, axis=1, keepdims=True)
    bits = (coefficients > median).astype(np.uint64)
    return (bits * _BIT_VALUES).sum(axis=1, dtype=np.uint64), informative


def _fingerprint(
    file_id: int, duration: float, step: float, times: np.ndarray, frames: list, source: str
) -> Fingerprint:
    hashes, informative = hash_frames(frames)
    times = np.asarray(times, dtype=np.float64)[: len(hashes)]
    return Fingerprint(file_id, duration, step, times[informative], hashes[informative], source)


# ---------------------------------------------------------------------------------------------
# From Stash's scrubber sprite


@dataclass(frozen=True)
class SpriteCell:
    start: float
    end: float
    x: int
    y: int
    width: int
    height: int


def read_sprite_cells(vtt: str | os.PathLike[str]) -> list[SpriteCell]:
    """The cells of a `_thumbs.vtt`: each cue's time range and its rectangle in the sprite."""
    try:
        text = Path(vtt).read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise MediaError(f"Stash's sprite map {vtt} cannot be read ({error.strerror}).") from None
    cells = []
    for match in _CUE.finditer(text.replace("\r\n", "\n")):
        h1, m1, s1, h2, m2, s2, x, y, width, height = match.groups()
        start = int(h1) * 3600 + int(m1) * 60 + float(s1)
        end = int(h2) * 3600 + int(m2) * 60 + float(s2)
        cells.append(SpriteCell(start, end, int(x), int(y), int(width), int(height)))
    return cells


def sprite_step(cells: Sequence[SpriteCell]) -> float:
    """Seconds between cells, read from the cues (never assumed)."""
    if len(cells) < 2:
        return cells[0].end - cells[0].start if cells else 0.0
    return (cells[-1].start - cells[0].start) / (len(cells) - 1)


def sprite_fingerprint(
    file_id: int, sprite: str | os.PathLike[str], vtt: str | os.PathLike[str]
) -> Fingerprint:
    """A fingerprint from Stash's sprite and its map: no decoding of the video."""
    cells = read_sprite_cells(vtt)
    if not cells:
        raise MediaError(f"Stash's sprite map {vtt} lists no cells.")
    with open(sprite, "rb") as handle:
        data = np.frombuffer(handle.read(), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if len(data) else None
    if image is None:
        raise MediaError(f"Stash's sprite {sprite} cannot be decoded.")
    width, height = cells[0].width, cells[0].height
    frames, times = [], []
    for cell in cells:
        picture = image[cell.y : cell.y + height, cell.x : cell.x + width]
        if picture.shape != (height, width):
            continue  # a cell outside a truncated sprite
        frames.append(picture)
        times.append(cell.start)
    duration = cells[-1].end
    return _fingerprint(file_id, duration, sprite_step(cells), np.array(times), frames, SPRITE)


def usable_sprite(vtt: str | os.PathLike[str]) -> bool:
    """Whether the sprite's cells are close enough in time to match trimmed copies."""
    try:
        cells = read_sprite_cells(vtt)
    except MediaError:
        return False
    return len(cells) >= 2 and 0 < sprite_step(cells) <= MAX_SPRITE_STEP


def stash_sprite(
    file: MediaFile, generated: Path | None, video_hash: str
) -> tuple[str, str] | None:
    """Stash's sprite and map for a video, named by oshash (or md5), when both exist."""
    checksum = file.md5 if video_hash == "md5" else file.oshash
    if generated is None or not checksum:
        return None
    sprite = generated / "vtt" / f"{checksum}_sprite.jpg"
    vtt = generated / "vtt" / f"{checksum}_thumbs.vtt"
    if sprite.is_file() and vtt.is_file():
        return str(sprite), str(vtt)
    return None


# ---------------------------------------------------------------------------------------------
# Sampled with ffmpeg


def sample_interval(duration: float) -> float:
    """SAMPLE_INTERVAL, or sparser for videos so long it would take too many frames."""
    return max(SAMPLE_INTERVAL, duration / MAX_SAMPLED_FRAMES)


def sampled_fingerprint(
    file_id: int, path: str, *, interval: float | None = None, timeout: float | None = None
) -> Fingerprint:
    """A fingerprint from frames ffmpeg decodes every `interval` seconds (MediaError if the
    file cannot be read, or ffmpeg gives up or runs past the deadline)."""
    from stash_dedupe.media.ffmpeg_tools import find_ffmpeg, run_tool
    from stash_dedupe.media.video_sprite import probe

    ffmpeg, ffprobe = find_ffmpeg()
    if not ffmpeg or not ffprobe:
        raise MediaError("Sampling frames needs ffmpeg and ffprobe; neither was found.")
    if not os.path.isfile(path):
        raise MediaError(f"{path} is missing or not a file.")
    path = os.path.abspath(path)  # a name starting with "-" must not read as an option
    started = time.monotonic()
    duration, _ = probe(path, ffprobe, started + TIMEOUT_BASE)
    if duration <= 0:
        raise MediaError(f"ffprobe finds no duration in {path}; it may not be a video.")
    interval = interval or sample_interval(duration)
    timeout = timeout or TIMEOUT_BASE + TIMEOUT_PER_VIDEO_SECOND * duration
    width, height = SAMPLE_SIZE
    command = [
        ffmpeg, "-nostdin", "-v", "error", "-threads", "1", "-skip_loop_filter", "all",
        "-i", path, "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", f"fps=1/{interval:.6f}:round=up,scale={width}:{height}:flags=area,format=gray",
        "-f", "rawvideo", "-",
    ]  # fmt: skip
    raw = run_tool(command, started + timeout, f"ffmpeg cannot sample frames of {path}")
    count = len(raw) // (width * height)
    if count == 0:
        raise MediaError(f"ffmpeg decoded no frames of {path}.")
    frames = list(np.frombuffer(raw[: count * width * height], np.uint8).reshape(-1, height, width))
    times = np.arange(count) * interval
    return _fingerprint(file_id, duration, interval, times, frames, SAMPLED)


def fingerprint_one(task: FingerprintTask) -> Fingerprint:
    """The task's fingerprint: from Stash's sprite when it is dense enough, else sampled."""
    if task.sprite and task.vtt and usable_sprite(task.vtt):
        try:
            return sprite_fingerprint(task.file_id, task.sprite, task.vtt)
        except (MediaError, OSError):
            pass  # a broken sprite: the video itself may still be fine
    return sampled_fingerprint(task.file_id, task.path)


# ---------------------------------------------------------------------------------------------
# The cache


class FingerprintCache(FileResultStore):
    """Fingerprints by (library, file id) in an SQLite file in the app's data dir."""

    SCHEMA = CACHE_SCHEMA + FAILURES_SCHEMA
    NAME = "fingerprint cache"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(Path(path) if path else AppPaths.for_this_run().fingerprint_cache)

    def lookup(self, library: str, files: Iterable[MediaFile]) -> dict[int, Fingerprint]:
        """Cached fingerprints of the files whose path, size and mod time still match."""
        wanted = {file.file_id: file for file in files}
        found: dict[int, Fingerprint] = {}
        rows = self.query(
            "SELECT file_id, path, size, mod_time, source, duration, step, times, hashes"
            " FROM fingerprints WHERE library = ? AND version = ?",
            (library, FINGERPRINT_VERSION),
        )
        for file_id, path, size, mod_time, source, duration, step, times, hashes in rows:
            file = wanted.get(file_id)
            if file and file.path == path and file.size == size and file.mod_time == mod_time:
                found[file_id] = Fingerprint(
                    file_id,
                    duration,
                    step,
                    np.frombuffer(times, dtype="<f8").astype(np.float64),
                    np.frombuffer(hashes, dtype="<u8").astype(np.uint64),
                    source,
                )
        return found

    def current_ids(self, library: str, files: Iterable[MediaFile]) -> set[int]:
        """Ids of the files whose cached fingerprint still matches, without reading the
        fingerprints themselves (what is missing is asked often; the frames are large)."""
        wanted = {file.file_id: file for file in files}
        rows = self.query(
            "SELECT file_id, path, size, mod_time FROM fingerprints"
            " WHERE library = ? AND version = ?",
            (library, FINGERPRINT_VERSION),
        )
        return {
            file_id
            for file_id, path, size, mod_time in rows
            if (file := wanted.get(file_id))
            and (file.path, file.size, file.mod_time) == (path, size, mod_time)
        }

    def store(self, library: str, task: FingerprintTask, result: Fingerprint | str) -> None:
        """Record a fingerprint, or the reason (a string) it could not be made."""
        now = time.time()
        with self.transaction() as connection:
            if isinstance(result, Fingerprint):
                connection.execute(
                    "INSERT OR REPLACE INTO fingerprints VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        library, task.file_id, task.path, task.size, task.mod_time,
                        FINGERPRINT_VERSION, result.source, result.duration, result.step,
                        result.times.astype("<f8").tobytes(),
                        result.hashes.astype("<u8").tobytes(), now,
                    ),
                )  # fmt: skip
                self.forget_failure(connection, library, task.file_id)
            else:
                failure = FileFailure(task.file_id, task.path, result)
                self.record_failure(connection, library, failure)


def fingerprint_tasks(
    files: Sequence[MediaFile],
    library: str,
    cache: FingerprintCache,
    generated: Path | None = None,
    video_hash: str = "oshash",
) -> list[FingerprintTask]:
    """The videos (zip members aside) with no current fingerprint in the cache."""
    candidates = [file for file in files if file.zip_file_id is None]
    cached = cache.current_ids(library, candidates)
    tasks = []
    for file in candidates:
        if file.file_id in cached:
            continue
        sprite = stash_sprite(file, generated, video_hash)
        tasks.append(
            FingerprintTask(
                file.file_id,
                file.path,
                file.size,
                file.mod_time,
                sprite[0] if sprite else None,
                sprite[1] if sprite else None,
            )
        )
    return tasks


def _compute(task: FingerprintTask) -> Fingerprint | str:
    try:
        return fingerprint_one(task)
    except AppError as error:
        return error.message
    except Exception as error:  # a decoder's own failure: report it for this file only
        return f"{type(error).__name__}: {error}"


def run_fingerprints(
    job: Job,
    tasks: Sequence[FingerprintTask],
    library: str,
    workers: int | None = None,
    cache_path: str | os.PathLike[str] | None = None,
) -> FingerprintReport:
    """Fingerprint `tasks` (a job: progress, pause, cancel), storing each result as it comes.

    Threads suffice: the work is ffmpeg in its own process, or image decoding and numpy,
    which release the GIL. At most two tasks per worker are in flight, so pause and cancel
    take effect within one video.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    cache = FingerprintCache(cache_path)
    job.total = len(tasks)
    report = FingerprintReport(0)
    computed = 0
    queue = list(reversed(tasks))
    pending: dict[Future[Fingerprint | str], FingerprintTask] = {}
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while queue or pending:
                accepting = not job.cancel_requested and job.state != PAUSED
                while accepting and queue and len(pending) < 2 * workers:
                    task = queue.pop()
                    pending[pool.submit(_compute, task)] = task
                if not pending:
                    job.checkpoint()  # waits while paused, raises Cancelled once cancelled
                    continue
                finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = pending.pop(future)
                    result = future.result()
                    cache.store(library, task, result)
                    if isinstance(result, str):
                        report.failed.append(FileFailure(task.file_id, task.path, result))
                        job.advance(1, failed=1, message=f"failed: {task.path}")
                    else:
                        computed += 1
                        job.advance(1, message=task.path)
    finally:
        cache.close()
    return FingerprintReport(computed, report.failed)

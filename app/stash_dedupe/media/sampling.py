"""Frame sampling: do two files that phash put together really show the same pictures?

Phash looks at one montage per file; this module looks at the pictures themselves so the user
can see (and the app can score) whether a group holds true duplicates.

K frames are taken at the same *relative* positions in every file, skipping the first and last
5% (intros, credits, fades):

    position_i = 0.05 + (i + 0.5) * 0.9 / K        (K = 9: 10%, 20%, ... 90%)

(each then nudged up to 1 s later, see `decoding.sample_time`, which makes seeking much
cheaper). Each frame is decoded (decoding.py), black bars are cropped and the picture is scaled
to 160x90 grayscale (similarity.py). Two files are compared column by column with SSIM; the
overall score is the median of the columns, so one odd column (a watermark, a fade that landed
differently) cannot decide alone. When the durations differ, the other file may be a trimmed
copy: it is also sampled at absolute times shifted by the duration difference (start trimmed),
none (end trimmed) or half of it (both), and the best shift is reported.

Frames and scores are cached on disk (frame_cache.py), keyed by path, size and modification
time, so a changed file is sampled again. Broken media produces a `MediaError` with a message
for the user, or an error status per file in `compare_group`.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stash_dedupe.errors import MediaError
from stash_dedupe.media.decoding import (
    DEFAULT_TIMEOUT,
    FileStamp,
    VideoInfo,
    call_with_deadline,
    decode_video,
    file_stamp,
    load_image,
    run_parallel,
    shrink,
    split_runs,
)
from stash_dedupe.media.frame_cache import FrameCache, app_frame_cache
from stash_dedupe.media.frame_results import (
    FileComparison,
    GroupComparison,
    PairComparison,
    SampledFrames,
)
from stash_dedupe.media.similarity import (
    COMPARE_SIZE,
    Crop,
    apply_crop,
    detect_crop,
    encode_jpeg,
    frame_size,
    rescale_crop,
    ssim,
    to_compare_gray,
)
from stash_dedupe.models import DEFAULT_FRAME_COUNT

EDGE_SKIP = 0.05  # fraction skipped at each end of a video
STRIP_MAX_SIDE = 240  # longest side of the colour strip frames shown in the UI
THUMBNAIL_POSITION = 0.15  # the first frame is often black; 15% in usually shows the subject

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif"}
)

# Durations closer than this are the same cut: no shifted alignment is tried. An absolute
# bound, since relative positions in files that differ by d seconds are up to 0.9 d apart.
SAME_DURATION_SECONDS = 0.5


# A shifted alignment is reported only when it beats the relative positions by this much.
OFFSET_MIN_GAIN = 0.02


def sample_positions(k: int = DEFAULT_FRAME_COUNT) -> tuple[float, ...]:
    """The K relative positions, centred in K equal slices of the middle 90% of a video."""
    if k < 1:
        raise ValueError("k must be at least 1")
    span = 1.0 - 2 * EDGE_SKIP
    return tuple(EDGE_SKIP + (index + 0.5) * span / k for index in range(k))


def sample_frames(
    path: str,
    k: int = DEFAULT_FRAME_COUNT,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cache: FrameCache | None = None,
    workers: int | None = None,
) -> SampledFrames:
    """Sample K cropped frames of a video (from the cache when the file is unchanged)."""
    result = _sample_many([path], k, timeout, _cache_or_app(cache), _worker_count(workers))[0]
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
    cache = _cache_or_app(cache)
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
    return _sample_many(paths, k, timeout, _cache_or_app(cache), _worker_count(workers))


def known_picture(path: str, cache: FrameCache | None = None) -> tuple[int, int, Crop] | None:
    """(frame width, frame height, picture crop) of a video sampled before, if still unchanged."""
    try:
        stamp = file_stamp(path)
    except MediaError:
        return None
    return _cache_or_app(cache).load_picture(stamp)


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
    cache = _cache_or_app(cache)
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
        return encode_jpeg(load_image(path, max_side))
    file_stamp(path)
    name = Path(path).name
    _, frames = call_with_deadline(
        lambda cancelled: decode_video(
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
# Sampling and comparing


def _cache_or_app(cache: FrameCache | None) -> FrameCache:
    """The given cache, or the app's one in the app data dir as it is at this call."""
    return app_frame_cache() if cache is None else cache


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

    chunks = split_runs(positions, math.ceil(workers / max(1, len(stamps))))
    jobs = [(index, chunk) for index in stamps for chunk in chunks]
    outputs = run_parallel(
        [
            functools.partial(decode_video, paths[index], positions=chunk, timeout=timeout)
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
        sampled = build_sampled(stamp, info, positions, [f for part in parts for f in part[1]])
        cache.save_frames(sampled)
        results[index] = sampled
    return [result for result in results if result is not None]


def build_sampled(
    stamp: FileStamp, info: VideoInfo, positions: tuple[float, ...], frames: list[np.ndarray]
) -> SampledFrames:
    work_crop = detect_crop(frames)
    crop = rescale_crop(work_crop, frame_size(frames[0]), (info.width, info.height))
    pictures = [apply_crop(frame, work_crop) for frame in frames]
    return SampledFrames(
        stamp=stamp,
        duration=info.duration,
        width=info.width,
        height=info.height,
        crop=crop,
        positions=positions,
        gray=np.stack([to_compare_gray(picture, COMPARE_SIZE) for picture in pictures]),
        strip=tuple(encode_jpeg(shrink(picture, STRIP_MAX_SIDE)) for picture in pictures),
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
    chunks = split_runs(tuple(times), workers)
    outputs = run_parallel(
        [
            functools.partial(decode_video, other.path, times=chunk, timeout=timeout)
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
        work_crop = rescale_crop(other.crop, (other.width, other.height), frame_size(output[1][0]))
        for time, frame in zip(chunk, output[1], strict=True):
            pictures[time] = to_compare_gray(apply_crop(frame, work_crop), COMPARE_SIZE)
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

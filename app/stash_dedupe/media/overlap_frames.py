"""Frames of two videos that share footage, side by side at matching times.

The frame comparison of a duplicate group samples every file at the same relative positions;
an overlap pair is aligned instead by its offset: K times spread over the common segment of
the first file, and the same moments in the second (its segment start plus the same steps).
The result is a `GroupComparison`, so the page's frame URLs and heat maps serve it as they
serve a group's.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from stash_dedupe.errors import MediaError
from stash_dedupe.media.decoding import DEFAULT_TIMEOUT, decode_video, file_stamp, run_parallel
from stash_dedupe.media.frame_results import FileComparison, GroupComparison, SampledFrames
from stash_dedupe.media.sampling import build_sampled
from stash_dedupe.media.similarity import ssim


def matching_times(start: float, end: float, k: int) -> tuple[float, ...]:
    """K times centred in K equal slices of a segment [start, end] (seconds)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    length = max(0.0, end - start)
    return tuple(round(start + (index + 0.5) * length / k, 3) for index in range(k))


def compare_at_times(
    paths: tuple[str, str],
    times: tuple[tuple[float, ...], tuple[float, ...]],
    keeper_index: int,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> GroupComparison:
    """Both files' frames at their own times (the same count each), scored column by column
    against the keeper's; a file that cannot be read gets its error."""
    if len(times[0]) != len(times[1]):
        raise ValueError("both files need as many times")
    sampled: list[SampledFrames | MediaError] = []
    stamps = []
    for path in paths:
        try:
            stamps.append(file_stamp(path))
        except MediaError as error:
            stamps.append(error)
    works = [
        lambda cancelled, path=path, own=own: decode_video(
            path, times=own, timeout=timeout, cancelled=cancelled
        )
        for path, own in zip(paths, times, strict=True)
    ]
    readable = [index for index, stamp in enumerate(stamps) if not isinstance(stamp, MediaError)]
    outputs = dict(
        zip(
            readable,
            run_parallel(
                [works[index] for index in readable],
                [Path(paths[index]).name for index in readable],
                timeout,
                workers=2,
            ),
            strict=True,
        )
    )
    for index, stamp in enumerate(stamps):
        output = outputs.get(index, stamp)
        if isinstance(output, MediaError):
            sampled.append(output)
            continue
        info, frames = output
        duration = info.duration or 1.0
        positions = tuple(min(1.0, time / duration) for time in times[index])
        sampled.append(build_sampled(stamp, info, positions, frames))
    keeper = sampled[keeper_index]
    files = []
    for index, (path, result) in enumerate(zip(paths, sampled, strict=True)):
        if isinstance(result, MediaError):
            files.append(FileComparison(path, error=result.message))
        elif index == keeper_index or isinstance(keeper, MediaError):
            own_scores = (1.0,) * len(times[index]) if index == keeper_index else ()
            score = 1.0 if index == keeper_index else None
            files.append(FileComparison(path, frames=result, column_scores=own_scores, score=score))
        else:
            scores = tuple(ssim(a, b) for a, b in zip(keeper.gray, result.gray, strict=True))
            files.append(
                FileComparison(
                    path, frames=result, column_scores=scores, score=statistics.median(scores)
                )
            )
    return GroupComparison(keeper_index, _positions(sampled, keeper_index), tuple(files))


def _positions(sampled: list[SampledFrames | MediaError], keeper_index: int) -> tuple[float, ...]:
    keeper = sampled[keeper_index]
    if isinstance(keeper, SampledFrames):
        return keeper.positions
    other = sampled[1 - keeper_index]
    return other.positions if isinstance(other, SampledFrames) else ()

"""What sampling and comparing videos give: plain values that sampling.py makes, frame_cache.py
keeps and the review session shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stash_dedupe.media.decoding import FileStamp, sample_time
from stash_dedupe.media.similarity import Crop


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

"""Plain data passed between layers. A phash is always 16 lowercase hex digits here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

VIDEO = "video"
IMAGE = "image"
# What users may call each media: the page, the API and the CLI (--media videos) all accept these.
MEDIA_NAMES = {"video": VIDEO, "videos": VIDEO, "image": IMAGE, "images": IMAGE}
# How many frames a comparison samples per video (a setting; this is its default).
DEFAULT_FRAME_COUNT = 9
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
# The shortest segment two videos must share to be reported as overlapping, in seconds:
# longer than a studio's intro, shorter than the pieces of a compilation.
DEFAULT_MIN_OVERLAP = 30.0
# The largest phash distance (bits of 64) the app groups at: beyond it look-alikes dominate.
MAX_DISTANCE = 16


@dataclass(frozen=True)
class SceneInfo:
    """The Stash scene (for videos) or image item (for images) that a file belongs to."""

    item_id: int
    title: str = ""
    date: str | None = None
    studio: str | None = None
    rating: int | None = None
    organized: bool = False
    play_count: int = 0
    o_count: int = 0
    tag_count: int = 0
    performer_count: int = 0
    marker_count: int = 0
    stash_id_count: int = 0
    file_count: int = 1
    gallery_ids: tuple[int, ...] = ()

    @property
    def richness(self) -> int:
        """How much the user put into the item: tags, performers, markers, StashDB ids,
        plays and O count, plus one if organized (the "richest metadata" keeper rule)."""
        return (
            self.tag_count
            + self.performer_count
            + self.marker_count
            + self.stash_id_count
            + self.play_count
            + self.o_count
            + (1 if self.organized else 0)
        )


@dataclass(frozen=True)
class MediaFile:
    """One file Stash knows, with what the app needs to group, show and safely remove it.

    `path` is the local path after path mappings; `stash_path` is the path as Stash stores it.
    `mod_time` is Stash's RFC 3339 text; `mod_time_epoch` is the same instant in seconds.
    """

    file_id: int
    media: str
    path: str
    stash_path: str
    size: int
    mod_time: str | None
    mod_time_epoch: float | None
    phash: str | None = None
    oshash: str | None = None
    md5: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    bit_rate: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None
    format: str | None = None
    zip_file_id: int | None = None
    items: tuple[SceneInfo, ...] = field(default_factory=tuple)

    @property
    def item_ids(self) -> list[int]:
        return [item.item_id for item in self.items]

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@dataclass(frozen=True, eq=False)
class FileListing:
    """What a listing shows of many files beside their columns, position i for the i-th
    file asked (`StashDatabase.file_listing`): paths, sizes of the picture (0: unknown), and
    the item ids of file i as `items[item_starts[i]:item_starts[i + 1]]`."""

    paths: list[str]
    stash_paths: list[str]
    widths: np.ndarray  # int64
    heights: np.ndarray  # int64
    items: np.ndarray  # int64
    item_starts: np.ndarray  # int64, one more than there are files


class ListedFile(NamedTuple):
    """A file as a listing of many groups shows it (the CLI's JSON and CSV, exports): what a
    scan reads without building its details, for a million files at once."""

    file_id: int
    path: str
    stash_path: str
    size: int
    phash: str | None
    duration: float | None
    width: int | None
    height: int | None
    item_ids: tuple[int, ...]

    @classmethod
    def of_file(cls, file: MediaFile) -> ListedFile:
        return cls(
            file.file_id,
            file.path,
            file.stash_path,
            file.size,
            file.phash,
            file.duration,
            file.width,
            file.height,
            tuple(file.item_ids),
        )

    def as_media_file(self, media: str) -> MediaFile:
        """A `MediaFile` holding only what the listing knows (no mod time, codecs, ...)."""
        return MediaFile(
            file_id=self.file_id,
            media=media,
            path=self.path,
            stash_path=self.stash_path,
            size=self.size,
            mod_time=None,
            mod_time_epoch=None,
            phash=self.phash,
            duration=self.duration,
            width=self.width,
            height=self.height,
            items=tuple(SceneInfo(item_id) for item_id in self.item_ids),
        )


def positions_in(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Where each of `values` is in the ascending array `ordered` (-1 where it is not):
    how the columns of a million files are looked up by id without a dict."""
    wanted = np.asarray(values, dtype=np.int64)
    at = np.searchsorted(ordered, wanted)
    inside = at < len(ordered)
    found = np.zeros(len(wanted), dtype=bool)
    found[inside] = ordered[at[inside]] == wanted[inside]
    return np.where(found, at, -1)


@dataclass(frozen=True, eq=False)
class FileColumns:
    """What grouping needs of every file of one media, one array per field (row i is one file,
    rows by ascending file id): a million files without a Python object each.

    `phashes` is 0 where `has_phash` is False; a duration of 0 is unknown. `item_rows` and
    `item_ids` pair a row with a Stash item (scene or image) that has two files or more: the
    siblings the same-item rule joins.
    """

    media: str
    file_ids: np.ndarray  # int64
    phashes: np.ndarray  # uint64
    has_phash: np.ndarray  # bool
    durations: np.ndarray  # float64
    sizes: np.ndarray  # int64
    item_rows: np.ndarray  # int64
    item_ids: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.file_ids)

    def rows_of(self, file_ids: np.ndarray) -> np.ndarray:
        """The row of each file id (-1 for ids not among these files)."""
        return positions_in(self.file_ids, file_ids)

    @classmethod
    def of_files(cls, media: str, files: Sequence[MediaFile]) -> FileColumns:
        """The columns of `MediaFile`s already loaded (tests, and callers holding a list)."""
        ordered = sorted(files, key=lambda file: file.file_id)
        item_rows = np.array(
            [row for row, file in enumerate(ordered) for _ in file.items], dtype=np.int64
        )
        item_ids = np.array([item.item_id for file in ordered for item in file.items], np.int64)
        _, index, counts = np.unique(item_ids, return_inverse=True, return_counts=True)
        siblings = counts[index.reshape(-1)] >= 2
        return cls(
            media=media,
            file_ids=np.array([file.file_id for file in ordered], dtype=np.int64),
            phashes=np.array([int(file.phash or "0", 16) for file in ordered], dtype=np.uint64),
            has_phash=np.array([bool(file.phash) for file in ordered], dtype=bool),
            durations=np.array([file.duration or 0.0 for file in ordered], dtype=np.float64),
            sizes=np.array([file.size for file in ordered], dtype=np.int64),
            item_rows=item_rows[siblings],
            item_ids=item_ids[siblings],
        )


def phash_from_int64(value: int) -> str:
    """Stash stores the uint64 phash as a signed int64; the app's form is 16 lowercase hex."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def phash_to_int64(phash: str) -> int:
    value = int(phash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


@dataclass(frozen=True, eq=False)
class KeeperColumns:
    """What the keeper rules and protections read of every file of one media, one array per
    field, rows by ascending file id (as in `FileColumns`): the suggestion for a million
    grouped files is worked out without building their `MediaFile`s (dedupe/suggestion.py).

    Unknown numbers are 0. `codec` indexes `codec_names` (-1: none). Item fields are over
    the file's Stash items (scenes or images) as the keeper rules read them: the best
    (largest) value, `organized` if any is, `richness` summed, `item_count` items of which
    `item_id` is the lowest; `gallery_rows` and `gallery_ids` pair a row with each gallery
    its items are in (once per gallery). Paths and mod times are not here: they are read
    for the few files a rule reaches with ties left.
    """

    file_ids: np.ndarray  # int64
    pixels: np.ndarray  # int64
    bit_rate: np.ndarray  # int64
    frame_rate: np.ndarray  # float64
    codec: np.ndarray  # int32
    codec_names: tuple[str, ...]
    item_count: np.ndarray  # int64
    item_id: np.ndarray  # int64
    rating: np.ndarray  # int64
    organized: np.ndarray  # bool
    o_count: np.ndarray  # int64
    stash_ids: np.ndarray  # int64
    plays: np.ndarray  # int64
    performers: np.ndarray  # int64
    tags: np.ndarray  # int64
    markers: np.ndarray  # int64
    richness: np.ndarray  # int64
    gallery_rows: np.ndarray  # int64
    gallery_ids: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.file_ids)

    @classmethod
    def of_files(cls, files: Sequence[MediaFile]) -> KeeperColumns:
        """The columns of `MediaFile`s already loaded (tests, and callers holding a list)."""
        ordered = sorted(files, key=lambda file: file.file_id)
        names: dict[str, int] = {}
        galleries = [
            (row, gallery)
            for row, file in enumerate(ordered)
            for gallery in sorted({g for item in file.items for g in item.gallery_ids})
        ]

        def best(value: Callable[[SceneInfo], int]) -> np.ndarray:
            return np.array(
                [max((value(item) for item in file.items), default=0) for file in ordered],
                dtype=np.int64,
            )

        return cls(
            file_ids=np.array([file.file_id for file in ordered], dtype=np.int64),
            pixels=np.array([file.pixels for file in ordered], dtype=np.int64),
            bit_rate=np.array([file.bit_rate or 0 for file in ordered], dtype=np.int64),
            frame_rate=np.array([file.frame_rate or 0.0 for file in ordered], dtype=np.float64),
            codec=np.array(
                [
                    -1
                    if file.video_codec is None
                    else names.setdefault(file.video_codec, len(names))
                    for file in ordered
                ],
                dtype=np.int32,
            ),
            codec_names=tuple(names),
            item_count=np.array([len(file.items) for file in ordered], dtype=np.int64),
            item_id=np.array(
                [min((item.item_id for item in file.items), default=0) for file in ordered],
                dtype=np.int64,
            ),
            rating=best(lambda item: item.rating or 0),
            organized=np.array(
                [any(item.organized for item in file.items) for file in ordered], dtype=bool
            ),
            o_count=best(lambda item: item.o_count),
            stash_ids=best(lambda item: item.stash_id_count),
            plays=best(lambda item: item.play_count),
            performers=best(lambda item: item.performer_count),
            tags=best(lambda item: item.tag_count),
            markers=best(lambda item: item.marker_count),
            richness=np.array(
                [sum(item.richness for item in file.items) for file in ordered],
                dtype=np.int64,
            ),
            gallery_rows=np.array([row for row, _ in galleries], dtype=np.int64),
            gallery_ids=np.array([gallery for _, gallery in galleries], dtype=np.int64),
        )

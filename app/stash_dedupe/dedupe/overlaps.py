"""Overlaps: pairs of videos that show the same footage, trimmed, cut, extended or compiled.

Phash compares whole videos; here every frame hash of every fingerprint (media/
fingerprints.py) is indexed with the grouping engine's multi-index search, and two videos
match where a run of their frames agree at one consistent time offset:

1. Close frame pairs: frame hashes within FRAME_DISTANCE bits, in different videos.
2. Common frames are no evidence: a hash whose near-duplicates lie in more than
   COMMON_FRAME_VIDEOS videos (black frames, logos, a studio's intro across its scenes)
   is dropped. A studio intro shared by only two scenes survives, but it is as long as the
   intro: below the minimum overlap, so it makes no pair on its own.
3. Per pair of videos: each frame pair votes for offset = t_a - t_b in bins of about a
   second; the best bin (with its neighbours) gives the offset, and the frame pairs within
   half a sampling step of it are the evidence. Runs of them (no gap over MAX_GAP_SECONDS,
   at least MIN_RUN_FRAMES frames) span the common segment. Random matches between
   look-alikes do not line up at one offset, so they make no run.
4. Classify: `same` when the segment covers both files up to EDGE_TOLERANCE seconds at
   their ends, `contained` when it covers the shorter one (a trim, a part), else `shared`
   (a compilation, a re-cut) when at least `min_overlap` seconds long. `a` is the shorter
   file (the lower file id when as long).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stash_dedupe.dedupe.hash_index import close_pairs, popcount
from stash_dedupe.media.fingerprints import Fingerprint
from stash_dedupe.models import DEFAULT_MIN_OVERLAP

SAME, CONTAINED, SHARED = "same", "contained", "shared"
# Frames of copies (re-encodes, letterbox, a 4 % crop scaled back) differ by at most ~14 bits
# of 64 and half of them by 6 or fewer; frames of other footage by 22 or more (measured on the
# test corpus, tests/overlap_corpus.py). 12 keeps the crop's common frames and all the rest.
FRAME_DISTANCE = 12
# The index searches at this radius only (at 12 it costs ~10x more): enough frames of a copy
# are this close to name the pair, which is then aligned on all its frames within 12.
CANDIDATE_DISTANCE = 8
MIN_CANDIDATE_MATCHES = 3
_ROWS_PER_BLOCK = 512
COMMON_FRAME_VIDEOS = 16
OFFSET_BIN_SECONDS = 1.0  # at least; a coarser fingerprint's step widens it
OFFSET_SLACK_SECONDS = 0.1  # how far off the offset's estimate may be
MAX_GAP_SECONDS = 4.0  # a run may miss this much (flat frames, a fade) and go on
EDGE_TOLERANCE = 2.0  # seconds at either end a copy may miss and still cover a file
MIN_RUN_FRAMES = 4
# Copies' frames in a run are mostly close (median 0-6 bits, even for a crop); a chain of
# frames that are all barely within FRAME_DISTANCE is chance.
MAX_RUN_MEDIAN_DISTANCE = 8
MIN_RUN_DENSITY = 0.3  # matched frames over the frames the run spans, in the sparser file


@dataclass(frozen=True)
class Segment:
    """The stretch of one file, in seconds, that the other file also shows."""

    file_id: int
    start: float
    end: float


@dataclass(frozen=True)
class Overlap:
    kind: str  # same | contained | shared
    a: Segment  # the shorter file (for `contained`, the one inside the other)
    b: Segment
    overlap_seconds: float

    @property
    def offset(self) -> float:
        """Where b's time is a's time plus this."""
        return self.b.start - self.a.start

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "a": {"file_id": self.a.file_id, "start": self.a.start, "end": self.a.end},
            "b": {"file_id": self.b.file_id, "start": self.b.start, "end": self.b.end},
            "overlap_seconds": self.overlap_seconds,
        }


@dataclass
class MatchWork:
    """How much work a match did, counted (the regression test's measure, not a timing)."""

    frames: int = 0
    distinct_hashes: int = 0
    close_hash_pairs: int = 0
    common_hashes: int = 0
    frame_pairs: int = 0
    video_pairs: int = 0


def find_overlaps(
    fingerprints: Sequence[Fingerprint],
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    max_distance: int = FRAME_DISTANCE,
    work: MatchWork | None = None,
) -> list[Overlap]:
    """Every pair of videos sharing at least `min_overlap` seconds, longest overlap first.

    Two stages: the index finds frames within CANDIDATE_DISTANCE bits (cheap to search at
    that radius), which names the pairs of videos worth a look; each of those is then aligned
    on all its frames within `max_distance`.
    """
    work = work if work is not None else MatchWork()
    if min_overlap <= 0:
        raise ValueError("min_overlap must be positive")
    search_distance = min(max_distance, CANDIDATE_DISTANCE)
    frame_a, frame_b, videos, common = _frame_pairs(fingerprints, search_distance, work)
    if not len(frame_a):
        return []
    video_a, video_b = (
        np.minimum(videos[frame_a], videos[frame_b]),
        np.maximum(videos[frame_a], videos[frame_b]),
    )
    keys, counts = np.unique(video_a * len(fingerprints) + video_b, return_counts=True)
    candidates = keys[counts >= MIN_CANDIDATE_MATCHES]
    work.video_pairs = len(candidates)
    first_frame = np.r_[0, np.cumsum([len(f.hashes) for f in fingerprints])]
    overlaps = []
    for key in candidates:
        index_one, index_other = divmod(int(key), len(fingerprints))
        one, other = fingerprints[index_one], fingerprints[index_other]
        usable_one = ~common[first_frame[index_one] : first_frame[index_one + 1]]
        usable_other = ~common[first_frame[index_other] : first_frame[index_other + 1]]
        rows, columns, distances = _close_frames(
            one.hashes, other.hashes, usable_one, usable_other, max_distance
        )
        if len(rows) < MIN_RUN_FRAMES:
            continue
        found = _align(one, other, one.times[rows], other.times[columns], distances, max_distance)
        if found is not None:
            overlap = _classify(one, other, *found, min_overlap)
            if overlap is not None:
                overlaps.append(overlap)
    overlaps.sort(key=lambda o: (-o.overlap_seconds, o.a.file_id, o.b.file_id))
    return overlaps


def _close_frames(
    hashes_a: np.ndarray,
    hashes_b: np.ndarray,
    usable_a: np.ndarray,
    usable_b: np.ndarray,
    max_distance: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, distance) of every usable frame pair of two videos within max_distance:
    all against all, in blocks of rows (a pair of videos has thousands of frames at most)."""
    rows, columns, distances = [], [], []
    for start in range(0, len(hashes_a), _ROWS_PER_BLOCK):
        block = popcount(hashes_a[start : start + _ROWS_PER_BLOCK, None] ^ hashes_b[None, :])
        block_usable = usable_a[start : start + _ROWS_PER_BLOCK, None] & usable_b[None, :]
        row, column = np.nonzero((block <= max_distance) & block_usable)
        rows.append(row + start)
        columns.append(column)
        distances.append(block[row, column])
    return np.concatenate(rows), np.concatenate(columns), np.concatenate(distances)


def _frame_pairs(
    fingerprints: Sequence[Fingerprint], max_distance: int, work: MatchWork
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frame, frame) index pairs of close hashes in different videos, common hashes left out,
    with each frame's video index and whether its hash is common."""
    counts = [len(fingerprint.hashes) for fingerprint in fingerprints]
    empty = np.empty(0, dtype=np.int64)
    if sum(counts) == 0:
        return empty, empty, empty, np.empty(0, dtype=bool)
    hashes = np.concatenate([fingerprint.hashes for fingerprint in fingerprints])
    videos = np.repeat(np.arange(len(fingerprints), dtype=np.int64), counts)
    unique, inverse = np.unique(hashes, return_inverse=True)
    inverse = inverse.reshape(-1)
    left, right = close_pairs(unique, max_distance)
    work.frames, work.distinct_hashes, work.close_hash_pairs = len(hashes), len(unique), len(left)
    # Each distinct hash with the videos it occurs in, once per video.
    incidence = np.unique(inverse.astype(np.int64) * len(fingerprints) + videos)
    hash_of, video_of = incidence // len(fingerprints), incidence % len(fingerprints)
    common = _common_hashes(len(unique), hash_of, video_of, left, right, len(fingerprints))
    work.common_hashes = int(common.sum())
    keep = ~common[left] & ~common[right]
    left, right = left[keep], right[keep]
    # Frames grouped by distinct hash, then every pair of frames of each close (or equal) pair
    # of hashes: equal hashes are the pairs (u, u), keeping i < j once expanded.
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse, minlength=len(unique))
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    repeated = np.flatnonzero((sizes > 1) & ~common)
    pairs_u = np.r_[left, repeated]
    pairs_v = np.r_[right, repeated]
    frame_a, frame_b = _expand(pairs_u, pairs_v, starts, sizes, order)
    apart = (videos[frame_a] != videos[frame_b]) & (frame_a != frame_b)
    same_hash = inverse[frame_a] == inverse[frame_b]
    apart &= ~same_hash | (frame_a < frame_b)
    frame_a, frame_b = frame_a[apart], frame_b[apart]
    work.frame_pairs = len(frame_a)
    return frame_a, frame_b, videos, common[inverse]


def _common_hashes(
    count: int,
    hash_of: np.ndarray,
    video_of: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    video_count: int,
) -> np.ndarray:
    """Whether each distinct hash has itself or close hashes in more than COMMON_FRAME_VIDEOS
    videos."""
    per_hash = np.bincount(hash_of, minlength=count)
    # Cheap bound first: the videos of a hash plus those of every close hash.
    bound = per_hash.copy()
    np.add.at(bound, left, per_hash[right])
    np.add.at(bound, right, per_hash[left])
    suspects = bound > COMMON_FRAME_VIDEOS
    if not suspects.any():
        return np.zeros(count, dtype=bool)
    # Exact count of distinct videos for the suspects only.
    start = np.r_[0, np.cumsum(per_hash)[:-1]]
    links_from = np.r_[np.flatnonzero(suspects), left, right]
    links_to = np.r_[np.flatnonzero(suspects), right, left]
    wanted = suspects[links_from]
    links_from, links_to = links_from[wanted], links_to[wanted]
    owner, member = _expand_ranges(links_from, start[links_to], per_hash[links_to])
    seen = np.unique(owner.astype(np.int64) * video_count + video_of[member])
    distinct = np.bincount(seen // video_count, minlength=count)
    return distinct > COMMON_FRAME_VIDEOS


def _expand_ranges(
    owners: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(owner, index) for every index in [start, start + size) of each owner."""
    total = int(sizes.sum())
    owner = np.repeat(owners, sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return owner, np.repeat(starts, sizes) + np.arange(total) - first


def _expand(
    pairs_u: np.ndarray,
    pairs_v: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (frame of u, frame of v) for each pair of distinct hashes (u, v)."""
    size_u, size_v = sizes[pairs_u], sizes[pairs_v]
    products = size_u * size_v
    pair, position = _expand_ranges(np.arange(len(pairs_u)), np.zeros(len(pairs_u), np.int64),
                                    products)  # fmt: skip
    i = starts[pairs_u[pair]] + position // size_v[pair]
    j = starts[pairs_v[pair]] + position % size_v[pair]
    return order[i], order[j]


def _align(
    one: Fingerprint,
    other: Fingerprint,
    times_a: np.ndarray,
    times_b: np.ndarray,
    distances: np.ndarray,
    max_distance: int,
) -> tuple[float, float, float, float] | None:
    """The run of matches at one offset: (offset, start, end, step) with the segment in
    `one`'s time, or None when the matches line up nowhere.

    Slow camera moves make a frame match its neighbours a few seconds on, so votes are
    weighted by closeness, the offset is the median over each frame's closest match, and
    the run keeps only matches within half a sampling step of that offset.
    """
    step = max(one.step, other.step)
    width = max(OFFSET_BIN_SECONDS, step)
    offsets = times_a - times_b
    bins = np.round(offsets / width).astype(np.int64)
    weights = (max_distance + 1 - distances).astype(np.float64)
    values, inverse = np.unique(bins, return_inverse=True)
    votes = np.bincount(inverse.reshape(-1), weights=weights)
    # A bin's score includes its neighbours': a true offset near a bin edge splits its votes.
    score = votes.copy()
    score[1:] += np.where(np.diff(values) == 1, votes[:-1], 0)
    score[:-1] += np.where(np.diff(values) == 1, votes[1:], 0)
    best = values[int(np.argmax(score))]
    near = np.flatnonzero(np.abs(bins - best) <= 1)
    offset = float(np.median(offsets[_closest(near, times_a, distances, offsets, best * width)]))
    # Every frame has a sample of the other file within half a step of the true offset; a
    # wider window lets in frames past the end of a common segment that still resemble its
    # last frame (a slow camera move) and stretch the segment.
    chosen = np.abs(offsets - offset) <= 0.5 * step + OFFSET_SLACK_SECONDS
    if chosen.sum() < MIN_RUN_FRAMES:
        return None
    run_a, run_b, run_distances = times_a[chosen], times_b[chosen], distances[chosen]
    distinct_a = np.unique(run_a)
    gaps = np.flatnonzero(np.diff(distinct_a) > max(MAX_GAP_SECONDS, 2.5 * step))
    run_starts = np.r_[0, gaps + 1]
    run_ends = np.r_[gaps, len(distinct_a) - 1]
    # Runs at this same offset are one segment with a stretch that gives no evidence between
    # them (a texture, a fade); a stray match at the offset is not a run.
    lengths = run_ends - run_starts + 1
    solid = np.flatnonzero(lengths >= 2)
    if lengths.max() < MIN_RUN_FRAMES:
        return None
    low, high = distinct_a[run_starts[solid[0]]], distinct_a[run_ends[solid[-1]]]
    inside = (run_a >= low) & (run_a <= high)
    run_a, run_b, run_distances = run_a[inside], run_b[inside], run_distances[inside]
    frames = min(len(np.unique(run_a)), len(np.unique(run_b)))
    if frames < max(MIN_RUN_FRAMES, MIN_RUN_DENSITY * ((high - low) / step + 1)):
        return None
    if np.median(run_distances) > MAX_RUN_MEDIAN_DISTANCE:
        return None  # a chance chain of barely-close frames, not a copy
    start = min(float(low), float(run_b.min()) + offset)
    end = max(float(high) + one.step, float(run_b.max()) + other.step + offset)
    return offset, start, end, step


def _closest(
    candidates: np.ndarray,
    times: np.ndarray,
    distances: np.ndarray,
    offsets: np.ndarray,
    offset: float,
) -> np.ndarray:
    """Of the candidate matches, the closest one of each frame (by `times`); a tie goes to
    the match nearer the offset."""
    order = candidates[
        np.lexsort((np.abs(offsets[candidates] - offset), distances[candidates], times[candidates]))
    ]
    return order[np.r_[True, np.diff(times[order]) != 0]] if len(order) else order


def _classify(
    one: Fingerprint,
    other: Fingerprint,
    offset: float,
    start: float,
    end: float,
    step: float,
    min_overlap: float,
) -> Overlap | None:
    """Clip the segment to both files, snap ends that nearly reach a file's edge, classify."""
    tolerance = max(EDGE_TOLERANCE, 2 * step)
    earliest = max(0.0, offset)  # in one's time: where both files have begun
    latest = min(one.duration, other.duration + offset)  # where the first of them ends
    # The run's ends are known to a sampling step: one that close to a file's edge is it.
    start = earliest if start - earliest <= step else max(start, earliest)
    end = latest if latest - end <= step else min(end, latest)
    length = end - start
    if length < min_overlap:
        return None
    one_segment = Segment(one.file_id, round(float(start), 3), round(float(end), 3))
    other_segment = Segment(
        other.file_id, round(float(start - offset), 3), round(float(end - offset), 3)
    )
    pairs = [(one, one_segment), (other, other_segment)]
    pairs.sort(key=lambda pair: (pair[0].duration, pair[0].file_id))
    (short, short_segment), (long, long_segment) = pairs
    short_missing = short.duration - length
    long_missing = long.duration - length
    if short_missing <= tolerance and long_missing <= tolerance:
        kind = SAME
    elif short_missing <= tolerance:
        kind = CONTAINED
    else:
        kind = SHARED
    return Overlap(kind, short_segment, long_segment, round(float(length), 3))

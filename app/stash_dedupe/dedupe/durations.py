"""Durations in a link: two videos only match when their lengths are within a tolerance.

A duration of 0 or less (or NaN) is unknown and matches any. Known durations form a 1-D
threshold graph, which `duration_links` turns into few links per hash instead of all pairs.

The tolerance is seconds, or a percentage of the *longer* of the two durations (± 2 % lets a
100 s video match one of 98 s to 100 s, and a 2-hour one differ by 2.4 minutes). Measured
against the longer one, a percentage is a constant limit on the logarithms of the durations
(a ≥ (1 - p) b  ⇔  ln b - ln a ≤ -ln(1 - p)), so the engine runs unchanged on log durations.
"""

from __future__ import annotations

import math

import numpy as np

# The largest duration tolerance in percent (100 % would match every two durations).
MAX_DURATION_PERCENT = 99.0
# Log durations are shifted up by this so that every known one stays > 0 (known): the log of
# the smallest positive double is about -745.
_LOG_SHIFT = 1000.0
# Rounding slack on the log limit, so that a pair exactly at the percentage matches.
_LOG_SLACK = 1e-9


def percent_limit(percent: float) -> float:
    """The limit on log durations equivalent to `percent` of the longer duration."""
    return -math.log1p(-percent / 100.0) + _LOG_SLACK


def log_durations(durations: np.ndarray) -> np.ndarray:
    """Durations as the engine compares them under a percentage: unknown ones stay 0."""
    values = np.asarray(durations, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        known = values > 0
        return np.where(known, np.log(np.where(known, values, 1.0)) + _LOG_SHIFT, 0.0)


def durations_match(
    first: float | None,
    second: float | None,
    seconds: float | None = None,
    percent: float | None = None,
) -> bool:
    """Whether two durations are within the tolerance (seconds, or percent of the longer);
    an unknown duration, or no tolerance at all, matches any."""
    if not first or not second or first <= 0 or second <= 0:
        return True
    if percent is not None:
        return abs(math.log(first) - math.log(second)) <= percent_limit(percent)
    if seconds is not None:
        return abs(first - second) <= seconds
    return True


def uses_durations(durations: np.ndarray | None, max_duration_diff: float | None) -> bool:
    return durations is not None and max_duration_diff is not None and max_duration_diff >= 0


def known_durations(durations: np.ndarray, count: int) -> np.ndarray:
    values = np.asarray(durations, dtype=np.float64)
    if values.shape != (count,):
        raise ValueError("durations must have one value per hash")
    with np.errstate(invalid="ignore"):
        return values > 0  # NaN compares False: unknown, like <= 0


def duration_links(
    bucket: np.ndarray,
    bucket_total: int,
    durations: np.ndarray,
    limit: float,
    pair_left: np.ndarray,
    pair_right: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Links between hashes (not unique values) that give the same components as the full
    rule: hash-close (same bucket, or buckets in a close pair) and durations within `limit`
    unless one is unknown.

    Known durations form a 1-D threshold graph, whose components are runs of consecutive
    values no more than `limit` apart. So inside a bucket, sorted durations are chained to
    their successor. Across a close pair of buckets, each hash of the smaller bucket is linked
    to its nearest duration below and above in the other bucket: any further partner within
    `limit` is reached from those through the other bucket's chain. An unknown duration links
    to every hash-close hash: its bucket, and every bucket close to it, join whole.
    """
    count = len(bucket)
    known = known_durations(durations, count)
    has_unknown = np.bincount(bucket[~known], minlength=bucket_total) > 0
    whole = has_unknown.copy()
    with_unknown = has_unknown[pair_left] | has_unknown[pair_right]
    whole[pair_left[with_unknown]] = True
    whole[pair_right[with_unknown]] = True

    # Members by bucket; known members sorted by duration within it.
    rank = np.empty(count, dtype=np.int64)
    rank[np.argsort(durations, kind="stable")] = np.arange(count)
    by_bucket = np.lexsort((rank, ~known, bucket))  # bucket, then known first, then duration
    first_member = by_bucket[np.searchsorted(bucket[by_bucket], np.arange(bucket_total))]

    lefts = []
    rights = []
    # A bucket holding or touching an unknown duration is one component: link to its first.
    in_whole = np.flatnonzero(whole[bucket])
    lefts.append(first_member[bucket[in_whole]])
    rights.append(in_whole)
    # Pairs with an unknown on either side: their (whole) buckets join.
    lefts.append(first_member[pair_left[with_unknown]])
    rights.append(first_member[pair_right[with_unknown]])

    # Chains of known durations inside each bucket.
    ordered = by_bucket[known[by_bucket]]
    ordered_bucket = bucket[ordered]
    ordered_duration = durations[ordered]
    chained = (ordered_bucket[1:] == ordered_bucket[:-1]) & (
        ordered_duration[1:] - ordered_duration[:-1] <= limit
    )
    lefts.append(ordered[:-1][chained])
    rights.append(ordered[1:][chained])

    # Close buckets with only known durations: nearest partners from the smaller side.
    left_bucket, right_bucket = pair_left[~with_unknown], pair_right[~with_unknown]
    if len(left_bucket):
        size = np.bincount(bucket, minlength=bucket_total)
        bucket_first = np.searchsorted(ordered_bucket, np.arange(bucket_total + 1))
        swap = size[left_bucket] > size[right_bucket]
        small = np.where(swap, right_bucket, left_bucket)
        large = np.where(swap, left_bucket, right_bucket)
        sizes = size[small]
        row_pair = np.repeat(np.arange(len(small)), sizes)
        row_rank = np.arange(len(row_pair)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        member = ordered[bucket_first[small][row_pair] + row_rank]
        other = large[row_pair]
        sort_key = ordered_bucket.astype(np.int64) * count + rank[ordered]
        position = np.searchsorted(sort_key, other.astype(np.int64) * count + rank[member])
        for neighbour in (position - 1, position):
            inside = (neighbour >= bucket_first[other]) & (neighbour < bucket_first[other + 1])
            partner = ordered[neighbour[inside]]
            near = np.abs(durations[partner] - durations[member[inside]]) <= limit
            lefts.append(member[inside][near])
            rights.append(partner[near])
    return np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)

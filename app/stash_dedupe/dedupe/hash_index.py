"""The Hamming engine: pairs and connected components of 64-bit hashes within a distance,
exactly as an all-pairs loop would find them, without comparing all pairs.

`connected_components` gives what Stash's duplicate checker computes (hashes within
`max_distance` bits, durations within `max_duration_diff` unless one is unknown, closed
transitively); `dedupe.grouping` builds the groups the user sees from it.

How the index stays exact (multi-index hashing): the 64 bits are split into k blocks. If two
hashes differ in at most d bits and d = k*r + a (0 <= a < k), then one of the first a+1 blocks
differs in at most r bits or one of the others in at most r-1 (otherwise the total would be at
least d+1). So for every block we look only at pairs of hashes whose block values are within
that block's radius, found by bucketing hashes on the block value and visiting, for each
non-empty bucket v, the buckets v ^ mask for every mask of at most radius bits. Every
candidate is then checked with a full XOR + popcount, so the result is exactly the
brute-force one. The number of blocks is picked per call from a cost model (and the
all-pairs loop is used when it is cheaper, or when real data turns out far more clustered
than the model expects).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from stash_dedupe.dedupe.durations import duration_links, known_durations, uses_durations

# Work sizes (elements per numpy call): big enough to amortise Python, small enough for cache.
_PROBE_CHUNK = 1 << 21
# Candidates verified per numpy call: their arrays (8 bytes each, a few at once) fit in L2.
_PAIR_CHUNK = 1 << 15
_BRUTE_FORCE_ROWS = 32
_BRUTE_FORCE_COLUMNS = 4096
_FLUSH_PAIRS = 1 << 22
# Links joined into components per round (a few cache-sized arrays of them at once).
_JOIN_CHUNK = 1 << 20
# A dense per-bucket table (2**width entries) is used for blocks searched with a radius.
_MAX_TABLE_BITS = 24
# Groups with more distinct phashes than this get their diameter from the index.
_ALL_PAIRS_DIAMETER = 4096

# CPU seconds per unit of work, measured on the project's 2-core machine (only their ratios
# matter: they choose the block split and index vs all pairs): one hash pair in the all-pairs
# loop, one probed (hash, mask), one verified candidate, one hash through a block's
# bucketing, one entry of a dense bucket table, one block's fixed overhead.
_COST_BRUTE_FORCE_PAIR = 1.0e-9
_COST_PROBE = 1.2e-8
_COST_CANDIDATE = 3.2e-9
_COST_BUCKETING = 2.5e-7
_COST_TABLE_ENTRY = 2.0e-9
_COST_BLOCK = 2.0e-3


def largest_distance(hashes: np.ndarray) -> int:
    """The largest pairwise Hamming distance, exactly.

    Few distinct hashes: all pairs. Many (a huge group at a generous distance): the farthest
    pair of S is the closest pair between S and the complements of S, since
    dist(a, ~b) = 64 - dist(a, b); that pair is found with the index at growing radii.
    """
    unique = np.unique(hashes)
    if len(unique) < 2:
        return 0
    if len(unique) > _ALL_PAIRS_DIAMETER:
        complements = ~unique
        for radius in (2, 4, 8, 16, 32):
            plan = _cheapest_plan(len(unique), radius, bipartite=True)
            if plan is None or plan.cost > len(unique) ** 2 / 2 * _COST_BRUTE_FORCE_PAIR:
                break
            closest = 65
            for queries, found in _index_pairs(unique, radius, plan, math.inf, complements):
                gaps = popcount(complements[queries] ^ unique[found])
                closest = min(closest, int(gaps.min()))
            if closest <= 64:
                return 64 - closest
    largest = 0
    for start in range(0, len(unique), _BRUTE_FORCE_ROWS):
        block = unique[start : start + _BRUTE_FORCE_ROWS, None] ^ unique[None, start:]
        largest = max(largest, int(popcount(block).max()))
    return largest


_BYTE_POPCOUNT = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def popcount(values: np.ndarray) -> np.ndarray:
    """One-bits of each uint64 (numpy >= 2 has it built in; older numpy counts per byte)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    as_bytes = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint8)
    return _BYTE_POPCOUNT[as_bytes].reshape(-1, 8).sum(axis=1, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Brute force: the oracle, and the fallback where it is cheapest


def close_pairs_brute_force(
    hashes: np.ndarray, max_distance: int, row_start: int = 0, row_stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs i < j with popcount(h_i ^ h_j) <= max_distance, for rows i in [row_start, row_stop).

    The all-pairs XOR + popcount that Stash runs, in cache-sized numpy tiles. A slice of rows
    lets the benchmark time a sample of a run too long to measure whole.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    count = len(hashes)
    row_stop = count if row_stop is None else min(row_stop, count)
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    for row in range(row_start, row_stop, _BRUTE_FORCE_ROWS):
        rows = hashes[row : min(row + _BRUTE_FORCE_ROWS, row_stop), None]
        for column in range(row + 1, count, _BRUTE_FORCE_COLUMNS):
            close = popcount(rows ^ hashes[None, column : column + _BRUTE_FORCE_COLUMNS])
            close = close <= max_distance
            if close.any():
                offset, step = np.nonzero(close)
                left, right = row + offset, column + step
                later = right > left
                lefts.append(left[later])
                rights.append(right[later])
    return _concatenate(lefts), _concatenate(rights)


def connected_components_brute_force(
    hashes: np.ndarray,
    max_distance: int,
    durations: np.ndarray | None = None,
    max_duration_diff: float | None = None,
) -> list[np.ndarray]:
    """The O(n^2) reference for `connected_components`: every pair compared, nothing clever.

    Kept beside the index so tests and the benchmark check it against the same oracle; it
    uses its own (label propagation) way to close the pairs transitively.
    """
    _check_distance(max_distance)
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    left, right = close_pairs_brute_force(hashes, max_distance)
    if uses_durations(durations, max_duration_diff):
        assert durations is not None and max_duration_diff is not None
        known = known_durations(durations, len(hashes))
        values = np.asarray(durations, dtype=np.float64)
        within = np.abs(values[left] - values[right]) <= max_duration_diff
        keep = ~known[left] | ~known[right] | within
        left, right = left[keep], right[keep]
    labels = np.arange(len(hashes))
    while True:
        updated = labels.copy()
        np.minimum.at(updated, left, labels[right])
        np.minimum.at(updated, right, labels[left])
        if np.array_equal(updated, labels):
            break
        labels = updated
    return _components_from_labels(labels)


# ---------------------------------------------------------------------------------------------
# The index


def connected_components(
    hashes: np.ndarray,
    max_distance: int,
    durations: np.ndarray | None = None,
    max_duration_diff: float | None = None,
    *,
    strategy: str = "auto",
) -> list[np.ndarray]:
    """Groups (index arrays, size >= 2) of hashes linked by distance <= max_distance, closed
    transitively, as Stash's all-pairs loop would form them but without that loop.

    With `durations` and `max_duration_diff` (None or negative: no limit), a link also needs
    |d_i - d_j| <= max_duration_diff unless either duration is unknown (<= 0 or NaN).
    Each group is sorted ascending; groups are ordered by their first index. `strategy`
    ("auto", "index", "brute_force") exists for tests and the benchmark.
    """
    with_durations = uses_durations(durations, max_duration_diff)
    components, _ = _components(
        hashes, max_distance, durations, max_duration_diff, strategy, keep_all=with_durations
    )
    return components


@dataclass(frozen=True)
class ClosePairs:
    """Every pair of distinct hashes within a distance, once: `unique[left[k]]` and
    `unique[right[k]]` with left[k] < right[k]. `unique` is np.unique of the hashes searched
    and `hashes[i] == unique[inverse[i]]`."""

    unique: np.ndarray
    inverse: np.ndarray
    left: np.ndarray
    right: np.ndarray


def linked_components(
    hashes: np.ndarray,
    max_distance: int,
    durations: np.ndarray | None = None,
    max_duration_diff: float | None = None,
    *,
    strategy: str = "auto",
) -> tuple[list[np.ndarray], ClosePairs]:
    """`connected_components`, and every close pair of distinct hashes behind them, from one
    run of the index: splitting the components into cliques (dedupe.cliques) needs all the
    pairs of the large ones, not only the few that connect them."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    components, pairs = _components(
        hashes, max_distance, durations, max_duration_diff, strategy, keep_all=True
    )
    if pairs is None or max_distance >= 64:  # no pairs searched, or all in one bucket
        unique, inverse = np.unique(hashes, return_inverse=True)
        left, right = close_unique_pairs(unique, max_distance, strategy, keep_all=True)
        pairs = ClosePairs(unique, inverse.reshape(-1), left, right)
    return components, pairs


def _components(
    hashes: np.ndarray,
    max_distance: int,
    durations: np.ndarray | None,
    max_duration_diff: float | None,
    strategy: str,
    keep_all: bool,
) -> tuple[list[np.ndarray], ClosePairs | None]:
    """The components, and the close pairs found for them (all of them if keep_all)."""
    _check_distance(max_distance)
    if strategy not in ("auto", "index", "brute_force"):
        raise ValueError(f"unknown strategy {strategy!r}")
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    count = len(hashes)
    if count < 2:
        return [], None
    # Identical hashes are collapsed first: flat images make huge groups of equal values.
    unique, inverse = np.unique(hashes, return_inverse=True)
    inverse = inverse.reshape(-1)
    if max_distance >= 64:  # every pair is close: one bucket
        unique, inverse = unique[:1], np.zeros(count, dtype=np.intp)
    left, right = close_unique_pairs(unique, max_distance, strategy, keep_all=keep_all)
    pairs = ClosePairs(unique, inverse, left, right)
    if not uses_durations(durations, max_duration_diff):
        unique_labels = _join(np.arange(len(unique)), left, right)
        return _components_from_labels(unique_labels[inverse]), pairs
    assert durations is not None and max_duration_diff is not None
    element_left, element_right = duration_links(
        inverse,
        len(unique),
        np.asarray(durations, dtype=np.float64),
        max_duration_diff,
        left,
        right,
    )
    return _components_from_labels(_join(np.arange(count), element_left, element_right)), pairs


def close_pairs(unique_hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, of distinct hashes within max_distance bits, found with the
    index (or the all-pairs loop where it is cheaper). Equal hashes are the caller's to pair:
    pass np.unique's output. Frame matching (dedupe/overlaps.py) searches with this."""
    _check_distance(max_distance)
    unique_hashes = np.ascontiguousarray(unique_hashes, dtype=np.uint64)
    return close_unique_pairs(unique_hashes, max_distance, "auto", keep_all=True)


def close_unique_pairs(
    unique: np.ndarray, max_distance: int, strategy: str, keep_all: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of distinct hashes within max_distance (all of them if keep_all, else enough of
    them to connect the same components)."""
    count = len(unique)
    if count < 2 or max_distance == 0:
        return _empty(), _empty()
    pair_count = count * (count - 1) / 2
    plan = _cheapest_plan(count, max_distance)
    brute_force_cost = pair_count * _COST_BRUTE_FORCE_PAIR
    use_index = strategy == "index" or (
        strategy == "auto" and plan is not None and plan.cost < brute_force_cost
    )
    if use_index and plan is not None:
        budget = math.inf if strategy == "index" else brute_force_cost / _COST_CANDIDATE
        try:
            return _gather_pairs(_index_pairs(unique, max_distance, plan, budget), count, keep_all)
        except _TooManyCandidates:
            pass  # far more clustered than the cost model assumed: the plain loop is cheaper
    return close_pairs_brute_force(unique, max_distance)


@dataclass(frozen=True)
class _Plan:
    """How to split the 64 bits: block widths and the radius searched in each block."""

    widths: tuple[int, ...]
    radii: tuple[int, ...]
    cost: float


def _plans(count: int, max_distance: int, bipartite: bool = False) -> list[_Plan]:
    """Every usable block split for this distance, with its estimated cost in seconds.

    The cost model assumes uniform hashes; real ones collide more, which the candidate
    budget in `close_unique_pairs` catches. `bipartite`: `count` queries against `count`
    hashes (each pair of buckets probed from both sides, every block needs a table).
    """
    plans = []
    pairs = count * count if bipartite else count * (count - 1) / 2
    for blocks in range(2, min(max_distance + 1, 64) + 1):
        base, extra = divmod(64, blocks)
        widths = tuple(base + 1 if i < extra else base for i in range(blocks))
        radius, spare = divmod(max_distance, blocks)
        # The first spare+1 blocks (the widest) keep radius r, the rest r-1 (pigeonhole).
        radii = tuple(radius if i <= spare else radius - 1 for i in range(blocks))
        needs_table = [r > 0 or (bipartite and r == 0) for r in radii]
        if any(need and w > _MAX_TABLE_BITS for w, need in zip(widths, needs_table, strict=True)):
            continue
        cost = 0.0
        for width, block_radius, need in zip(widths, radii, needs_table, strict=True):
            if block_radius < 0:
                continue
            buckets = 2.0**width
            ball = sum(math.comb(width, flips) for flips in range(block_radius + 1))
            cost += _COST_BLOCK + count * _COST_BUCKETING + pairs * ball / buckets * _COST_CANDIDATE
            if need:
                probes = count * ball if bipartite else count * (ball - 1) / 2
                cost += probes * _COST_PROBE + buckets * _COST_TABLE_ENTRY
        plans.append(_Plan(widths, radii, cost))
    return plans


def _cheapest_plan(count: int, max_distance: int, bipartite: bool = False) -> _Plan | None:
    plans = _plans(count, max_distance, bipartite)
    return min(plans, key=lambda plan: plan.cost) if plans else None


class _TooManyCandidates(Exception):
    """The index would verify more pairs than the all-pairs loop costs."""


def _index_pairs(
    table: np.ndarray,
    max_distance: int,
    plan: _Plan,
    budget: float,
    queries: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield chunks of pairs within max_distance, each found at least once: pairs (i, j) of
    distinct hashes of `table`, or (query index, table index) when `queries` is given."""
    assignment = _spread_bits(table, plan.widths)
    table_bytes = _bytes_of(table)
    candidates = 0
    for bits, radius in zip(assignment, plan.radii, strict=True):
        if radius < 0:
            continue
        keys = _block_keys(table_bytes, bits)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        sorted_hashes = table[order]

        if queries is None:
            # Pairs inside one bucket: each member against the members after it.
            bucket_end = np.r_[np.flatnonzero(np.diff(sorted_keys) != 0) + 1, len(keys)]
            end_of = np.repeat(bucket_end, np.diff(np.r_[0, bucket_end]))
            own = np.flatnonzero(end_of - np.arange(len(keys)) > 1)
            later = end_of[own] - own - 1
            candidates = _spend(candidates, later, budget)
            for left, right in _verified_runs(
                sorted_hashes[own], sorted_hashes, max_distance, own, own + 1, later
            ):
                yield order[left], order[right]
            if radius == 0:
                continue

        # Across buckets: probe bucket key ^ mask for every mask of at most `radius` bits.
        bucket_count = np.bincount(keys, minlength=1 << len(bits))
        bucket_begin = np.r_[0, np.cumsum(bucket_count)].astype(np.int32)
        occupied = bucket_count.astype(bool)
        if queries is None:
            # Masks whose highest bit is top_bit, probed only from members with that bit
            # clear: each pair of buckets is visited once (v < v ^ mask).
            probes = [
                (
                    _masks_with_top_bit(top_bit, radius),
                    np.flatnonzero((sorted_keys & np.uint32(1 << top_bit)) == 0),
                )
                for top_bit in range(len(bits))
            ]
            probe_keys, probe_hashes = sorted_keys, sorted_hashes
        else:
            probes = [(_masks_up_to(len(bits), radius), np.arange(len(queries)))]
            probe_keys, probe_hashes = _block_keys(_bytes_of(queries), bits), queries
        for masks, members in probes:
            if not len(members):
                continue
            # As intp, so that key ^ mask indexes the tables without a conversion pass.
            member_keys = probe_keys[members].astype(np.intp)
            masks = masks.astype(np.intp)
            # Many masks per numpy call when there are few members, else one (no modulo).
            per_chunk = max(1, _PROBE_CHUNK // len(members)) if len(members) < 1 << 16 else 1
            for first in range(0, len(masks), per_chunk):
                chunk = masks[first : first + per_chunk]
                if len(chunk) == 1:
                    partner = member_keys ^ chunk[0]
                    hit = np.flatnonzero(occupied[partner])
                    own = members[hit]
                else:
                    partner = (member_keys[None, :] ^ chunk[:, None]).reshape(-1)
                    hit = np.flatnonzero(occupied[partner])
                    own = members[hit % len(members)]
                partner = partner[hit]
                start = bucket_begin[partner]
                size = bucket_begin[partner + 1] - start
                candidates = _spend(candidates, size, budget)
                for left, right in _verified_runs(
                    probe_hashes[own], sorted_hashes, max_distance, own, start, size
                ):
                    yield (order[left] if queries is None else left), order[right]


def _spend(candidates: int, run_sizes: np.ndarray, budget: float) -> int:
    """Count candidates about to be verified; stop the index once past the budget."""
    candidates += int(run_sizes.sum())
    if candidates > budget:
        raise _TooManyCandidates
    return candidates


def _masks_with_top_bit(top_bit: int, radius: int) -> np.ndarray:
    """Masks of at most `radius` bits whose highest set bit is `top_bit`."""
    masks = [
        (1 << top_bit) | sum(1 << bit for bit in lower)
        for flips in range(radius)
        for lower in combinations(range(top_bit), flips)
    ]
    return np.array(masks, dtype=np.uint32)


def _masks_up_to(width: int, radius: int) -> np.ndarray:
    """Every mask of at most `radius` bits within `width` bits, 0 included."""
    masks = [0] + [mask for top in range(width) for mask in _masks_with_top_bit(top, radius)]
    return np.array(masks, dtype=np.uint32)


def _verified_runs(
    own_hashes: np.ndarray,
    sorted_hashes: np.ndarray,
    max_distance: int,
    own: np.ndarray,
    start: np.ndarray,
    size: np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Check own_hashes[k] against sorted_hashes[start[k] : start[k] + size[k]] (never empty)
    with XOR + popcount; yield (own[k], position) for the close ones.

    When most runs are one hash long (sparse buckets), the first hash of every run is checked
    at once, without expanding. Runs are then expanded a cache-sized chunk of candidates at a
    time: each own hash repeated over its run and XORed in place with the run's hashes, and
    the run of a close candidate looked up afterwards (few are close), so each candidate
    costs a handful of passes over arrays that stay in L2.
    """
    if not len(own):
        return
    if len(own) * 5 > int(size.sum()) * 4:
        close = np.flatnonzero(popcount(own_hashes ^ sorted_hashes[start]) <= max_distance)
        if len(close):
            yield own[close], start[close]
        longer = np.flatnonzero(size > 1)
        own, own_hashes = own[longer], own_hashes[longer]
        start, size = start[longer] + 1, size[longer] - 1
        if not len(own):
            return
    size = size.astype(np.int64, copy=False)
    ends = np.cumsum(size)
    # Candidate c (numbered across all runs) of run k sits at shift[k] + c in sorted_hashes.
    shift = start - (ends - size)
    done = first = 0
    while first < len(own):
        last = max(first + 1, int(np.searchsorted(ends, done + _PAIR_CHUNK, side="right")))
        stop = int(ends[last - 1])
        lengths = size[first:last]
        partner = np.repeat(shift[first:last], lengths)
        partner += np.arange(done, stop, dtype=np.int64)
        gaps = np.repeat(own_hashes[first:last], lengths)
        gaps ^= sorted_hashes[partner]
        close = np.flatnonzero(popcount(gaps) <= max_distance)
        if len(close):
            yield own[np.searchsorted(ends, close + done, side="right")], partner[close]
        first, done = last, stop


def _bytes_of(hashes: np.ndarray) -> np.ndarray:
    return hashes.astype("<u8").view(np.uint8).reshape(-1, 8)


def _block_keys(bytes_of: np.ndarray, bits: Sequence[int]) -> np.ndarray:
    """The value of the chosen bits of every hash, by one table lookup per byte."""
    table = np.zeros((8, 256), dtype=np.uint32)
    values = np.arange(256, dtype=np.uint32)
    for slot, bit in enumerate(bits):
        byte, offset = divmod(bit, 8)
        table[byte] |= ((values >> np.uint32(offset)) & np.uint32(1)) << np.uint32(slot)
    keys = np.zeros(len(bytes_of), dtype=np.uint32)
    for byte in range(8):
        if table[byte].any():
            keys |= table[byte][bytes_of[:, byte]]
    return keys


def _spread_bits(hashes: np.ndarray, widths: Sequence[int]) -> list[list[int]]:
    """Assign the 64 bit positions to blocks so that correlated bits land in different blocks.

    Bits of real phashes are not independent (video-sprite hashes: mean |r| 0.13, up to
    0.86; the DC bit is set in 99 %), and neighbouring bits are neighbouring DCT frequencies,
    which move together. Correlated bits inside one block make its values cluster into few
    buckets, and every extra pair in a bucket is a candidate to verify: on the benchmark's
    realistic set, contiguous 21-bit blocks gave ~4x the candidates of spread ones at d = 8.
    The correlation is measured on a sample of the hashes at hand, since photos and video
    sprites differ; bits are then placed greedily, most entangled first, each into the block
    where it correlates least (ties: the emptiest block, which deals bits out round robin,
    i.e. interleaved, when nothing is correlated). Any assignment gives the same result.
    """
    sample = hashes[:: max(1, len(hashes) // 4096)]
    weights = np.zeros((64, 64))
    if len(sample) >= 64:
        bits = ((sample[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(float)
        centred = bits - bits.mean(axis=0)
        spread = np.sqrt((centred**2).mean(axis=0))
        informative = spread > 0
        scale = np.where(informative, spread, 1.0)
        correlation = (centred.T @ centred) / len(sample) / np.outer(scale, scale)
        weights = np.abs(correlation) * np.outer(informative, informative)
        np.fill_diagonal(weights, 0.0)
    order = sorted(range(64), key=lambda bit: (-weights[bit].sum(), bit))
    blocks: list[list[int]] = [[] for _ in widths]
    for bit in order:
        best = min(
            (index for index, width in enumerate(widths) if len(blocks[index]) < width),
            key=lambda index: (
                weights[bit, blocks[index]].sum() if blocks[index] else 0.0,
                len(blocks[index]) - widths[index],
                index,
            ),
        )
        blocks[best].append(bit)
    return [sorted(block) for block in blocks]


def _gather_pairs(
    chunks: Iterator[tuple[np.ndarray, np.ndarray]], count: int, keep_all: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Collect pair chunks. Unless every pair is needed (durations), pairs already joined
    are dropped as we go, which keeps dense clusters from filling memory. Every pair is kept
    as one packed int64 (lower * count + higher): tens of millions of them at d = 10."""
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    done: list[np.ndarray] = []  # keep_all: sorted, deduplicated runs, merged once at the end
    pending = 0
    labels: np.ndarray | None = None
    for left, right in chunks:
        if labels is not None:
            apart = labels[left] != labels[right]
            left, right = left[apart], right[apart]
        lefts.append(left)
        rights.append(right)
        pending += len(left)
        if pending > _FLUSH_PAIRS:
            left, right = _concatenate(lefts), _concatenate(rights)
            if keep_all:  # only the new pairs are sorted: re-sorting all would be quadratic
                done.append(_sorted_unique(_packed(left, right, count)))
            else:
                labels = _join(np.arange(count) if labels is None else labels, left, right)
            lefts, rights, pending = [], [], 0
    left, right = _concatenate(lefts), _concatenate(rights)
    if keep_all:
        done.append(_packed(left, right, count))
        del left, right, lefts, rights
        packed = _sorted_unique(np.concatenate(done) if len(done) > 1 else done[0])
        del done
        left = packed // count
        packed -= left * count
        return left, packed
    if labels is not None:  # the joined part is summed up by links to each label
        joined = np.flatnonzero(labels != np.arange(count))
        left, right = np.r_[left, joined], np.r_[right, labels[joined]]
    return left, right


def _packed(left: np.ndarray, right: np.ndarray, count: int) -> np.ndarray:
    """Each pair as one int64, lower * count + higher."""
    packed = np.minimum(left, right).astype(np.int64)
    packed *= count
    packed += np.maximum(left, right)
    return packed


def _sorted_unique(packed: np.ndarray) -> np.ndarray:
    """Packed pairs sorted, each once (sorted in place)."""
    packed.sort()  # a plain sort: np.unique's hashing is several times slower on many pairs
    if len(packed) < 2:
        return packed
    return packed[np.r_[True, packed[1:] != packed[:-1]]]


# ---------------------------------------------------------------------------------------------
# Union of links into components


def _join(labels: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Union the links into `labels` (each node's root, roots are the smallest node) and
    return the new labels. Links go in a chunk at a time: once the first chunks have joined
    the big components, most later links are found joined already and cost one lookup."""
    labels = labels.astype(np.int64, copy=True)
    for start in range(0, len(left), _JOIN_CHUNK):
        labels = _join_links(
            labels, left[start : start + _JOIN_CHUNK], right[start : start + _JOIN_CHUNK]
        )
    return labels


def _join_links(labels: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """`_join` of one chunk: roots hook onto the smaller root, then pointers jump to roots."""
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while len(left):
        a, b = labels[left], labels[right]
        apart = np.flatnonzero(a != b)
        if not len(apart):
            break
        left, right, a, b = left[apart], right[apart], a[apart], b[apart]
        np.minimum.at(labels, np.maximum(a, b), np.minimum(a, b))
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    return labels


def _components_from_labels(labels: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the labels shared by at least two nodes, ordered by first index."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(order)]
    shared = ends - starts >= 2
    groups = [order[start:end] for start, end in zip(starts[shared], ends[shared], strict=True)]
    groups.sort(key=lambda group: int(group[0]))
    return groups


def _check_distance(max_distance: int) -> None:
    if max_distance < 0:
        raise ValueError("max_distance must be >= 0")


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _concatenate(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else _empty()

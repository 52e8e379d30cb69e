"""Groups in which every two files are close: Stash's components, split where they chain.

Stash's checker closes links transitively, so a-b and b-c close makes a-b-c a group even when
a and c are far apart; in a large library such chains percolate into components of hundreds
of thousands of files. `split_into_cliques` splits each component into groups in which every
pair is within the distance and the duration tolerance, so "distance <= 8" holds for every
two files of a group, any file may be the keeper, and no group grows by chaining.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from stash_dedupe.dedupe.durations import known_durations, uses_durations
from stash_dedupe.dedupe.hash_index import ClosePairs, close_unique_pairs, popcount

# Components with up to this many distinct phashes are split with a full distance matrix.
_DENSE_CLIQUE_SPLIT = 2048
# Components up to this size are checked for being whole groups together, by size.
_BATCHED_CLIQUE_CHECK = 32
# Pairs turned into adjacency lists, and nodes whose neighbours are summed, per numpy call.
_EDGE_CHUNK = 1 << 20
_NODE_CHUNK = 1 << 12
# Cliques grown around a seed with at most this many candidates are grown in plain Python.
_GROWN_IN_PYTHON = 16


def split_into_cliques(
    hashes: np.ndarray,
    components: list[np.ndarray],
    max_distance: int,
    durations: np.ndarray | None = None,
    max_duration_diff: float | None = None,
    close: ClosePairs | None = None,
) -> list[np.ndarray]:
    """Split each component into groups (sorted index arrays, size >= 2) in which every two
    hashes are within `max_distance` and, with durations, every two known durations within
    `max_duration_diff`. A component that already is such a group stays whole.

    Greedy, deterministic: the hash with the most files close to it seeds a group, which
    takes the seed's neighbours nearest first as long as each is close to every member;
    then the next seed among what is left. Files left alone are in no group.

    `close`, every close pair of the distinct hashes (`hash_index.linked_components` finds
    it with the components), spares searching the index again for the large components.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    with_durations = uses_durations(durations, max_duration_diff)
    if with_durations:
        assert durations is not None and max_duration_diff is not None
        durations = np.asarray(durations, dtype=np.float64)
    groups: list[np.ndarray] = []
    to_split: list[np.ndarray] = []
    by_size: dict[int, list[np.ndarray]] = {}
    for component in components:
        if len(component) == 2:  # linked, so close in both respects
            groups.append(component)
        elif len(component) <= _BATCHED_CLIQUE_CHECK:
            by_size.setdefault(len(component), []).append(component)
        else:
            to_split.append(component)
    for same_size in by_size.values():  # most components are small: check them together
        stacked = np.array(same_size)
        whole = _all_pairs_close(hashes, stacked, max_distance, durations, max_duration_diff)
        groups += list(stacked[whole])
        to_split += list(stacked[~whole])
    shared = None if close is None else _SharedGraph(close)
    for component in to_split:
        for part in _hash_cliques(hashes[component], max_distance, shared, component):
            members = component[part]
            if with_durations:
                assert durations is not None and max_duration_diff is not None
                groups += [
                    members[window]
                    for window in _duration_windows(durations[members], max_duration_diff)
                ]
            else:
                groups.append(members)
    groups = [np.sort(group) for group in groups if len(group) >= 2]
    groups.sort(key=lambda group: int(group[0]))
    return groups


def _all_pairs_close(
    hashes: np.ndarray,
    members: np.ndarray,
    max_distance: int,
    durations: np.ndarray | None,
    max_duration_diff: float | None,
) -> np.ndarray:
    """For each row of `members` (equal-sized index sets), whether every pair is close."""
    values = hashes[members]
    close = (popcount(values[:, :, None] ^ values[:, None, :]) <= max_distance).all(axis=(1, 2))
    if durations is not None and max_duration_diff is not None:
        times = durations[members]
        known = known_durations(times.reshape(-1), times.size).reshape(times.shape)
        longest = np.where(known, times, -np.inf).max(axis=1)
        shortest = np.where(known, times, np.inf).min(axis=1)
        close &= (longest - shortest <= max_duration_diff) | ~known.any(axis=1)
    return close


def _hash_cliques(
    hashes: np.ndarray,
    max_distance: int,
    shared: _SharedGraph | None = None,
    rows: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Index arrays into `hashes` whose members are pairwise within `max_distance`.

    With `shared` (the close pairs of all hashes, which `hashes` are `rows` of), a large
    component's neighbours are looked up there instead of searched with the index."""
    if shared is None or rows is None:
        unique, inverse = np.unique(hashes, return_inverse=True)
        nodes = None
    else:
        nodes, inverse = np.unique(shared.close.inverse[rows], return_inverse=True)
        unique = shared.close.unique[nodes]
    inverse = inverse.reshape(-1)
    if len(unique) == 1:
        return [np.arange(len(hashes))]
    weights = np.bincount(inverse, minlength=len(unique))
    if len(unique) <= _DENSE_CLIQUE_SPLIT:
        gaps = popcount(unique[:, None] ^ unique[None, :])
        if int(gaps.max()) <= max_distance:
            return [np.arange(len(hashes))]
        cliques = _greedy_cliques_dense(gaps <= max_distance, gaps, weights)
    elif shared is None or nodes is None:
        neighbours = _Neighbours.of_pairs(
            len(unique), *close_unique_pairs(unique, max_distance, "auto", keep_all=True)
        )
        everyone = np.arange(len(unique))
        cliques = _greedy_cliques_sparse(unique, everyone, weights, neighbours, max_distance)
    else:
        node_weights = np.zeros(len(shared.close.unique), dtype=np.int64)
        node_weights[nodes] = weights
        cliques = _greedy_cliques_sparse(
            shared.close.unique, nodes, node_weights, shared.neighbours, max_distance
        )
        return _files_of(cliques, inverse, weights, nodes)
    return _files_of(cliques, inverse, weights)


def _files_of(
    cliques: list[np.ndarray],
    inverse: np.ndarray,
    weights: np.ndarray,
    nodes: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The files of each clique of distinct hashes (`inverse[file]` is a file's hash,
    `weights` its files), hash by hash, each hash's files ascending. Cliques of `nodes` (of a
    larger numbering) are numbered by their position in `nodes` first."""
    if not cliques:
        return []
    sizes = np.fromiter(map(len, cliques), dtype=np.int64, count=len(cliques))
    flat = np.concatenate(cliques)
    if nodes is not None:
        flat = np.searchsorted(nodes, flat)
    files_of = np.argsort(inverse, kind="stable")
    first = np.r_[0, np.cumsum(weights)]  # files_of[first[h] : first[h + 1]]: hash h's files
    counts = weights[flat]
    runs = np.cumsum(counts)
    ordered = files_of[np.repeat(first[flat] - (runs - counts), counts) + np.arange(runs[-1])]
    ends = runs[np.cumsum(sizes) - 1]
    return np.split(ordered, ends[:-1])


def _greedy_cliques_dense(
    close: np.ndarray, gaps: np.ndarray, weights: np.ndarray
) -> list[np.ndarray]:
    """Cliques of distinct hashes from their full closeness matrix (see split_into_cliques)."""
    count = len(weights)
    left = np.ones(count, dtype=bool)
    cliques = []
    for seed in np.lexsort((np.arange(count), -(close.astype(np.int64) @ weights))):
        if left[seed]:
            clique = _grow_clique(int(seed), close, gaps, left)
            left[clique] = False
            cliques.append(clique)
    return cliques


def _grow_clique(seed: int, close: np.ndarray, gaps: np.ndarray, left: np.ndarray) -> np.ndarray:
    """The seed and, nearest first, each node still `left` that is close to all taken so far."""
    clique = [seed]
    allowed = close[seed] & left
    allowed[seed] = False
    candidates = np.flatnonzero(allowed)
    for candidate in candidates[np.argsort(gaps[seed, candidates], kind="stable")]:
        if allowed[candidate]:
            clique.append(int(candidate))
            allowed &= close[candidate]
    return np.array(clique)


@dataclass(frozen=True)
class _Neighbours:
    """Close pairs as adjacency lists: node s's neighbours are targets[starts[s] :
    starts[s + 1]], the later nodes ascending, then the earlier ones ascending (the order
    that breaks ties in the greedy split)."""

    starts: np.ndarray
    targets: np.ndarray

    @classmethod
    def of_pairs(cls, count: int, left: np.ndarray, right: np.ndarray) -> _Neighbours:
        """From pairs with left[k] < right[k], each once (nodes numbered below `count`)."""
        # Both directions of every pair (tens of millions at d = 10) packed in one int64
        # array sorted in place, no argsort: by source, then the later neighbours before the
        # earlier ones (bit 31), each ascending. Filled and read a chunk at a time: no
        # temporary as large as the pairs.
        pairs = len(left)
        edges = np.empty(2 * pairs, dtype=np.int64)
        for start in range(0, pairs, _EDGE_CHUNK):
            lower = left[start : start + _EDGE_CHUNK].astype(np.int64)
            higher = right[start : start + _EDGE_CHUNK].astype(np.int64)
            edges[start : start + len(lower)] = (lower << 32) | higher
            edges[pairs + start : pairs + start + len(lower)] = (higher << 32) | lower | 1 << 31
        edges.sort()
        targets = np.empty(len(edges), dtype=np.int32)
        for start in range(0, len(edges), _EDGE_CHUNK):
            targets[start : start + _EDGE_CHUNK] = edges[start : start + _EDGE_CHUNK] & 0x7FFFFFFF
        edges >>= 32
        starts = np.searchsorted(edges, np.arange(count + 1))
        return cls(starts, targets)

    def weighted_degree(self, nodes: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """For each of `nodes`, the sum of `weights` over its neighbours (exact, in int64),
        for a chunk of nodes at a time."""
        degree = np.empty(len(nodes), dtype=np.int64)
        for first in range(0, len(nodes), _NODE_CHUNK):
            begin = self.starts[nodes[first : first + _NODE_CHUNK]]
            sizes = self.starts[nodes[first : first + _NODE_CHUNK] + 1] - begin
            ends = np.cumsum(sizes)
            edges = np.arange(int(ends[-1])) + np.repeat(begin - (ends - sizes), sizes)
            sums = np.r_[0, np.cumsum(weights[self.targets[edges]])]
            degree[first : first + len(sizes)] = sums[ends] - sums[ends - sizes]
        return degree


class _SharedGraph:
    """The close pairs of all hashes, as adjacency lists once a component needs them."""

    def __init__(self, close: ClosePairs) -> None:
        self.close = close

    @cached_property
    def neighbours(self) -> _Neighbours:
        return _Neighbours.of_pairs(len(self.close.unique), self.close.left, self.close.right)


def _greedy_cliques_sparse(
    unique: np.ndarray,
    nodes: np.ndarray,
    weights: np.ndarray,
    neighbours: _Neighbours,
    max_distance: int,
) -> list[np.ndarray]:
    """The same greedy split for a component too large for a full matrix: its `nodes`
    (ascending; `unique[node]` is a node's hash, `weights[node]` its files, 0 outside the
    component) take their neighbours from the adjacency lists, and each seed's clique is grown
    among its remaining neighbours only."""
    degree = neighbours.weighted_degree(nodes, weights)
    targets, starts = neighbours.targets, neighbours.starts
    left = np.zeros(len(unique), dtype=bool)
    left[nodes] = True
    starts = starts.tolist()  # plain ints: faster to index one at a time
    cliques = []
    for seed in nodes[np.lexsort((np.arange(len(nodes)), -degree))].tolist():
        if not left[seed]:
            continue
        around = targets[starts[seed] : starts[seed + 1]]
        members = np.concatenate(([seed], around[left[around]]))
        if len(members) <= 2:  # alone, or with one neighbour: already a clique
            left[members] = False
            cliques.append(members)
            continue
        chosen = members[_grow_around_seed(unique[members], max_distance)]
        left[chosen] = False
        cliques.append(chosen)
    return cliques


def _grow_around_seed(values: np.ndarray, max_distance: int) -> np.ndarray:
    """`_grow_clique` from a seed (values[0]) among hashes all close to it (values[1:]),
    without their full distance matrix (hundreds of millions of entries per split at d = 10):
    only the rows of the members taken are computed, and the candidates no longer close to
    every member are passed over in one step. A few hashes are grown as Python ints, which
    is several times quicker than a dozen numpy calls on tiny arrays."""
    if len(values) <= _GROWN_IN_PYTHON:
        seed, *others = values.tolist()
        order = sorted(range(len(others)), key=lambda index: (others[index] ^ seed).bit_count())
        taken, taken_values = [0], []  # the seed is close to every candidate
        for index in order:
            value = others[index]
            if all((value ^ member).bit_count() <= max_distance for member in taken_values):
                taken.append(index + 1)
                taken_values.append(value)
        return np.array(taken)
    order = np.argsort(popcount(values[1:] ^ values[0]), kind="stable") + 1
    ordered = values[order]
    allowed = np.ones(len(order), dtype=bool)
    taken = [0]
    position = 0
    while position < len(order):
        position += int(allowed[position:].argmax())
        if not allowed[position]:
            break
        taken.append(int(order[position]))
        later = slice(position + 1, None)
        allowed[later] &= popcount(ordered[later] ^ ordered[position]) <= max_distance
        position += 1
    return np.array(taken)


def _duration_windows(durations: np.ndarray, limit: float) -> list[np.ndarray]:
    """Split hash-close files so that every two known durations are within `limit`: sorted
    durations are cut into windows no wider than `limit`; files of unknown duration match
    any and join the largest window."""
    known = known_durations(durations, len(durations))
    unknown = np.flatnonzero(~known)
    ordered = np.flatnonzero(known)[np.argsort(durations[known], kind="stable")]
    windows: list[np.ndarray] = []
    start = 0
    while start < len(ordered):
        end = int(np.searchsorted(durations[ordered], durations[ordered[start]] + limit, "right"))
        windows.append(ordered[start:end])
        start = end
    if not windows:
        return [unknown]
    largest = max(range(len(windows)), key=lambda index: (len(windows[index]), -index))
    windows[largest] = np.r_[windows[largest], unknown]
    return windows

"""Splitting components into cliques: with the pairs found for the components (one search of
the index), and without full distance matrices, exactly the groups it gave before."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stash_dedupe.dedupe import cliques, hash_index
from stash_dedupe.dedupe.hash_index import (
    close_pairs_brute_force,
    connected_components,
    connected_components_brute_force,
    linked_components,
)

HASH = st.integers(0, 2**64 - 1)


def load_bench() -> ModuleType:
    """bench/bench_grouping.py, for its realistic hash generator."""
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_grouping.py"
    spec = importlib.util.spec_from_file_location("bench_grouping", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    with mock.patch.dict(sys.modules, {spec.name: bench}):  # its dataclasses look it up
        spec.loader.exec_module(bench)
    return bench


def chained_corpus(rng: np.random.Generator) -> np.ndarray:
    """Realistic video phashes plus random walks of 1 to 3 bits a step (a few thousand hashes
    that chain into several components large enough to be split pair by pair, like the one
    of 10^5 files at d = 8 in a real library), a half of them with an exact copy."""
    bench = load_bench()
    parts = [bench.realistic_hashes(2000, rng)]
    for start in bench.realistic_hashes(4, rng):
        flips = np.uint64(1) << rng.integers(0, 64, size=(600, 3)).astype(np.uint64)
        flips[rng.random((600, 3)) > [1.0, 0.5, 0.2]] = 0
        parts.append(start ^ np.bitwise_xor.accumulate(np.bitwise_xor.reduce(flips, axis=1)))
    hashes = np.concatenate(parts)
    hashes = np.r_[hashes, rng.choice(hashes, size=len(hashes) // 2)]
    return hashes[rng.permutation(len(hashes))]


def as_sets(groups: list[np.ndarray]) -> set[frozenset[int]]:
    return {frozenset(group.tolist()) for group in groups}


@pytest.mark.parametrize("max_distance", [8, 10])
@pytest.mark.parametrize("with_durations", [False, True])
def test_splitting_with_the_pairs_found_once_gives_the_groups_of_a_second_search(
    max_distance: int, with_durations: bool
) -> None:
    rng = np.random.default_rng(max_distance)
    hashes = chained_corpus(rng)
    durations, limit = None, None
    if with_durations:  # classes of durations: the walks' components split by them
        durations = rng.choice(
            [0.0, 600.0, 603.0, 1200.0, 1800.0], len(hashes), p=[0.002] + [0.2495] * 4
        )
        limit = 5.0
    components, close = linked_components(hashes, max_distance, durations, limit)
    assert [c.tolist() for c in components] == [
        c.tolist() for c in connected_components(hashes, max_distance, durations, limit)
    ]
    with mock.patch.object(cliques, "_DENSE_CLIQUE_SPLIT", 64):
        with (
            mock.patch.object(
                cliques, "_greedy_cliques_sparse", wraps=cliques._greedy_cliques_sparse
            ) as sparse,
            mock.patch.object(cliques, "close_unique_pairs") as search,
        ):
            groups = cliques.split_into_cliques(
                hashes, components, max_distance, durations, limit, close
            )
        search.assert_not_called()  # the index ran once, for the components
        expected = cliques.split_into_cliques(hashes, components, max_distance, durations, limit)
    large = [np.unique(close.inverse[c]) for c in components]
    large = [nodes for nodes in large if len(nodes) > 64]
    assert sparse.call_count == len(large) >= 3
    if with_durations:  # a hash value in two large components (copies of other durations)
        everyone = np.concatenate(large)
        assert len(np.unique(everyone)) < len(everyone)
    assert len(groups) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(groups, expected, strict=True))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(HASH, min_size=0, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.lists(st.integers(0, 63), max_size=5)), max_size=60),
    st.integers(0, 70),
)
def test_linked_components_hold_every_close_pair_once(bases, copies, max_distance) -> None:
    values = [
        bases[base % len(bases)] ^ sum({1 << bit for bit in flips})
        for base, flips in (copies if bases else [])
    ]
    hashes = np.array(values, dtype=np.uint64)
    with mock.patch.object(hash_index, "_JOIN_CHUNK", 3):  # links joined in many rounds
        components, close = linked_components(hashes, max_distance)
    assert as_sets(components) == as_sets(connected_components_brute_force(hashes, max_distance))
    assert np.array_equal(close.unique[close.inverse], hashes)
    assert np.array_equal(close.unique, np.unique(hashes))
    left, right = close_pairs_brute_force(close.unique, max_distance)
    expected = sorted(zip(left.tolist(), right.tolist(), strict=True))
    assert sorted(zip(close.left.tolist(), close.right.tolist(), strict=True)) == expected


@st.composite
def seed_and_neighbours(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    """A seed hash and hashes within the distance of it, some repeated at the same gap."""
    max_distance = draw(st.integers(1, 12))
    seed = draw(HASH)
    flips = st.lists(st.integers(0, 63), max_size=max_distance, unique=True)
    neighbours = [seed ^ sum(1 << bit for bit in bits) for bits in draw(st.lists(flips))]
    return np.array([seed, *neighbours], dtype=np.uint64), max_distance


@settings(max_examples=300, deadline=None)
@given(seed_and_neighbours(), st.sampled_from([0, 10**6]))
def test_growing_around_a_seed_takes_what_the_full_matrix_took(case, in_python) -> None:
    """With numpy (any size) and in plain Python (any size), as the full matrix did."""
    values, max_distance = case
    gaps = hash_index.popcount(values[:, None] ^ values[None, :])
    expected = cliques._grow_clique(0, gaps <= max_distance, gaps, np.ones(len(values), bool))
    with mock.patch.object(cliques, "_GROWN_IN_PYTHON", in_python):
        grown = cliques._grow_around_seed(values, max_distance)
    assert grown.tolist() == expected.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=60), st.randoms(use_true_random=False))
def test_the_files_of_each_clique_come_hash_by_hash_in_file_order(inverse, random) -> None:
    inverse = np.unique(inverse, return_inverse=True)[1]  # every hash has files
    hashes = list(range(int(inverse.max()) + 1))
    random.shuffle(hashes)
    cut = sorted(random.sample(range(1, len(hashes)), random.randint(0, len(hashes) - 1)))
    found = [np.array(part, dtype=np.int64) for part in np.split(np.array(hashes), cut)]
    weights = np.bincount(inverse)
    files = cliques._files_of(found, inverse, weights)
    expected = [[f for h in part for f in np.flatnonzero(inverse == h).tolist()] for part in found]
    assert [part.tolist() for part in files] == expected
    nodes = np.sort(np.random.default_rng(len(inverse)).choice(99, len(hashes), replace=False))
    numbered = cliques._files_of([nodes[part] for part in found], inverse, weights, nodes)
    assert [part.tolist() for part in numbered] == expected

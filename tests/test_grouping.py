"""Grouping: the index gives exactly the all-pairs result; find_groups forms the groups shown."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stash_dedupe.dedupe import cliques, grouping, hash_index
from stash_dedupe.dedupe.grouping import PHASH_GROUP, SAME_ITEM_GROUP, distance, find_groups
from stash_dedupe.dedupe.hash_index import connected_components, connected_components_brute_force
from stash_dedupe.models import IMAGE, VIDEO, MediaFile, SceneInfo

HASH = st.integers(0, 2**64 - 1)
DURATION = st.one_of(
    st.sampled_from([0.0, -1.0, math.nan, 10.0, 10.5, 11.0, 12.0, 30.0]),
    st.floats(0.5, 40.0),
)
DURATION_LIMIT = st.sampled_from([None, -1.0, 0.0, 0.5, 1.0, 5.0])


def as_sets(groups: list[np.ndarray]) -> set[frozenset[int]]:
    return {frozenset(group.tolist()) for group in groups}


@st.composite
def clustered_hashes(draw: st.DrawFn) -> list[int]:
    """Families of near-duplicates: a few base hashes, each copied with a few bits flipped."""
    bases = draw(st.lists(HASH, min_size=1, max_size=6))
    copies = draw(
        st.lists(
            st.tuples(st.integers(0, len(bases) - 1), st.lists(st.integers(0, 63), max_size=6)),
            max_size=70,
        )
    )
    return [bases[base] ^ sum({1 << bit for bit in flips}) for base, flips in copies]


@st.composite
def repeated_hashes(draw: st.DrawFn) -> list[int]:
    """Few distinct values, many times each: like flat images."""
    pool = draw(st.lists(st.one_of(st.sampled_from([0, 1 << 63]), HASH), min_size=1, max_size=4))
    return draw(st.lists(st.sampled_from(pool), max_size=80))


HASH_SETS = st.one_of(st.lists(HASH, max_size=80), clustered_hashes(), repeated_hashes())


@st.composite
def grouping_cases(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray | None, float | None]:
    values = draw(HASH_SETS)
    hashes = np.array(values, dtype=np.uint64)
    durations = None
    if draw(st.booleans()):
        durations = np.array(draw(st.lists(DURATION, min_size=len(values), max_size=len(values))))
    return hashes, draw(st.integers(0, 16)), durations, draw(DURATION_LIMIT)


def forced_plan(count: int, max_distance: int, blocks: int) -> hash_index._Plan | None:
    """The index's plan with a chosen number of blocks, if that split is usable."""
    plans = [plan for plan in hash_index._plans(count, max_distance) if len(plan.widths) == blocks]
    return plans[0] if plans else None


# --- the index against the brute-force oracle --------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(grouping_cases())
def test_index_finds_exactly_the_brute_force_components(case) -> None:
    hashes, max_distance, durations, limit = case
    expected = as_sets(connected_components_brute_force(hashes, max_distance, durations, limit))
    assert (
        as_sets(connected_components(hashes, max_distance, durations, limit, strategy="index"))
        == expected
    )
    assert as_sets(connected_components(hashes, max_distance, durations, limit)) == expected


@settings(max_examples=300, deadline=None)
@given(grouping_cases(), st.integers(2, 17))
def test_every_block_split_finds_the_brute_force_components(case, blocks) -> None:
    hashes, max_distance, durations, limit = case
    plan = forced_plan(len(hashes), max_distance, blocks)
    expected = as_sets(connected_components_brute_force(hashes, max_distance, durations, limit))
    with (
        mock.patch.object(hash_index, "_cheapest_plan", return_value=plan),
        mock.patch.object(hash_index, "_FLUSH_PAIRS", 3),  # pairs are collected in many rounds
    ):
        found = connected_components(hashes, max_distance, durations, limit, strategy="index")
    assert as_sets(found) == expected


@settings(max_examples=100, deadline=None)
@given(clustered_hashes(), st.integers(1, 16), st.data())
def test_index_finds_every_close_pair_in_small_work_chunks(values, max_distance, data) -> None:
    """Chunking of probes and of candidate runs changes how pairs are found, never which."""
    hashes = np.unique(np.array(values, dtype=np.uint64))
    plans = hash_index._plans(len(hashes), max_distance)
    if not plans:
        return
    plan = data.draw(st.sampled_from(plans))
    left, right = hash_index.close_pairs_brute_force(hashes, max_distance)
    expected = set(zip(left.tolist(), right.tolist(), strict=True))
    with (
        mock.patch.object(hash_index, "_PROBE_CHUNK", 16),
        mock.patch.object(hash_index, "_PAIR_CHUNK", 4),
    ):
        found = set()
        for left, right in hash_index._index_pairs(hashes, max_distance, plan, math.inf):
            found |= {
                (min(a, b), max(a, b)) for a, b in zip(left.tolist(), right.tolist(), strict=True)
            }
    assert found == expected


def test_identical_hashes_with_durations_link_in_runs_of_close_durations() -> None:
    hashes = np.zeros(6, dtype=np.uint64)
    durations = np.array([10.0, 10.8, 11.6, 20.0, 20.5, 40.0])
    found = connected_components(hashes, 0, durations, 1.0)
    assert as_sets(found) == {frozenset({0, 1, 2}), frozenset({3, 4})}


def test_an_unknown_duration_joins_everything_it_is_close_to() -> None:
    hashes = np.array([0, 0, 1, 1], dtype=np.uint64)
    durations = np.array([10.0, 0.0, 50.0, 90.0])
    assert as_sets(connected_components(hashes, 1, durations, 1.0)) == {frozenset({0, 1, 2, 3})}


def test_distance_64_or_more_links_everything() -> None:
    hashes = np.array([0, 2**64 - 1, 12345], dtype=np.uint64)
    assert as_sets(connected_components(hashes, 64)) == {frozenset({0, 1, 2})}
    assert as_sets(connected_components(hashes, 99)) == {frozenset({0, 1, 2})}


def test_a_negative_distance_is_refused() -> None:
    with pytest.raises(ValueError):
        connected_components(np.zeros(2, dtype=np.uint64), -1)


def test_too_many_candidates_fall_back_to_the_all_pairs_loop() -> None:
    hashes = np.arange(300, dtype=np.uint64)  # all within a few bits of each other
    expected = as_sets(connected_components_brute_force(hashes, 6))
    plan = dataclasses.replace(forced_plan(300, 6, 3), cost=0.0)
    with (
        mock.patch.object(hash_index, "_cheapest_plan", return_value=plan),
        mock.patch.object(hash_index, "_COST_BRUTE_FORCE_PAIR", 1e-15),  # a tiny budget
        mock.patch.object(hash_index, "_index_pairs", wraps=hash_index._index_pairs) as index,
        mock.patch.object(
            hash_index, "close_pairs_brute_force", wraps=hash_index.close_pairs_brute_force
        ) as brute_force,
    ):
        assert as_sets(connected_components(hashes, 6)) == expected
    assert index.called
    assert brute_force.called


@settings(max_examples=60, deadline=None)
@given(HASH_SETS)
def test_largest_distance_is_the_largest_pairwise_distance(values) -> None:
    hashes = np.array(values, dtype=np.uint64)
    expected = max((distance(f"{a:016x}", f"{b:016x}") for a in values for b in values), default=0)
    assert hash_index.largest_distance(hashes) == expected
    with mock.patch.object(hash_index, "_ALL_PAIRS_DIAMETER", 2):  # the complement search
        assert hash_index.largest_distance(hashes) == expected


# --- find_groups ------------------------------------------------------------------------------


def media_file(
    file_id: int,
    phash: str | None,
    size: int = 1000,
    duration: float | None = None,
    items: tuple[int, ...] = (),
    media: str = VIDEO,
) -> MediaFile:
    return MediaFile(
        file_id=file_id,
        media=media,
        path=f"/library/{file_id}.mp4",
        stash_path=f"/library/{file_id}.mp4",
        size=size,
        mod_time=None,
        mod_time_epoch=None,
        phash=phash,
        duration=duration,
        items=tuple(SceneInfo(item_id=item_id) for item_id in items),
    )


def ids(group: grouping.DuplicateGroup) -> list[int]:
    return [file.file_id for file in group.files]


def test_distance_counts_differing_bits() -> None:
    assert distance("c3a1f0e0d0c0b0a0", "c3a1f0e0d0c0b0a0") == 0
    assert distance("0000000000000000", "ffffffffffffffff") == 64
    assert distance("8000000000000000", "0000000000000001") == 2


def test_a_chain_is_split_so_every_pair_is_within_the_distance() -> None:
    a = media_file(1, "c3a1f0e0d0c0b000")
    b = media_file(2, "c3a1f0e0d0c0b00f")  # 4 bits from a
    c = media_file(3, "c3a1f0e0d0c0b0ff")  # 4 bits from b, 8 from a
    (group,) = find_groups([a, b, c], max_distance=4)
    assert sorted(ids(group)) == [1, 2]  # b seeds (close to both), takes a; c is 8 from a
    assert group.kind == PHASH_GROUP
    assert group.max_distance == 4
    (whole,) = find_groups([a, b, c], max_distance=8)
    assert sorted(ids(whole)) == [1, 2, 3] and whole.max_distance == 8


def pairwise_close(
    hashes: np.ndarray, durations: np.ndarray | None, limit: float | None, max_distance: int
) -> np.ndarray:
    close = hash_index.popcount(hashes[:, None] ^ hashes[None, :]) <= max_distance
    if durations is not None and limit is not None and limit >= 0:
        known = np.nan_to_num(durations) > 0
        near = np.abs(durations[:, None] - durations[None, :]) <= limit
        close &= near | ~known[:, None] | ~known[None, :]
    return close


@settings(max_examples=150, deadline=None)
@given(clustered_hashes(), st.integers(0, 16), st.data())
def test_every_two_files_of_a_group_are_close(values, max_distance, data) -> None:
    """Groups are cliques inside Stash's components; a component that is one stays whole."""
    hashes = np.array(values, dtype=np.uint64)
    durations = np.array(data.draw(st.lists(DURATION, min_size=len(values), max_size=len(values))))
    limit = data.draw(DURATION_LIMIT)
    components = connected_components_brute_force(hashes, max_distance, durations, limit)
    groups = cliques.split_into_cliques(hashes, components, max_distance, durations, limit)
    close = pairwise_close(hashes, durations, limit, max_distance)
    seen: set[int] = set()
    for group in groups:
        assert len(group) >= 2 and close[np.ix_(group, group)].all()
        assert not seen & set(group.tolist())
        seen |= set(group.tolist())
        assert any(set(group.tolist()) <= set(c.tolist()) for c in components)
    for component in components:
        if close[np.ix_(component, component)].all():
            assert any(np.array_equal(component, group) for group in groups)


def test_a_long_chain_never_becomes_one_giant_group() -> None:
    """Hashes one bit apart in a walk percolate into one component; groups stay small."""
    rng = np.random.default_rng(7)
    walk = [int(rng.integers(0, 2**63))]
    for bit in rng.integers(0, 64, size=5000):
        walk.append(walk[-1] ^ (1 << int(bit)))
    hashes = np.unique(np.array(walk, dtype=np.uint64))
    components = connected_components(hashes, 4)
    assert max(len(component) for component in components) > 2048  # the sparse split
    groups = cliques.split_into_cliques(hashes, components, 4)
    assert max(len(group) for group in groups) <= 16
    for group in groups:
        assert hash_index.largest_distance(hashes[group]) <= 4
    assert sum(len(group) for group in groups) > len(hashes) // 2


def test_files_beyond_the_distance_stay_apart() -> None:
    a = media_file(1, "c3a1f0e0d0c0b000")
    b = media_file(2, "c3a1f0e0d0c0b00f")  # 4 bits apart
    assert find_groups([a, b], max_distance=3) == []


def test_a_duration_difference_blocks_a_link() -> None:
    a = media_file(1, "c3a1f0e0d0c0b0a0", duration=100.0)
    b = media_file(2, "c3a1f0e0d0c0b0a0", duration=130.0)
    assert find_groups([a, b], max_duration_diff=1.0) == []
    assert len(find_groups([a, b], max_duration_diff=None)) == 1


def test_an_unknown_duration_does_not_block_a_link() -> None:
    a = media_file(1, "c3a1f0e0d0c0b0a0", duration=100.0)
    b = media_file(2, "c3a1f0e0d0c0b0a0", duration=None)
    (group,) = find_groups([a, b], max_duration_diff=1.0)
    assert sorted(ids(group)) == [1, 2]


def test_flat_hashes_are_left_out_by_default() -> None:
    blank = [media_file(file_id, "0000000000000000") for file_id in (1, 2)]
    black = [media_file(file_id, "8000000000000000") for file_id in (3, 4)]
    assert find_groups(blank + black, max_distance=1) == []


def test_flat_hashes_when_included_are_flagged_suspicious() -> None:
    blank = [media_file(file_id, "0000000000000000") for file_id in (1, 2)]
    black = [media_file(file_id, "8000000000000000") for file_id in (3, 4)]
    real = [media_file(file_id, "c3a1f0e0d0c0b0a0") for file_id in (5, 6)]
    groups = find_groups(blank + black + real, max_distance=1, include_flat=True)
    by_files = {tuple(sorted(ids(group))): group for group in groups}
    assert by_files[(1, 2, 3, 4)].suspicious
    assert not by_files[(5, 6)].suspicious


def test_files_of_one_item_form_a_same_item_group_without_phashes() -> None:
    first = media_file(1, None, items=(7,))
    second = media_file(2, None, items=(7,))
    other = media_file(3, None, items=(8,))
    (group,) = find_groups([first, second, other])
    assert group.kind == SAME_ITEM_GROUP
    assert sorted(ids(group)) == [1, 2]
    assert group.max_distance == 0


def test_an_item_already_inside_one_phash_group_is_not_repeated() -> None:
    first = media_file(1, "c3a1f0e0d0c0b0a0", items=(7,))
    second = media_file(2, "c3a1f0e0d0c0b0a0", items=(7,))
    (group,) = find_groups([first, second])
    assert group.kind == PHASH_GROUP


def test_an_ungrouped_file_joins_the_phash_group_of_its_sibling() -> None:
    copy = media_file(1, "c3a1f0e0d0c0b0a0", items=(7,))
    look_alike = media_file(2, "c3a1f0e0d0c0b0a0", items=(8,))
    no_phash = media_file(3, None, items=(7,))
    (group,) = find_groups([copy, look_alike, no_phash])
    assert group.kind == PHASH_GROUP
    assert sorted(ids(group)) == [1, 2, 3]


def test_phash_groups_are_not_merged_through_an_item() -> None:
    part_one = [media_file(1, "c3a1f0e0d0c0b0a0", items=(7,)), media_file(2, "c3a1f0e0d0c0b0a0")]
    part_two = [media_file(3, "0f0f0f0f0f0f0f0f", items=(7,)), media_file(4, "0f0f0f0f0f0f0f0f")]
    groups = find_groups(part_one + part_two)
    assert sorted(sorted(ids(group)) for group in groups) == [[1, 2], [3, 4]]


def test_same_item_groups_can_be_turned_off() -> None:
    assert (
        find_groups(
            [media_file(1, None, items=(7,)), media_file(2, None, items=(7,))],
            include_same_item=False,
        )
        == []
    )


def test_files_of_different_media_are_never_grouped() -> None:
    video = media_file(1, "c3a1f0e0d0c0b0a0", media=VIDEO)
    image = media_file(2, "c3a1f0e0d0c0b0a0", media=IMAGE)
    assert find_groups([video, image]) == []


def test_reclaimable_is_the_total_minus_the_largest_file() -> None:
    files = [
        media_file(1, "c3a1f0e0d0c0b0a0", size=300),
        media_file(2, "c3a1f0e0d0c0b0a0", size=500),
        media_file(3, "c3a1f0e0d0c0b0a0", size=300),
    ]
    (group,) = find_groups(files)
    assert group.total_size == 1100
    assert group.reclaimable == 600
    assert ids(group) == [2, 1, 3]  # largest first, then by file id


def test_groups_are_sorted_by_reclaimable_bytes_then_id() -> None:
    small = [media_file(1, "1111111111111111", size=10), media_file(2, "1111111111111111", size=10)]
    big = [media_file(3, "2222222222222222", size=90), media_file(4, "2222222222222222", size=90)]
    ties = [media_file(file_id, "4444444444444444", size=10) for file_id in (5, 6)]
    groups = find_groups(small + big + ties)
    assert ids(groups[0]) == [3, 4]
    assert [group.reclaimable for group in groups] == [90, 10, 10]
    assert groups[1].group_id < groups[2].group_id


def test_group_ids_are_stable_whatever_the_input_order() -> None:
    files = [media_file(file_id, "c3a1f0e0d0c0b0a0") for file_id in (4, 1, 9)]
    (forward,) = find_groups(files)
    (backward,) = find_groups(files[::-1])
    assert forward.group_id == backward.group_id
    assert len(forward.group_id) == 12


def test_gathering_every_pair_sorts_each_pair_a_bounded_number_of_times() -> None:
    """Pairs are deduplicated in runs and merged once: the sorting grows with the pairs found,
    not with their square (re-sorting all pairs at each flush took >15 min at 10^6 files)."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**63, size=60, dtype=np.uint64)
    hashes = np.unique(  # dense families: many close pairs, found by several blocks each
        np.concatenate([base ^ (np.uint64(1) << np.uint64(bit)) for bit in range(40)])
    )
    found_sizes: list[int] = []
    sorted_sizes: list[int] = []
    real_index_pairs, real_sorted_unique = hash_index._index_pairs, hash_index._sorted_unique

    def counting_index_pairs(*args, **kwargs):
        for left, right in real_index_pairs(*args, **kwargs):
            found_sizes.append(len(left))
            yield left, right

    def counting_sorted_unique(packed: np.ndarray):
        sorted_sizes.append(len(packed))
        return real_sorted_unique(packed)

    with (
        mock.patch.object(hash_index, "_FLUSH_PAIRS", 256),
        mock.patch.object(hash_index, "_index_pairs", side_effect=counting_index_pairs),
        mock.patch.object(hash_index, "_sorted_unique", side_effect=counting_sorted_unique),
    ):
        left, _ = hash_index.close_unique_pairs(hashes, 4, "index", keep_all=True)
    expected_left, _ = hash_index.close_pairs_brute_force(hashes, 4)
    assert len(left) == len(expected_left)
    assert len(sorted_sizes) > 10  # it flushed many times
    # Each pair found is sorted once in its run, and once more in the final merge.
    assert sum(sorted_sizes) <= 2 * sum(found_sizes)


def _greedy_cliques_sparse_as_first_written(
    unique: np.ndarray, weights: np.ndarray, max_distance: int
) -> list[np.ndarray]:
    """cliques._greedy_cliques_sparse before its shortcuts: the reference they must match."""
    count = len(unique)
    left_pairs, right_pairs = hash_index.close_unique_pairs(unique, max_distance, "auto", True)
    edges = np.r_[(left_pairs << 32) | right_pairs, (right_pairs << 32) | left_pairs | (1 << 31)]
    edges.sort()
    targets = (edges & 0x7FFFFFFF).astype(np.int32)
    sources = edges >> 32
    starts = np.searchsorted(sources, np.arange(count + 1))
    degree = np.bincount(sources, weights=weights[targets], minlength=count)
    left = np.ones(count, dtype=bool)
    found = []
    for seed in np.lexsort((np.arange(count), -degree)):
        if not left[seed]:
            continue
        neighbours = targets[starts[seed] : starts[seed + 1]]
        nodes = np.concatenate(([seed], neighbours[left[neighbours]]))
        if len(nodes) == 1:
            left[seed] = False
            found.append(nodes)
            continue
        gaps = hash_index.popcount(unique[nodes][:, None] ^ unique[nodes][None, :])
        grown = cliques._grow_clique(0, gaps <= max_distance, gaps, np.ones(len(nodes), bool))
        left[nodes[grown]] = False
        found.append(nodes[grown])
    return found


def _as_first_written(unique, nodes, weights, neighbours, max_distance) -> list[np.ndarray]:
    """The reference in place of cliques._greedy_cliques_sparse for a component on its own."""
    assert np.array_equal(nodes, np.arange(len(unique)))
    return _greedy_cliques_sparse_as_first_written(unique, weights, max_distance)


@pytest.mark.parametrize("max_distance", [4, 8, 10])
def test_the_sparse_split_gives_the_groups_it_gave_when_first_written(max_distance) -> None:
    """Realistic hashes (families of copies, correlated bits) in components split sparsely."""
    path = Path(__file__).resolve().parents[1] / "bench" / "bench_grouping.py"
    spec = importlib.util.spec_from_file_location("bench_grouping", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    with mock.patch.dict(sys.modules, {spec.name: bench}):  # its dataclasses look it up
        spec.loader.exec_module(bench)
    hashes = bench.realistic_hashes(6000, np.random.default_rng(max_distance))
    components = connected_components(hashes, max_distance)
    with mock.patch.object(cliques, "_DENSE_CLIQUE_SPLIT", 64):
        groups = cliques.split_into_cliques(hashes, components, max_distance)
        with mock.patch.object(cliques, "_greedy_cliques_sparse", _as_first_written):
            expected = cliques.split_into_cliques(hashes, components, max_distance)
    assert max(len(component) for component in components) > 64
    assert len(groups) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(groups, expected, strict=True))

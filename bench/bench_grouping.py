"""Time phash grouping: the index in stash_dedupe.dedupe.grouping against the all-pairs loop.

    python bench/bench_grouping.py [--sizes 10000,100000,1000000] [--distances 0,4,8,10] [--quick]

Both run in the same process on the same hashes. Brute force is measured whole where it
takes minutes at most and the results are compared; on larger sizes it is estimated from a
measured sample of rows (marked "est.") and only the index runs whole.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from stash_dedupe.dedupe.cliques import split_into_cliques  # noqa: E402
from stash_dedupe.dedupe.grouping import FLAT_PHASHES  # noqa: E402
from stash_dedupe.dedupe.hash_index import (  # noqa: E402
    close_pairs_brute_force,
    connected_components,
    connected_components_brute_force,
    linked_components,
)

FULL_BRUTE_FORCE_UP_TO = 100_000
SAMPLED_ROW_SHARE = 0.02


def uniform_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
    """Independent random 64-bit hashes: the easy case for any index."""
    return rng.integers(0, 2**64, size=count, dtype=np.uint64)


def realistic_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
    """Hashes shaped like the video phashes Stash computes, as measured on real ones.

    A goimagehash pHash sets bit 63 - i when DCT coefficient i (row-major 8x8, DC first) is
    above the median of the 64, so most hashes have exactly 32 one-bits and the DC bit set.
    Coefficients here come from a few smooth random factors over the 8x8 grid, which gives
    correlated bits (neighbouring frequencies move together, as in video sprites). Items come
    in families: copies drift by small noise (0 to ~16 bits), some are exact; ~1.4 % of the
    hashes are flat (0000000000000000 or 8000000000000000).
    """
    flat = int(round(count * 0.014))
    rest = count - flat
    family_size = np.minimum(rng.geometric(0.55, size=rest), 12)
    family_size = family_size[np.cumsum(family_size) <= rest]
    family_size = np.r_[family_size, np.ones(rest - family_size.sum(), dtype=int)]
    families = len(family_size)

    rows, columns = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    factors = []
    for _ in range(6):
        centre_row, centre_column = rng.uniform(0, 8, size=2)
        bump = np.exp(-((rows - centre_row) ** 2 + (columns - centre_column) ** 2) / 6.0)
        factors.append((bump * rng.choice([-1, 1], size=(8, 8))).reshape(-1))
    loadings = np.array(factors).T  # 64 x 6
    coefficients = rng.normal(size=(families, 6)) @ loadings.T * 1.6 + rng.normal(
        size=(families, 64)
    )
    coefficients[:, 0] = np.where(rng.random(families) < 0.99, 50.0, -50.0)  # DC term

    member_of = np.repeat(np.arange(families), family_size)
    noise = rng.choice([0.0, 0.0, 0.05, 0.1, 0.2, 0.35], size=len(member_of))
    first = np.r_[0, np.cumsum(family_size)[:-1]]
    noise[first] = 0.0
    members = coefficients[member_of] + rng.normal(size=(len(member_of), 64)) * noise[:, None]
    members[:, 0] = coefficients[member_of, 0]
    median = np.median(members, axis=1, keepdims=True)
    bits = members > median
    weights = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)
    hashes = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    flats = np.where(rng.random(flat) < 0.5, np.uint64(0), np.uint64(1) << np.uint64(63))
    everything = np.r_[hashes, flats].astype(np.uint64)
    return everything[rng.permutation(count)]


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds of one run: CPU time is what counts on a shared machine."""

    wall: float
    cpu: float

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)

    def scaled(self, factor: float) -> Timing:
        return Timing(self.wall * factor, self.cpu * factor)


def timed(run: Callable[[], list[np.ndarray]]) -> tuple[Timing, list[np.ndarray]]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def estimate_brute_force(hashes: np.ndarray, max_distance: int, rng: np.random.Generator) -> Timing:
    """Time the all-pairs loop would take, from a measured sample of its rows.

    Row i of the loop compares hash i with the hashes after it, so rows are sampled in short
    runs spread over the whole range and the time is scaled by the pairs they cover.
    """
    count = len(hashes)
    run = 64
    runs = max(1, int(count * SAMPLED_ROW_SHARE) // run)
    starts = np.sort(rng.choice(count // run, size=runs, replace=False)) * run
    total = Timing(0.0, 0.0)
    pairs_done = 0
    for start in starts.tolist():
        elapsed, _ = timed(
            partial(close_pairs_brute_force, hashes, max_distance, start, start + run)
        )
        total += elapsed
        pairs_done += run * (count - 1 - start) - run * (run - 1) // 2
    return total.scaled(count * (count - 1) / 2 / pairs_done)


def canonical(groups: list[np.ndarray]) -> set[frozenset[int]]:
    return {frozenset(group.tolist()) for group in groups}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--distances", default="0,4,8,10")
    parser.add_argument("--quick", action="store_true", help="only 10^4 and 10^5")
    parser.add_argument(
        "--cliques",
        action="store_true",
        help="instead: Stash's transitive components against the app's groups (every two files"
        " within the distance), realistic hashes without flat ones",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.cliques:
        return compare_cliques(sizes, [int(value) for value in args.distances.split(",")])
    if args.quick:
        sizes = [size for size in sizes if size <= FULL_BRUTE_FORCE_UP_TO]
    distances = [int(value) for value in args.distances.split(",")]

    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        "speedup = brute-force CPU time / index CPU time"
    )
    header = (
        f"{'hashes':>9} {'set':<9} {'distinct':>9} {'d':>3} {'groups':>7} "
        f"{'index s':>8} {'cpu':>7} {'brute s':>13} {'cpu':>7} {'speedup':>8}  same"
    )
    print(header)
    print("-" * len(header))
    mismatches = 0
    for size in sizes:
        for name, make in (("uniform", uniform_hashes), ("realistic", realistic_hashes)):
            hashes = make(size, np.random.default_rng(size))
            distinct = len(np.unique(hashes))
            for max_distance in distances:
                index, groups = timed(partial(connected_components, hashes, max_distance))
                if size <= FULL_BRUTE_FORCE_UP_TO:
                    brute, expected = timed(
                        partial(connected_components_brute_force, hashes, max_distance)
                    )
                    same = canonical(groups) == canonical(expected)
                    mismatches += not same
                    marker, same_text = "", "yes" if same else "NO"
                else:
                    brute = estimate_brute_force(
                        hashes, max_distance, np.random.default_rng(max_distance)
                    )
                    marker, same_text = " est.", "-"
                print(
                    f"{size:>9} {name:<9} {distinct:>9} {max_distance:>3} {len(groups):>7} "
                    f"{index.wall:>8.3f} {index.cpu:>7.3f} {f'{brute.wall:.2f}{marker}':>13} "
                    f"{brute.cpu:>7.2f} {brute.cpu / max(index.cpu, 1e-6):>7.0f}x  {same_text}",
                    flush=True,
                )
    if mismatches:
        print(f"{mismatches} result(s) differ from brute force")
    return 1 if mismatches else 0


def compare_cliques(sizes: list[int], distances: list[int]) -> int:
    """How large Stash's chained components grow, the app's groups that replace them, and
    what finding them costs: the index searched again for the large components to split
    (the baseline) against one search whose pairs serve both (`linked_components`)."""
    flat = np.array([int(value, 16) for value in FLAT_PHASHES], dtype=np.uint64)
    print(
        f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; CPU seconds;"
        " speedup = searched-twice total / searched-once total"
    )
    header = (
        f"{'hashes':>9} {'d':>3} {'components':>10} {'largest':>8} {'groups':>8} {'largest':>8}"
        f" | twice: {'index':>6} {'split':>6} {'total':>6} | once: {'index':>6} {'split':>6}"
        f" {'total':>6} {'speedup':>8}  same"
    )
    print(header)
    print("-" * len(header))
    mismatches = 0
    for size in sizes:
        hashes = realistic_hashes(size, np.random.default_rng(size))
        hashes = hashes[~np.isin(hashes, flat)]  # flat hashes are opt-in in the app
        for max_distance in distances:
            index, components = timed(partial(connected_components, hashes, max_distance))
            split, expected = timed(partial(split_into_cliques, hashes, components, max_distance))
            del components
            linked, (components, close) = timed(partial(linked_components, hashes, max_distance))
            split_once, groups = timed(
                partial(split_into_cliques, hashes, components, max_distance, close=close)
            )
            del close
            same = len(groups) == len(expected) and all(
                np.array_equal(a, b) for a, b in zip(groups, expected, strict=True)
            )
            mismatches += not same
            twice, once = index.cpu + split.cpu, linked.cpu + split_once.cpu
            print(
                f"{size:>9} {max_distance:>3} {len(components):>10} "
                f"{max(map(len, components), default=0):>8} {len(groups):>8} "
                f"{max(map(len, groups), default=0):>8} | twice: {index.cpu:>6.1f} "
                f"{split.cpu:>6.1f} {twice:>6.1f} | once: {linked.cpu:>6.1f} "
                f"{split_once.cpu:>6.1f} {once:>6.1f} {twice / max(once, 1e-6):>7.2f}x  "
                f"{'yes' if same else 'NO'}",
                flush=True,
            )
    if mismatches:
        print(f"{mismatches} result(s) differ between the two ways")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())

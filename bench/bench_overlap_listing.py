"""The Overlaps list asks which videos still lack a fingerprint each time it loads: what that
costs against reading every cached fingerprint (the baseline, what finding overlaps reads).

    python bench/bench_overlap_listing.py [--videos N] [--frames N]

N videos' fingerprints (default 10,000 of 1,200 frames: 20 minutes at one frame a second) are
stored in a fresh cache; both ways of asking are timed in the same run and their ratio printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from stash_dedupe.media.fingerprints import (  # noqa: E402
    SAMPLED,
    Fingerprint,
    FingerprintCache,
    FingerprintTask,
)
from stash_dedupe.models import VIDEO, MediaFile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=1_200)
    args = parser.parse_args()
    random = np.random.default_rng(7)
    files = [
        MediaFile(
            file_id=i,
            media=VIDEO,
            path=f"/library/v{i}.mp4",
            stash_path=f"/library/v{i}.mp4",
            size=1000 + i,
            mod_time="2024-01-01T00:00:00Z",
            mod_time_epoch=0.0,
        )
        for i in range(args.videos)
    ]
    with tempfile.TemporaryDirectory() as directory:
        cache = FingerprintCache(Path(directory) / "fingerprints.sqlite")
        times = np.arange(args.frames, dtype=np.float64)
        for file in files:
            hashes = random.integers(0, 2**63, args.frames, dtype=np.int64).astype(np.uint64)
            task = FingerprintTask(file.file_id, file.path, file.size, file.mod_time)
            fingerprint = Fingerprint(file.file_id, float(args.frames), 1.0, times, hashes, SAMPLED)
            cache.store("library", task, fingerprint)
        started = time.perf_counter()
        read = cache.lookup("library", files)
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        current = cache.current_ids("library", files)
        asked = time.perf_counter() - started
        cache.close()
    assert len(read) == len(current) == args.videos
    print(f"{args.videos:,} videos x {args.frames:,} frames cached")
    print(f"  reading every fingerprint (baseline): {baseline * 1000:8.1f} ms")
    print(f"  which are current (the list's check):  {asked * 1000:8.1f} ms")
    print(f"  ratio: {baseline / asked:.1f}x less time")


if __name__ == "__main__":
    main()

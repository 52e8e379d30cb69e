"""The missing-files check on many files: the job's own overhead over bare existence checks.

    python bench/bench_presence.py [--files N]

Makes N empty files in a temporary folder and lists 10 % more that do not exist, then times
`FilePresence.check` (batches, progress reports, the answer) against a bare loop of
`os.path.exists` over the same paths, measured in the same run (the baseline).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from stash_dedupe.dedupe.presence import FilePresence  # noqa: E402
from stash_dedupe.models import VIDEO, MediaFile  # noqa: E402


def make_files(folder: Path, count: int) -> list[MediaFile]:
    files = []
    for index in range(count + count // 10):
        path = folder / f"{index // 1000:04d}" / f"video {index:07d}.mp4"
        if index < count:
            path.parent.mkdir(exist_ok=True)
            path.touch()
        files.append(MediaFile(index + 1, VIDEO, str(path), str(path), 0, None, None))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = make_files(Path(folder), args.files)
        started = time.perf_counter()
        bare_missing = sum(1 for file in files if not os.path.exists(file.path))
        bare = time.perf_counter() - started
        reports = []
        started = time.perf_counter()
        missing = FilePresence().check(files, lambda done, total, _: reports.append(done))
        checked = time.perf_counter() - started
    assert missing == bare_missing
    print(f"{len(files):,} files, {missing:,} missing, {len(reports)} progress reports")
    print(f"baseline: os.path.exists loop   {bare:7.3f} s  {len(files) / bare:12,.0f} files/s")
    print(
        f"FilePresence.check              {checked:7.3f} s  {len(files) / checked:12,.0f} files/s"
    )
    print(f"ratio check / baseline          {checked / bare:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

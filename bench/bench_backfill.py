"""Throughput of the backfill job itself (pool, batches, cache writes) on many small tasks.

    python bench/bench_backfill.py [--files N]

Camera-like 2.8 MP JPEGs with an EXIF thumbnail hash in a couple of milliseconds, so the job's
own overhead shows: the figure to compare is the same files hashed in one loop in this
process, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.exif_thumbnail import camera_thumbnail, save_jpeg  # noqa: E402

from stash_dedupe.jobs import Job  # noqa: E402
from stash_dedupe.media.backfill import HashTask, hash_one, run_backfill  # noqa: E402
from stash_dedupe.models import IMAGE  # noqa: E402


def camera_photos(folder: Path, count: int) -> list[HashTask]:
    rng = np.random.default_rng(1)
    tasks = []
    for index in range(count):
        coarse = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        picture = Image.fromarray(coarse).resize((1920, 1440), Image.BICUBIC)
        path = save_jpeg(picture, folder / f"photo {index:05d}.jpg", camera_thumbnail(picture))
        status = path.stat()
        tasks.append(HashTask(index + 1, IMAGE, str(path), status.st_size, str(status.st_mtime)))
    return tasks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["STASH_DEDUPE_HOME"] = str(Path(folder) / "home")
        tasks = camera_photos(Path(folder), args.files)
        for task in tasks:
            Path(task.path).read_bytes()  # into the page cache
        start = time.perf_counter()
        for task in tasks:
            hash_one(task)
        loop = len(tasks) / (time.perf_counter() - start)
        print(f"{len(tasks)} camera-like 2.8 MP JPEGs with EXIF thumbnails, {os.cpu_count()} CPUs")
        print(f"  one loop in this process: {loop:7.0f} img/s")
        for workers in (1, 2):
            cache = Path(folder) / f"cache-{workers}.sqlite"
            job = Job("hash", lambda job: None, total=len(tasks))
            start = time.perf_counter()
            report = run_backfill(job, tasks, "bench", workers=workers, cache_path=str(cache))
            rate = len(tasks) / (time.perf_counter() - start)
            assert report.hashed == len(tasks), report.failed[:3]
            label = f"{workers} worker{'s' if workers > 1 else ''}"
            print(f"  backfill job, {label:9}: {rate:7.0f} img/s"
                  f" ({rate / loop:.2f}x the loop, pool start-up included)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure phash agreement with Stash and speed, for images (both modes) and videos.

    python bench/bench_phash.py [--quick]

Agreement is counted on shared/phash-vectors (hashes made by Stash's own Go code). Fast mode
is also compared with exact mode on enlarged copies of the photo vectors (2x to 4x, noise
added, re-encoded as JPEG), where libjpeg's reduced-size decoding actually kicks in. Speed is
the best of a few runs on a 12 MP JPEG and a 3 MP PNG made the same way.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from stash_dedupe import phash  # noqa: E402

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "phash-vectors"


def distance(first: str, second: str) -> int:
    return bin(int(first, 16) ^ int(second, 16)).count("1")


def histogram(distances: list[int]) -> str:
    counts = Counter(distances)
    return ", ".join(f"{bits} bits: {counts[bits]}" for bits in sorted(counts))


def best_seconds(function: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def enlarged_photos(folder: Path, count: int) -> list[Path]:
    """Photo vectors blown up 2x-4x with noise: large JPEGs like a camera's, reproducibly."""
    rng = np.random.default_rng(7)
    sources = sorted(p for p in VECTORS.iterdir() if p.name[0] in "pn" and p.suffix != ".mp4")
    paths = []
    for index, source in enumerate(sources[:count]):
        factor, quality, subsampling = 2 + index % 3, (80, 90, 95)[index % 3], index % 3
        with Image.open(source) as picture:
            picture = picture.convert("RGB")
            size = (picture.width * factor, picture.height * factor)
            pixels = np.asarray(picture.resize(size, Image.BICUBIC)).astype(np.int16)
        pixels += rng.integers(-4, 5, size=(*pixels.shape[:2], 1), dtype=np.int16)
        path = folder / f"{source.stem}_x{factor}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            path, quality=quality, subsampling=subsampling
        )
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and runs")
    args = parser.parse_args()
    runs = 2 if args.quick else 5
    expected = json.loads((VECTORS / "expected.json").read_text())
    images = sorted(name for name, entry in expected.items() if entry["kind"] == "image")
    videos = sorted(name for name, entry in expected.items() if entry["kind"] == "video")

    print("Images against Stash (shared/phash-vectors)")
    for exact in (True, False):
        distances = [
            distance(phash.image_phash(VECTORS / name, exact=exact), expected[name]["phash"])
            for name in images
        ]
        by_name = dict(zip(images, distances, strict=True))
        jpegs = [d for name, d in by_name.items() if name.endswith(".jpg")]
        others = [d for name, d in by_name.items() if not name.endswith(".jpg")]
        mode = "exact" if exact else "fast "
        print(
            f"  {mode}: non-JPEG {others.count(0)}/{len(others)} equal,"
            f" JPEG {jpegs.count(0)}/{len(jpegs)} equal; by distance: {histogram(distances)}"
        )

    with tempfile.TemporaryDirectory() as folder:
        photos = enlarged_photos(Path(folder), 8 if args.quick else 40)
        distances = [
            distance(phash.image_phash(path), phash.image_phash(path, exact=True))
            for path in photos
        ]
        print(f"\nFast vs exact on {len(photos)} enlarged photos: {histogram(distances)}")

        with Image.open(VECTORS / "p01_mountain.jpg") as picture:
            large = picture.convert("RGB").resize((4000, 3000), Image.BICUBIC)
        jpeg, png = Path(folder) / "12mp.jpg", Path(folder) / "3mp.png"
        large.save(jpeg, quality=90)
        large.resize((2000, 1500)).save(png)
        print(f"\nSpeed (best of {runs})")
        for path, label in ((jpeg, "12 MP JPEG 4000x3000"), (png, "3 MP PNG 2000x1500")):
            exact = best_seconds(lambda p=path: phash.image_phash(p, exact=True), runs)
            fast = best_seconds(lambda p=path: phash.image_phash(p), runs)
            print(f"  {label}: exact {exact * 1000:.0f} ms, fast {fast * 1000:.0f} ms")

    if None in phash.find_ffmpeg():
        print("\nVideos: ffmpeg/ffprobe not found, skipped")
        return 0
    print("\nVideos against Stash")
    seconds, fallback = [], []
    for name in videos[: 2 if args.quick else None]:
        start = time.perf_counter()
        result = phash.video_phash(VECTORS / name)
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        approximate = phash._video_phash_opencv(str(VECTORS / name), time.monotonic() + 120)
        fallback.append(distance(approximate.phash, expected[name]["phash"]))
        print(f"  {name}: {'equal' if result.phash == expected[name]['phash'] else 'DIFFERENT'}"
              f" in {seconds[-1]:.1f} s; OpenCV fallback {fallback[-1]} bits away"
              f" in {time.perf_counter() - start:.1f} s")  # fmt: skip
    print(f"  median {statistics.median(seconds):.1f} s per video with ffmpeg")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure phash agreement with Stash and speed, for images (both modes) and videos.

    python bench/bench_phash.py [--quick] [--images | --videos]

Agreement is counted on tests/data/phash-vectors (hashes made by Stash's own Go code); fast mode
is compared with exact mode on full-size photos and on enlarged copies of the photo vectors.

Image speed is measured on full-size JPEG photos (Debian's wallpaper packages when installed,
e.g. `apt-get install gnome-backgrounds ukui-wallpapers lomiri-wallpapers`, else the photo
vectors enlarged) and on 12 MP JPEGs made from them, without and with the EXIF thumbnail a
camera writes, with 1 and 2 worker processes, for both modes, `imagehash.phash`, and Pillow
decoding alone at full size and at draft size.

Video speed compares Stash's generator (one video at a time, its 25 ffmpeg screenshots one
after another, one process each) with ours (a few screenshots per ffmpeg process, one process
per CPU, one video per CPU), asserting equal hashes. `--videos` runs only that part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.exif_thumbnail import camera_thumbnail, exif_with_thumbnail  # noqa: E402

from stash_dedupe.media import backfill, ffmpeg_tools, go_image, phash, video_sprite  # noqa: E402

VECTORS = Path(__file__).resolve().parents[1] / "tests" / "data" / "phash-vectors"
WALLPAPER_FOLDERS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
TWELVE_MP = (4000, 3000)


def distance(first: str, second: str) -> int:
    return bin(int(first, 16) ^ int(second, 16)).count("1")


def histogram(distances: list[int]) -> str:
    counts = Counter(distances)
    return ", ".join(f"{bits} bits: {counts[bits]}" for bits in sorted(counts))


def megapixels(path: Path) -> float:
    with Image.open(path) as picture:
        return picture.width * picture.height / 1e6


# Photos ------------------------------------------------------------------------------------------


def wallpaper_photos() -> list[Path]:
    """Full-size JPEG photos from the installed wallpaper packages (2 MP and up)."""
    found = {
        path.resolve()
        for folder in WALLPAPER_FOLDERS
        if folder.is_dir()
        for path in folder.rglob("*")
        if path.suffix.lower() in (".jpg", ".jpeg") and path.is_file()
    }
    return sorted((path for path in found if megapixels(path) >= 2), key=lambda p: p.name)


def vector_photos() -> list[Path]:
    return sorted(p for p in VECTORS.iterdir() if p.name[0] in "pn" and p.suffix == ".jpg")


def enlarged_photos(
    sources: Sequence[Path],
    folder: Path,
    size: tuple[int, int] | None = None,
    count: int | None = None,
    thumbnail: bool = False,
) -> list[Path]:
    """Photos blown up (2x-4x, or cropped to 4:3 and resized to `size`) with sensor-like noise
    and re-encoded as JPEG at camera qualities: large JPEGs like a camera's, reproducibly.
    `thumbnail` adds the 160x120 EXIF thumbnail that cameras and phones write."""
    rng = np.random.default_rng(7)
    paths = []
    for index, source in enumerate(sources[:count]):
        quality, subsampling = (85, 90, 95)[index % 3], (2, 2, 1)[index % 3]
        with Image.open(source) as picture:
            picture = picture.convert("RGB")
            if size is None:
                factor = 2 + index % 3
                target = (picture.width * factor, picture.height * factor)
            else:
                target, picture = size, crop_to_aspect(picture, size[0] / size[1])
            pixels = np.asarray(picture.resize(target, Image.BICUBIC)).astype(np.int16)
        pixels += rng.integers(-4, 5, size=(*pixels.shape[:2], 1), dtype=np.int16)
        suffix = "_camera" if thumbnail else ""
        path = folder / f"{source.stem}_{target[0]}x{target[1]}{suffix}.jpg"
        picture = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        extra = {"exif": exif_with_thumbnail(camera_thumbnail(picture))} if thumbnail else {}
        picture.save(path, quality=quality, subsampling=subsampling, **extra)
        paths.append(path)
    return paths


def crop_to_aspect(picture: Image.Image, aspect: float) -> Image.Image:
    width, height = picture.size
    if width / height > aspect:
        left = (width - round(height * aspect)) // 2
        return picture.crop((left, 0, left + round(height * aspect), height))
    top = (height - round(width / aspect)) // 2
    return picture.crop((0, top, width, top + round(width / aspect)))


# What is timed (module-level, so that worker processes can run them) ------------------------------


def pillow_decode_full(path: Path) -> None:
    with Image.open(path) as picture:
        picture.load()


def pillow_decode_draft(path: Path) -> None:
    """What fast mode asks libjpeg for: Y'CbCr at the smallest scale it allows."""
    with Image.open(path) as picture:
        picture.draft("YCbCr" if picture.mode == "RGB" else picture.mode,
                      (go_image.FAST_JPEG_SIZE, go_image.FAST_JPEG_SIZE))  # fmt: skip
        picture.load()


def imagehash_phash(path: Path) -> str:
    with Image.open(path) as picture:
        return str(imagehash.phash(picture))


def phash_exact(path: Path) -> str:
    return phash.image_phash(path, exact=True)


def phash_fast(path: Path) -> str:
    return phash.image_phash(path)


IMAGE_METHODS: tuple[tuple[str, Callable[[Path], object]], ...] = (
    ("Pillow decode, full size", pillow_decode_full),
    (f"Pillow decode, draft >= {go_image.FAST_JPEG_SIZE} px", pillow_decode_draft),
    ("imagehash.phash", imagehash_phash),
    ("phash exact", phash_exact),
    ("phash fast", phash_fast),
)


def started_pool(workers: int) -> ProcessPoolExecutor:
    """The backfill job's pool, with all its workers started and everything imported, so that
    no start-up lands inside a measurement."""
    pool = backfill.worker_pool(workers)
    while len(set(pool.map(pid_after_a_moment, range(4 * workers)))) < workers:
        pass
    return pool


def pid_after_a_moment(_: object) -> int:
    time.sleep(0.05)
    return os.getpid()


def pool_seconds(
    function: Callable[[Path], object], paths: Sequence[Path], workers: int, runs: int
) -> float:
    """Best wall time over `runs` to map `function` over `paths` on `workers` processes."""
    with started_pool(workers) as pool:
        list(pool.map(function, paths[:workers]))  # first calls: lazy imports, caches
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            list(pool.map(function, paths))
            best = min(best, time.perf_counter() - start)
    return best


def image_speed(title: str, paths: Sequence[Path], runs: int) -> None:
    for path in paths:
        path.read_bytes()  # into the page cache: disk speed is not what is measured
    total_mp = sum(megapixels(path) for path in paths)
    sizes = [megapixels(path) for path in paths]
    print(f"\n{title}: {len(paths)} JPEGs, {min(sizes):.1f}-{max(sizes):.1f} MP,"
          f" {total_mp:.0f} MP in all; best of {runs}")  # fmt: skip
    print(f"  {'':32}{'1 worker':>22}{'2 workers':>24}")
    seconds: dict[tuple[str, int], float] = {}
    for label, function in IMAGE_METHODS:
        cells = []
        for workers in (1, 2):
            elapsed = seconds[label, workers] = pool_seconds(function, paths, workers, runs)
            cells.append(f"{len(paths) / elapsed:7.1f} img/s {total_mp / elapsed:6.0f} MP/s")
        print(f"  {label:32}{cells[0]:>22}{cells[1]:>24}")
    fast, exact, other, draft = "phash fast", "phash exact", "imagehash.phash", IMAGE_METHODS[1][0]
    for workers in (1, 2):
        print(f"  {workers} worker{'s' if workers > 1 else ''}:"
              f" fast is {seconds[exact, workers] / seconds[fast, workers]:.1f}x exact,"
              f" {seconds[other, workers] / seconds[fast, workers]:.1f}x imagehash.phash,"
              f" and takes {seconds[fast, workers] / seconds[draft, workers]:.2f}x"
              f" the time of the draft decode alone")  # fmt: skip


# Videos ------------------------------------------------------------------------------------------


def stash_sequential_video_phash(path: Path) -> str:
    """Stash's generator: ffprobe, then the 25 screenshots one after another, then the hash."""
    ffmpeg, ffprobe = ffmpeg_tools.find_ffmpeg()
    deadline, path = time.monotonic() + 600, os.path.abspath(path)
    duration, _ = video_sprite.probe(path, ffprobe, deadline)
    frames = [video_sprite._screenshot(path, ffmpeg, seconds, deadline)
              for seconds in video_sprite._screenshot_times(duration)]  # fmt: skip
    return phash._perception_hash(video_sprite._sprite(frames))


def our_video_phash(path: Path) -> str:
    return phash.video_phash(path, timeout=600).phash


def library_videos(folder: Path) -> list[Path]:
    """Two library-like videos: H.264 at 720p with 2 s keyframes, and 1080p with x264's
    default keyframe interval (250 frames), which makes every screenshot decode for longer."""
    ffmpeg, _ = ffmpeg_tools.find_ffmpeg()
    made = []
    for name, size, keyframes in (("720p_gop60.mp4", "1280x720", 60),
                                  ("1080p_gop250.mp4", "1920x1080", 250)):  # fmt: skip
        path = folder / name
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc2=s={size}:r=30:d=30", "-c:v", "libx264",
                        "-preset", "veryfast", "-g", str(keyframes), "-pix_fmt", "yuv420p",
                        str(path)], check=True)  # fmt: skip
        made.append(path)
    return made


def video_speed(title: str, paths: Sequence[Path], expected: dict[str, str]) -> None:
    """Per library: Stash's one-at-a-time generator against ours, hashes asserted equal."""
    for path in paths:
        path.read_bytes()
    print(f"\n{title}: {len(paths)} videos")
    sequential, hashes = [], {}
    start = time.perf_counter()
    for path in paths:
        one = time.perf_counter()
        hashes[path] = stash_sequential_video_phash(path)
        sequential.append(time.perf_counter() - one)
    stash_total = time.perf_counter() - start
    ours_one_at_a_time = []
    for path in paths:
        one = time.perf_counter()
        assert our_video_phash(path) == hashes[path], path
        ours_one_at_a_time.append(time.perf_counter() - one)
    workers = os.cpu_count() or 1
    with started_pool(workers) as pool:
        start = time.perf_counter()
        ours = list(pool.map(our_video_phash, paths))
        ours_total = time.perf_counter() - start
    assert ours == [hashes[path] for path in paths], "parallel hashes differ from sequential"
    for path, seconds, parallel in zip(paths, sequential, ours_one_at_a_time, strict=True):
        verdict = ""
        if path.name in expected:
            verdict = "  = Stash" if hashes[path] == expected[path.name] else "  DIFFERS FROM STASH"
        print(f"  {path.name:40} Stash-style {seconds:5.2f} s, ours {parallel:5.2f} s{verdict}")
    if expected:
        sprites = [video_sprite.opencv_sprite(str(path), time.monotonic() + 120) for path in paths]
        fallback = [distance(phash._perception_hash(sprite.image), hashes[path])
                    for sprite, path in zip(sprites, paths, strict=True)]  # fmt: skip
        print(f"  without ffmpeg, OpenCV's frames give hashes at distances {histogram(fallback)}")
    print(f"  Stash-style sequential: {stash_total / len(paths):.2f} s per video"
          f" ({stash_total:.1f} s in all)")  # fmt: skip
    print(f"  ours, the backfill pool: {workers} videos at a time, each with up to"
          f" {video_sprite.SCREENSHOT_WORKERS} ffmpeg processes of several screenshots,"
          f" {workers} in all:"
          f" {ours_total / len(paths):.2f} s per video ({ours_total:.1f} s in all);"
          f" identical hashes; {stash_total / ours_total:.1f}x faster per library")  # fmt: skip


def bench_videos(videos: list[str], expected: dict, folder: Path, quick: bool) -> int:
    if None in ffmpeg_tools.find_ffmpeg():
        print("\nVideos: ffmpeg/ffprobe not found, skipped")
        return 0
    vector_videos = [VECTORS / name for name in videos[: 2 if quick else None]]
    expected_video = {name: expected[name]["phash"] for name in videos}
    video_speed("Video speed, the video vectors (short, up to 640x480)", vector_videos,
                expected_video)  # fmt: skip
    if not quick:
        video_speed("Video speed, library-like videos (30 s, H.264)", library_videos(folder), {})
    return 0


# -------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer files and runs (~1 min)")
    parser.add_argument("--videos", action="store_true", help="only the video figures")
    parser.add_argument("--images", action="store_true", help="only the image figures")
    args = parser.parse_args()
    runs = 1 if args.quick else 2
    expected = json.loads((VECTORS / "expected.json").read_text())
    images = sorted(name for name, entry in expected.items() if entry["kind"] == "image")
    videos = sorted(name for name, entry in expected.items() if entry["kind"] == "video")
    load = os.getloadavg()[0]
    versions = (
        f"Pillow {Image.__version__}, numpy {np.__version__}, imagehash {imagehash.__version__}"
    )
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at the start; {versions}")

    if args.videos:
        with tempfile.TemporaryDirectory() as folder:
            return bench_videos(videos, expected, Path(folder), args.quick)

    print("\nImages against Stash (tests/data/phash-vectors)")
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
        photos = wallpaper_photos()
        source = "wallpaper packages"
        if len(photos) < 4:
            print("\nNo wallpaper packages installed: full-size photos are enlarged vectors")
            photos = enlarged_photos(vector_photos(), Path(folder), count=24)
            source = "enlarged photo vectors"
        photos = photos[: 6 if args.quick else None]
        count = 3 if args.quick else 12
        twelve = enlarged_photos(photos, Path(folder), TWELVE_MP, count=count)
        cameras = enlarged_photos(photos, Path(folder), TWELVE_MP, count=count, thumbnail=True)
        enlarged = enlarged_photos(vector_photos(), Path(folder), count=8 if args.quick else None)

        print("\nFast vs exact, count by distance in bits")
        for label, paths in ((f"full-size photos ({source})", photos),
                             ("12 MP JPEGs made from them", twelve),
                             ("the same with a camera's EXIF thumbnail", cameras),
                             ("photo vectors enlarged 2x-4x", enlarged)):  # fmt: skip
            distances = [distance(phash_fast(path), phash_exact(path)) for path in paths]
            print(f"  {label}, {len(paths)}: {histogram(distances)};"
                  f" mean {statistics.mean(distances):.2f}")  # fmt: skip

        image_speed(f"Image speed, full-size photos ({source})", photos, runs)
        image_speed("Image speed, 12 MP JPEGs (4000x3000) without EXIF thumbnail", twelve, runs)
        image_speed("Image speed, the same 12 MP JPEGs with a camera's EXIF thumbnail",
                    cameras, runs)  # fmt: skip

        if not args.images:
            bench_videos(videos, expected, Path(folder), args.quick)
    print(
        f"\nLoad average {os.getloadavg()[0]:.1f} at the end (other work on the machine"
        " slows every figure above)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

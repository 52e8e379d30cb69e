"""Overlaps: accuracy on the test corpus against Stash's phash, and what each part costs.

    python bench/bench_overlaps.py [--dir DIR] [--sprites N] [--videos N] [--seconds S]

1. Accuracy: the corpus the tests make (tests/overlap_corpus.py: trims, intro/outro, parts,
   a compilation, re-encodes, letterbox, a crop scaled back, look-alikes, a shared studio
   intro) is fingerprinted by sampling and from Stash-style sprites; recall, false pairs and
   boundary errors are printed beside the baseline measured in the same run: how many of the
   true pairs Stash's video phash (media/phash.py) puts within distance 10.
2. Sprites: fingerprints from N synthetic Stash sprites (81 cells of 160x90), time per video.
3. Matching: N videos' synthetic fingerprints (81 frames each, a random walk of 4 bit flips per
   frame, as neighbouring frames of a video are close), plus 1 % trimmed copies; time, and
   whether every copy is found.
4. Sampling: ffmpeg sampling of a 1080p H.264 file (testsrc2, x264's default GOP) against the
   Stash-style phash of the same file, per hour of video, as a ratio; and keyframe-only
   decoding (-skip_frame nokey) for comparison.

Defaults finish in a few minutes on 2 cores; --videos 100000 --sprites 10000 is the full run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.overlap_corpus import CORPUS, MIN_OVERLAP, make_corpus, true_overlaps  # noqa: E402
from tests.test_overlaps import make_stash_sprite  # noqa: E402

from stash_dedupe.dedupe.overlaps import MatchWork, find_overlaps  # noqa: E402
from stash_dedupe.media.fingerprints import (  # noqa: E402
    SPRITE,
    Fingerprint,
    sampled_fingerprint,
    sprite_fingerprint,
)
from stash_dedupe.media.phash import video_phash  # noqa: E402

NAMES = [video.name for video in CORPUS]
PHASH_DISTANCE = 10


def score(found, truth) -> tuple[int, int, float]:
    """(true pairs found, false pairs, largest boundary error in seconds)."""
    got = {}
    for overlap in found:
        first, second = sorted((overlap.a.file_id, overlap.b.file_id))
        got[(NAMES[first], NAMES[second])] = overlap
    worst = 0.0
    for pair, true in truth.items():
        overlap = got.get(pair)
        if overlap is None:
            continue
        segments = {NAMES[overlap.a.file_id]: overlap.a, NAMES[overlap.b.file_id]: overlap.b}
        one, other = segments[true.a], segments[true.b]
        worst = max(worst, abs(one.start - true.a_start), abs(one.end - true.a_end),
                    abs(other.start - true.b_start), abs(other.end - true.b_end))  # fmt: skip
    return len(set(got) & set(truth)), len(set(got) - set(truth)), worst


def accuracy(directory: Path) -> None:
    print("== accuracy on the test corpus ==")
    started = time.perf_counter()
    paths = make_corpus(directory / "corpus")
    print(f"corpus: {len(paths)} videos made in {time.perf_counter() - started:.1f} s")
    truth = true_overlaps(CORPUS, MIN_OVERLAP)
    sampled = [sampled_fingerprint(i, str(paths[name])) for i, name in enumerate(NAMES)]
    sprite_dir = directory / "generated" / "vtt"
    sprite_dir.mkdir(parents=True, exist_ok=True)
    sprites = [
        sprite_fingerprint(i, *make_stash_sprite(paths[name], sprite_dir, f"{i:016x}"))
        for i, name in enumerate(NAMES)
    ]
    for label, fingerprints in (("sampled 1 frame/s", sampled), ("Stash sprites", sprites)):
        found, false, worst = score(find_overlaps(fingerprints, MIN_OVERLAP), truth)
        print(f"overlaps, {label:18}: {found}/{len(truth)} true pairs "
              f"({100 * found / len(truth):.0f} %), {false} false, boundaries within "
              f"{worst:.1f} s")  # fmt: skip
    phashes = {name: int(video_phash(paths[name]).phash, 16) for name in NAMES}
    close = {
        (a, b)
        for a, b in itertools.combinations(NAMES, 2)
        if bin(phashes[a] ^ phashes[b]).count("1") <= PHASH_DISTANCE
    }
    found = len(close & set(truth))
    print(f"baseline, Stash phash at distance {PHASH_DISTANCE}: {found}/{len(truth)} true pairs "
          f"({100 * found / len(truth):.0f} %), {len(close - set(truth))} false")  # fmt: skip


def sprite_cost(directory: Path, count: int) -> None:
    print(f"\n== fingerprints from {count} synthetic Stash sprites ==")
    rng = np.random.default_rng(3)
    import cv2

    distinct = []
    for number in range(min(count, 50)):
        cells = [
            cv2.resize(rng.integers(0, 255, (9, 16), dtype=np.uint8), (160, 90)) for _ in range(81)
        ]
        grid = np.vstack([np.hstack(cells[row * 9 : row * 9 + 9]) for row in range(9)])
        sprite = directory / f"synthetic_{number}_sprite.jpg"
        cv2.imwrite(str(sprite), grid, [cv2.IMWRITE_JPEG_QUALITY, 80])
        vtt = directory / f"synthetic_{number}_thumbs.vtt"
        lines = ["WEBVTT", ""]
        for index in range(81):
            start, end = index * 20, (index + 1) * 20
            x, y = 160 * (index % 9), 90 * (index // 9)
            lines += [f"00:{start // 60:02d}:{start % 60:02d}.000 --> "
                      f"00:{end // 60:02d}:{end % 60:02d}.000",
                      f"{sprite.name}#xywh={x},{y},160,90", ""]  # fmt: skip
        vtt.write_text("\n".join(lines))
        distinct.append((sprite, vtt))
    started = time.perf_counter()
    cpu = time.process_time()
    for number in range(count):
        sprite_fingerprint(number, *distinct[number % len(distinct)])
    elapsed = time.perf_counter() - started
    print(f"{count} sprites in {elapsed:.2f} s: {1000 * elapsed / count:.2f} ms per video "
          f"(CPU {1000 * (time.process_time() - cpu) / count:.2f} ms), one thread; "
          f"10^4 videos ~ {elapsed / count * 1e4:.0f} s")  # fmt: skip


def synthetic_fingerprints(count: int, frames: int = 81) -> list[Fingerprint]:
    rng = np.random.default_rng(5)
    bits = np.uint64(1) << np.arange(64, dtype=np.uint64)
    fingerprints = []
    step = 600 / frames
    for first in range(0, count, 10_000):
        size = min(10_000, count - first)
        start = rng.integers(0, 2**64, size, dtype=np.uint64)
        masks = np.bitwise_or.reduce(bits[rng.integers(0, 64, (size, frames, 4))], axis=2)
        masks[:, 0] = 0
        walks = np.bitwise_xor.accumulate(masks, axis=1) ^ start[:, None]
        times = np.arange(frames) * step
        fingerprints += [
            Fingerprint(first + i, 600.0, step, times, walks[i], SPRITE) for i in range(size)
        ]
    return fingerprints


def matching_cost(count: int) -> None:
    print(f"\n== matching {count} videos' fingerprints (81 frames each) ==")
    fingerprints = synthetic_fingerprints(count)
    copies = max(1, count // 100)
    for number in range(copies):  # the last 480 s of a 600 s video
        original = fingerprints[number]
        fingerprints.append(
            Fingerprint(
                count + number,
                600.0 - 16 * original.step,
                original.step,
                original.times[: 81 - 16],
                original.hashes[16:],
                SPRITE,
            )  # fmt: skip
        )
    work = MatchWork()
    started = time.perf_counter()
    found = find_overlaps(fingerprints, 30.0, work=work)
    elapsed = time.perf_counter() - started
    copies_found = sum(1 for o in found if o.a.file_id - count == o.b.file_id)
    print(
        f"{len(fingerprints)} videos, {work.frames} frames: {elapsed:.1f} s; "
        f"{copies_found}/{copies} copies found, {len(found) - copies_found} other pairs; "
        f"{work.close_hash_pairs} close hash pairs, {work.video_pairs} pairs aligned"
    )


def sampling_cost(directory: Path, seconds: int) -> None:
    print(f"\n== sampling a {seconds} s 1080p H.264 file ==")
    video = directory / f"testsrc2_1080p_{seconds}s.mp4"
    if not video.exists():
        temporary = video.with_suffix(".partial.mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=1920x1080:rate=25:duration={seconds}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(temporary)],
                       check=True)  # fmt: skip
        os.replace(temporary, video)
    timings = {}
    for label, work in (
        ("Stash-style phash (25 seeks)", lambda: video_phash(video)),
        ("fingerprint, 1 frame/s", lambda: sampled_fingerprint(0, str(video))),
        ("keyframes only, ffmpeg", lambda: subprocess.run(
            ["ffmpeg", "-v", "error", "-skip_frame", "nokey", "-i", str(video), "-vf",
             "scale=128:72,format=gray", "-f", "rawvideo", "-"], capture_output=True,
            check=True)),
    ):  # fmt: skip
        started = time.perf_counter()
        work()
        timings[label] = time.perf_counter() - started
    phash = timings.pop("Stash-style phash (25 seeks)")
    print(f"Stash-style phash (25 seeks)   {phash:6.2f} s per file (25 seeks whatever the "
          "length; not measured on a longer file here)")  # fmt: skip
    for label, elapsed in timings.items():
        per_hour = elapsed * 3600 / seconds
        print(f"{label:30} {elapsed:6.2f} s for this file, {per_hour:5.0f} s per hour of video: "
              f"{per_hour / phash:5.1f}x the phash of a one-hour file")  # fmt: skip
    print("keyframes only gives one frame per GOP (10 s here): too sparse for 2 s boundaries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "bench-overlaps")
    parser.add_argument("--sprites", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if not args.skip_accuracy:
        accuracy(args.dir)
    sprite_cost(args.dir, args.sprites)
    matching_cost(args.videos)
    sampling_cost(args.dir, args.seconds)


if __name__ == "__main__":
    main()

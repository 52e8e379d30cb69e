"""Time comparing two 10-minute 1080p H.264 videos at K=9, cold, sequential vs parallel.

    python bench/bench_frames.py [--runs 3] [--keyint N] [--dir DIR]

The two files (testsrc2, libx264 -preset ultrafast; the keeper at crf 23, the copy at crf 32)
are made once with ffmpeg and kept in DIR (default: the temp dir's stash-dedupe-bench), so
reruns are cheap. "Cold" means no frame cache: every frame is decoded. Sequential is one
decode job at a time; parallel splits the files' positions over one worker per core.

Decoding dominates: every sample decodes forward from the keyframe before it, so the cost
follows the GOP length. x264's default GOP is 250 frames (10 s here), so 10%, 20%, ... of a
600 s file fall exactly on keyframes, and the 1 s nudge in `decoding.sample_time` makes every
sample decode only ~25 frames: the cheap case. `--keyint 237` spreads the targets over the GOP
(about half a GOP per sample), the typical cost for files whose length is not a round number
of GOPs. Other processes on the machine stretch wall time; CPU time shows the work itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from stash_dedupe.media.frame_cache import FrameCache  # noqa: E402
from stash_dedupe.media.sampling import compare_videos  # noqa: E402

SECONDS = 600
SIZE = "1920x1080"
FPS = 25


def make_video(path: Path, crf: int, keyint: int | None) -> Path:
    """A 10-minute 1080p testsrc2 clip; written under a temporary name so a killed run leaves
    no half file that a rerun would trust."""
    if path.exists():
        return path
    partial = path.with_name(f".{path.name}.part.mp4")
    gop = ["-g", str(keyint)] if keyint else []
    print(f"making {path.name} (once; about a minute per file on 2 cores) ...", flush=True)
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={SIZE}:rate={FPS}:duration={SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf), *gop,
            "-pix_fmt", "yuv420p", str(partial),
        ],
        check=True,
    )  # fmt: skip
    partial.rename(path)
    return path


def timed_runs(function: Callable[[], object], runs: int) -> list[tuple[float, float]]:
    """(wall seconds, CPU seconds of all threads) per run: CPU time shows the decoding work
    even when other processes share the cores and stretch the wall time."""
    times = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    return times


def describe(times: list[tuple[float, float]]) -> str:
    walls = [wall for wall, _ in times]
    cpu = min(cpu for _, cpu in times)
    return f"best {min(walls):.2f} s, median {statistics.median(walls):.2f} s (CPU {cpu:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per mode (best is kept)")
    parser.add_argument("--keyint", type=int, default=None, help="GOP length in frames")
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "stash-dedupe-bench"
    )
    arguments = parser.parse_args()
    arguments.dir.mkdir(parents=True, exist_ok=True)
    suffix = f"_g{arguments.keyint}" if arguments.keyint else ""
    keeper = make_video(arguments.dir / f"keeper_1080p_600s{suffix}.mp4", 23, arguments.keyint)
    other = make_video(arguments.dir / f"copy_1080p_600s_crf32{suffix}.mp4", 32, arguments.keyint)
    cores = os.cpu_count() or 2
    no_cache = FrameCache(None)

    def compare(workers: int) -> Callable[[], object]:
        return lambda: compare_videos(str(keeper), str(other), 9, cache=no_cache, workers=workers)

    pair = compare(cores)()  # also warms the OS file cache, so runs time decoding, not the disk
    print(f"files: {keeper.name}, {other.name} (GOP {arguments.keyint or 'x264 default, 250'})")
    print(f"score {pair.score:.3f}, columns {[round(s, 2) for s in pair.column_scores]}")
    sequential = timed_runs(compare(1), arguments.runs)
    parallel = timed_runs(compare(cores), arguments.runs)
    print(f"cold, sequential (1 worker):  {describe(sequential)}")
    print(f"cold, parallel ({cores} workers):  {describe(parallel)}")
    speed_up = min(wall for wall, _ in sequential) / min(wall for wall, _ in parallel)
    print(f"speed-up: {speed_up:.2f}x (best vs best)")

    with tempfile.TemporaryDirectory() as folder:
        cache = FrameCache(folder)
        compare_videos(str(keeper), str(other), 9, cache=cache, workers=cores)
        warm = timed_runs(
            lambda: compare_videos(str(keeper), str(other), 9, cache=cache), arguments.runs
        )
    print(f"warm (frame and score cache):  {describe(warm)}")


if __name__ == "__main__":
    main()

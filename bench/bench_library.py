"""End to end on a large library: `groups --json`, and the server's first page of groups.

    python bench/bench_library.py [--sizes 100000,1000000] [--distances 0,4,8,10]
                                  [--duration-diff 1] [--keep DIR] [--missing-files]

Builds a real-schema Stash database (schema 75, from tests/data) of N video files: phashes
shaped like Stash's (`bench_grouping.realistic_hashes`: families of copies, ~1.4 % flat),
durations shared within a family, scenes with tags and performers; and an empty file on disk
for each (mapped from Stash's /media with a path mapping), so that, as in a user's library,
the files are there and every group has space to reclaim (`--missing-files`: none on disk,
every file reported missing). Then, for each distance (and with the duration tolerance),
it times the CLI's `groups --json` as a whole process (wall, CPU, peak RSS of the process),
the phases of the same work in this process (reading the arrays, looking for the files,
grouping, the suggestion, listing and JSON), and the server from launch to its first page
of groups and a switch of distance. The baseline in the same run is Stash's own kind of query
for exact duplicates (one SQL GROUP BY over the phash fingerprints), at d=0.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_grouping import realistic_hashes  # noqa: E402
from stash_dedupe.models import phash_to_int64  # noqa: E402

SCHEMA = ROOT / "tests" / "data" / "stash-schemas" / "stash-go-schema-75.sqlite"
NOW = "2026-01-01T00:00:00Z"


def build_database(path: Path, count: int, seed: int = 7) -> None:
    """Insert `count` video files with scenes the way Stash lays them out, in bulk."""
    shutil.copyfile(SCHEMA, path)
    rng = np.random.default_rng(seed)
    hashes = realistic_hashes(count, rng)
    # Copies share a duration (within a second); unrelated files get their own.
    _, family = np.unique(hashes >> np.uint64(40), return_inverse=True)
    durations = rng.uniform(60, 3600, size=family.max() + 1)[family] + rng.uniform(0, 0.8, count)
    sizes = rng.integers(50_000_000, 4_000_000_000, size=count)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = OFF")
    connection.execute("PRAGMA synchronous = OFF")
    with connection:
        connection.execute(
            "INSERT INTO folders (id, path, parent_folder_id, mod_time, created_at, updated_at)"
            " VALUES (1, '/media', NULL, ?, ?, ?)",
            (NOW, NOW, NOW),
        )
        folders = [(2 + index, f"/media/f{index:04d}", 1, NOW, NOW, NOW) for index in range(1000)]
        connection.executemany(
            "INSERT INTO folders (id, path, parent_folder_id, mod_time, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            folders,
        )
        ids = range(1, count + 1)
        connection.executemany(
            "INSERT INTO files (id, basename, parent_folder_id, size, mod_time, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((i, f"video {i}.mp4", 2 + i % 1000, int(sizes[i - 1]), NOW, NOW, NOW) for i in ids),
        )
        connection.executemany(
            "INSERT INTO video_files (file_id, duration, video_codec, format, audio_codec, width,"
            " height, frame_rate, bit_rate) VALUES (?, ?, 'h264', 'mp4', 'aac', 1920, 1080,"
            " 29.97, ?)",
            ((i, float(durations[i - 1]), int(sizes[i - 1] // 600)) for i in ids),
        )
        connection.executemany(
            "INSERT INTO files_fingerprints (file_id, type, fingerprint) VALUES (?, ?, ?)",
            ((i, "phash", phash_to_int64(f"{int(hashes[i - 1]):016x}")) for i in ids),
        )
        connection.executemany(
            "INSERT INTO files_fingerprints (file_id, type, fingerprint) VALUES (?, 'oshash', ?)",
            ((i, f"{i:016x}") for i in ids),
        )
        connection.executemany(
            "INSERT INTO scenes (id, title, organized, created_at, updated_at)"
            " VALUES (?, ?, 0, ?, ?)",
            ((i, f"Scene {i}", NOW, NOW) for i in ids),
        )
        connection.executemany(
            "INSERT INTO scenes_files (scene_id, file_id, `primary`) VALUES (?, ?, 1)",
            ((i, i) for i in ids),
        )
        connection.executemany(
            "INSERT INTO tags (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            ((t, f"tag {t}", NOW, NOW) for t in range(1, 501)),
        )
        connection.executemany(
            "INSERT INTO scenes_tags (scene_id, tag_id) VALUES (?, ?)",
            ((i, 1 + (i * 7 + k) % 500) for i in ids for k in range(3)),
        )
        connection.executemany(
            "INSERT INTO performers (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            ((p, f"performer {p}", NOW, NOW) for p in range(1, 2001)),
        )
        connection.executemany(
            "INSERT INTO performers_scenes (performer_id, scene_id) VALUES (?, ?)",
            ((1 + (i * 13) % 2000, i) for i in ids),
        )
    connection.close()


def create_files(folder: Path, count: int) -> None:
    """An empty file at each path `build_database` lists, under `folder` instead of /media."""
    for index in range(1000):
        (folder / f"f{index:04d}").mkdir(parents=True, exist_ok=True)
    for file_id in range(1, count + 1):
        (folder / f"f{file_id % 1000:04d}" / f"video {file_id}.mp4").touch()
    (folder / "complete").touch()


def write_settings(home: Path, database: Path, files: Path | None) -> None:
    """The app's settings in `home`: this database, its files mapped from /media."""
    os.environ["STASH_DEDUPE_HOME"] = str(home)
    from stash_dedupe.settings import Settings, save_settings
    from stash_dedupe.stash.pathmap import PathMapping

    mappings = [PathMapping("/media", str(files))] if files is not None else []
    save_settings(Settings(database=os.path.abspath(database), path_mappings=mappings))


def stash_exact_query(database: Path) -> float:
    """Stash's own kind of exact-duplicate search: one GROUP BY over phash fingerprints."""
    started = time.perf_counter()
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    connection.execute(
        "SELECT fingerprint, group_concat(file_id) FROM files_fingerprints WHERE type='phash'"
        " GROUP BY fingerprint HAVING count(*) > 1"
    ).fetchall()
    connection.close()
    return time.perf_counter() - started


def run_process(command: list[str], home: Path) -> tuple[float, float, float, int]:
    """Wall s, CPU s and peak RSS (MB) of one child process; its output's size in bytes.

    The child's own resource use, from wait4: RUSAGE_CHILDREN's peak would be the largest
    of every child waited for so far, hiding a later, smaller run.
    """
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=errors,
            env={**os.environ, "STASH_DEDUPE_HOME": str(home)},
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(errors.read().decode(errors="replace"))
        size = output.seek(0, os.SEEK_END)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, size


def server_first_page(
    database: Path, home: Path, distances: list[int], tolerance: float | None
) -> tuple[list[float], float]:
    """Seconds from launch to the URL, to the first page of groups, and for each switch of
    distance (with the duration tolerance, as the page asks); the server's peak RSS (MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "stash_dedupe", "--serve", "--db", str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STASH_DEDUPE_HOME": str(home)},
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
            if found:
                break
        else:
            raise SystemExit("the server printed no URL")
        times = [time.perf_counter() - started]
        port, token = int(found.group(1)), found.group(2)
        duration = "&duration=any" if tolerance is None else f"&duration={tolerance:g}"
        for distance in distances:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
            connection.request(
                "GET",
                f"/api/groups?media=video&distance={distance}&limit=200{duration}",
                headers={"X-Token": token, "Host": f"127.0.0.1:{port}"},
            )
            response = connection.getresponse()
            body = json.loads(response.read())
            if response.status != 200:
                raise SystemExit(f"the server answered {response.status}: {body}")
            times.append(time.perf_counter() - started)
        return times, _peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def phases(database: Path, distance: int) -> list[tuple[str, float]]:
    """Seconds of each phase of `groups --json` at `distance`, in this process, through the
    same session the CLI uses (the settings written by `write_settings`)."""
    import argparse as arguments

    from stash_dedupe import cli
    from stash_dedupe.dedupe import session as session_module

    grouping = [0.0]
    find_column_groups = session_module.find_column_groups

    def timed_grouping(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        try:
            return find_column_groups(*args, **kwargs)
        finally:
            grouping[0] += time.perf_counter() - started

    session_module.find_column_groups = timed_grouping
    found = []
    try:
        with cli._library_session(arguments.Namespace(db=str(database), map=[])) as session:
            for label, work in (
                ("read columns", lambda: session.file_columns("video")),
                ("look for the files", session.check_presence),
                ("read keeper columns", lambda: session.keeper_columns("video")),
                (
                    "group + suggest",
                    lambda: session.groups(
                        session_module.GroupFilter(media="video", distance=distance)
                    ),
                ),
            ):
                started = time.perf_counter()
                result = work()
                found.append((label, time.perf_counter() - started))
            found[-1:] = [("grouping", grouping[0]), ("suggestion", found[-1][1] - grouping[0])]
            started = time.perf_counter()
            with open(os.devnull, "w") as output:
                for group, files in session.listed_files(result):  # type: ignore[arg-type]
                    output.write(cli.group_json_text(group, "video", files))
            found.append(("list files + JSON", time.perf_counter() - started))
    finally:
        session_module.find_column_groups = find_column_groups
    return found


def _peak_rss_mb(pid: int) -> float:
    """A running process's peak resident memory so far (Linux), in MB; NaN elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--distances", default="0,8")
    parser.add_argument("--duration-diff", type=float, default=1.0)
    parser.add_argument("--keep", help="folder to keep the built databases in (reused)")
    parser.add_argument(
        "--missing-files", action="store_true", help="no files on disk (all reported missing)"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    distances = [int(value) for value in args.distances.split(",")]
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-library-"))
    folder.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for size in sizes:
        database = folder / f"stash-{size}.sqlite"
        if not database.exists():
            started = time.perf_counter()
            build_database(database, size)
            print(f"built {database} ({size} files) in {time.perf_counter() - started:.0f} s")
        files = None if args.missing_files else folder / f"files-{size}"
        if files is not None and not (files / "complete").exists():
            started = time.perf_counter()
            create_files(files, size)
            print(f"created {size} empty files in {files} in {time.perf_counter() - started:.0f} s")
        write_settings(home, database, files)
        baseline = stash_exact_query(database)
        print(f"\n{size} files: Stash-style exact GROUP BY query {baseline:.2f} s (baseline)")
        print(f"{'groups --json':<28} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'out MB':>7}")
        for distance in distances:
            for tolerance in (None, args.duration_diff):
                command = [sys.executable, "-m", "stash_dedupe", "groups", "--db", str(database)]
                command += ["--distance", str(distance), "--json"]
                label = f"d={distance}"
                if tolerance is not None:
                    command += ["--duration-diff", str(tolerance)]
                    label += f" ±{tolerance:g}s"
                wall, cpu, peak, out = run_process(command, home)
                ratio = f"  ({wall / baseline:.1f}x the baseline)" if distance == 0 else ""
                print(
                    f"{label:<28} {wall:>8.1f} {cpu:>8.1f} {peak:>8.0f} {out / 1e6:>7.1f}{ratio}",
                    flush=True,
                )
        for distance in distances:
            shares = phases(database, distance)
            total = sum(seconds for _, seconds in shares)
            print(
                f"phases at d={distance} (in this process, {total:.1f} s): "
                + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in shares),
                flush=True,
            )
        for tolerance in (None, args.duration_diff):
            times, peak = server_first_page(database, home, distances, tolerance)
            steps = ", ".join(
                f"d={distance} page at {moment:.1f} s"
                for distance, moment in zip(distances, times[1:], strict=True)
            )
            label = "any duration" if tolerance is None else f"±{tolerance:g}s"
            print(
                f"server ({label}): URL at {times[0]:.1f} s, {steps}; peak {peak:.0f} MB",
                flush=True,
            )
    shutil.rmtree(home, ignore_errors=True)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

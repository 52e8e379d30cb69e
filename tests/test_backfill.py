"""Phash backfill: missing phashes are computed once, cached, and used by grouping."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image

from stash_dedupe.jobs import CANCELLED, DONE, Job
from stash_dedupe.media.backfill import (
    BATCH_BYTES,
    BATCH_EXACT_IMAGES,
    BATCH_IMAGES,
    HashTask,
    PhashCache,
    _next_batch,
    files_to_hash,
    library_key,
    run_backfill,
    with_cached_phash_columns,
    with_cached_phashes,
)
from stash_dedupe.models import IMAGE, VIDEO
from stash_dedupe.stash.reader import open_stash_database

from .conftest import PHASH_VECTORS as VECTORS
from .test_demo_and_cli import groups_json, run_cli


def make_library(stash_database, tmp_path: Path, count: int = 4) -> Path:
    path, writer = stash_database(75)
    media = tmp_path / "my pictures ✓"
    media.mkdir()
    writer.library_root(str(media))
    rng = np.random.default_rng(5)
    for index in range(count):
        pixels = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        picture = Image.fromarray(pixels).resize((640, 480), Image.BICUBIC)
        original = media / f"photo {index}.jpg"
        picture.save(original, quality=90)
        picture.resize((320, 240)).save(media / f"photo {index} small.jpg", quality=80)
        for file in (original, media / f"photo {index} small.jpg"):
            writer.add_image_file(
                str(file), image_id=writer.add_image(file.stem), width=640, height=480
            )
    (media / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    writer.add_image_file(str(media / "broken.jpg"), image_id=writer.add_image("broken"))
    writer.close()
    return path


def test_hash_command_fills_the_cache_and_grouping_uses_it(stash_database, tmp_path) -> None:
    database = make_library(stash_database, tmp_path)
    before = groups_json(database, "--media", "images", "--distance", "4")
    assert before["groups"] == []

    first = run_cli("hash", "--db", str(database), "--media", "images", "--workers", "2")
    assert first.returncode == 1, first.stderr  # the broken file is reported
    assert "hashed 8, failed 1" in first.stderr
    assert "broken.jpg" in first.stderr and "Traceback" not in first.stderr

    after = groups_json(database, "--media", "images", "--distance", "4")
    assert len(after["groups"]) == 4
    assert all(len(group["files"]) == 2 for group in after["groups"])

    again = run_cli("hash", "--db", str(database), "--media", "images")
    assert "1 without a phash to compute" in again.stderr  # only the broken one is retried


def test_videos_are_hashed_as_stash_does_by_the_worker_pool(stash_database, tmp_path) -> None:
    # Two workers, each of whose videos may start several ffmpeg processes, share two slots.
    expected = json.loads((VECTORS / "expected.json").read_text())
    names = [
        "v01_slideshow_640x360.mp4",
        "v03_slideshow_480x270_vp9.webm",
        "v06_portrait_audio_longer.mp4",
    ]
    database, writer = stash_database(75)
    media = tmp_path / "my videos"
    media.mkdir()
    writer.library_root(str(media))
    for name in [*names, "copy of v01.mp4"]:
        source = VECTORS / (names[0] if name.startswith("copy") else name)
        shutil.copy(source, media / name)
        writer.add_video_file(str(media / name), scene_id=writer.add_scene(name))
    writer.close()

    result = run_cli("hash", "--db", str(database), "--media", "videos", "--workers", "2",
                     timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hashed 4, failed 0" in result.stderr

    document = groups_json(database, "--media", "videos", "--distance", "0")
    grouped = [{Path(file["path"]).name for file in group["files"]} for group in document["groups"]]
    assert any({names[0], "copy of v01.mp4"} <= names_in_group for names_in_group in grouped)
    with open_stash_database(database) as stash:
        library = library_key(database)
        cached = with_cached_phashes(stash.load_files("video"), library)
    assert {Path(f.path).name: f.phash for f in cached if f.path.endswith(tuple(names))} == {
        name: expected[name]["phash"] for name in names
    }


def test_tasks_go_to_workers_in_small_batches() -> None:
    def task(file_id: int, media: str = IMAGE, size: int = 1000, exact: bool = False) -> HashTask:
        return HashTask(file_id, media, f"/m/{file_id}", size, None, exact)

    queue = list(reversed(
        [task(i) for i in range(40)]
        + [task(100, VIDEO), task(101, VIDEO)]
        + [task(200 + i, exact=True) for i in range(6)]
        + [task(300, size=BATCH_BYTES - 10), task(301, size=20)]
    ))  # fmt: skip
    sizes = []
    while queue:
        batch = _next_batch(queue)
        assert len({(t.media, t.exact) for t in batch}) == 1
        assert batch[0].media == IMAGE or len(batch) == 1  # a video goes alone
        sizes.append(len(batch))
    assert sizes == [BATCH_IMAGES, 8, 1, 1, BATCH_EXACT_IMAGES, 2, 1, 1]


def test_changed_file_is_hashed_again(stash_database, tmp_path) -> None:
    database = make_library(stash_database, tmp_path, count=1)
    with open_stash_database(database) as stash:
        files = stash.load_files(IMAGE)
        library = library_key(stash.path)
    cache = PhashCache()
    job = Job(
        "hash",
        lambda job: run_backfill(job, files_to_hash(files, library, cache), library, workers=1),
    )
    job.start().wait(120)
    assert job.state == DONE and job.result.hashed == 2
    assert files_to_hash(files, library, cache)[0].path.endswith("broken.jpg")
    changed = [file.__class__(**{**file.__dict__, "size": file.size + 1}) for file in files]
    assert len(files_to_hash(changed, library, cache)) == 3
    hashed = with_cached_phashes(files, library, cache)
    assert sum(1 for file in hashed if file.phash) == 2
    cache.close()


def test_columns_take_the_same_cached_phashes_as_the_files(stash_database, tmp_path) -> None:
    database = make_library(stash_database, tmp_path, count=2)
    with open_stash_database(database) as stash:
        files = stash.load_files(IMAGE)
        library = library_key(stash.path)
        cache = PhashCache()
        job = Job(
            "hash",
            lambda job: run_backfill(job, files_to_hash(files, library, cache), library, workers=1),
        )
        job.start().wait(120)
        assert job.state == DONE
        columns = with_cached_phash_columns(
            stash.file_columns(IMAGE), library, cache, stash.file_stamps
        )
        hashed = with_cached_phashes(files, library, cache)
        assert columns.has_phash.tolist() == [bool(file.phash) for file in hashed]
        assert [f"{value:016x}" for value in columns.phashes[columns.has_phash].tolist()] == [
            file.phash for file in hashed if file.phash
        ]

        # A file changed since it was hashed (another size in Stash) takes no cached phash.
        def grown(file_ids):
            return {
                file_id: (path, size + 1, mod_time)
                for file_id, (path, size, mod_time) in stash.file_stamps(file_ids).items()
            }

        stale = with_cached_phash_columns(stash.file_columns(IMAGE), library, cache, grown)
        assert not stale.has_phash.any()
        cache.close()


def test_cancelled_backfill_keeps_what_was_done(stash_database, tmp_path) -> None:
    database = make_library(stash_database, tmp_path, count=100)  # 201 files: 7 batches
    with open_stash_database(database) as stash:
        files = stash.load_files(IMAGE)
        library = library_key(stash.path)
    cache = PhashCache()
    tasks = files_to_hash(files, library, cache)

    def work(job: Job):
        job.advance(0)
        return run_backfill(job, tasks, library, workers=1)

    job = Job("hash", work).start()
    while job.done == 0 and not job.finished:
        job.wait(0.05)
    job.cancel()
    job.wait(60)
    assert job.state == CANCELLED
    cached = sum(1 for _ in cache.query("SELECT 1 FROM phashes"))
    assert 0 < cached < len(tasks)  # the batches in flight finish; no new one starts
    assert len(files_to_hash(files, library, cache)) == len(tasks) - cached
    cache.close()


def test_the_stash_database_is_not_touched(stash_database, tmp_path) -> None:
    database = make_library(stash_database, tmp_path, count=1)
    before = shutil.copyfile(database, tmp_path / "before.sqlite")
    run_cli("hash", "--db", str(database))
    rows = "SELECT * FROM files_fingerprints ORDER BY file_id, type"
    assert (
        sqlite3.connect(database).execute(rows).fetchall()
        == sqlite3.connect(before).execute(rows).fetchall()
    )


def test_exact_images_rehashes_fast_ones_and_marks_them_exact(stash_database, tmp_path) -> None:
    database = make_library(stash_database, tmp_path, count=1)
    run_cli("hash", "--db", str(database), "--media", "images")
    again = run_cli("hash", "--db", str(database), "--media", "images", "--exact-images")
    assert "3 without a phash to compute" in again.stderr  # two fast ones + the broken one
    cache = PhashCache()
    exact = [row[0] for row in cache.query("SELECT exact FROM phashes")]
    cache.close()
    assert exact == [1, 1]

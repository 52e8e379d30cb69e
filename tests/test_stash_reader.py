"""The Stash reader against databases built from Stash's real schemas (36 and 75)."""

from __future__ import annotations

import random
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stash_dedupe.errors import DatabaseError, DatabaseLockedError
from stash_dedupe.models import IMAGE, VIDEO, FileColumns, phash_from_int64, phash_to_int64
from stash_dedupe.stash.library_writer import DEMO_SCHEMA, LibraryWriter
from stash_dedupe.stash.pathmap import FolderMapper, PathMapping, to_local
from stash_dedupe.stash.reader import open_stash_database, parse_stash_time

from .conftest import fixture_database
from .removal_helpers import unwritable

SUPPORTED_VERSIONS = [36, 75]


def _small_library(writer: LibraryWriter) -> dict[str, int]:
    writer.library_root("/media")
    scene = writer.add_scene(
        "Holiday",
        studio="Studio X",
        rating=80,
        date="2020-01-02",
        tags=3,
        performers=2,
        markers=1,
        stash_ids=1,
        plays=2,
        o_count=1,
    )
    first = writer.add_video_file(
        "/media/videos/holiday.mp4",
        scene_id=scene,
        phash="c3a1f0e0d0c0b0a0",
        duration=60.5,
        width=1920,
        height=1080,
        bit_rate=8_000_000,
        frame_rate=29.97,
        size=1000,
        mod_time="2021-03-04T05:06:07Z",
        md5="0" * 32,
    )
    second = writer.add_video_file(
        "/media/backup/holiday.mp4",
        scene_id=scene,
        primary=False,
        phash="c3a1f0e0d0c0b0a0",
        duration=60.5,
        width=1920,
        height=1080,
        size=1000,
        mod_time="2021-03-04T05:06:07Z",
    )
    image = writer.add_image("Photo", o_count=4, gallery="Trip")
    picture = writer.add_image_file(
        "/media/pics/photo.jpg",
        image_id=image,
        width=4000,
        height=3000,
        phash="8000000000000001",
        size=500,
        mod_time="2022-01-01T00:00:00+01:00",
    )
    writer.close()
    return {"scene": scene, "first": first, "second": second, "image": image, "picture": picture}


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_reads_videos_with_scene_metadata(stash_database, version: int) -> None:
    path, writer = stash_database(version)
    ids = _small_library(writer)
    with open_stash_database(path) as database:
        assert database.schema_version == version
        videos = {file.file_id: file for file in database.load_files(VIDEO)}
    first = videos[ids["first"]]
    assert first.path == "/media/videos/holiday.mp4"
    assert first.phash == "c3a1f0e0d0c0b0a0"
    assert (first.size, first.duration, first.width, first.height) == (1000, 60.5, 1920, 1080)
    assert first.bit_rate == 8_000_000 and first.frame_rate == pytest.approx(29.97)
    assert first.md5 == "0" * 32 and first.oshash
    assert first.mod_time_epoch == parse_stash_time("2021-03-04T05:06:07+00:00")
    (scene,) = first.items
    assert scene.item_id == ids["scene"]
    assert (scene.title, scene.studio, scene.rating, scene.date) == (
        "Holiday",
        "Studio X",
        80,
        "2020-01-02",
    )
    assert (
        scene.tag_count,
        scene.performer_count,
        scene.marker_count,
        scene.stash_id_count,
        scene.file_count,
    ) == (3, 2, 1, 1, 2)
    assert scene.o_count == 1
    if version >= 55:
        assert scene.play_count == 2
    assert videos[ids["second"]].item_ids == [ids["scene"]]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_reads_images_with_galleries(stash_database, version: int) -> None:
    path, writer = stash_database(version)
    ids = _small_library(writer)
    with open_stash_database(path) as database:
        (picture,) = database.load_files(IMAGE)
        assert database.library_roots() == ["/media"]
    assert picture.file_id == ids["picture"]
    assert picture.phash == "8000000000000001"
    assert (picture.width, picture.height) == (4000, 3000)
    assert picture.duration is None
    assert picture.items[0].o_count == 4
    assert len(picture.items[0].gallery_ids) == 1
    assert picture.mod_time_epoch == parse_stash_time("2021-12-31T23:00:00Z")


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_columns_hold_what_the_files_say_and_details_load_by_id(stash_database, version) -> None:
    path, writer = stash_database(version)
    ids = _small_library(writer)
    with open_stash_database(path) as database:
        for media in (VIDEO, IMAGE):
            files = database.load_files(media)
            columns = database.file_columns(media)
            expected = FileColumns.of_files(media, files)
            for name in ("file_ids", "phashes", "has_phash", "durations", "sizes"):
                assert np.array_equal(getattr(columns, name), getattr(expected, name)), name
            pairs = np.stack([columns.item_rows, columns.item_ids], axis=1).tolist()
            wanted = np.stack([expected.item_rows, expected.item_ids], axis=1).tolist()
            assert sorted(pairs) == sorted(wanted)
        # The two files of one scene are siblings; the image is alone in its item.
        videos = database.file_columns(VIDEO)
        assert videos.file_ids[videos.item_rows].tolist() == sorted([ids["first"], ids["second"]])
        assert database.load_files(VIDEO, [ids["second"], ids["picture"]]) == [
            file for file in database.load_files(VIDEO) if file.file_id == ids["second"]
        ]
        assert database.file_stamps([ids["first"]]) == {
            ids["first"]: ("/media/videos/holiday.mp4", 1000, "2021-03-04T05:06:07Z")
        }
        # What path mappings apply to: every listed file's Stash path, once.
        listed = {
            file.stash_path for media in (VIDEO, IMAGE) for file in database.load_files(media)
        }
        assert sorted(database.stash_paths()) == sorted(listed)


def test_many_files_by_id_are_read_in_one_scan_with_the_same_result(
    stash_database, monkeypatch
) -> None:
    from stash_dedupe.stash import reader

    path, writer = stash_database(75)
    ids = _small_library(writer)
    with open_stash_database(path) as database:
        wanted = [ids["second"], ids["first"]]
        lookups: list[str] = []
        database.connection.set_trace_callback(lookups.append)
        looked_up = database.load_files(VIDEO, wanted)
        monkeypatch.setattr(reader, "_LOOKUPS_UP_TO", 0)
        scans: list[str] = []
        database.connection.set_trace_callback(scans.append)
        scanned = database.load_files(VIDEO, wanted)
    assert scanned == looked_up and len(scanned) == 2
    by_id = re.compile(r"AND f\.id IN \((\?|\d)")  # the ids, bound or as the query ran
    assert any(by_id.search(query) for query in lookups)
    assert not any(by_id.search(query) for query in scans)


def test_phash_is_stored_as_signed_int64(stash_database) -> None:
    path, writer = stash_database(75)
    _small_library(writer)
    stored = (
        sqlite3.connect(path)
        .execute("SELECT fingerprint FROM files_fingerprints WHERE type='phash' ORDER BY file_id")
        .fetchone()[0]
    )
    assert isinstance(stored, int) and stored < 0
    assert phash_from_int64(stored) == "c3a1f0e0d0c0b0a0"
    assert phash_to_int64("ffffffffffffffff") == -1
    assert phash_from_int64(5) == "0000000000000005"


def test_placeholder_values_of_old_migrations_read_as_unknown(stash_database) -> None:
    path, writer = stash_database(36)
    writer.add_video_file(
        "/m/a.mp4",
        scene_id=writer.add_scene("a"),
        duration=-1,
        width=-1,
        height=-1,
        video_codec="unset",
        size=1,
        mod_time="2020-01-01T00:00:00Z",
    )
    writer.close()
    with open_stash_database(path) as database:
        (file,) = database.load_files(VIDEO)
    assert (file.duration, file.width, file.height, file.video_codec) == (None, None, None, None)


def test_database_is_opened_read_only(stash_database) -> None:
    path, writer = stash_database(75)
    _small_library(writer)
    with open_stash_database(path) as database, pytest.raises(sqlite3.OperationalError):
        database.connection.execute("DELETE FROM files")
    assert sqlite3.connect(path).execute("SELECT count(*) FROM files").fetchone()[0] == 3


def test_path_mappings_apply_to_every_path(stash_database) -> None:
    path, writer = stash_database(75)
    _small_library(writer)
    mappings = [PathMapping("/media", "/mnt/nas/media")]
    with open_stash_database(path, mappings) as database:
        paths = sorted(file.path for file in database.load_files(VIDEO))
        assert database.library_roots() == ["/mnt/nas/media"]
    assert paths == ["/mnt/nas/media/backup/holiday.mp4", "/mnt/nas/media/videos/holiday.mp4"]


def test_path_mapping_respects_prefix_boundaries_and_separators() -> None:
    mappings = [PathMapping("/data/", "/srv/stash")]
    assert to_local("/data/a b/ñ.mp4", mappings) == "/srv/stash/a b/ñ.mp4"
    assert to_local("/database/x.mp4", mappings) == "/database/x.mp4"
    windows = [PathMapping("D:\\Media", "/mnt/d")]
    assert to_local("D:\\Media\\clips\\x.mp4", windows) == "/mnt/d/clips/x.mp4"


def test_folder_mapper_maps_as_to_local_does() -> None:
    """Folder by folder gives what path by path gives, whatever the mappings: prefixes
    longer than a folder, file names as prefixes, Windows folders, root, doubled slashes."""
    rng = random.Random(3)
    pieces = ["", "/", "\\", "media", "med", "a", "a b", "D:", "x.mp4", "//"]
    prefixes = ["/media", "/media/a", "/media/a/x.mp4", "/med", "D:\\media", "/", "/media/"]
    for _ in range(300):
        mappings = [
            PathMapping(rng.choice(prefixes), rng.choice(["/srv", "/srv/", "/mnt/d", "/media"]))
            for _ in range(rng.randrange(0, 4))
        ]
        mapper = FolderMapper(mappings)
        for _ in range(30):
            folder = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 5)))
            name = rng.choice(["x.mp4", "a", "", "b\\c"])
            separator = "\\" if "\\" in folder and "/" not in folder else "/"
            stash_path = folder.rstrip(separator) + separator + name
            assert mapper.local(stash_path, name) == to_local(stash_path, mappings), (
                mappings,
                stash_path,
            )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file"),
        (b"this is a text file\n", "not an SQLite database"),
    ],
)
def test_wrong_files_get_their_own_message(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "stash-go.sqlite"
    path.write_bytes(content)
    with pytest.raises(DatabaseError, match=expected):
        open_stash_database(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="no such file"):
        open_stash_database(tmp_path / "nope.sqlite")
    with pytest.raises(DatabaseError, match="is a folder"):
        open_stash_database(tmp_path)


def test_a_name_too_long_for_the_file_system_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="cannot be opened"):
        open_stash_database(tmp_path / ("x" * 300))
    with pytest.raises(DatabaseError, match="cannot be opened"):
        open_stash_database("/" + "x" * 5000)


def test_sqlite_that_is_not_stash(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE notes (text)").connection.commit()
    with pytest.raises(DatabaseError, match="not Stash's"):
        open_stash_database(path)


def test_schema_older_than_files_refactor_is_refused(stash_database) -> None:
    path, writer = stash_database(31)
    writer.close()
    with pytest.raises(DatabaseError, match="schema version 31.*older than 0.17"):
        open_stash_database(path)


def test_development_schema_32_is_refused(stash_database) -> None:
    path, writer = stash_database(32)
    writer.close()
    with pytest.raises(DatabaseError, match="schema version 32"):
        open_stash_database(path)


def test_dirty_database_is_refused(stash_database) -> None:
    path, writer = stash_database(75)
    writer.connection.execute("UPDATE schema_migrations SET dirty = 1")
    writer.close()
    with pytest.raises(DatabaseError, match="dirty.*migration failed"):
        open_stash_database(path)


def test_newer_schema_opens_with_a_warning(stash_database) -> None:
    path, writer = stash_database(75)
    writer.connection.execute("UPDATE schema_migrations SET version = 80")
    writer.close()
    with open_stash_database(path) as database:
        assert database.schema_version == 80
        assert "newer than this app knows" in database.warnings[0]


def test_newer_schema_without_needed_tables_is_refused(stash_database) -> None:
    path, writer = stash_database(75)
    writer.connection.execute("UPDATE schema_migrations SET version = 90")
    writer.connection.execute("DROP TABLE video_files")
    writer.close()
    with pytest.raises(DatabaseError, match="newer than this app knows.*video_files"):
        open_stash_database(path)


def test_locked_database_gives_a_clear_message(stash_database, monkeypatch) -> None:
    import stash_dedupe.stash.reader as reader

    path, writer = stash_database(75)
    _small_library(writer)
    monkeypatch.setattr(reader, "BUSY_TIMEOUT_SECONDS", 0.2)
    # A writer in exclusive locking mode keeps even WAL readers out: the worst case of Stash
    # running a migration or a big transaction.
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("UPDATE files SET size = size")
    try:
        with pytest.raises(DatabaseLockedError, match="locked"):
            open_stash_database(path).load_files(VIDEO)
    finally:
        locker.rollback()
        locker.close()


def test_read_only_folder_still_opens(stash_database, tmp_path: Path) -> None:
    path, writer = stash_database(75)
    _small_library(writer)
    folder = path.parent
    folder.chmod(0o555)
    try:
        with open_stash_database(path) as database:
            assert len(database.load_files(VIDEO)) == 2
    finally:
        folder.chmod(0o755)


def test_demo_schema_matches_stash_real_schema() -> None:
    """Every table and column the app's own DDL declares exists in Stash's schema 75."""
    real = sqlite3.connect(f"file:{fixture_database(75)}?mode=ro", uri=True)
    own = sqlite3.connect(":memory:")
    own.executescript(DEMO_SCHEMA)
    tables = [
        row[0]
        for row in own.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if not row[0].startswith("sqlite_")
    ]
    assert len(tables) >= 20
    for table in tables:
        real_columns = {
            row[1]: row[2].lower() for row in real.execute(f"PRAGMA table_info(`{table}`)")
        }
        assert real_columns, f"table {table} is not in Stash's schema"
        for row in own.execute(f"PRAGMA table_info(`{table}`)"):
            assert row[1] in real_columns, f"{table}.{row[1]} is not in Stash's schema"
            assert row[2].lower() == real_columns[row[1]], f"{table}.{row[1]} type differs"


def test_cli_reports_bad_database_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = subprocess.run(
        [sys.executable, "-m", "stash_dedupe", "groups", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not an SQLite database" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_unread_changes_in_the_write_ahead_log_are_named(stash_database, tmp_path) -> None:
    """A WAL database in a folder this app cannot write is read as of its last checkpoint;
    the changes in the log beside it are then invisible, and the app says so."""
    database, writer = stash_database(75)
    writer.library_root("/media")
    writer.close()
    # A writer dies with its changes only in the log (no checkpoint), as Stash may leave it.
    script = (
        "import os, sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1])\n"
        "connection.execute('PRAGMA journal_mode = WAL')\n"
        "connection.execute('PRAGMA wal_autocheckpoint = 0')\n"
        'connection.execute("INSERT INTO folders (path, parent_folder_id, mod_time, created_at,'
        " updated_at) VALUES ('/new', NULL, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z',"
        " '2024-01-01T00:00:00Z')\")\n"
        "connection.commit()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(database)], check=True)
    log = database.with_name(database.name + "-wal")
    assert log.stat().st_size > 0
    database.with_name(database.name + "-shm").unlink()
    with unwritable(database.parent):
        with open_stash_database(database) as opened:
            warnings = list(opened.warnings)
            roots = opened.library_roots()
        result = subprocess.run(
            [sys.executable, "-m", "stash_dedupe", "groups", "--db", str(database)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert roots == ["/media"]  # the log's folder is not seen...
    assert any("not visible" in warning and "-wal" in warning for warning in warnings)  # ...said
    assert result.returncode == 0 and "not visible" in result.stderr

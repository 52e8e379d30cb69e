"""Removal: the safety rules, the three modes, undo and history, on real files in tmp dirs."""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path, PureWindowsPath
from types import SimpleNamespace
from typing import Any

import pytest

from stash_dedupe.errors import AppError, NotFoundError, RefusedError
from stash_dedupe.models import MediaFile
from stash_dedupe.removal import execute, trash
from stash_dedupe.removal.execute import execute_plan
from stash_dedupe.removal.files import PARTIAL_PREFIX
from stash_dedupe.removal.journal import (
    DONE,
    FAILED,
    SKIPPED,
    UNDONE,
    Journal,
    batch_actions,
    export_history_csv,
    list_batches,
    removed_file_ids,
)
from stash_dedupe.removal.plan import RemovalGroup, RemovalPlan, RemovalResult
from stash_dedupe.removal.recovery import undo_action, undo_batch
from tests.removal_helpers import (
    Library,
    media_file_for,
    other_filesystem_dir,
    sha256_of,
    unwritable,
)


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library(tmp_path / "library")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite3") as opened:
        yield opened


@pytest.fixture
def trash_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "trash-folder"
    folder.mkdir()
    return folder


def remove(
    library: Library, journal: Journal, groups: list[dict[str, list[int]]], **options: Any
) -> RemovalResult:
    plan = RemovalPlan.from_json({"groups": groups})
    return execute_plan(plan, library.files, [str(library.root)], journal, **options)


def pair(keeper: MediaFile, copy: MediaFile) -> list[dict[str, list[int]]]:
    return [{"keep": [keeper.file_id], "remove": [copy.file_id]}]


def home_trash() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "Trash"


def assert_refused_and_untouched(
    library: Library,
    journal: Journal,
    groups: list[dict[str, list[int]]],
    match: str,
    **options: Any,
) -> None:
    before = {
        file_id: sha256_of(file.path)
        for file_id, file in library.files.items()
        if os.path.isfile(file.path) and not os.path.islink(file.path)
    }
    with pytest.raises(RefusedError, match=match):
        remove(library, journal, groups, **options)
    for file_id, digest in before.items():
        assert sha256_of(library.files[file_id].path) == digest
    assert list_batches(journal) == []


# Parsing a plan.


def test_plan_is_parsed_from_the_json_the_ui_sends() -> None:
    plan = RemovalPlan.from_json({"groups": [{"keep": [1], "remove": [2, 3]}]})
    assert plan == RemovalPlan((RemovalGroup(keep=(1,), remove=(2, 3)),))


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ([], '"groups" list'),
        ({"groups": {"keep": [1]}}, "must be a list"),
        ({"groups": [[1, 2]]}, "Group 1 must be an object"),
        ({"groups": [{"keep": [1]}]}, 'group 1 "remove" must be a list'),
        ({"groups": [{"keep": [1], "remove": ["2"]}]}, "integers"),
        ({"groups": [{"keep": [True], "remove": [2]}]}, "integers"),
    ],
)
def test_malformed_plans_are_refused_with_a_clear_message(obj: object, match: str) -> None:
    with pytest.raises(RefusedError, match=match):
        RemovalPlan.from_json(obj)


# Refusals: the whole plan is refused and nothing is touched.


def test_removing_every_file_of_a_group_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    groups = [{"keep": [], "remove": [keeper.file_id, copy.file_id]}]
    assert_refused_and_untouched(library, journal, groups, "would lose every copy")


def test_one_bad_group_refuses_the_whole_plan(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    other_keeper, other_copy = library.duplicates("b.mp4")
    groups = pair(keeper, copy) + [{"keep": [], "remove": [other_keeper.file_id]}]
    assert_refused_and_untouched(
        library, journal, groups, "Group 2 of the plan would lose every copy"
    )


def test_a_file_kept_in_one_group_cannot_be_removed_in_another(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    other_keeper, other_copy = library.duplicates("b.mp4")
    groups = pair(keeper, copy) + [{"keep": [other_keeper.file_id], "remove": [keeper.file_id]}]
    assert_refused_and_untouched(library, journal, groups, "both kept and removed")


def test_a_file_not_in_the_library_is_refused(library: Library, journal: Journal) -> None:
    keeper, _ = library.duplicates("a.mp4")
    groups = [{"keep": [keeper.file_id], "remove": [99]}]
    assert_refused_and_untouched(library, journal, groups, "99 is not in the library")


def test_a_path_outside_the_library_roots_is_refused(
    library: Library, journal: Journal, tmp_path: Path
) -> None:
    keeper, _ = library.duplicates("a.mp4")
    outside = tmp_path / "elsewhere" / "a.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"not in the library")
    library.files[50] = media_file_for(50, outside)
    groups = [{"keep": [keeper.file_id], "remove": [50]}]
    assert_refused_and_untouched(library, journal, groups, "outside the library folders")
    assert outside.exists()


def test_a_symlink_is_never_followed_out_of_the_library(
    library: Library, journal: Journal, tmp_path: Path
) -> None:
    keeper, _ = library.duplicates("a.mp4")
    target = tmp_path / "elsewhere.mp4"
    target.write_bytes(b"the real file, outside the library")
    link = library.root / "link.mp4"
    link.symlink_to(target)
    library.files[50] = replace(media_file_for(50, target), path=str(link))
    groups = [{"keep": [keeper.file_id], "remove": [50]}]
    assert_refused_and_untouched(library, journal, groups, "symbolic link")
    assert link.is_symlink() and target.exists()


def test_a_folder_symlink_escaping_the_library_is_refused(
    library: Library, journal: Journal, tmp_path: Path
) -> None:
    keeper, _ = library.duplicates("a.mp4")
    outside_folder = tmp_path / "outside-folder"
    outside_folder.mkdir()
    (outside_folder / "b.mp4").write_bytes(b"outside")
    (library.root / "linked-folder").symlink_to(outside_folder)
    through_link = library.root / "linked-folder" / "b.mp4"
    library.files[50] = media_file_for(50, through_link)
    groups = [{"keep": [keeper.file_id], "remove": [50]}]
    assert_refused_and_untouched(library, journal, groups, "resolves to .*outside-folder")
    assert (outside_folder / "b.mp4").exists()


def test_a_folder_symlink_that_stays_inside_the_library_is_allowed(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    (library.root / "alias").symlink_to(library.root / "copies")
    library.files[copy.file_id] = replace(copy, path=str(library.root / "alias" / "a.mp4"))
    result = remove(library, journal, pair(keeper, copy))
    assert [done.path for done in result.done] == [copy.path]
    assert not os.path.lexists(copy.path)


def test_a_file_inside_a_zip_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.jpg")
    library.files[copy.file_id] = replace(copy, zip_file_id=7)
    assert_refused_and_untouched(library, journal, pair(keeper, copy), "inside a zip archive")


def test_a_vanished_keeper_refuses_the_plan(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    os.unlink(keeper.path)
    assert_refused_and_untouched(library, journal, pair(keeper, copy), "no longer exists")
    assert os.path.exists(copy.path)


def test_a_keeper_changed_since_the_scan_refuses_the_plan(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    Path(keeper.path).write_bytes(b"truncated")
    assert_refused_and_untouched(library, journal, pair(keeper, copy), "changed size")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file, so none is unreadable")
def test_an_unreadable_keeper_refuses_the_plan(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    Path(keeper.path).chmod(0)
    try:
        assert_refused_and_untouched(library, journal, pair(keeper, copy), "cannot be read")
    finally:
        Path(keeper.path).chmod(0o644)


def test_a_keeper_that_is_the_same_file_on_disk_is_refused(
    library: Library, journal: Journal
) -> None:
    keeper, _ = library.duplicates("a.mp4")
    library.files[50] = replace(keeper, file_id=50)  # e.g. two path mappings to one file
    groups = [{"keep": [keeper.file_id], "remove": [50]}]
    assert_refused_and_untouched(library, journal, groups, "same file on disk")


def test_delete_without_confirmation_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    groups = pair(keeper, copy)
    assert_refused_and_untouched(library, journal, groups, "confirmation", mode="delete")


def test_an_unknown_mode_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    assert_refused_and_untouched(library, journal, pair(keeper, copy), "Unknown", mode="shred")


def test_move_without_a_trash_folder_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    groups = pair(keeper, copy)
    assert_refused_and_untouched(library, journal, groups, "needs a trash folder", mode="move")


def test_a_trash_folder_that_is_a_file_is_refused(
    library: Library, journal: Journal, tmp_path: Path
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    not_a_folder = tmp_path / "trash.txt"
    not_a_folder.write_text("")
    assert_refused_and_untouched(
        library,
        journal,
        pair(keeper, copy),
        "is not a folder",
        mode="move",
        trash_dir=str(not_a_folder),
    )


def test_a_read_only_trash_folder_is_refused(
    library: Library, journal: Journal, trash_folder: Path
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    with unwritable(trash_folder):
        assert_refused_and_untouched(
            library,
            journal,
            pair(keeper, copy),
            "not writable",
            mode="move",
            trash_dir=str(trash_folder),
        )
    assert list(trash_folder.iterdir()) == []


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB filesystem (tmpfs), to see what a full trash folder does."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip(reason="mounting a small tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(reason=f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_trash_folder_without_room_for_the_files_is_refused(
    library: Library, journal: Journal, tiny_filesystem: Path
) -> None:
    keeper = library.add("keep/big.mp4", b"x" * 200_000)
    copy = library.add("copies/big.mp4", b"x" * 200_000)
    assert_refused_and_untouched(
        library,
        journal,
        pair(keeper, copy),
        "bytes free",
        mode="move",
        trash_dir=str(tiny_filesystem),
    )


def test_a_trash_folder_that_fills_up_fails_the_file_and_leaves_no_partial_copy(
    library: Library, journal: Journal, tiny_filesystem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keeper = library.add("keep/big.mp4", b"x" * 200_000)
    copy = library.add("copies/big.mp4", b"x" * 200_000)
    # Pretend the up-front space check passed, as when something else fills the disk meanwhile.
    plenty = SimpleNamespace(total=1 << 40, used=0, free=1 << 40)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: plenty)
    trash_dir = str(tiny_filesystem)
    result = remove(library, journal, pair(keeper, copy), mode="move", trash_dir=trash_dir)
    assert result.done == ()
    assert "No space left" in result.skipped[0].reason
    assert sha256_of(copy.path) == sha256_of(keeper.path)
    assert not [path for path in tiny_filesystem.rglob("*") if path.is_file()]
    assert [action.state for action in batch_actions(journal, result.batch_id or 0)] == [FAILED]


# Skips: the file is left in place and reported, the rest continues.


def test_a_file_whose_size_changed_since_the_scan_is_skipped(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    other_keeper, other_copy = library.duplicates("b.mp4")
    with open(copy.path, "ab") as handle:
        handle.write(b"more")
    result = remove(library, journal, pair(keeper, copy) + pair(other_keeper, other_copy))
    assert [skipped.file_id for skipped in result.skipped] == [copy.file_id]
    assert "changed size" in result.skipped[0].reason
    assert os.path.exists(copy.path)
    assert [done.file_id for done in result.done] == [other_copy.file_id]
    assert [action.state for action in batch_actions(journal, result.batch_id or 0)] == [
        SKIPPED,
        DONE,
    ]


def test_a_file_modified_since_the_scan_is_skipped(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    later = (copy.mod_time_epoch or 0) + 60
    os.utime(copy.path, (later, later))
    result = remove(library, journal, pair(keeper, copy))
    assert result.done == ()
    assert "modified since the scan" in result.skipped[0].reason
    assert os.path.exists(copy.path)


def test_stash_whole_second_mtimes_count_as_unchanged(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    whole_second = 1_700_000_000
    os.utime(copy.path, (whole_second + 0.9, whole_second + 0.9))
    library.files[copy.file_id] = replace(copy, mod_time_epoch=float(whole_second))
    assert [done.file_id for done in remove(library, journal, pair(keeper, copy)).done] == [
        copy.file_id
    ]


def test_without_a_recorded_mtime_only_the_size_is_checked(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    os.utime(copy.path, (1, 1))
    library.files[copy.file_id] = replace(copy, mod_time=None, mod_time_epoch=None)
    assert len(remove(library, journal, pair(keeper, copy)).done) == 1


def test_a_file_that_vanished_since_the_scan_is_skipped(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    os.unlink(copy.path)
    result = remove(library, journal, pair(keeper, copy))
    assert result.skipped[0].reason == "The file no longer exists."


def test_permission_denied_is_reported_and_the_rest_continues(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    other_keeper = library.add("keep/b.mp4", b"b" * 100)
    other_copy = library.add("elsewhere/b.mp4", b"b" * 100)
    with unwritable(Path(copy.path).parent):
        result = remove(library, journal, pair(keeper, copy) + pair(other_keeper, other_copy))
    assert [skipped.file_id for skipped in result.skipped] == [copy.file_id]
    assert "not permitted" in result.skipped[0].reason or "denied" in result.skipped[0].reason
    assert os.path.exists(copy.path)
    assert [done.file_id for done in result.done] == [other_copy.file_id]
    assert list((home_trash() / "info").iterdir()) == [
        home_trash() / "info" / "b.mp4.trashinfo"
    ]  # the failed file's .trashinfo was removed again


def test_permission_denied_after_a_copy_to_another_filesystem_leaves_no_copy_behind(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    with other_filesystem_dir(library.root) as trash_folder, unwritable(Path(copy.path).parent):
        result = remove(
            library, journal, pair(keeper, copy), mode="move", trash_dir=str(trash_folder)
        )
        assert [skipped.file_id for skipped in result.skipped] == [copy.file_id]
        assert [path for path in trash_folder.rglob("*") if path.is_file()] == []
    assert sha256_of(copy.path) == sha256_of(keeper.path)


def test_a_file_already_in_the_trash_folder_is_never_overwritten(
    library: Library, journal: Journal, trash_folder: Path
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    occupant = trash_folder / Path(copy.path).relative_to("/")
    occupant.parent.mkdir(parents=True)
    occupant.write_bytes(b"an earlier removal")
    result = remove(library, journal, pair(keeper, copy), mode="move", trash_dir=str(trash_folder))
    assert "already exists" in result.skipped[0].reason
    assert occupant.read_bytes() == b"an earlier removal"
    assert os.path.exists(copy.path)


# The three modes.


def test_each_action_is_committed_before_the_file_is_touched(
    library: Library, journal: Journal, trash_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    seen_by_another_connection = []
    real_move_file = execute.move_file

    def move_file(source: Path, destination: Path, partial: Path) -> None:
        with sqlite3.connect(journal.path) as other:
            seen_by_another_connection.extend(
                other.execute("SELECT file_id, state, destination FROM actions").fetchall()
            )
        real_move_file(source, destination, partial)

    monkeypatch.setattr(execute, "move_file", move_file)
    result = remove(library, journal, pair(keeper, copy), mode="move", trash_dir=str(trash_folder))
    assert seen_by_another_connection == [(copy.file_id, "planned", result.done[0].destination)]


def test_move_keeps_the_full_path_below_the_trash_folder(
    library: Library, journal: Journal, trash_folder: Path
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    digest = sha256_of(copy.path)
    result = remove(library, journal, pair(keeper, copy), mode="move", trash_dir=str(trash_folder))
    expected = trash_folder / Path(copy.path).relative_to("/")
    assert [done.destination for done in result.done] == [str(expected)]
    assert sha256_of(expected) == digest
    assert not os.path.lexists(copy.path)
    assert result.bytes_freed == copy.size


def test_windows_paths_keep_the_drive_letter_as_a_folder(tmp_path: Path) -> None:
    below = execute._path_below(tmp_path, PureWindowsPath(r"C:\Videos\a b.mp4"))
    assert below == tmp_path / "C" / "Videos" / "a b.mp4"
    unc = execute._path_below(tmp_path, PureWindowsPath(r"\\nas\media\x.mp4"))
    assert unc == tmp_path / "nas" / "media" / "x.mp4"


def test_move_to_another_filesystem_copies_then_removes(library: Library, journal: Journal) -> None:
    keeper = library.add("keep/a.mp4", os.urandom(3_000_000))
    copy = library.add("copies/a.mp4", Path(keeper.path).read_bytes())
    os.utime(copy.path, (1_600_000_000, 1_600_000_000))
    library.files[copy.file_id] = media_file_for(copy.file_id, Path(copy.path))
    with other_filesystem_dir(library.root) as trash_folder:
        result = remove(
            library, journal, pair(keeper, copy), mode="move", trash_dir=str(trash_folder)
        )
        moved = Path(result.done[0].destination or "")
        assert moved.is_relative_to(trash_folder)
        assert sha256_of(moved) == sha256_of(keeper.path)
        assert moved.stat().st_mtime == 1_600_000_000  # copied like shutil.copy2
        assert not os.path.lexists(copy.path)
        assert not list(moved.parent.glob(PARTIAL_PREFIX + "*"))


def test_trash_mode_uses_the_freedesktop_trash(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a b.mp4")
    digest = sha256_of(copy.path)
    result = remove(library, journal, pair(keeper, copy))
    trashed = home_trash() / "files" / "a b.mp4"
    assert result.done[0].destination == str(trashed)
    assert sha256_of(trashed) == digest
    info = (home_trash() / "info" / "a b.mp4.trashinfo").read_text().splitlines()
    assert info[0] == "[Trash Info]"
    assert info[1] == "Path=" + copy.path.replace(" ", "%20")
    assert info[2].startswith("DeletionDate=")
    action = batch_actions(journal, result.batch_id or 0)[0]
    assert action.trash_info_path == str(home_trash() / "info" / "a b.mp4.trashinfo")


def test_trash_mode_never_reuses_a_name_already_in_the_trash(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    (home_trash() / "files").mkdir(parents=True)
    (home_trash() / "files" / "a.mp4").write_bytes(b"trashed earlier")
    result = remove(library, journal, pair(keeper, copy))
    assert result.done[0].destination == str(home_trash() / "files" / "a.2.mp4")
    assert (home_trash() / "files" / "a.mp4").read_bytes() == b"trashed earlier"


def test_trash_on_another_volume_uses_that_volumes_trash(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with other_filesystem_dir(tmp_path) as volume:
        # Pretend `volume` is the mount point so the test's .Trash-UID stays inside it.
        monkeypatch.setattr(trash, "_mount_point", lambda path: volume)
        library = Library(volume / "library")
        keeper, copy = library.duplicates("a.mp4")
        result = remove(library, journal, pair(keeper, copy))
        volume_trash = volume / f".Trash-{os.getuid()}"
        assert result.done[0].destination == str(volume_trash / "files" / "a.mp4")
        info = (volume_trash / "info" / "a.mp4.trashinfo").read_text()
        assert "Path=library/copies/a.mp4\n" in info  # relative to the volume's top
        undo_batch(journal, result.batch_id or 0)
        assert os.path.exists(copy.path)


def test_delete_with_confirmation_removes_permanently(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = remove(library, journal, pair(keeper, copy), mode="delete", confirm_delete=True)
    assert result.done[0].destination is None
    assert not os.path.lexists(copy.path)
    assert not home_trash().exists() or not list((home_trash() / "files").iterdir())


@pytest.mark.parametrize("mode", ["trash", "move", "move-other-fs", "delete"])
def test_unicode_spaces_long_names_and_deep_folders_are_handled(
    library: Library, journal: Journal, trash_folder: Path, mode: str
) -> None:
    with ExitStack() as stack:
        if mode == "move-other-fs":
            trash_folder = stack.enter_context(other_filesystem_dir(library.root.parent))
            mode = "move"
        check_awkward_names(library, journal, trash_folder, mode)


def check_awkward_names(library: Library, journal: Journal, trash_folder: Path, mode: str) -> None:
    names = [
        "Ünïcødé 名前 — clip.mp4",
        "  leading and trailing spaces .mp4",
        "é" * 125 + ".mp4",  # 254 bytes in UTF-8
        "a" * 251 + ".mkv",  # 255 bytes: the longest name most filesystems allow
        "/".join(["deep folder " + "d" * 80] * 25) + "/x.mp4",  # about 2300 bytes of path
    ]
    groups = []
    digests = {}
    for index, name in enumerate(names):
        content = os.urandom(500 + index)
        keeper = library.add(f"keep{index}/{name}", content)
        copy = library.add(f"copies/{name}", content)
        groups += pair(keeper, copy)
        digests[copy.file_id] = sha256_of(copy.path)
    options: dict[str, Any] = {"mode": mode, "confirm_delete": mode == "delete"}
    if mode == "move":
        options["trash_dir"] = str(trash_folder)
    result = remove(library, journal, groups, **options)
    assert result.skipped == ()
    assert len(result.done) == len(names)
    for done in result.done:
        assert not os.path.lexists(done.path)
        if mode != "delete":
            assert sha256_of(done.destination or "") == digests[done.file_id]
    if mode != "delete":
        restored = undo_batch(journal, result.batch_id or 0)
        assert len(restored.restored) == len(names)
        for done in result.done:
            assert sha256_of(done.path) == digests[done.file_id]
    if mode == "trash":
        assert list((home_trash() / "info").iterdir()) == []


# Dry run.


def test_dry_run_touches_nothing_and_journals_nothing(
    library: Library, journal: Journal, trash_folder: Path
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    other_keeper, changed = library.duplicates("b.mp4")
    Path(changed.path).write_bytes(b"changed")
    result = remove(
        library,
        journal,
        pair(keeper, copy) + pair(other_keeper, changed),
        mode="move",
        trash_dir=str(trash_folder),
        dry_run=True,
    )
    assert result.batch_id is None and result.dry_run
    assert [done.file_id for done in result.done] == [copy.file_id]
    assert result.done[0].destination == str(trash_folder / Path(copy.path).relative_to("/"))
    assert result.bytes_freed == copy.size
    assert [skipped.file_id for skipped in result.skipped] == [changed.file_id]
    assert os.path.exists(copy.path)
    assert list(trash_folder.iterdir()) == []
    assert list_batches(journal) == []


def test_dry_run_of_delete_needs_no_confirmation(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = remove(library, journal, pair(keeper, copy), mode="delete", dry_run=True)
    assert (len(result.done), result.bytes_freed) == (1, copy.size)
    assert os.path.exists(copy.path)


# Undo.


@pytest.mark.parametrize("mode", ["trash", "move"])
def test_undo_batch_restores_byte_identical_files(
    library: Library, journal: Journal, trash_folder: Path, mode: str
) -> None:
    pairs = [library.duplicates(f"{name}.mp4") for name in ("a", "b", "c")]
    digests = {copy.file_id: sha256_of(copy.path) for _, copy in pairs}
    groups = [group for keeper, copy in pairs for group in pair(keeper, copy)]
    trash_dir = str(trash_folder) if mode == "move" else None
    result = remove(library, journal, groups, mode=mode, trash_dir=trash_dir)
    assert removed_file_ids(journal) == set(digests)

    undone = undo_batch(journal, result.batch_id or 0)

    assert {restored.file_id for restored in undone.restored} == set(digests)
    for _, copy in pairs:
        assert sha256_of(copy.path) == digests[copy.file_id]
    assert removed_file_ids(journal) == set()
    assert {action.state for action in batch_actions(journal, result.batch_id or 0)} == {UNDONE}
    assert {action.state for action in batch_actions(journal, undone.batch_id)} == {DONE}
    if mode == "trash":
        assert list((home_trash() / "info").iterdir()) == []
        assert list((home_trash() / "files").iterdir()) == []


def test_history_counts_the_files_undo_put_back_until_none_is_left(
    library: Library, journal: Journal, trash_folder: Path
) -> None:
    pairs = [library.duplicates(f"{name}.mp4") for name in ("a", "b")]
    groups = [group for keeper, copy in pairs for group in pair(keeper, copy)]
    result = remove(library, journal, groups, mode="move", trash_dir=str(trash_folder))
    batch_id = result.batch_id or 0
    assert (journal.batch(batch_id).done_count, journal.batch(batch_id).undone_count) == (2, 0)

    undo_action(journal, batch_actions(journal, batch_id)[0].id)
    assert (journal.batch(batch_id).done_count, journal.batch(batch_id).undone_count) == (2, 1)
    undo_batch(journal, batch_id)
    assert (journal.batch(batch_id).done_count, journal.batch(batch_id).undone_count) == (2, 2)
    with pytest.raises(RefusedError, match="no removed files left"):
        undo_batch(journal, batch_id)


def test_undo_refuses_to_overwrite_a_file_now_at_the_original_path(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = remove(library, journal, pair(keeper, copy))
    Path(copy.path).write_bytes(b"a new file the user put here")
    action_id = batch_actions(journal, result.batch_id or 0)[0].id
    with pytest.raises(RefusedError, match="not overwriting"):
        undo_action(journal, action_id)
    assert Path(copy.path).read_bytes() == b"a new file the user put here"
    assert sha256_of(result.done[0].destination or "") == sha256_of(keeper.path)


def test_undo_of_a_permanent_delete_says_the_file_is_gone(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = remove(library, journal, pair(keeper, copy), mode="delete", confirm_delete=True)
    with pytest.raises(RefusedError, match="permanently"):
        undo_batch(journal, result.batch_id or 0)
    with pytest.raises(RefusedError, match="permanently"):
        undo_action(journal, batch_actions(journal, result.batch_id or 0)[0].id)


def test_undo_when_the_trash_was_emptied_says_where_the_file_was(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = remove(library, journal, pair(keeper, copy))
    shutil.rmtree(home_trash())
    with pytest.raises(RefusedError, match="no longer at .*Trash/files/a.mp4"):
        undo_batch(journal, result.batch_id or 0)


def test_a_file_cannot_be_undone_twice(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = remove(library, journal, pair(keeper, copy))
    action_id = batch_actions(journal, result.batch_id or 0)[0].id
    undo_action(journal, action_id)
    with pytest.raises(RefusedError, match="it is undone"):
        undo_action(journal, action_id)


def test_undo_of_an_unknown_action_is_not_found(journal: Journal) -> None:
    with pytest.raises(NotFoundError):
        undo_action(journal, 12345)


# The journal and history.


def test_the_journal_lives_in_the_app_data_dir_in_wal_mode() -> None:
    with Journal.open() as journal:
        assert journal.path == Path(os.environ["STASH_DEDUPE_HOME"]) / "journal.sqlite3"
    connection = sqlite3.connect(Path(os.environ["STASH_DEDUPE_HOME"]) / "journal.sqlite3")
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


def test_history_lists_batches_with_their_actions(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    other_keeper, changed = library.duplicates("b.mp4")
    Path(changed.path).write_bytes(b"changed")
    result = remove(library, journal, pair(keeper, copy) + pair(other_keeper, changed))

    [batch] = list_batches(journal)
    assert (batch.id, batch.mode, batch.status) == (result.batch_id, "trash", "finished")
    assert (batch.action_count, batch.done_count, batch.done_bytes) == (2, 1, copy.size)
    actions = batch_actions(journal, batch.id)
    assert [(action.file_id, action.state) for action in actions] == [
        (copy.file_id, DONE),
        (changed.file_id, SKIPPED),
    ]
    assert actions[0].keeper_ids == (keeper.file_id,)
    assert actions[0].original_path == copy.path
    assert (actions[0].size, actions[0].mtime) == (copy.size, copy.mod_time_epoch)
    with pytest.raises(NotFoundError):
        batch_actions(journal, 999)


def test_history_exports_as_csv(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates('a,b "c".mp4')
    remove(library, journal, pair(keeper, copy))
    output = io.StringIO()
    assert export_history_csv(journal, output) == 1
    [row] = list(csv.DictReader(io.StringIO(output.getvalue())))
    assert row["original_path"] == copy.path
    assert row["state"] == "done"
    assert row["keeper_ids"] == str(keeper.file_id)


def test_a_damaged_journal_is_reported_as_a_readable_error(tmp_path: Path) -> None:
    damaged = tmp_path / "journal.sqlite3"
    damaged.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AppError, match="cannot be opened"):
        Journal.open(damaged)

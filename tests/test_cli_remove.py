"""`stash-dedupe remove / undo / history` on a real-schema library with real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .test_demo_and_cli import run_cli


def make_library(stash_database, tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    database, writer = stash_database(75)
    media = tmp_path / "média library"
    media.mkdir()
    writer.library_root(str(media))
    ids = {}
    for name, content in (
        ("keep me.mp4", b"A" * 5000),
        ("copy of it.mp4", b"A" * 4000),
        ("other.mp4", b"B" * 3000),
    ):
        (media / name).write_bytes(content)
        ids[name] = writer.add_video_file(
            str(media / name),
            scene_id=writer.add_scene(name),
            phash="c0ffee0000000001",
            duration=10,
        )
    writer.close()
    trash = tmp_path / "trash folder"
    trash.mkdir()
    return database, trash, ids


def write_plan(tmp_path: Path, keep: list[int], remove: list[int]) -> Path:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"groups": [{"keep": keep, "remove": remove}]}))
    return plan


def test_remove_moves_to_trash_folder_and_undo_restores(stash_database, tmp_path) -> None:
    database, trash, ids = make_library(stash_database, tmp_path)
    copy = tmp_path / "média library" / "copy of it.mp4"
    plan = write_plan(tmp_path, [ids["keep me.mp4"]], [ids["copy of it.mp4"]])

    dry = run_cli(
        "remove",
        "--db",
        str(database),
        "--plan",
        str(plan),
        "--mode",
        "move",
        "--trash-dir",
        str(trash),
        "--dry-run",
    )
    assert dry.returncode == 0, dry.stderr
    assert "would remove" in dry.stdout and copy.exists()

    done = run_cli(
        "remove",
        "--db",
        str(database),
        "--plan",
        str(plan),
        "--mode",
        "move",
        "--trash-dir",
        str(trash),
    )
    assert done.returncode == 0, done.stderr
    assert not copy.exists()
    moved = trash / Path(*copy.parts[1:])
    assert moved.read_bytes() == b"A" * 4000
    assert "Clean task" in done.stdout

    history = run_cli("history", "--files")
    assert "move" in history.stdout and "copy of it.mp4" in history.stdout
    batch_id = history.stdout.split()[1]

    undo = run_cli("undo", batch_id)
    assert undo.returncode == 0, undo.stderr + undo.stdout
    assert copy.read_bytes() == b"A" * 4000 and not moved.exists()
    assert "original_path" in run_cli("history", "--csv").stdout


def test_plan_that_empties_a_group_is_refused(stash_database, tmp_path) -> None:
    database, trash, ids = make_library(stash_database, tmp_path)
    plan = write_plan(tmp_path, [], [ids["keep me.mp4"], ids["copy of it.mp4"]])
    result = run_cli("remove", "--db", str(database), "--plan", str(plan))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    assert (tmp_path / "média library" / "keep me.mp4").exists()


def test_changed_file_is_skipped_with_exit_1(stash_database, tmp_path) -> None:
    database, trash, ids = make_library(stash_database, tmp_path)
    changed = tmp_path / "média library" / "copy of it.mp4"
    changed.write_bytes(b"C" * 4100)
    os.utime(changed, (1, 1))
    plan = write_plan(tmp_path, [ids["keep me.mp4"]], [ids["copy of it.mp4"]])
    result = run_cli(
        "remove",
        "--db",
        str(database),
        "--plan",
        str(plan),
        "--mode",
        "move",
        "--trash-dir",
        str(trash),
    )
    assert result.returncode == 1
    assert "skipped" in result.stdout and changed.exists()


def test_permanent_delete_needs_explicit_yes(stash_database, tmp_path) -> None:
    database, trash, ids = make_library(stash_database, tmp_path)
    plan = write_plan(tmp_path, [ids["keep me.mp4"]], [ids["copy of it.mp4"]])
    refused = run_cli("remove", "--db", str(database), "--plan", str(plan), "--mode", "delete")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert (tmp_path / "média library" / "copy of it.mp4").exists()
    done = run_cli(
        "remove", "--db", str(database), "--plan", str(plan), "--mode", "delete", "--yes"
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "média library" / "copy of it.mp4").exists()


def test_malformed_plan_is_a_clear_error(stash_database, tmp_path) -> None:
    database, trash, ids = make_library(stash_database, tmp_path)
    plan = tmp_path / "plan.json"
    plan.write_text("{oops")
    result = run_cli("remove", "--db", str(database), "--plan", str(plan))
    assert result.returncode == 2 and "not valid JSON" in result.stderr


def test_a_trash_folder_inside_the_library_is_refused(stash_database, tmp_path) -> None:
    database, _trash, ids = make_library(stash_database, tmp_path)
    inside = tmp_path / "média library" / "trash"
    inside.mkdir()
    plan = write_plan(tmp_path, [ids["keep me.mp4"]], [ids["copy of it.mp4"]])
    result = run_cli(
        "remove", "--db", str(database), "--plan", str(plan), "--mode", "move",
        "--trash-dir", str(inside),
    )  # fmt: skip
    assert result.returncode == 2 and "inside the library folder" in result.stderr
    assert (tmp_path / "média library" / "copy of it.mp4").exists()
    assert list(inside.iterdir()) == []


def test_a_plan_from_groups_json_carries_its_distance(stash_database, tmp_path) -> None:
    """Groups found at distance 4 are removed from a plan written from `groups --json`."""
    database, writer = stash_database(75)
    media = tmp_path / "media"
    media.mkdir()
    writer.library_root(str(media))
    ids = []
    for name, phash in (("a.mp4", "c0ffee0000000000"), ("b.mp4", "c0ffee000000000f")):
        (media / name).write_bytes(name.encode() * 500)
        ids.append(writer.add_video_file(str(media / name), phash=phash, duration=10))
    writer.close()
    listed = run_cli("groups", "--db", str(database), "--distance", "4", "--json")
    document = json.loads(listed.stdout)
    (group,) = document["groups"]
    keep, drop = (file["file_id"] for file in group["files"])
    document["groups"] = [{"group_id": group["group_id"], "keep": [keep], "remove": [drop]}]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(document))
    at_zero = run_cli("remove", "--db", str(database), "--plan", str(plan), "--distance", "0")
    assert at_zero.returncode == 2 and "not a current duplicate group" in at_zero.stderr
    done = run_cli("remove", "--db", str(database), "--plan", str(plan))
    assert done.returncode == 0, done.stderr
    assert sum((media / name).exists() for name in ("a.mp4", "b.mp4")) == 1

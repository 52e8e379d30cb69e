"""Hardlink mode: a byte-identical copy becomes a hardlink to its keeper, journaled and
undoable; refused (naming the file) when it would not be safe. Domain, CLI and API."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import webbrowser
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.errors import RefusedError
from stash_dedupe.models import MediaFile
from stash_dedupe.removal.execute import execute_plan
from stash_dedupe.removal.hardlink import identical_bytes
from stash_dedupe.removal.journal import (
    DONE,
    HARDLINK,
    SKIPPED,
    UNDONE,
    Journal,
    batch_actions,
    export_history_csv,
    list_batches,
    removed_file_ids,
)
from stash_dedupe.removal.plan import RemovalPlan
from stash_dedupe.removal.recovery import reconcile, undo_action, undo_batch
from stash_dedupe.settings import Settings
from stash_dedupe.stash.sync import removed_in_batch
from stash_dedupe.web.state import AppState
from tests.removal_helpers import Library, media_file_for, other_filesystem_dir, sha256_of
from tests.test_demo_and_cli import run_cli
from tests.test_server import Client
from tests.test_stash_sync import serve


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return Library(tmp_path / "library", copy_size=300_000)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite3") as opened:
        yield opened


def link(library: Library, journal: Journal, *pairs: tuple[MediaFile, MediaFile], **options: Any):
    groups = [{"keep": [keeper.file_id], "remove": [copy.file_id]} for keeper, copy in pairs]
    plan = RemovalPlan.from_json({"groups": groups})
    return execute_plan(plan, library.files, [str(library.root)], journal, HARDLINK, **options)


def same_inode(first: str | Path, second: str | Path) -> bool:
    one, other = os.stat(first), os.stat(second)
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def assert_refused_and_untouched(
    library: Library, journal: Journal, pair: tuple[MediaFile, MediaFile], match: str
) -> None:
    before = {path: sha256_of(path) for path in (pair[0].path, pair[1].path)}
    with pytest.raises(RefusedError, match=match):
        link(library, journal, pair)
    assert {path: sha256_of(path) for path in before} == before
    assert not same_inode(*before)
    assert list_batches(journal) == []


# Linking.


def test_a_byte_identical_copy_becomes_a_hardlink_to_its_keeper(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    digest = sha256_of(copy.path)
    result = link(library, journal, (keeper, copy))
    assert [done.file_id for done in result.done] == [copy.file_id]
    assert result.bytes_freed == copy.size
    assert same_inode(copy.path, keeper.path)
    assert sha256_of(copy.path) == sha256_of(keeper.path) == digest
    assert os.stat(keeper.path).st_nlink == 2
    [action] = batch_actions(journal, result.batch_id or 0)
    assert (action.mode, action.state, action.link_target) == (HARDLINK, DONE, keeper.path)
    # The original bytes wait in the system trash, with their .trashinfo, for an undo.
    trash_copy = Path(action.destination or "")
    assert trash_copy.parent == Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "files"
    assert sha256_of(trash_copy) == digest and not same_inode(trash_copy, keeper.path)
    assert Path(action.trash_info_path or "").exists()
    assert list(Path(copy.path).parent.iterdir()) == [Path(copy.path)]  # no temporary link


def test_a_linked_copy_leaves_the_groups_but_stash_keeps_its_entry(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = link(library, journal, (keeper, copy))
    assert removed_file_ids(journal) == {copy.file_id}
    # Telling Stash about the batch must not make it forget a path that still holds the file.
    assert removed_in_batch(journal, result.batch_id or 0, library.files) == []


def test_identical_bytes_reads_both_files_to_the_end(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    content = os.urandom(3 << 20)
    first.write_bytes(content)
    second.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # only the last byte differs
    assert not identical_bytes(first, second)
    second.write_bytes(content)
    assert identical_bytes(first, second)


def test_a_copy_whose_bytes_differ_is_skipped_after_reading_both(
    library: Library, journal: Journal
) -> None:
    """Same size, same time, Stash's record agrees: only reading the bytes tells them apart."""
    keeper, copy = library.duplicates("a.mp4")
    content = bytearray(Path(copy.path).read_bytes())
    content[len(content) // 2] ^= 0xFF
    stat_before = os.stat(copy.path)
    Path(copy.path).write_bytes(bytes(content))
    os.utime(copy.path, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    result = link(library, journal, (keeper, copy))
    [skipped] = result.skipped
    assert "bytes differ from the kept file" in skipped.reason and keeper.path in skipped.reason
    assert Path(copy.path).read_bytes() == bytes(content)
    assert not same_inode(copy.path, keeper.path)
    assert [a.state for a in batch_actions(journal, result.batch_id or 0)] == [SKIPPED]


def test_an_already_linked_copy_is_reported_with_nothing_to_do(
    library: Library, journal: Journal
) -> None:
    keeper = library.add("keep/a.mp4", os.urandom(5000))
    linked_path = library.root / "copies" / "a.mp4"
    linked_path.parent.mkdir()
    os.link(keeper.path, linked_path)
    copy = replace(media_file_for(2, linked_path), file_id=2)
    library.files[2] = copy
    result = link(library, journal, (keeper, copy))
    [skipped] = result.skipped
    assert "Already a hardlink to the kept file" in skipped.reason
    assert "nothing to do" in skipped.reason
    assert os.stat(keeper.path).st_nlink == 2


# Refusals: the whole plan is refused, naming the file, and nothing is touched.


def test_a_copy_of_another_size_is_refused(library: Library, journal: Journal) -> None:
    keeper = library.add("keep/a.mp4", os.urandom(5000))
    copy = library.add("copies/a.mp4", os.urandom(4000))
    assert_refused_and_untouched(
        library, journal, (keeper, copy), rf"File 2 \({copy.path}\) is not byte-identical"
    )


def test_a_copy_whose_stash_md5_differs_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    library.files[keeper.file_id] = replace(keeper, md5="0" * 32)
    library.files[copy.file_id] = replace(copy, md5="1" * 32)
    assert_refused_and_untouched(library, journal, (keeper, copy), "MD5 checksums differ")


def test_a_copy_whose_stash_oshash_differs_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    library.files[keeper.file_id] = replace(keeper, oshash="0" * 16)
    library.files[copy.file_id] = replace(copy, oshash="1" * 16)
    assert_refused_and_untouched(library, journal, (keeper, copy), "oshashes differ")


def test_a_copy_on_another_filesystem_is_refused(
    library: Library, journal: Journal, tmp_path: Path
) -> None:
    keeper = library.add("keep/a.mp4", b"x" * 5000)
    with other_filesystem_dir(tmp_path) as elsewhere:
        library.root = elsewhere
        library.files[keeper.file_id] = media_file_for(1, Path(keeper.path))
        copy = library.add("copies/a.mp4", b"x" * 5000)
        plan = RemovalPlan.from_json({"groups": [{"keep": [1], "remove": [2]}]})
        roots = [str(tmp_path / "library"), str(elsewhere)]
        with pytest.raises(RefusedError, match=r"File 2 .* on another filesystem .* cross"):
            execute_plan(plan, library.files, roots, journal, HARDLINK)
        assert Path(copy.path).read_bytes() == b"x" * 5000
    assert list_batches(journal) == []


def test_linking_the_keeper_to_itself_is_refused(library: Library, journal: Journal) -> None:
    keeper, _copy = library.duplicates("a.mp4")
    plan = RemovalPlan.from_json({"groups": [{"keep": [1], "remove": [1]}]})
    with pytest.raises(RefusedError, match="File 1 is both kept and removed"):
        execute_plan(plan, library.files, [str(library.root)], journal, HARDLINK)


def test_a_missing_keeper_is_refused(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    os.unlink(keeper.path)
    with pytest.raises(RefusedError, match=rf"kept file 1 \({keeper.path}\) no longer exists"):
        link(library, journal, (keeper, copy))
    assert Path(copy.path).exists() and list_batches(journal) == []


def test_a_trash_folder_is_not_used_by_hardlink_mode(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    with pytest.raises(RefusedError, match="only used with mode 'move'"):
        link(library, journal, (keeper, copy), trash_dir=str(library.root))


def test_a_dry_run_touches_nothing_and_journals_nothing(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    result = link(library, journal, (keeper, copy), dry_run=True)
    assert [done.path for done in result.done] == [copy.path] and result.batch_id is None
    assert not same_inode(copy.path, keeper.path) and list_batches(journal) == []


# Undo.


def test_undo_puts_the_original_bytes_back_in_place_of_the_link(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    digest = sha256_of(copy.path)
    copy_inode = os.stat(copy.path).st_ino
    batch_id = link(library, journal, (keeper, copy)).batch_id or 0
    [action] = batch_actions(journal, batch_id)
    result = undo_batch(journal, batch_id)
    assert [restored.path for restored in result.restored] == [copy.path]
    assert os.stat(copy.path).st_ino == copy_inode  # the original file itself, not a copy
    assert sha256_of(copy.path) == digest and os.stat(keeper.path).st_nlink == 1
    assert not os.path.lexists(action.destination or "")
    assert not os.path.lexists(action.trash_info_path or "")
    assert journal.action(action.id).state == UNDONE
    assert removed_file_ids(journal) == set()


def test_undo_when_the_trash_was_emptied_says_why_it_cannot(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    batch_id = link(library, journal, (keeper, copy)).batch_id or 0
    [action] = batch_actions(journal, batch_id)
    os.unlink(action.destination or "")
    with pytest.raises(RefusedError, match="the trash may have been emptied") as refused:
        undo_action(journal, action.id)
    assert "same bytes remain in the kept file" in str(refused.value)
    assert same_inode(copy.path, keeper.path)


def test_undo_never_overwrites_something_else_now_at_the_path(
    library: Library, journal: Journal
) -> None:
    keeper, copy = library.duplicates("a.mp4")
    batch_id = link(library, journal, (keeper, copy)).batch_id or 0
    [action] = batch_actions(journal, batch_id)
    os.unlink(copy.path)
    Path(copy.path).write_bytes(b"the user's new file")
    with pytest.raises(RefusedError, match="Something else now exists at"):
        undo_action(journal, action.id)
    assert Path(copy.path).read_bytes() == b"the user's new file"
    assert os.path.exists(action.destination or "")


def test_undo_restores_a_link_the_user_deleted(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    digest = sha256_of(copy.path)
    batch_id = link(library, journal, (keeper, copy)).batch_id or 0
    os.unlink(copy.path)
    undo_batch(journal, batch_id)
    assert sha256_of(copy.path) == digest and not same_inode(copy.path, keeper.path)


# The journal.


def test_history_csv_names_the_link_target(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    link(library, journal, (keeper, copy))
    output = io.StringIO()
    export_history_csv(journal, output)
    header, row = output.getvalue().splitlines()[:2]
    assert header.endswith(",link_target") and row.endswith("," + keeper.path)


def test_a_journal_from_before_hardlinks_is_upgraded_keeping_its_rows(tmp_path: Path) -> None:
    """Version 1 journals cannot record mode 'hardlink' (a CHECK constraint); opening one
    rebuilds its tables with every batch and action kept."""
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript(VERSION_1_SCHEMA)
    connection.execute(
        "INSERT INTO batches VALUES (1, '2025-01-01', '2025-01-01', 'move', '/t', 'finished')"
    )
    connection.execute(
        "INSERT INTO actions VALUES (1, 1, '2025-01-01', 'move', 7, '/a.mp4', '/t/a.mp4',"
        " NULL, 10, NULL, '[8]', 'done', NULL, NULL)"
    )
    connection.commit()
    connection.close()
    with Journal.open(path) as journal:
        [batch] = list_batches(journal)
        assert (batch.mode, batch.done_count, batch.done_bytes) == ("move", 1, 10)
        assert journal.action(1).keeper_ids == (8,) and journal.action(1).link_target is None
        batch_id = journal.start_batch(HARDLINK, None)
        journal.add_action(batch_id, HARDLINK, 9, "/b", "/t/b", 1, None, (8,), link_target="/k")
        assert journal.action(2).link_target == "/k"
        assert journal.query("PRAGMA foreign_key_check") == []
        indexes = {row["name"] for row in journal.query("PRAGMA index_list(actions)")}
        assert {"actions_by_batch", "actions_by_state"} <= indexes
    with Journal.open(path) as journal:  # opening again changes nothing
        assert len(batch_actions(journal, 1)) == 1 and journal.action(2).mode == HARDLINK


VERSION_1_SCHEMA = """
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    mode TEXT NOT NULL CHECK (mode IN ('trash', 'move', 'delete', 'undo')),
    trash_dir TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted'))
);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches (id),
    time TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('trash', 'move', 'delete', 'undo')),
    file_id INTEGER NOT NULL,
    original_path TEXT NOT NULL,
    destination TEXT,
    trash_info_path TEXT,
    size INTEGER NOT NULL,
    mtime REAL,
    keeper_ids TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('planned', 'done', 'skipped', 'failed', 'undone')),
    reason TEXT,
    undoes_action_id INTEGER REFERENCES actions (id)
);
CREATE INDEX actions_by_batch ON actions (batch_id);
CREATE INDEX actions_by_state ON actions (state);
PRAGMA user_version = 1;
"""


def test_reconcile_after_a_clean_run_changes_nothing(library: Library, journal: Journal) -> None:
    keeper, copy = library.duplicates("a.mp4")
    link(library, journal, (keeper, copy))
    assert reconcile(journal) == []
    assert same_inode(copy.path, keeper.path)


# The command line.


def cli_library(stash_database, tmp_path: Path) -> tuple[Path, Path, dict[str, int]]:
    """A real-schema library: a keeper, its byte-identical copy, and a copy of another size."""
    database, writer = stash_database(75)
    media = tmp_path / "média library"
    media.mkdir()
    writer.library_root(str(media))
    content = os.urandom(6000)
    ids = {}
    for name, data in (("keep.mp4", content), ("copy.mp4", content), ("other.mp4", b"B" * 10)):
        (media / name).write_bytes(data)
        ids[name] = writer.add_video_file(
            str(media / name),
            scene_id=writer.add_scene(name),
            phash="c0ffee0000000001",
            duration=10,
            oshash=hashlib.sha1(data).hexdigest()[:16],  # Stash's oshash: the same for copies
        )
    writer.close()
    return database, media, ids


def write_plan(tmp_path: Path, keep: int, remove: int) -> Path:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"groups": [{"keep": [keep], "remove": [remove]}]}))
    return plan


def test_cli_remove_mode_hardlink_links_and_undo_restores(stash_database, tmp_path) -> None:
    database, media, ids = cli_library(stash_database, tmp_path)
    plan = write_plan(tmp_path, ids["keep.mp4"], ids["copy.mp4"])
    command = ("remove", "--db", str(database), "--plan", str(plan), "--mode", "hardlink")

    dry = run_cli(*command, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would link [{ids['copy.mp4']}] {media / 'copy.mp4'}" in dry.stdout
    assert not same_inode(media / "copy.mp4", media / "keep.mp4")

    done = run_cli(*command)
    assert done.returncode == 0, done.stderr
    assert f"linked [{ids['copy.mp4']}] {media / 'copy.mp4'} (original in " in done.stdout
    assert "by hardlink" in done.stdout and "Clean task" not in done.stdout
    assert same_inode(media / "copy.mp4", media / "keep.mp4")

    history = run_cli("history", "--files")
    assert "hardlink" in history.stdout
    batch_id = history.stdout.split()[1]
    undo = run_cli("undo", batch_id)
    assert undo.returncode == 0, undo.stderr + undo.stdout
    assert f"restored [{ids['copy.mp4']}]" in undo.stdout
    assert not same_inode(media / "copy.mp4", media / "keep.mp4")
    assert (media / "copy.mp4").read_bytes() == (media / "keep.mp4").read_bytes()


def test_cli_hardlink_of_a_different_file_is_refused_naming_it(stash_database, tmp_path) -> None:
    database, media, ids = cli_library(stash_database, tmp_path)
    plan = write_plan(tmp_path, ids["keep.mp4"], ids["other.mp4"])
    result = run_cli(
        "remove", "--db", str(database), "--plan", str(plan), "--mode", "hardlink"
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"error: File {ids['other.mp4']} ({media / 'other.mp4'}) is not byte-identical" in (
        result.stderr
    )
    assert (media / "other.mp4").read_bytes() == b"B" * 10


def test_cli_auto_offers_hardlink_mode() -> None:
    result = run_cli("auto", "--help")
    assert "--mode {trash,hardlink}" in result.stdout


# The API: hardlink removals, and opening Stash's pages.


@pytest.fixture
def served(stash_database, tmp_path: Path) -> Iterator[tuple[AppState, Client, Path, dict]]:
    database, media, ids = cli_library(stash_database, tmp_path)
    settings = Settings(stash_url="http://stash.local:9999/", duration_tolerance=None)
    state, server = serve(tmp_path, settings, None)
    state.open_database(str(database))
    yield state, Client(server.server_address[1], state.token), media, ids
    server.shutdown()
    server.server_close()


def group_of(client: Client, file_id: int) -> dict[str, Any]:
    for summary in client.get("/api/groups?media=video&distance=0")["items"]:
        group = client.get(f"/api/groups/{summary['id']}")
        if file_id in [file["file_id"] for file in group["files"]]:
            return group
    raise AssertionError(f"file {file_id} is in no group")


def test_api_remove_in_hardlink_mode_links_and_undo_restores(served) -> None:
    state, client, media, ids = served
    keep, copy = ids["keep.mp4"], ids["copy.mp4"]
    group = group_of(client, copy)
    plan = {"groups": [{"group_id": group["id"], "keep": [keep], "remove": [copy]}]}
    result = client.post("/api/remove", {"plan": plan, "mode": "hardlink"})
    assert result["mode"] == "hardlink" and result["bytes_freed"] == 6000
    assert [done["file_id"] for done in result["done"]] == [copy]
    assert same_inode(media / "copy.mp4", media / "keep.mp4")
    assert client.get("/api/history")["batches"][0]["mode"] == "hardlink"
    [action] = client.get(f"/api/history/{result['batch_id']}")["actions"]
    assert action["link_target"] == str(media / "keep.mp4")
    # Resolved: the linked copy leaves the groups (its path is the keeper's file now).
    after = client.get(f"/api/groups/{group['id']}")
    assert copy not in [file["file_id"] for file in after["files"]]
    assert after["reclaimable"] == group["reclaimable"] - 6000
    restored = client.post(f"/api/history/{result['batch_id']}/undo")
    assert [file["file_id"] for file in restored["restored"]] == [copy]
    assert not same_inode(media / "copy.mp4", media / "keep.mp4")
    # Put back: it is a copy to review again.
    assert copy in [file["file_id"] for file in group_of(client, copy)["files"]]


def test_api_hardlink_of_a_different_file_is_refused_naming_it(served) -> None:
    _state, client, media, ids = served
    group_id = group_of(client, ids["other.mp4"])["id"]
    plan = {
        "groups": [{"group_id": group_id, "keep": [ids["keep.mp4"]], "remove": [ids["other.mp4"]]}]
    }
    status, _, payload = client.request("POST", "/api/remove", {"plan": plan, "mode": "hardlink"})
    assert status == 409
    assert str(media / "other.mp4") in json.loads(payload)["error"]


def test_settings_say_where_stash_pages_are_and_saving_them_back_is_accepted(served) -> None:
    state, client, _media, _ids = served
    settings = client.get("/api/settings")["settings"]
    assert settings["stash_page_base"] == "http://stash.local:9999"
    status, _, payload = client.request("PUT", "/api/settings", settings)
    assert status == 200, payload
    assert not hasattr(state.settings, "stash_page_base")


def test_open_url_opens_a_page_of_the_configured_stash(
    served, monkeypatch: pytest.MonkeyPatch
) -> None:
    _state, client, _media, _ids = served
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    url = "http://stash.local:9999/scenes/12"
    assert client.post("/api/open-url", {"url": url}) == {"opened": url}
    assert opened == [url]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/scenes/12",
        "http://stash.local:9998/scenes/12",
        "https://stash.local:9999/scenes/12",
        "http://stash.local:9999@example.com/scenes/12",
        "http://user@stash.local:9999/scenes/12",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://stash.local:9999/scenes/../../x",
        "//example.com/scenes/1",
        "",
    ],
)
def test_open_url_refuses_any_other_address(
    served, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    _state, client, _media, _ids = served
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    status, _, payload = client.request("POST", "/api/open-url", {"url": url})
    assert status == 409, payload
    assert "Only pages of your Stash (http://stash.local:9999)" in json.loads(payload)["error"]
    assert opened == []


def test_open_url_needs_the_access_token(served, monkeypatch: pytest.MonkeyPatch) -> None:
    _state, client, _media, _ids = served
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    body = {"url": "http://stash.local:9999/scenes/1"}
    status, _, _payload = client.request("POST", "/api/open-url", body, token=None)
    assert status in (401, 403) and opened == []


def test_open_url_without_a_browser_says_so(served, monkeypatch: pytest.MonkeyPatch) -> None:
    _state, client, _media, _ids = served
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: False)
    status, _, payload = client.request(
        "POST", "/api/open-url", {"url": "http://stash.local:9999/images/3"}
    )
    assert status == 400 and "No web browser" in json.loads(payload)["error"]


def test_cli_auto_in_hardlink_mode_links_only_the_identical_copies(
    demo_library: Path, tmp_path: Path
) -> None:
    """Auto-resolve matches by picture; of what it resolves, only copies identical to their
    keeper become hardlinks, and the others are named and left alone."""
    media, local = demo_library.parent / "media", tmp_path / "library"
    shutil.copytree(media, local)  # the shared demo library is never changed
    copy = local / "backup" / "Beach sunset (copy).mp4"
    original = local / "videos" / "Beach sunset.mp4"
    smaller = local / "phone export" / "beach_sunset_480p.mp4"
    smaller_bytes = smaller.read_bytes()
    result = run_cli(
        "auto", "--db", str(demo_library), "--map", f"{media}={local}",
        "--distance", "8", "--mode", "hardlink", "--yes",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"{smaller}: not identical to its keeper" in result.stdout
    assert "replaced 1 files with hardlinks to their keepers" in result.stdout
    assert same_inode(copy, original)
    assert smaller.read_bytes() == smaller_bytes and os.stat(smaller).st_nlink == 1


def test_a_filesystem_that_refuses_hardlinks_leaves_the_file_in_place(
    library: Library, journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some filesystems (FAT, some network shares) cannot make hardlinks: the link fails
    after the copy went to the trash, and the original is put back."""
    keeper, copy = library.duplicates("a.mp4")
    copy_inode = os.stat(copy.path).st_ino

    def no_links(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    result = link(library, journal, (keeper, copy))
    [skipped] = result.skipped
    assert skipped.reason.startswith("Could not replace the file with a hardlink")
    assert "Operation not permitted" in skipped.reason and "back in place" in skipped.reason
    assert os.stat(copy.path).st_ino == copy_inode
    trash = Path(os.environ["XDG_DATA_HOME"]) / "Trash"
    assert list((trash / "files").iterdir()) == list((trash / "info").iterdir()) == []
    assert removed_file_ids(journal) == set()

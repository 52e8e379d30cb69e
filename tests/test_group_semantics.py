"""What a group promises: every two files within its distance, and only close copies of the
keeper ever marked Remove for the user (by the API's suggestion, the page, auto-resolve)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.stash.library_writer import LibraryWriter
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .test_concurrent_removal import SCHEMA_75
from .test_server import Client

# A chain: a-b 4 bits, b-c 4 bits, a-c 8 bits.
A, B, C = "c3a1f0e0d0c0b000", "c3a1f0e0d0c0b00f", "c3a1f0e0d0c0b0ff"


def chain_library(folder: Path) -> tuple[Path, dict[str, int]]:
    import shutil

    folder.mkdir(parents=True)
    database = folder / "stash-go.sqlite"
    shutil.copyfile(SCHEMA_75, database)
    media = folder / "media"
    media.mkdir()
    ids = {}
    with LibraryWriter(database) as writer:
        writer.library_root(str(media))
        for name, phash, size in (("a", A, 9000), ("b", B, 5000), ("c", C, 3000)):
            path = media / f"{name}.mp4"
            path.write_bytes(name.encode() * size)
            scene = writer.add_scene(name)
            ids[name] = writer.add_video_file(str(path), scene_id=scene, phash=phash, duration=60)
            if name == "b":  # b's scene has a second file without a phash (another part)
                part = media / "b part 2.mp4"
                part.write_bytes(b"p" * 4000)
                ids["b part 2"] = writer.add_video_file(
                    str(part), scene_id=scene, primary=False, duration=60
                )
        writer.connection.commit()
    return database, ids


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[AppState, Client, dict[str, int], str]]:
    database, ids = chain_library(tmp_path / "library")
    state = AppState(
        Settings(duration_tolerance=None, default_distance=4),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(database))
    server, url = start(state)
    yield state, Client(server.server_address[1], state.token), ids, url
    server.shutdown()
    server.server_close()


def test_a_chain_never_promises_a_distance_it_does_not_keep(served) -> None:
    _state, client, ids, _url = served
    listing = client.get("/api/groups?media=video&distance=4")
    (item,) = listing["items"]
    assert item["max_distance"] <= 4
    group = client.get(f"/api/groups/{item['id']}")
    members = {file["file_id"] for file in group["files"]}
    assert {ids["a"], ids["b"]} <= members and ids["c"] not in members


def test_only_close_copies_of_the_keeper_are_suggested_for_removal(served) -> None:
    _state, client, ids, _url = served
    (item,) = client.get("/api/groups?media=video&distance=4")["items"]
    group = client.get(f"/api/groups/{item['id']}")
    by_id = {file["file_id"]: file for file in group["files"]}
    assert group["keeper_id"] == ids["a"]  # the largest file
    assert group["distance_limit"] == 4
    assert by_id[ids["b"]]["distance"] == 4 and by_id[ids["b"]]["copy_of_keeper"]
    # The scene's other file has no phash: it is shown, never suggested for removal.
    assert by_id[ids["b part 2"]]["distance"] is None
    assert not by_id[ids["b part 2"]]["copy_of_keeper"]


@pytest.mark.browser
def test_the_page_marks_only_close_copies_remove(served, page: Page) -> None:
    _state, _client, ids, url = served
    page.goto(url)
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    copy = page.locator(f'.card[data-file-id="{ids["b"]}"]')
    part = page.locator(f'.card[data-file-id="{ids["b part 2"]}"]')
    expect(copy).to_have_class(re.compile("card-remove"))
    expect(part).to_have_class(re.compile("card-keep"))
    expect(part.locator(".thumb-far")).to_have_text("not a close copy")
    page.keyboard.press("a")  # accept the suggestion again: the same marks
    expect(part).to_have_class(re.compile("card-keep"))
    expect(page.locator("#remove-marked")).to_contain_text("Remove 1")


def test_only_the_most_recent_filters_keep_their_groups_in_memory(tmp_path: Path) -> None:
    from unittest import mock

    from stash_dedupe.dedupe import session as session_module
    from stash_dedupe.dedupe.session import KEEP_FILTERS, GroupFilter, LibrarySession

    database, _ids = chain_library(tmp_path / "library")
    session = LibrarySession.open(
        database,
        Settings(duration_tolerance=None),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
    )
    filters = [GroupFilter(media="video", distance=d) for d in range(KEEP_FILTERS + 2)]
    with mock.patch.object(
        session_module, "find_column_groups", wraps=session_module.find_column_groups
    ) as grouping:
        for group_filter in filters:
            session.groups(group_filter)
        assert grouping.call_count == len(filters)
        session.groups(filters[-1])  # recent: kept
        assert grouping.call_count == len(filters)
        session.groups(filters[0])  # viewed longest ago: forgotten, grouped again
        assert grouping.call_count == len(filters) + 1
    session.close()


@pytest.mark.parametrize("distance", [4, 8])
def test_groups_read_in_a_row_list_the_same_files_built_or_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, distance: int
) -> None:
    from stash_dedupe import cli
    from stash_dedupe.dedupe import session as session_module
    from stash_dedupe.dedupe.session import GroupFilter, LibrarySession

    database, _ids = chain_library(tmp_path / "library")
    session = LibrarySession.open(
        database,
        Settings(duration_tolerance=None),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
    )
    groups = session.groups(GroupFilter(media="video", distance=distance))
    assert groups
    texts = {}
    for share in (0.0, 2.0):  # every file listed from one scan / every file's details built
        monkeypatch.setattr(session_module, "_SCAN_SHARE", share)
        texts[share] = [cli.group_json_text(g, "video") for g in session.groups_with_files(groups)]
        listed = [cli.group_json_text(g, "video", f) for g, f in session.listed_files(groups)]
        assert listed == texts[share]
    assert texts[0.0] == texts[2.0]
    assert texts[2.0] == [cli.group_json_text(group, "video") for group in groups]
    session.close()

"""Keeping Stash in step, end to end: the real server's API, a real-schema library with real
files, and a fake Stash that validates every request against Stash's schema."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.media.backfill import HashOutcome, HashTask, PhashCache, library_key
from stash_dedupe.models import IMAGE, VIDEO
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState
from tests.fake_stash import FakeStash
from tests.test_server import Client, wait_for_job

SAME_PHASH = "c0ffee0000000001"


@pytest.fixture
def fake() -> Iterator[FakeStash]:
    """A fake Stash; afterwards, every request it got must have been valid for the schema."""
    with FakeStash() as server:
        yield server
    assert not server.invalid_requests, [r.errors for r in server.invalid_requests]


@dataclass
class Library:
    database: Path
    media: Path
    files: dict[str, int]  # file name -> Stash file id
    scenes: dict[str, int]  # file name -> Stash scene (or image) id


def make_library(stash_database: Any, tmp_path: Path, phashes: bool = True) -> Library:
    """Two copies of one video in two scenes, another video, and an image: real files."""
    database, writer = stash_database(75)
    media = tmp_path / "média library"
    media.mkdir()
    writer.library_root(str(media))
    library = Library(database, media, {}, {})
    videos = (("keep me.mp4", b"A" * 5000), ("copy of it.mp4", b"A" * 4000), ("other.mp4", b"B"))
    for name, content in videos:
        (media / name).write_bytes(content)
        library.scenes[name] = writer.add_scene(name)
        phash = (SAME_PHASH if name != "other.mp4" else "0f0f0f0f0f0f0f0f") if phashes else None
        library.files[name] = writer.add_video_file(
            str(media / name), scene_id=library.scenes[name], phash=phash, duration=10
        )
    (media / "photo.jpg").write_bytes(b"\xff\xd8\xff" + b"C" * 300)
    library.scenes["photo.jpg"] = writer.add_image("photo")
    library.files["photo.jpg"] = writer.add_image_file(
        str(media / "photo.jpg"), image_id=library.scenes["photo.jpg"]
    )
    writer.close()
    return library


def serve(tmp_path: Path, settings: Settings, library: Library | None) -> tuple[AppState, Any]:
    state = AppState(
        settings,
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )
    if library is not None:
        state.open_database(str(library.database))
    server, _url = start(state)
    return state, server


@pytest.fixture
def app(
    stash_database: Any, tmp_path: Path, fake: FakeStash
) -> Iterator[tuple[AppState, Client, Library]]:
    """The app on a fresh library, set to talk to the fake Stash."""
    library = make_library(stash_database, tmp_path)
    state, server = serve(tmp_path, Settings(stash_url=fake.url, duration_tolerance=None), library)
    yield state, Client(server.server_address[1], state.token), library
    server.shutdown()
    server.server_close()


def mirror_in_fake(fake: FakeStash, state: AppState, library: Library) -> None:
    """Give the fake Stash the library's files and scenes, as the real Stash would have them."""
    session = state.require_session()
    for name, file_id in library.files.items():
        file = session.file(file_id)
        kind = "VideoFile" if file.media == VIDEO else "ImageFile"
        fake.add_file(file_id, file.stash_path, file.size, file.mod_time or "", kind=kind)
        if file.media == VIDEO:
            fake.add_scene(library.scenes[name], [file_id], title=name)


def copies_group(client: Client) -> dict[str, Any]:
    listing = client.get("/api/groups?media=video&distance=0")
    assert listing["total"] == 1, listing
    return client.get(f"/api/groups/{listing['items'][0]['id']}")


def remove_copy(client: Client, tmp_path: Path) -> tuple[int, int]:
    """Remove the group's non-keeper into a trash folder; returns (batch id, removed file id)."""
    group = copies_group(client)
    removed = next(f["file_id"] for f in group["files"] if f["file_id"] != group["keeper_id"])
    trash = tmp_path / "trash"
    trash.mkdir()
    plan = {
        "groups": [{"group_id": group["id"], "keep": [group["keeper_id"]], "remove": [removed]}]
    }
    result = client.post("/api/remove", {"plan": plan, "mode": "move", "trash_dir": str(trash)})
    assert [f["file_id"] for f in result["done"]] == [removed]
    return result["batch_id"], removed


def free_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# ---- test connection -------------------------------------------------------------------------


def test_test_connection_shows_stash_version(fake: FakeStash, tmp_path: Path) -> None:
    state, server = serve(tmp_path, Settings(stash_url=fake.url), None)
    client = Client(server.server_address[1], state.token)
    try:
        assert client.post("/api/stash/test") == {"url": fake.url, "version": "v0.30.1"}
    finally:
        server.shutdown()
    assert fake.called("version") == [{}]


def test_test_connection_tries_the_url_typed_in_the_form_before_it_is_saved(
    fake: FakeStash, tmp_path: Path
) -> None:
    state, server = serve(tmp_path, Settings(stash_url=free_port_url()), None)
    client = Client(server.server_address[1], state.token)
    try:
        assert client.post("/api/stash/test", {"stash_url": fake.url})["version"] == "v0.30.1"
    finally:
        server.shutdown()


def test_a_wrong_api_key_reads_as_an_auth_error_without_the_key(tmp_path: Path) -> None:
    with FakeStash(api_key="right-key") as fake:
        state, server = serve(tmp_path, Settings(stash_url=fake.url, stash_api_key="wrong-1"), None)
        client = Client(server.server_address[1], state.token)
        try:
            status, _, body = client.request("POST", "/api/stash/test", {})
        finally:
            server.shutdown()
    assert status == 502
    message = json.loads(body)["error"]
    assert message.startswith(f"Stash at {fake.url} rejected the API key (HTTP 401)")
    assert "wrong-1" not in message


def test_an_unreachable_stash_says_so_with_its_url(tmp_path: Path) -> None:
    url = free_port_url()
    state, server = serve(tmp_path, Settings(stash_url=url), None)
    client = Client(server.server_address[1], state.token)
    try:
        status, _, body = client.request("POST", "/api/stash/test", {})
    finally:
        server.shutdown()
    assert status == 502
    assert json.loads(body)["error"].startswith(f"Cannot reach Stash at {url} (")


# ---- the API key ------------------------------------------------------------------------


def test_the_api_key_is_never_returned_and_an_empty_one_keeps_it(tmp_path: Path) -> None:
    with FakeStash(api_key="s3cret-key") as fake:
        state, server = serve(tmp_path, Settings(), None)
        client = Client(server.server_address[1], state.token)
        try:
            saved = client.json(
                "PUT", "/api/settings", {"stash_url": fake.url, "stash_api_key": "s3cret-key"}
            )
            _, _, raw = client.request("GET", "/api/settings")
            page = json.loads(raw)["settings"]
            echoed = client.json("PUT", "/api/settings", {**page, "theme": "light"})
            kept = client.json("PUT", "/api/settings", {"stash_api_key": ""})
            version = client.post("/api/stash/test")["version"]
            forgotten = client.json("PUT", "/api/settings", {"stash_api_key": None})
        finally:
            server.shutdown()
    assert b"s3cret" not in raw and "s3cret" not in json.dumps([saved, echoed, kept])
    assert page["stash_api_key_set"] is True and page["stash_api_key"] == ""
    assert echoed["settings"]["theme"] == "light" and kept["settings"]["stash_api_key_set"]
    assert version == "v0.30.1"
    assert forgotten["settings"]["stash_api_key_set"] is False
    assert state.settings.stash_api_key == ""


def test_a_stash_url_that_is_not_an_address_is_refused_when_saved(tmp_path: Path) -> None:
    state, server = serve(tmp_path, Settings(), None)
    client = Client(server.server_address[1], state.token)
    try:
        status, _, body = client.request("PUT", "/api/settings", {"stash_url": "ftp://nas"})
    finally:
        server.shutdown()
    assert status == 400 and "not an http address" in json.loads(body)["error"]


# ---- after a removal ----------------------------------------------------------------------


def test_cleanup_preview_shows_what_will_be_sent_and_sends_nothing(
    app: tuple[AppState, Client, Library], fake: FakeStash, tmp_path: Path
) -> None:
    state, client, library = app
    batch_id, removed = remove_copy(client, tmp_path)
    removed_name = next(name for name, file_id in library.files.items() if file_id == removed)

    preview = client.post("/api/stash/cleanup/preview", {"batch_id": batch_id})

    assert [file["file_id"] for file in preview["removed"]] == [removed]
    destroy, clean = preview["operations"]
    assert destroy["kind"] == "destroy_scenes" and "1 scene" in destroy["summary"]
    assert destroy["variables"] == {
        "input": {
            "ids": [str(library.scenes[removed_name])],
            "delete_file": False,
            "delete_generated": True,
        }
    }
    assert clean["kind"] == "clean"
    assert clean["variables"] == {"input": {"paths": [str(library.media)], "dryRun": False}}
    assert "scenesDestroy" in destroy["document"]
    assert fake.requests == []


def test_cleanup_apply_plans_again_from_the_batch_and_reports_progress(
    app: tuple[AppState, Client, Library], fake: FakeStash, tmp_path: Path
) -> None:
    state, client, library = app
    mirror_in_fake(fake, state, library)
    batch_id, removed = remove_copy(client, tmp_path)
    removed_name = next(name for name, file_id in library.files.items() if file_id == removed)
    forged = [{"kind": "clean", "summary": "", "variables": {"input": {"paths": ["/"]}}}]

    job = client.post("/api/stash/cleanup/apply", {"batch_id": batch_id, "operations": forged})
    job = wait_for_job(client, job["job_id"])

    assert job["state"] == "done", job
    assert (job["done"], job["total"]) == (2, 2)
    assert job["result"]["outcomes"] == [
        "Stash deleted 1 scene from its library.",
        "Stash started its Clean task (job 1).",
    ]
    assert job["result"]["paths"] == [str(library.media / removed_name)]
    assert fake.called("scenesDestroy") == [
        {"ids": [str(library.scenes[removed_name])], "delete_file": False, "delete_generated": True}
    ]
    assert fake.called("metadataClean") == [{"paths": [str(library.media)], "dryRun": False}]
    assert str(library.scenes[removed_name]) not in fake.scenes


def test_cleanup_of_an_undone_batch_is_refused_with_a_reason(
    app: tuple[AppState, Client, Library], fake: FakeStash, tmp_path: Path
) -> None:
    _, client, _ = app
    batch_id, _ = remove_copy(client, tmp_path)
    client.post(f"/api/history/{batch_id}/undo")
    for route in ("preview", "apply"):
        status, _, body = client.request(
            "POST", f"/api/stash/cleanup/{route}", {"batch_id": batch_id}
        )
        assert status == 400
        assert "no removed files of the open library" in json.loads(body)["error"]
    assert fake.requests == []


def test_a_graphql_error_during_cleanup_fails_the_job_with_stash_message(
    app: tuple[AppState, Client, Library], fake: FakeStash, tmp_path: Path
) -> None:
    state, client, library = app
    mirror_in_fake(fake, state, library)
    fake.fail("scenesDestroy", "database is locked")
    batch_id, _ = remove_copy(client, tmp_path)
    job = client.post("/api/stash/cleanup/apply", {"batch_id": batch_id})
    job = wait_for_job(client, job["job_id"])
    assert job["state"] == "failed"
    assert job["message"] == (
        "Step 1 of 2 (destroy_scenes) failed: Stash reported an error: database is locked"
    )
    assert fake.called("metadataClean") == []


# ---- merge ------------------------------------------------------------------------------


def scripted_scenes(fake: FakeStash, state: AppState, library: Library, keeper_file: int) -> None:
    mirror_in_fake(fake, state, library)
    keeper_name = next(name for name, file_id in library.files.items() if file_id == keeper_file)
    other_name = "copy of it.mp4" if keeper_name == "keep me.mp4" else "keep me.mp4"
    fake.scenes[str(library.scenes[keeper_name])].update(
        tags=[{"id": "1", "name": "beach"}], play_count=1
    )
    fake.scenes[str(library.scenes[other_name])].update(
        tags=[{"id": "1", "name": "beach"}, {"id": "2", "name": "sunset"}],
        performers=[{"id": "7", "name": "Ana"}],
        play_count=3,
        o_counter=2,
        scene_markers=[{"id": "40"}],
        stash_ids=[
            {"endpoint": "https://stashdb.org/graphql", "stash_id": "abc", "updated_at": ""}
        ],
    )


def test_merge_preview_shows_the_union_and_changes_nothing(
    app: tuple[AppState, Client, Library], fake: FakeStash
) -> None:
    state, client, library = app
    group = copies_group(client)
    keeper = group["keeper_id"]
    scripted_scenes(fake, state, library, keeper)
    source = next(f for f in group["files"] if f["file_id"] != keeper)["items"][0]["item_id"]

    preview = client.post(
        "/api/stash/merge/preview", {"group_id": group["id"], "keeper_file_id": keeper}
    )

    keeper_scene = next(f for f in group["files"] if f["file_id"] == keeper)["items"][0]
    assert preview["keeper"]["scene_id"] == keeper_scene["item_id"]
    assert [scene["scene_id"] for scene in preview["sources"]] == [source]
    merged = preview["merged"]
    assert merged["tags"] == ["beach", "sunset"] and merged["performers"] == ["Ana"]
    assert (merged["play_count"], merged["o_count"], merged["marker_count"]) == (4, 2, 1)
    assert merged["stash_ids"] == ["https://stashdb.org/graphql abc"]
    assert preview["dropped_stash_ids"] == []
    assert fake.called("sceneMerge") == []


def test_merge_apply_merges_the_other_scenes_into_the_keepers(
    app: tuple[AppState, Client, Library], fake: FakeStash
) -> None:
    state, client, library = app
    group = copies_group(client)
    keeper = group["keeper_id"]
    scripted_scenes(fake, state, library, keeper)
    scene_of = {f["file_id"]: f["items"][0]["item_id"] for f in group["files"]}
    source = next(scene for file_id, scene in scene_of.items() if file_id != keeper)

    merged = client.post(
        "/api/stash/merge/apply", {"group_id": group["id"], "keeper_file_id": keeper}
    )["scene"]

    (call,) = fake.called("sceneMerge")
    assert call["destination"] == str(scene_of[keeper]) and call["source"] == [str(source)]
    assert call["play_history"] is True and call["o_history"] is True
    assert merged["scene_id"] == scene_of[keeper]
    assert merged["tags"] == ["beach", "sunset"] and len(merged["file_paths"]) == 2
    assert str(source) not in fake.scenes


def test_merge_needs_a_keeper_from_the_group(
    app: tuple[AppState, Client, Library], fake: FakeStash
) -> None:
    _, client, library = app
    group = copies_group(client)
    status, _, body = client.request(
        "POST",
        "/api/stash/merge/preview",
        {"group_id": group["id"], "keeper_file_id": library.files["other.mp4"]},
    )
    assert status == 404 and "is not in group" in json.loads(body)["error"]
    assert fake.requests == []


def test_a_missing_scene_in_stash_reads_as_stash_error(
    app: tuple[AppState, Client, Library], fake: FakeStash
) -> None:
    _, client, _ = app
    group = copies_group(client)
    status, _, body = client.request(
        "POST",
        "/api/stash/merge/preview",
        {"group_id": group["id"], "keeper_file_id": group["keeper_id"]},
    )
    assert status == 502
    assert json.loads(body)["error"].startswith("Stash reported an error: scene with id")


# ---- phash write-back ---------------------------------------------------------------------


def test_phash_write_back_sends_cached_phashes_and_skips_a_changed_file(
    stash_database: Any, tmp_path: Path, fake: FakeStash
) -> None:
    library = make_library(stash_database, tmp_path, phashes=False)
    state, server = serve(tmp_path, Settings(stash_url=fake.url), library)
    client = Client(server.server_address[1], state.token)
    session = state.require_session()
    cache = PhashCache()
    hashed = {
        "keep me.mp4": ("a1a2a3a4a5a6a7a8", True),
        "copy of it.mp4": ("b1b2b3b4b5b6b7b8", True),
        "other.mp4": ("c1c2c3c4c5c6c7c8", False),  # the OpenCV fallback: never sent
        "photo.jpg": ("d1d2d3d4d5d6d7d8", True),  # hashed with --exact-images
    }
    for name, (phash, exact) in hashed.items():
        file = session.file(library.files[name])
        task = HashTask(file.file_id, file.media, file.path, file.size, file.mod_time)
        cache.store(library_key(str(library.database)), HashOutcome(task, phash, exact, None))
    cache.close()
    mirror_in_fake(fake, state, library)
    changed = fake.files[str(library.files["copy of it.mp4"])]
    changed["size"] += 10  # Stash rescanned a file that changed since it was hashed

    try:
        job = wait_for_job(client, client.post("/api/stash/phashes")["job_id"])
    finally:
        server.shutdown()

    assert job["state"] == "done", job
    result = job["result"]
    assert result["written"] == 2 and result["failed"] == []
    (skipped,) = result["skipped"]
    assert skipped["file_id"] == library.files["copy of it.mp4"]
    assert skipped["path"] == str(library.media / "copy of it.mp4")
    assert "size changed" in skipped["reason"]
    sent = {
        call["id"]: call["fingerprints"][0]["value"] for call in fake.called("fileSetFingerprints")
    }
    assert sent == {
        str(library.files["keep me.mp4"]): "a1a2a3a4a5a6a7a8",
        str(library.files["photo.jpg"]): "d1d2d3d4d5d6d7d8",
    }
    assert session.file(library.files["photo.jpg"]).media == IMAGE


def test_fast_mode_image_hashes_are_not_sent(stash_database: Any, tmp_path: Path) -> None:
    """A fast-mode image hash may be a few bits off Stash's own: it stays in the app."""
    from stash_dedupe.media.backfill import CachedPhash
    from stash_dedupe.stash.sync import phash_writes

    library = make_library(stash_database, tmp_path, phashes=False)
    state, server = serve(tmp_path, Settings(), library)
    server.shutdown()
    photo = state.require_session().file(library.files["photo.jpg"])
    entry = CachedPhash(
        photo.file_id, photo.path, photo.size, photo.mod_time, "d1d2d3d4d5d6d7d8", exact=False
    )
    assert phash_writes([photo], [entry]) == []
    exact = CachedPhash(
        photo.file_id, photo.path, photo.size, photo.mod_time, "d1d2d3d4d5d6d7d8", exact=True
    )
    assert [write.phash for write in phash_writes([photo], [exact])] == ["d1d2d3d4d5d6d7d8"]

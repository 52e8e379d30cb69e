"""Nothing outside the library is served or removed, links included, through every route."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_concurrent_removal import Library, build_library, serving
from .test_server import Client

SECRET = b"outside the library: never served\n" * 50


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Library, Client, Path]]:
    library = build_library(tmp_path / "library", [2, 2, 2])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(SECRET)
    with serving(library.database, tmp_path) as (_state, client):
        yield library, client, outside


def routes_for(file_id: int, other_id: int) -> list[str]:
    return [
        f"/api/files/{file_id}/media",
        f"/api/files/{file_id}/thumbnail",
        f"/api/files/{file_id}/compare/{other_id}",
        f"/api/files/{file_id}/difference/{other_id}",
    ]


def assert_nothing_outside_is_served(client: Client, file_id: int, other_id: int) -> None:
    for route in routes_for(file_id, other_id):
        status, headers, body = client.request("GET", route)
        assert SECRET[:40] not in body, route
        assert 400 <= status < 500, (route, status, body[:200])
        assert headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"]


def test_a_library_file_replaced_by_a_link_to_outside_is_not_served(served) -> None:
    library, client, outside = served
    first, second = library.groups[0]
    status, _, body = client.request("GET", f"/api/files/{first}/media")
    assert status == 200 and body == library.paths[first].read_bytes()
    library.paths[first].unlink()
    library.paths[first].symlink_to(outside / "secret.mp4")
    assert_nothing_outside_is_served(client, first, second)
    status, _, body = client.request("GET", f"/api/files/{first}/media")
    assert status == 409 and "symbolic link" in json.loads(body)["error"]


def test_a_library_file_linked_to_etc_passwd_is_not_served(served) -> None:
    library, client, _outside = served
    first, second = library.groups[1]
    library.paths[first].unlink()
    library.paths[first].symlink_to("/etc/passwd")
    for route in routes_for(first, second):
        status, _, body = client.request("GET", route)
        assert b"root:" not in body and status < 500


def test_the_library_root_replaced_by_a_link_to_outside_serves_nothing(
    served, tmp_path: Path
) -> None:
    library, client, outside = served
    first, second = library.groups[2]
    # The root now points outside, where a file of the same name holds other bytes.
    library.media.rename(tmp_path / "moved media")
    (outside / library.paths[first].name).write_bytes(SECRET)
    library.media.symlink_to(outside, target_is_directory=True)
    assert_nothing_outside_is_served(client, first, second)
    status, _, body = client.request("GET", f"/api/files/{first}/media")
    assert status == 409 and "outside the library" in json.loads(body)["error"]


def test_a_folder_inside_the_library_linked_to_outside_serves_nothing(tmp_path: Path) -> None:
    library = build_library(tmp_path / "library", [2])
    first, second = library.groups[0]
    outside = tmp_path / "outside"
    outside.mkdir()
    # Files in a subfolder of the root; the subfolder is then swapped for a link.
    sub = library.media / "sub"
    sub.mkdir()
    for file_id in (first, second):
        moved = sub / library.paths[file_id].name
        library.paths[file_id].rename(moved)
        (outside / moved.name).write_bytes(SECRET)
    from stash_dedupe.stash.library_writer import LibraryWriter

    with LibraryWriter(library.database) as writer:
        sub_id = writer.folder(str(sub))
        writer.connection.execute("UPDATE files SET parent_folder_id = ?", (sub_id,))
        writer.connection.commit()
    with serving(library.database, tmp_path) as (_state, client):
        status, _, body = client.request("GET", f"/api/files/{first}/media")
        assert status == 200 and body != SECRET
        sub.rename(tmp_path / "moved sub")
        sub.symlink_to(outside, target_is_directory=True)
        assert_nothing_outside_is_served(client, first, second)


def test_a_missing_library_file_is_reported_not_served(served) -> None:
    library, client, _outside = served
    first, _second = library.groups[0]
    library.paths[first].unlink()
    status, _, body = client.request("GET", f"/api/files/{first}/media")
    assert status == 422 and "not on disk" in json.loads(body)["error"]


def test_removal_refuses_a_link_the_same_way(served) -> None:
    library, client, outside = served
    first, second = library.groups[0]
    group = client.get("/api/groups?media=video&distance=0")["items"]
    assert group
    library.paths[second].unlink()
    library.paths[second].symlink_to(outside / "secret.mp4")
    plan = {"groups": [{"keep": [first], "remove": [second]}]}
    status, _, body = client.request("POST", "/api/remove", {"plan": plan})
    assert status == 409 and "symbolic link" in json.loads(body)["error"]
    assert (outside / "secret.mp4").read_bytes() == SECRET
    assert os.path.islink(library.paths[second])

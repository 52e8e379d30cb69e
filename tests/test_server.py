"""The web API, over real HTTP on the real threaded server, on a private copy of the demo library.

The copy's media live in a temp dir and the demo database is opened through a path mapping,
so removals here never touch the session-wide demo library.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.jobs import Job
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.web.page import frontend_dir
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

JPEG_MAGIC = b"\xff\xd8\xff"


class Client:
    """Plain http.client, so a test can send any Host header or none of the token."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = "",
        host: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        sent = dict(headers or {})
        sent["Host"] = host if host is not None else f"127.0.0.1:{self.port}"
        if token == "":
            token = self.token
        if token is not None:
            sent["X-Token"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, _, payload = self.request(method, path, body)
        assert status == expect, payload.decode(errors="replace")
        return json.loads(payload)

    def get(self, path: str, expect: int = 200) -> Any:
        return self.json("GET", path, expect=expect)

    def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        return self.json("POST", path, body if body is not None else {}, expect=expect)


@pytest.fixture
def library_copy(demo_library: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The demo's media copied into tmp; returns (database, the path mapping to the copy)."""
    media = demo_library.parent / "media"
    copy = tmp_path / "library"
    shutil.copytree(media, copy)
    return demo_library, {"stash_prefix": str(media), "local_prefix": str(copy)}


def make_state(tmp_path: Path, mappings: list[dict[str, str]] | None = None) -> AppState:
    return AppState(
        Settings(path_mappings=mappings or [], duration_tolerance=None),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[AppState, Client]]:
    """A running app with no database open yet."""
    state = make_state(tmp_path)
    server, _url = start(state)
    yield state, Client(server.server_address[1], state.token)
    server.shutdown()
    server.server_close()


@pytest.fixture
def app_on_copy(
    library_copy: tuple[Path, dict[str, str]], tmp_path: Path
) -> Iterator[tuple[AppState, Client, Path]]:
    """A running app with the private copy of the demo library open."""
    database, mapping = library_copy
    state = make_state(tmp_path, [mapping])
    state.open_database(str(database))
    server, _url = start(state)
    yield state, Client(server.server_address[1], state.token), Path(mapping["local_prefix"])
    server.shutdown()
    server.server_close()


def first_group(client: Client, query: str = "media=video&distance=8") -> dict[str, Any]:
    listing = client.get(f"/api/groups?{query}")
    assert listing["items"], "the demo library must have duplicate groups"
    return client.get(f"/api/groups/{listing['items'][0]['id']}")


# ---- security ---------------------------------------------------------------------------


def test_api_without_token_is_refused(served: tuple[AppState, Client]) -> None:
    _, client = served
    status, _, body = client.request("GET", "/api/status", token=None)
    assert status == 403
    assert "token" in json.loads(body)["error"]


def test_api_with_wrong_token_is_refused(served: tuple[AppState, Client]) -> None:
    _, client = served
    status, _, _ = client.request("GET", "/api/status", token="not-the-token")
    assert status == 403


def test_token_in_query_is_accepted_for_img_and_video_sources(
    served: tuple[AppState, Client],
) -> None:
    state, client = served
    status, _, _ = client.request("GET", f"/api/status?token={state.token}", token=None)
    assert status == 200


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "attacker.localhost.evil:{port}", "127.0.0.1:1", "localhost", ""],
)
def test_foreign_host_header_is_refused(served: tuple[AppState, Client], host: str) -> None:
    _, client = served
    status, _, _ = client.request("GET", "/api/status", host=host.format(port=client.port))
    assert status == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_loopback_names_are_accepted(served: tuple[AppState, Client], host: str) -> None:
    _, client = served
    status, _, _ = client.request("GET", "/api/status", host=host.format(port=client.port))
    assert status == 200


def test_host_check_refuses_the_page_too(served: tuple[AppState, Client]) -> None:
    _, client = served
    status, _, _ = client.request("GET", "/", token=None, host=f"evil.example:{client.port}")
    assert status == 403


def test_wildcard_bind_accepts_ip_literals_but_no_other_names(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    state.bind("0.0.0.0", 8123)
    assert state.host_allowed("192.168.1.20:8123")
    assert state.host_allowed("localhost:8123")
    assert not state.host_allowed("rebind.example.com:8123")
    assert not state.host_allowed("192.168.1.20:9999")


def test_page_is_served_without_token_and_holds_no_secret(served: tuple[AppState, Client]) -> None:
    state, client = served
    status, headers, body = client.request("GET", "/", token=None)
    assert status == 200
    assert b"<title>Stash Dedupe</title>" in body
    assert state.token.encode() not in body
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    status, headers, body = client.request("GET", "/static/js/main.js", token=None)
    assert status == 200 and b"import" in body


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2f..%2fetc%2fpasswd",
    ],
)
def test_static_files_cannot_leave_the_frontend_folder(
    served: tuple[AppState, Client], path: str
) -> None:
    _, client = served
    status, _, body = client.request("GET", path, token=None)
    assert status in (403, 404)
    assert b"root:" not in body


def test_frontend_dir_is_found_in_a_checkout_and_in_a_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (frontend_dir() / "index.html").is_file()
    bundle = tmp_path / "bundle"
    (bundle / "frontend").mkdir(parents=True)
    (bundle / "frontend" / "index.html").write_text("<!doctype html>")
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert frontend_dir() == bundle / "frontend"


def test_unknown_api_is_a_json_404(served: tuple[AppState, Client]) -> None:
    _, client = served
    assert "error" in client.get("/api/nothing-here", expect=404)


# ---- opening a database -----------------------------------------------------------------


def test_status_before_a_database_is_open(served: tuple[AppState, Client]) -> None:
    _, client = served
    status = client.get("/api/status")
    assert status["database"] is None


def test_review_calls_need_an_open_database(served: tuple[AppState, Client]) -> None:
    _, client = served
    assert "database" in client.get("/api/groups", expect=400)["error"]


def test_opening_a_missing_file_gives_a_readable_error(
    served: tuple[AppState, Client], tmp_path: Path
) -> None:
    _, client = served
    error = client.post("/api/database", {"path": str(tmp_path / "nope.sqlite")}, expect=422)
    assert "no such file" in error["error"]


def test_opening_a_file_that_is_not_sqlite_gives_a_readable_error(
    served: tuple[AppState, Client], tmp_path: Path
) -> None:
    _, client = served
    bogus = tmp_path / "notes.sqlite"
    bogus.write_text("hello")
    error = client.post("/api/database", {"path": str(bogus)}, expect=422)
    assert "not an SQLite database" in error["error"]


def test_opening_the_demo_database_reports_its_library(
    served: tuple[AppState, Client], demo_library: Path
) -> None:
    state, client = served
    database = client.post("/api/database", {"path": str(demo_library)})["database"]
    assert database["schema_version"] == 75
    assert database["videos"] >= 9 and database["images"] >= 8
    assert client.get("/api/status")["database"]["path"] == str(demo_library)
    assert state.settings.database == str(demo_library)


def test_candidates_include_stash_home_and_the_config_database_key(
    served: tuple[AppState, Client],
    demo_library: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, client = served
    home = tmp_path / "home"
    (home / ".stash").mkdir(parents=True)
    shutil.copyfile(demo_library, home / ".stash" / "stash-go.sqlite")
    elsewhere = tmp_path / "stash-config"
    (elsewhere / "db").mkdir(parents=True)
    (elsewhere / "db" / "library.sqlite").write_text("not a database")
    (elsewhere / "config.yml").write_text("generated: ./generated\ndatabase: db/library.sqlite\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("STASH_CONFIG_FILE", str(elsewhere / "config.yml"))
    monkeypatch.chdir(tmp_path)
    found = {
        Path(c["path"]).resolve(): c for c in client.get("/api/databases/candidates")["candidates"]
    }
    good = found[(home / ".stash" / "stash-go.sqlite").resolve()]
    assert good["schema_version"] == 75 and good["error"] is None
    bad = found[(elsewhere / "db" / "library.sqlite").resolve()]
    assert "not an SQLite database" in bad["error"]


# ---- settings -----------------------------------------------------------------------------


def test_settings_round_trip_and_refuse_bad_values(served: tuple[AppState, Client]) -> None:
    _, client = served
    data = client.get("/api/settings")
    assert "highest_resolution" in {rule["name"] for rule in data["keeper_rules"]}
    changed = client.json("PUT", "/api/settings", {"default_distance": 8, "theme": "light"})
    assert changed["settings"]["default_distance"] == 8
    assert changed["settings"]["theme"] == "light"
    status, _, body = client.request("PUT", "/api/settings", {"theme": "purple"})
    assert status == 400 and "theme" in json.loads(body)["error"]
    status, _, body = client.request("PUT", "/api/settings", {"keeper_rules": ["by_vibes"]})
    assert status == 400 and "by_vibes" in json.loads(body)["error"]


def test_settings_with_a_bad_database_change_nothing(
    app_on_copy: tuple[AppState, Client, Path], tmp_path: Path
) -> None:
    state, client, _ = app_on_copy
    before = client.get("/api/settings")["settings"]
    error = client.json(
        "PUT",
        "/api/settings",
        {"database": str(tmp_path / "gone.sqlite"), "default_distance": 4},
        expect=422,
    )
    assert "no such file" in error["error"]
    assert client.get("/api/settings")["settings"] == before
    assert client.get("/api/status")["database"]["path"] == before["database"]


def test_new_path_mappings_reopen_the_library(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, copy = app_on_copy
    assert first_group(client)["files"][0]["path"].startswith(str(copy))
    client.json("PUT", "/api/settings", {"path_mappings": []})
    assert not first_group(client)["files"][0]["path"].startswith(str(copy))


# ---- review -------------------------------------------------------------------------------


def test_summary_counts_the_library_and_the_groups(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    summary = client.get("/api/summary?media=video&distance=8")
    assert summary["videos"] == summary["videos_with_phash"] >= 9
    assert summary["groups"] >= 2
    assert summary["reclaimable"] > 0


def test_groups_are_paged_and_sorted_by_reclaimable_space(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    everything = client.get("/api/groups?media=video&distance=8&limit=1000")
    reclaimable = [item["reclaimable"] for item in everything["items"]]
    assert reclaimable == sorted(reclaimable, reverse=True)
    assert everything["total"] == len(everything["items"]) >= 2
    second = client.get("/api/groups?media=video&distance=8&offset=1&limit=1")
    assert second["total"] == everything["total"]
    assert [item["id"] for item in second["items"]] == [everything["items"][1]["id"]]
    item = everything["items"][0]
    assert set(item) >= {
        "id",
        "count",
        "reclaimable",
        "max_distance",
        "kind",
        "first_path",
        "suspicious",
    }


def test_group_filters_change_what_is_found(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    exact = client.get("/api/groups?media=video&distance=0")["total"]
    near = client.get("/api/groups?media=video&distance=10")["total"]
    files_near = sum(i["count"] for i in client.get("/api/groups?media=video&distance=10")["items"])
    files_exact = sum(i["count"] for i in client.get("/api/groups?media=video&distance=0")["items"])
    assert files_near >= files_exact and near >= 1 and exact >= 1
    images = client.get("/api/groups?media=image&distance=8")
    assert images["total"] >= 1
    assert all(Path(item["first_path"]).suffix in (".jpg", ".png") for item in images["items"])
    backup = client.get("/api/groups?media=video&distance=8&path=BACKUP")
    assert backup["total"] >= 1
    big = client.get("/api/groups?media=video&distance=10&min_size=99")
    assert big["total"] == 0


def test_bad_filter_values_are_refused(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    assert "distance" in client.get("/api/groups?distance=99", expect=400)["error"]
    assert "whole number" in client.get("/api/groups?distance=x", expect=400)["error"]
    assert "media" in client.get("/api/groups?media=audio", expect=400)["error"]


def test_group_detail_has_every_field_and_a_suggested_keeper(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    assert group["keeper_id"] in {file["file_id"] for file in group["files"]}
    file = group["files"][0]
    for field in (
        "path",
        "size",
        "width",
        "height",
        "duration",
        "bit_rate",
        "video_codec",
        "frame_rate",
        "mod_time",
        "phash",
        "items",
        "distance",
        "name",
    ):
        assert field in file
    keeper = next(f for f in group["files"] if f["file_id"] == group["keeper_id"])
    assert keeper["distance"] == 0
    scene = next(f for f in group["files"] if f["items"])["items"][0]
    for field in (
        "title",
        "studio",
        "date",
        "rating",
        "play_count",
        "o_count",
        "tag_count",
        "performer_count",
        "marker_count",
        "stash_id_count",
    ):
        assert field in scene


def test_unknown_group_is_a_404(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    assert "not among the current groups" in client.get("/api/groups/v000", expect=404)["error"]


# ---- files --------------------------------------------------------------------------------


def test_thumbnail_is_a_jpeg(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    status, headers, body = client.request(
        "GET", f"/api/files/{group['files'][0]['file_id']}/thumbnail"
    )
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert body.startswith(JPEG_MAGIC)


def test_media_streams_ranges_of_the_mapped_file(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, copy = app_on_copy
    file = first_group(client)["files"][0]
    assert file["path"].startswith(str(copy))
    status, headers, body = client.request(
        "GET", f"/api/files/{file['file_id']}/media", headers={"Range": "bytes=100-199"}
    )
    assert status == 206
    assert headers["content-type"] == "video/mp4"
    assert body == Path(file["path"]).read_bytes()[100:200]
    status, _, body = client.request("GET", f"/api/files/{file['file_id']}/media")
    assert status == 200 and len(body) == file["size"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/files/999999/media",
        "/api/files/999999/thumbnail",
        "/api/files/-1/media",
        "/api/files/abc/media",
        "/api/files/1/../../../etc/passwd",
        "/api/files/%2Fetc%2Fpasswd/media",
        "/api/files/1/media/../../../../etc/passwd",
        "/api/files/media?path=/etc/passwd",
    ],
)
def test_files_not_listed_by_the_database_are_never_served(
    app_on_copy: tuple[AppState, Client, Path], path: str
) -> None:
    _, client, _ = app_on_copy
    status, _, body = client.request("GET", path)
    assert status == 404
    assert b"root:" not in body


def test_media_query_parameters_cannot_choose_another_file(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    file = first_group(client)["files"][0]
    status, _, body = client.request(
        "GET", f"/api/files/{file['file_id']}/media?path=/etc/passwd&file=/etc/passwd"
    )
    assert status == 200 and body == Path(file["path"]).read_bytes()


def test_two_images_compare_by_score_and_difference_map(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    group = first_group(client, "media=image&distance=8")
    first, second = (file["file_id"] for file in group["files"][:2])
    score = client.get(f"/api/files/{first}/compare/{second}")["score"]
    assert 0.9 <= score <= 1.0
    status, _, body = client.request("GET", f"/api/files/{first}/difference/{second}")
    assert status == 200 and body.startswith(JPEG_MAGIC)
    video = first_group(client)["files"][0]["file_id"]
    assert "Only images" in client.get(f"/api/files/{first}/compare/{video}", expect=400)["error"]


# ---- not a duplicate ----------------------------------------------------------------------


def test_dismissing_a_group_hides_it_until_undone(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    before = client.get("/api/groups?media=video&distance=8")["total"]
    dismissal = client.post(f"/api/groups/{group['id']}/dismiss")["dismissal"]
    listing = client.get("/api/groups?media=video&distance=8")
    assert listing["total"] == before - 1
    assert group["id"] not in {item["id"] for item in listing["items"]}
    listed = client.get("/api/dismissals")["dismissals"]
    assert [d["id"] for d in listed] == [dismissal["id"]]
    assert {m["path"] for m in listed[0]["members"]} == {f["path"] for f in group["files"]}
    client.json("DELETE", f"/api/dismissals/{dismissal['id']}")
    assert client.get("/api/groups?media=video&distance=8")["total"] == before
    assert client.get("/api/dismissals")["dismissals"] == []


def test_dismissing_one_file_takes_it_out_of_its_group(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    listing = client.get("/api/groups?media=video&distance=10&limit=100")
    bigger = next(item for item in listing["items"] if item["count"] >= 3)
    group = client.get(f"/api/groups/{bigger['id']}")
    leaving = group["files"][-1]
    answer = client.post(f"/api/files/{leaving['file_id']}/dismiss", {"group_id": group["id"]})
    assert answer["group"]["id"] == group["id"]
    remaining = {file["file_id"] for file in answer["group"]["files"]}
    assert leaving["file_id"] not in remaining and len(remaining) == len(group["files"]) - 1


def test_a_groups_files_are_read_a_page_at_a_time(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    listing = client.get("/api/groups?media=video&distance=10&limit=100")
    bigger = next(item for item in listing["items"] if item["count"] >= 3)
    whole = client.get(f"/api/groups/{bigger['id']}")
    assert whole["files_offset"] == 0 and len(whole["files"]) == whole["count"]
    pages = [
        client.get(f"/api/groups/{bigger['id']}?offset={offset}&limit=2")
        for offset in range(0, whole["count"], 2)
    ]
    assert all(page["count"] == whole["count"] for page in pages)
    assert all(page["keeper_id"] == whole["keeper_id"] for page in pages)
    assert [file for page in pages for file in page["files"]] == whole["files"]
    assert [page["files_offset"] for page in pages] == list(range(0, whole["count"], 2))
    assert "limit" in client.get(f"/api/groups/{bigger['id']}?limit=x", expect=400)["error"]


def test_dismissing_a_file_needs_its_group(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    file = first_group(client)["files"][0]
    assert "group" in client.post(f"/api/files/{file['file_id']}/dismiss", {}, expect=400)["error"]


# ---- removal and history ------------------------------------------------------------------


def plan_for(group: dict[str, Any], keep: list[int], remove: list[int]) -> dict[str, Any]:
    return {"groups": [{"group_id": group["id"], "keep": keep, "remove": remove}]}


def test_removal_refuses_to_leave_a_group_empty(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    every = [file["file_id"] for file in group["files"]]
    error = client.post(
        "/api/remove",
        {"plan": plan_for(group, [], every), "mode": "move", "trash_dir": "/tmp/never"},
        expect=409,
    )["error"]
    assert "keep at least one" in error
    assert all(Path(file["path"]).exists() for file in group["files"])


def test_removal_refuses_files_from_outside_the_group(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    listing = client.get("/api/groups?media=video&distance=8")["items"]
    first = client.get(f"/api/groups/{listing[0]['id']}")
    second = client.get(f"/api/groups/{listing[1]['id']}")
    plan = plan_for(first, [first["files"][0]["file_id"]], [second["files"][0]["file_id"]])
    error = client.post(
        "/api/remove", {"plan": plan, "mode": "move", "trash_dir": "/tmp/x"}, expect=409
    )["error"]
    assert "not a current duplicate group" in error


def test_permanent_delete_needs_explicit_confirmation(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    ids = [file["file_id"] for file in group["files"]]
    error = client.post(
        "/api/remove", {"plan": plan_for(group, ids[:1], ids[1:]), "mode": "delete"}, expect=409
    )["error"]
    assert "confirmation" in error
    assert all(Path(file["path"]).exists() for file in group["files"])


def test_dry_run_removes_nothing(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    ids = [file["file_id"] for file in group["files"]]
    result = client.post(
        "/api/remove", {"plan": plan_for(group, ids[:1], ids[1:]), "mode": "trash", "dry_run": True}
    )
    assert result["dry_run"] and len(result["done"]) == len(ids) - 1
    assert all(Path(file["path"]).exists() for file in group["files"])
    assert client.get("/api/history")["batches"] == []


def test_removal_moves_files_hides_them_and_undo_brings_them_back(
    app_on_copy: tuple[AppState, Client, Path], tmp_path: Path
) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    keep = group["keeper_id"]
    remove = [file["file_id"] for file in group["files"] if file["file_id"] != keep]
    removed_paths = [file["path"] for file in group["files"] if file["file_id"] != keep]
    contents = {path: Path(path).read_bytes() for path in removed_paths}
    trash = tmp_path / "trash"
    trash.mkdir()
    result = client.post(
        "/api/remove",
        {"plan": plan_for(group, [keep], remove), "mode": "move", "trash_dir": str(trash)},
    )
    assert {done["path"] for done in result["done"]} == set(removed_paths)
    assert result["bytes_freed"] == sum(len(data) for data in contents.values())
    assert not any(Path(path).exists() for path in removed_paths)
    listing = client.get("/api/groups?media=video&distance=8&limit=1000")
    shown = {item["id"] for item in listing["items"]}
    assert group["id"] not in shown  # only the keeper is left: no longer a group

    batches = client.get("/api/history")["batches"]
    assert batches[0]["id"] == result["batch_id"] and batches[0]["done_count"] == len(remove)
    actions = client.get(f"/api/history/{result['batch_id']}")["actions"]
    assert {action["original_path"] for action in actions} == set(removed_paths)
    status, headers, body = client.request("GET", "/api/history.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert {row["original_path"] for row in rows} == set(removed_paths)

    undone = client.post(f"/api/history/{result['batch_id']}/undo")
    assert len(undone["restored"]) == len(remove)
    assert {path: Path(path).read_bytes() for path in removed_paths} == contents
    assert group["id"] in {
        item["id"] for item in client.get("/api/groups?media=video&distance=8&limit=1000")["items"]
    }


# ---- jobs ---------------------------------------------------------------------------------


def wait_for_job(client: Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}")
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)  # polling a background job, as the page does
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def record_job_starts(state: AppState, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of the jobs the app starts from now on (they still run)."""
    started: list[str] = []
    start_job = state.jobs.start

    def recording(job: Job) -> Job:
        started.append(job.kind)
        return start_job(job)

    monkeypatch.setattr(state.jobs, "start", recording)
    return started


def test_frame_comparison_runs_as_a_job_and_serves_its_frames(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    group = first_group(client)
    job_id = client.post(f"/api/groups/{group['id']}/frames")["job_id"]
    job = wait_for_job(client, job_id)
    assert job["state"] == "done", job
    result = job["result"]
    assert len(result["files"]) == len(group["files"])
    assert result["files"][result["keeper_index"]]["score"] == 1.0
    assert all(file["frame_count"] == len(result["positions"]) for file in result["files"])
    status, _, body = client.request("GET", f"/api/frames/{job_id}/0/0.jpg")
    assert status == 200 and body.startswith(JPEG_MAGIC)
    status, _, body = client.request("GET", f"/api/frames/{job_id}/diff/0/1/0.jpg")
    assert status == 200 and body.startswith(JPEG_MAGIC)
    assert client.request("GET", f"/api/frames/{job_id}/0/99.jpg")[0] == 404


def test_a_get_of_a_groups_frames_starts_no_comparison(
    app_on_copy: tuple[AppState, Client, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, client, _ = app_on_copy
    group = first_group(client)
    started = record_job_starts(state, monkeypatch)
    assert "error" in client.get(f"/api/groups/{group['id']}/frames", expect=404)
    assert started == []
    wait_for_job(client, client.post(f"/api/groups/{group['id']}/frames")["job_id"])
    assert started == ["frames"]


def test_black_bars_found_in_the_frames_move_the_suggested_keeper(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    items = client.get("/api/groups?media=video&distance=8&limit=50")["items"]
    group = next(detail for detail in (client.get(f"/api/groups/{item['id']}") for item in items)
                 if any("letterbox" in file["name"] for file in detail["files"]))  # fmt: skip
    by_name = {file["name"]: file for file in group["files"]}
    letterboxed = by_name["City lights 2019 (4x3 letterbox).mp4"]
    clean = by_name["City lights 2019.mp4"]
    # Before any frames: the 640x480 frame outranks the 640x360 one.
    assert group["keeper_id"] == letterboxed["file_id"]
    assert letterboxed["picture_width"] is None

    job = wait_for_job(client, client.post(f"/api/groups/{group['id']}/frames")["job_id"])
    assert job["state"] == "done", job
    keeper_path = job["result"]["files"][job["result"]["keeper_index"]]["path"]
    assert keeper_path == clean["path"]

    again = client.get(f"/api/groups/{group['id']}")
    assert again["keeper_id"] == clean["file_id"]
    shown = {file["name"]: file for file in again["files"]}
    box = shown["City lights 2019 (4x3 letterbox).mp4"]
    assert box["picture_width"] == 640 and abs(box["picture_height"] - 360) <= 2
    assert (shown["City lights 2019.mp4"]["picture_width"],
            shown["City lights 2019.mp4"]["picture_height"]) == (640, 360)  # fmt: skip


def test_backfill_job_finishes_when_every_file_has_a_phash(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    job = client.post("/api/backfill", {"media": "all"})
    finished = wait_for_job(client, job["job_id"])
    assert finished["state"] == "done"
    assert finished["result"] == {"hashed": 0, "failed": 0}


def test_unknown_job_is_a_404(served: tuple[AppState, Client]) -> None:
    _, client = served
    assert "No job" in client.get("/api/jobs/nope", expect=404)["error"]


def test_a_job_can_be_paused_resumed_and_cancelled(
    app_on_copy: tuple[AppState, Client, Path],
) -> None:
    _, client, _ = app_on_copy
    job_id = client.post("/api/backfill", {"media": "videos"})["job_id"]
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/api/jobs/{job_id}/{action}")["job_id"] == job_id
    assert wait_for_job(client, job_id)["state"] in ("done", "cancelled")
    assert client.post(f"/api/jobs/{job_id}/explode", expect=404)["error"]


def test_unknown_history_batches_are_404(served: tuple[AppState, Client]) -> None:
    _, client = served
    assert "no removal batch" in client.get("/api/history/41", expect=404)["error"]
    assert "no removal batch" in client.post("/api/history/41/undo", expect=404)["error"]


def test_auto_resolve_previews_as_a_job_and_its_plan_is_accepted(
    app_on_copy: tuple[AppState, Client, Path], tmp_path: Path
) -> None:
    _, client, _ = app_on_copy
    query = "media=video&distance=10&duration=any"
    job = client.post(f"/api/autoresolve?{query}", {"threshold": 0.8})
    preview = wait_for_job(client, job["job_id"])
    assert preview["state"] == "done", preview
    result = preview["result"]
    assert result["resolved"], "the demo's re-encodes match their keeper"
    assert all(f["score"] >= 0.8 for group in result["resolved"] for f in group["remove"])
    removed = [f["path"] for group in result["resolved"] for f in group["remove"]]
    assert all(Path(path).exists() for path in removed)  # a preview removes nothing
    trash = tmp_path / "auto-trash"
    trash.mkdir()
    outcome = client.post(
        "/api/remove", {"plan": result["plan"], "mode": "move", "trash_dir": str(trash)}
    )
    assert sorted(done["path"] for done in outcome["done"]) == sorted(removed)
    assert not any(Path(path).exists() for path in removed)


def test_auto_resolve_refuses_a_bad_threshold(app_on_copy: tuple[AppState, Client, Path]) -> None:
    _, client, _ = app_on_copy
    assert "threshold" in client.post("/api/autoresolve", {"threshold": 7}, expect=400)["error"]
    assert "threshold" in client.post("/api/autoresolve", {"threshold": "x"}, expect=400)["error"]

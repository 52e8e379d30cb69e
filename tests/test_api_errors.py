"""Every bad input gets a 4xx JSON error naming what was wrong; a bug gets a JSON 500 with an
error id whose traceback is in the log. Never an HTML page, a bare NaN or a traceback on stderr.

Over real HTTP on the real server, with a small real-schema library open and the Stash URL
on a closed loopback port.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.errorlog import log_path
from stash_dedupe.removal.journal import Batch
from stash_dedupe.settings import Settings
from stash_dedupe.web import routes
from stash_dedupe.web.state import AppState
from tests.test_server import Client
from tests.test_stash_sync import Library, free_port_url, make_library, serve

BEYOND_64_BITS = [str(2**63), str(-(2**63) - 1), "99999999999999999999999", "9" * 5000]


@pytest.fixture
def app(stash_database: Any, tmp_path: Path) -> Iterator[tuple[AppState, Client, Library]]:
    yield from serve_small_library(stash_database, tmp_path)


def serve_small_library(
    stash_database: Any, tmp_path: Path
) -> Iterator[tuple[AppState, Client, Library]]:
    """The app on a fresh small library; its Stash URL is a closed port on this machine."""
    library = make_library(stash_database, tmp_path)
    settings = Settings(stash_url=free_port_url(), duration_tolerance=None)
    state, running = serve(tmp_path, settings, library)
    yield state, Client(running.server_address[1], state.token), library
    running.shutdown()
    running.server_close()


def send(
    client: Client,
    method: str,
    path: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A request with a raw body (JSON that `json.dumps` would not write, or none at all)."""
    connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=120)
    sent = {"Host": f"127.0.0.1:{client.port}", "X-Token": client.token}
    if data is not None:
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    connection.request(method, path, body=data, headers=sent)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def json_error(response: tuple[int, dict[str, str], bytes], status: int) -> str:
    """The error message of a JSON error response with `status`."""
    got, headers, payload = response
    assert got == status, payload[:300]
    assert headers["content-type"].startswith("application/json")
    return json.loads(payload)["error"]


def first_group(client: Client) -> dict[str, Any]:
    listing = client.get("/api/groups?media=video&distance=0")
    return client.get(f"/api/groups/{listing['items'][0]['id']}")


# ---- ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("huge", BEYOND_64_BITS)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/history/{id}"),
        ("POST", "/api/history/{id}/undo"),
        ("DELETE", "/api/dismissals/{id}"),
        ("GET", "/api/files/{id}/thumbnail"),
        ("GET", "/api/files/{id}/media"),
        ("GET", "/api/files/{id}/compare/{id}"),
        ("GET", "/api/files/{id}/difference/{id}"),
    ],
)
def test_an_id_beyond_64_bits_in_the_path_is_a_json_404(
    app: tuple[AppState, Client, Library], method: str, path: str, huge: str
) -> None:
    _, client, _ = app
    assert json_error(send(client, method, path.format(id=huge)), 404)


@pytest.mark.parametrize("huge", BEYOND_64_BITS[:3])
def test_a_file_id_beyond_64_bits_to_dismiss_is_a_json_404(
    app: tuple[AppState, Client, Library], huge: str
) -> None:
    _, client, _ = app
    body = json.dumps({"group_id": first_group(client)["id"]}).encode()
    assert json_error(send(client, "POST", f"/api/files/{huge}/dismiss", body), 404)


@pytest.mark.parametrize("route", ["/api/stash/cleanup/preview", "/api/stash/cleanup/apply"])
def test_a_batch_id_beyond_64_bits_in_a_body_is_a_json_404(
    app: tuple[AppState, Client, Library], route: str
) -> None:
    _, client, _ = app
    body = b'{"batch_id": 99999999999999999999999}'
    assert "no removal batch" in json_error(send(client, "POST", route, body), 404)


def test_a_keeper_file_id_beyond_64_bits_is_a_json_404(
    app: tuple[AppState, Client, Library],
) -> None:
    _, client, _ = app
    group_id = json.dumps(first_group(client)["id"])
    body = f'{{"group_id": {group_id}, "keeper_file_id": {2**64}}}'.encode()
    assert json_error(send(client, "POST", "/api/stash/merge/preview", body), 404)


# ---- request bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"],
    ids=["100000-deep", "41-deep"],
)
def test_a_deeply_nested_body_is_refused(
    app: tuple[AppState, Client, Library], body: bytes
) -> None:
    _, client, _ = app
    assert "nested" in json_error(send(client, "PUT", "/api/settings", body), 400)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_nan_and_infinity_are_refused_in_a_body(
    app: tuple[AppState, Client, Library], literal: str
) -> None:
    _, client, _ = app
    before = client.get("/api/settings")
    body = f'{{"duration_tolerance": {literal}}}'.encode()
    assert "not valid JSON" in json_error(send(client, "PUT", "/api/settings", body), 400)
    assert client.get("/api/settings") == before


def test_a_body_over_a_mebibyte_is_a_json_413(app: tuple[AppState, Client, Library]) -> None:
    _, client, _ = app
    body = json.dumps({"path": "x" * 5_000_000}).encode()
    assert "over 1048576 bytes" in json_error(send(client, "POST", "/api/database", body), 413)


def test_a_chunked_body_is_a_json_411(app: tuple[AppState, Client, Library]) -> None:
    _, client, _ = app
    response = send(
        client, "PUT", "/api/settings", b"2\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"}
    )
    assert "Content-Length" in json_error(response, 411)


# ---- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"keeper_rules": 5}, "keeper_rules"),
        ({"preferred_folders": 5}, "preferred_folders"),
        ({"database": 5}, "database"),
        ({"path_mappings": [{"stash_prefix": 1, "local_prefix": 2}]}, "path_mappings"),
        ({"trash_dir": 5}, "trash_dir"),
        ({"frame_samples": True}, "frame_samples"),
        ({"default_distance": 4.5}, "default_distance"),
        ({"theme": None}, "theme"),
    ],
)
def test_a_setting_of_the_wrong_type_is_refused_naming_it_and_not_saved(
    app: tuple[AppState, Client, Library], changes: dict[str, Any], field: str
) -> None:
    _, client, _ = app
    before = client.get("/api/settings")
    status, _, body = client.request("PUT", "/api/settings", changes)
    assert status == 400 and f"({field})" in json.loads(body)["error"]
    assert client.get("/api/settings") == before


def test_a_refused_setting_names_the_field_for_the_page_to_mark(
    app: tuple[AppState, Client, Library],
) -> None:
    _, client, _ = app
    changes = {"path_mappings": [{"stash_prefix": "/data", "local_prefix": "/no/such/folder"}]}
    refused = client.json("PUT", "/api/settings", changes, expect=400)
    assert refused["field"] == "path_mappings.0.local_prefix"
    assert "does not exist here" in refused["error"]
    assert "field" not in client.json("GET", "/api/groups/nope", expect=404)


def test_a_path_mapping_onto_a_file_is_refused(app: tuple[AppState, Client, Library]) -> None:
    _, client, library = app
    a_file = str(library.media / "keep me.mp4")
    changes = {"path_mappings": [{"stash_prefix": "/data", "local_prefix": a_file}]}
    error = client.json("PUT", "/api/settings", changes, expect=400)["error"]
    assert "is a file, not a folder" in error


@pytest.mark.parametrize(
    ("path", "status"), [("/" + "x" * 5000, 400), ("/tmp/" + "x" * 300, 422)], ids=["5000", "300"]
)
def test_a_database_path_too_long_is_a_readable_error(
    app: tuple[AppState, Client, Library], path: str, status: int
) -> None:
    _, client, _ = app
    body = json.dumps({"path": path}).encode()
    error = json_error(send(client, "POST", "/api/database", body), status)
    assert "(path)" in error or "cannot be opened" in error


# ---- query values -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-2"])
@pytest.mark.parametrize("route", ["/api/groups", "/api/summary"])
def test_a_duration_that_is_not_seconds_is_refused(
    app: tuple[AppState, Client, Library], route: str, value: str
) -> None:
    _, client, _ = app
    assert "(duration)" in json_error(send(client, "GET", f"{route}?duration={value}"), 400)


# ---- Bottle's own errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PATCH", "/api/status", 405),
        ("GET", "/api/nothing/here", 404),
        ("GET", "/static/nothing.js", 404),
    ],
)
def test_bottles_own_errors_are_json(
    app: tuple[AppState, Client, Library], method: str, path: str, status: int
) -> None:
    _, client, _ = app
    assert json_error(send(client, method, path), status)


# ---- bugs ---------------------------------------------------------------------------------


def test_a_bug_in_a_route_is_a_json_500_with_an_error_id_and_the_traceback_is_logged(
    app: tuple[AppState, Client, Library],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _, client, _ = app

    def broken(journal: object) -> list[Batch]:
        raise RuntimeError("a bug in listing batches")

    monkeypatch.setattr(routes, "list_batches", broken)
    status, headers, payload = send(client, "GET", f"/api/history?token={client.token}")
    assert status == 500 and headers["content-type"] == "application/json"
    answer = json.loads(payload)
    error_id = answer["error_id"]
    assert len(error_id) == 8
    assert answer["error"] == f"Unexpected error (id {error_id}); details are in {log_path()}"
    assert "Traceback" not in answer["error"]
    logged = log_path().read_text(encoding="utf-8")
    assert f"error {error_id} in GET /api/history" in logged
    assert "RuntimeError: a bug in listing batches" in logged
    assert client.token not in logged
    assert "Traceback" not in capfd.readouterr().err


def test_a_nan_is_never_written_into_a_response(
    app: tuple[AppState, Client, Library], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client, _ = app
    batch = Batch(1, "now", None, "trash", None, "finished", 1, 1, float("nan"))  # type: ignore[arg-type]
    monkeypatch.setattr(routes, "list_batches", lambda journal: [batch])
    status, _, payload = send(client, "GET", "/api/history")
    assert status == 500 and b"NaN" not in payload
    assert json.loads(payload)["error_id"]

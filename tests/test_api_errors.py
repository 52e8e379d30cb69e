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

from stash_dedupe import server
from stash_dedupe.errorlog import log_path
from stash_dedupe.journal import Batch
from stash_dedupe.server import AppState
from stash_dedupe.settings import Settings
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

    monkeypatch.setattr(server, "list_batches", broken)
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
    monkeypatch.setattr(server, "list_batches", lambda journal: [batch])
    status, _, payload = send(client, "GET", "/api/history")
    assert status == 500 and b"NaN" not in payload
    assert json.loads(payload)["error_id"]

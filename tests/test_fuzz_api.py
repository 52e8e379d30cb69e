"""Fuzzing every /api/ route: whatever is sent, the answer is JSON (or the file asked for),
never a 500 and never a traceback on stderr.

The routes are listed from the Bottle app itself, so a new route is fuzzed without a change
here. Each gets generated path parameters (real ids, huge, negative and non-numeric ones),
query values and JSON bodies (nested values of the wrong types, huge ints, long strings, and
raw text that `json.dumps` would never write: NaN, Infinity, 1e999, deep nesting), with the
token, against the real server with a small real-schema library open. Stash is a closed port
on this machine and every other address is refused, so nothing reaches the network.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stash_dedupe.errorlog import log_path
from stash_dedupe.web.routes import create_app
from stash_dedupe.web.state import AppState
from tests.test_api_errors import send, serve_small_library
from tests.test_server import Client, record_job_starts, wait_for_job
from tests.test_stash_sync import Library

# create_app only closes over the state, so listing its routes needs none.
API_ROUTES = sorted(
    {
        (route.method, route.rule)
        for route in create_app(cast(AppState, None)).routes
        if route.rule.startswith("/api/")
    }
)
WILDCARD = re.compile(r"<(\w+)(?::(\w*)(?::([^>]*))?)?>")
BINARY_TYPES = ("image/", "video/", "audio/", "text/csv", "application/octet-stream")
EXAMPLES_PER_ROUTE = 40  # about 0.4 s a route

# Names the routes and the settings read, so generated bodies reach past "missing field".
BODY_KEYS = [
    "path", "group_id", "plan", "mode", "trash_dir", "confirm_delete", "dry_run", "threshold",
    "media", "stash_url", "stash_api_key", "batch_id", "keeper_file_id", "database",
    "path_mappings", "default_distance", "duration_tolerance", "removal_mode", "keeper_rules",
    "preferred_folders", "theme", "frame_samples", "groups", "keep", "remove", "codec_order",
    "protected_folders",
]  # fmt: skip
QUERY_KEYS = ["media", "distance", "duration", "path", "min_size", "suspicious", "offset", "limit"]
ODD_NUMBERS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-1", "0", "9" * 30, "1.5", ""]
RAW_LITERALS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, "[" * 60 + "]" * 60]

huge_ints = st.one_of(
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30, -1, 0]),
)
texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "all", "videos", "images", "video", "move", "delete", "/tmp", ".."]),
    st.just("x" * 5000),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    huge_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(BODY_KEYS), st.text(max_size=8)), children),
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(
    st.one_of(st.sampled_from(BODY_KEYS), st.text(max_size=10)), values, max_size=5
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes | None:
    """None, a JSON object, JSON that is not an object, or raw text json.dumps never writes."""
    kind = draw(st.sampled_from(["none", "object", "object", "other", "raw", "garbage"]))
    if kind == "none":
        return None
    if kind == "object":
        return json.dumps(draw(json_objects)).encode()
    if kind == "other":
        return json.dumps(draw(values)).encode()
    if kind == "raw":
        key, literal = draw(st.sampled_from(BODY_KEYS)), draw(st.sampled_from(RAW_LITERALS))
        return f'{{"{key}": {literal}}}'.encode()
    return draw(st.binary(max_size=40))


def path_values(name: str, kind: str, config: str, known: dict[str, list[str]]) -> Any:
    """Values for one path wildcard: the real ones the app knows, and odd ones."""
    odd = st.one_of(
        huge_ints.map(str),
        st.sampled_from(["9" * 5000, "-0", "abc", "1e3", "%00", "..", "%2e%2e"]),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12).map(
            lambda text: urllib.parse.quote(text, safe="")
        ),
    )
    if kind == "re":
        return st.one_of(st.sampled_from(config.split("|")), odd)
    real = known["file_ids"] if kind == "int" else known["group_ids"] + known["job_ids"]
    if name.endswith("index"):
        real = ["0", "1"]
    return st.one_of(st.sampled_from(real), odd) if real else odd


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only this machine's loopback addresses resolve (a fuzzed Stash URL names any host)."""
    resolve = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            allowed = name == "localhost" or ipaddress.ip_address(name.strip("[]")).is_loopback
        except ValueError:
            allowed = False
        if not allowed:
            raise socket.gaierror(socket.EAI_NONAME, f"the fuzz test refuses {name!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture
def app(
    stash_database: Any, tmp_path: Path, no_network: None
) -> Iterator[tuple[AppState, Client, Library]]:
    yield from serve_small_library(stash_database, tmp_path)


def known_values(client: Client) -> dict[str, list[str]]:
    """Ids the app knows, fixed before the fuzzing (Hypothesis replays its examples)."""
    listing = client.get("/api/groups?media=video&distance=0")
    groups = [client.get(f"/api/groups/{item['id']}") for item in listing["items"]]
    jobs = [
        client.post(f"/api/groups/{groups[0]['id']}/frames")["job_id"],
        client.post("/api/backfill", {"media": "all"})["job_id"],
    ]
    for job_id in jobs:
        wait_for_job(client, job_id)
    return {
        "group_ids": [group["id"] for group in groups],
        "file_ids": [str(file["file_id"]) for group in groups for file in group["files"]],
        "job_ids": jobs,
    }


def check_answer(response: tuple[int, dict[str, str], bytes], job_ids: list[str]) -> None:
    """JSON unless a file was served; no 500; a 502/503 only as an app error (Stash down)."""
    status, headers, payload = response
    content_type = headers.get("content-type", "")
    if status in (200, 206) and content_type.startswith(BINARY_TYPES):
        return
    assert content_type.startswith("application/json"), (status, content_type, payload[:200])
    answer = json.loads(payload, parse_constant=lambda literal: pytest.fail(f"bare {literal}"))
    assert status != 500, answer
    if status >= 500:
        assert status in (502, 503) and "error_id" not in answer, (status, answer)
    if isinstance(answer, dict) and isinstance(answer.get("job_id"), str):
        job_ids.append(answer["job_id"])


def stop_jobs(client: Client, job_ids: list[str]) -> None:
    """Cancel what the fuzzing started, so no job outlives the test."""
    for job_id in set(job_ids):
        send(client, "POST", f"/api/jobs/{job_id}/cancel")
    deadline = time.monotonic() + 60
    for job_id in set(job_ids):
        while True:
            status, _, payload = send(client, "GET", f"/api/jobs/{job_id}")
            if status == 404:  # finished long enough ago to be forgotten
                break
            if json.loads(payload)["state"] in ("done", "failed", "cancelled"):
                break
            assert time.monotonic() < deadline, f"job {job_id} did not stop"
            time.sleep(0.05)  # waiting for a background job to notice its cancellation


@pytest.mark.parametrize(("method", "rule"), API_ROUTES, ids=[f"{m} {r}" for m, r in API_ROUTES])
def test_every_api_route_answers_any_input_with_json_and_never_a_500(
    app: tuple[AppState, Client, Library],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    rule: str,
) -> None:
    state, client, _ = app
    known = known_values(client)
    job_ids: list[str] = list(known["job_ids"])
    started = record_job_starts(state, monkeypatch)

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        def fill(match: re.Match[str]) -> str:
            name, kind, config = match[1], match[2] or "", match[3] or ""
            return str(data.draw(path_values(name, kind, config, known), label=name))

        path = WILDCARD.sub(fill, rule)
        query = data.draw(
            st.dictionaries(
                st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=5)),
                st.one_of(st.sampled_from(ODD_NUMBERS), texts),
                max_size=4,
            ),
            label="query",
        )
        if query:
            path += "?" + urllib.parse.urlencode(query)
        body = data.draw(bodies(), label="body")
        check_answer(send(client, method, path, body), job_ids)

    try:
        fuzz()
    finally:
        stop_jobs(client, job_ids)
    assert "Traceback" not in capfd.readouterr().err
    assert not log_path().exists(), log_path().read_text(encoding="utf-8")[-3000:]
    if method == "GET":
        assert started == [], f"a GET started work: {started}"

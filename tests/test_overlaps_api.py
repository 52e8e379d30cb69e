"""The Overlaps view's API, over real HTTP on the real server, on a real-schema library of
corpus videos: listing pairs, fingerprinting as a job, frames at matching times, and removal
of a pair through the same checks as any group (lock, journal, last copy) plus its own: the
longer file of a `contained` pair goes only by explicit choice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.removal.journal import Journal, batch_actions, list_batches
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .overlap_library import build_overlap_library, overlap_media  # noqa: F401 (a fixture)
from .test_demo_and_cli import run_cli
from .test_server import JPEG_MAGIC, Client, make_state

MIN_OVERLAP = 8


@pytest.fixture
def overlap_app(
    overlap_media: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[AppState, Client, Path, dict[str, int]]]:
    database, ids = build_overlap_library(overlap_media, tmp_path / "stash")
    state = make_state(tmp_path)
    state.open_database(str(database))
    server, _url = start(state)
    yield state, Client(server.server_address[1], state.token), database, ids
    server.shutdown()
    server.server_close()


def finished_job(client: Client, job: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["state"] not in ("done", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = client.get(f"/api/jobs/{job['job_id']}")
    return job


def fingerprinted(client: Client) -> dict[str, Any]:
    """Run the fingerprint job to its end, then list the pairs."""
    job = finished_job(client, client.post("/api/overlaps/fingerprints"))
    assert job["state"] == "done", job
    return client.get(f"/api/overlaps?min_overlap={MIN_OVERLAP}")


def pair_named(listing: dict[str, Any], ids: dict[str, int], shorter: str, longer: str) -> dict:
    wanted = f"overlap-{ids[shorter]}-{ids[longer]}"
    found = [item for item in listing["items"] if item["id"] == wanted]
    assert found, f"{wanted} not in {[item['id'] for item in listing['items']]}"
    return found[0]


def plan(pair: dict[str, Any], keep: int, remove: int, **extra: Any) -> dict[str, Any]:
    return {"groups": [{"group_id": pair["id"], "keep": [keep], "remove": [remove], **extra}]}


def test_pairs_appear_once_the_fingerprint_job_has_run(overlap_app) -> None:
    _, client, _, ids = overlap_app
    before = client.get(f"/api/overlaps?min_overlap={MIN_OVERLAP}")
    assert before["total"] == 0 and before["items"] == []
    assert before["fingerprints"]["missing"] == len(ids)
    job = finished_job(client, client.post("/api/overlaps/fingerprints"))
    assert (job["state"], job["done"], job["total"]) == ("done", len(ids), len(ids))
    assert job["result"] == {"computed": len(ids), "failed": 0}
    listing = client.get(f"/api/overlaps?min_overlap={MIN_OVERLAP}")
    assert listing["fingerprints"] == {
        "videos": len(ids),
        "missing": 0,
        "failed": 0,
        "job": None,
    }
    assert listing["total"] == 2
    trim = pair_named(listing, ids, "s0_trim_start", "s0")
    assert trim["kind"] == "contained"
    assert trim["offset"] == pytest.approx(5.0, abs=1)
    assert trim["overlap_seconds"] == pytest.approx(35.0, abs=2)
    assert trim["keeper_id"] == ids["s0"] and trim["longer_has_more"]
    shorter, longer = trim["files"]
    assert shorter["file_id"] == ids["s0_trim_start"] and longer["file_id"] == ids["s0"]
    assert shorter["path"].endswith("s0_trim_start.mp4") and shorter["size"] > 0
    assert (shorter["duration"], shorter["width"], shorter["height"]) == (35.0, 320, 180)
    reencode = pair_named(listing, ids, "s1", "s1_240_crf34")
    assert reencode["kind"] == "same" and not reencode["longer_has_more"]
    # The keeper rules decide a `same` pair: the larger, sharper file.
    assert reencode["keeper_id"] == ids["s1"]


def test_the_cli_and_the_api_list_the_same_overlaps(overlap_app) -> None:
    _, client, database, _ = overlap_app
    listing = fingerprinted(client)
    result = run_cli("overlaps", "--db", str(database), "--min-overlap", str(MIN_OVERLAP), "--json")
    assert result.returncode == 0, result.stderr
    keys = ("kind", "a", "b", "overlap_seconds")
    from_cli = json.loads(result.stdout)["overlaps"]
    assert from_cli == [{key: item[key] for key in keys} for item in listing["items"]]


def test_a_pair_opens_with_both_files_as_cards(overlap_app) -> None:
    _, client, _, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    detail = client.get(f"/api/overlaps/{trim['id']}")
    assert [file["file_id"] for file in detail["files"]] == [ids["s0_trim_start"], ids["s0"]]
    assert detail["files"][1]["items"][0]["title"] == "s0"
    assert {"a", "b", "kind", "offset", "keeper_id"} <= set(detail)


def test_frames_are_taken_at_matching_times_and_look_alike(overlap_app) -> None:
    state, client, _, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    started = client.post(f"/api/overlaps/{trim['id']}/frames")
    times_a, times_b = started["times"]
    samples = state.settings.frame_samples
    assert len(times_a) == len(times_b) == samples
    assert all(
        b - a == pytest.approx(trim["offset"], abs=0.01)
        for a, b in zip(times_a, times_b, strict=True)
    )
    assert trim["a"]["start"] <= times_a[0] < times_a[-1] <= trim["a"]["end"]
    job = finished_job(client, client.get(f"/api/jobs/{started['job_id']}"))
    assert job["state"] == "done", job
    comparison = job["result"]
    assert comparison["keeper_index"] == 1  # the longer file, s0
    shorter = comparison["files"][0]
    assert shorter["frame_count"] == samples and shorter["error"] is None
    # At matching times the trimmed copy shows the same pictures as its original.
    assert shorter["score"] > 0.8, shorter["column_scores"]
    status, headers, body = client.request("GET", f"/api/frames/{started['job_id']}/0/0.jpg")
    assert status == 200 and body.startswith(JPEG_MAGIC)


def test_removing_the_longer_file_of_a_contained_pair_needs_the_explicit_choice(
    overlap_app, tmp_path: Path
) -> None:
    _, client, _, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    shorter, longer = trim["files"]
    trash = tmp_path / "trash"
    trash.mkdir()
    body = {"mode": "move", "trash_dir": str(trash)}
    refused = client.post(
        "/api/remove", {"plan": plan(trim, shorter["file_id"], longer["file_id"]), **body}, 409
    )["error"]
    assert "longer file" in refused and "allow_longer" in refused
    assert Path(longer["path"]).exists()
    assert client.get("/api/history")["batches"] == []
    result = client.post(
        "/api/remove",
        {"plan": plan(trim, shorter["file_id"], longer["file_id"], allow_longer=True), **body},
    )
    assert [done["file_id"] for done in result["done"]] == [longer["file_id"]]
    assert not Path(longer["path"]).exists() and Path(shorter["path"]).exists()


def test_removing_the_shorter_file_is_journaled_and_the_pair_leaves_the_list(
    overlap_app, tmp_path: Path
) -> None:
    state, client, _, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    shorter, longer = trim["files"]
    trash = tmp_path / "trash"
    trash.mkdir()
    result = client.post(
        "/api/remove",
        {
            "plan": plan(trim, longer["file_id"], shorter["file_id"]),
            "mode": "move",
            "trash_dir": str(trash),
        },
    )
    assert [done["path"] for done in result["done"]] == [shorter["path"]]
    assert not Path(shorter["path"]).exists() and Path(longer["path"]).exists()
    journal = Journal.open(state.journal.path)
    try:
        (batch,) = list_batches(journal)
        (action,) = batch_actions(journal, batch.id)
    finally:
        journal.close()
    assert (action.file_id, action.original_path) == (shorter["file_id"], shorter["path"])
    assert action.keeper_ids == (longer["file_id"],) and action.state == "done"
    listing = client.get(f"/api/overlaps?min_overlap={MIN_OVERLAP}")
    assert trim["id"] not in [item["id"] for item in listing["items"]]
    client.get(f"/api/overlaps/{trim['id']}", expect=404)


def test_a_pair_never_loses_its_last_copy(overlap_app, tmp_path: Path) -> None:
    _, client, _, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    shorter, longer = trim["files"]
    trash = tmp_path / "trash"
    trash.mkdir()
    body = {"mode": "move", "trash_dir": str(trash)}
    every = [shorter["file_id"], longer["file_id"]]
    both = {"groups": [{"group_id": trim["id"], "keep": [], "remove": every}]}
    assert "keep at least one" in client.post("/api/remove", {"plan": both, **body}, 409)["error"]
    client.post("/api/remove", {"plan": plan(trim, longer["file_id"], shorter["file_id"]), **body})
    # The crossed plan from a page that still shows the pair: its keeper is gone.
    crossed = plan(trim, shorter["file_id"], longer["file_id"], allow_longer=True)
    error = client.post("/api/remove", {"plan": crossed, **body}, 409)["error"]
    assert "already removed" in error
    assert Path(longer["path"]).exists()


def test_a_pair_plan_may_name_only_the_pair_s_files(overlap_app) -> None:
    _, client, _, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    stranger = plan(trim, trim["files"][1]["file_id"], ids["lookalike_s0"])
    error = client.post("/api/remove", {"plan": stranger, "mode": "trash"}, 409)["error"]
    assert "not the two files of this overlap" in error
    unknown = {"groups": [{"group_id": "overlap-998-999", "keep": [1], "remove": [2]}]}
    error = client.post("/api/remove", {"plan": unknown, "mode": "trash"}, 404)["error"]
    assert "not among the current overlaps" in error


@pytest.mark.parametrize("value", ["0", "-3", "abc", "nan", "inf"])
def test_a_bad_minimum_overlap_is_a_clear_400(overlap_app, value: str) -> None:
    _, client, _, _ = overlap_app
    error = client.get(f"/api/overlaps?min_overlap={value}", expect=400)["error"]
    assert "min_overlap must be a positive number of seconds" in error


def test_an_unknown_pair_is_a_404(overlap_app) -> None:
    _, client, _, _ = overlap_app
    assert "not among" in client.get("/api/overlaps/overlap-1-2", expect=404)["error"]
    assert "not among" in client.post("/api/overlaps/overlap-1-2/frames", expect=404)["error"]


def test_the_cli_removes_a_pair_through_the_same_checks(overlap_app, tmp_path: Path) -> None:
    """A plan written for an overlap pair (as the page sends it) is held against the current
    overlaps by `remove` too: the longer file only with allow_longer."""
    _, client, database, ids = overlap_app
    trim = pair_named(fingerprinted(client), ids, "s0_trim_start", "s0")
    shorter, longer = trim["files"]
    trash = tmp_path / "cli-trash"
    trash.mkdir()
    plan_file = tmp_path / "plan.json"
    command = ["remove", "--db", str(database), "--plan", str(plan_file), "--mode", "move"]
    command += ["--trash-dir", str(trash)]
    plan_file.write_text(json.dumps(plan(trim, shorter["file_id"], longer["file_id"])))
    refused = run_cli(*command)
    assert refused.returncode == 2 and "allow_longer" in refused.stderr, refused.stderr
    assert Path(longer["path"]).exists()
    chosen = plan(trim, shorter["file_id"], longer["file_id"], allow_longer=True)
    plan_file.write_text(json.dumps(chosen))
    done = run_cli(*command)
    assert done.returncode == 0, done.stderr + done.stdout
    assert not Path(longer["path"]).exists() and Path(shorter["path"]).exists()

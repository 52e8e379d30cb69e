"""Files Stash lists but this machine cannot find: found by a background check, left out of
every count and of every suggestion, said plainly by the API, and path mappings previewed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.presence import CHECK_BATCH, FilePresence
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.errors import RefusedError
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .review_library import MISSING, ReviewLibrary, build_review_library
from .test_server import Client

VIDEOS = GroupFilter(media="video", distance=0)


@pytest.fixture
def library(tmp_path: Path) -> ReviewLibrary:
    return build_review_library(tmp_path / "library")


@pytest.fixture
def session(library: ReviewLibrary, tmp_path: Path) -> Iterator[LibrarySession]:
    session = LibrarySession.open(
        library.database,
        Settings(duration_tolerance=None),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
    )
    yield session
    session.close()


@pytest.fixture
def served(library: ReviewLibrary, tmp_path: Path) -> Iterator[tuple[AppState, Client]]:
    state = AppState(
        Settings(duration_tolerance=None, default_distance=0),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(library.database))
    assert state.presence_job is not None and state.presence_job.wait(60)
    server, _url = start(state)
    yield state, Client(server.server_address[1], state.token)
    server.shutdown()
    server.server_close()


def group_of(session: LibrarySession, library: ReviewLibrary, name: str):
    (group,) = [
        group
        for group in session.groups(VIDEOS)
        if library.ids[name] in {file.file_id for file in group.files}
    ]
    return group


# ---- the check ------------------------------------------------------------------------------


def test_the_check_finds_the_files_not_at_their_paths(
    session: LibrarySession, library: ReviewLibrary
) -> None:
    assert session.check_presence() == len(MISSING)
    assert session.presence.missing == {library.ids[name] for name in MISSING}
    assert session.presence.checked == len(library.ids)


def test_the_check_reports_progress_in_batches_and_replaces_its_answer_only_when_done(
    library: ReviewLibrary, session: LibrarySession
) -> None:
    files = session.files("video") * (CHECK_BATCH // len(library.ids) + 2)  # > one batch
    reports: list[tuple[int, int]] = []
    presence = FilePresence()
    presence.check(files, lambda done, total, _message: reports.append((done, total)))
    assert reports[0] == (0, len(files)) and reports[-1] == (len(files), len(files))
    assert len(reports) == -(-len(files) // CHECK_BATCH) + 1
    assert presence.checked == len(files)


def test_before_the_check_every_file_counts(
    session: LibrarySession, library: ReviewLibrary
) -> None:
    group = group_of(session, library, "a1")
    assert group.total_size == sum(library.sizes[name] for name in ("a1", "a2", "a3"))
    session.check_presence()
    group = group_of(session, library, "a1")
    assert group.total_size == library.sizes["a1"] + library.sizes["a2"]


def test_reclaimable_counts_only_present_copies_of_the_keeper(
    session: LibrarySession, library: ReviewLibrary
) -> None:
    session.check_presence()
    group = group_of(session, library, "a1")
    assert group.keeper.file_id != library.ids["a3"]  # a missing file is never the keeper
    removals = {file.file_id for file in group.suggested_removals}
    assert library.ids["a3"] not in removals
    assert group.reclaimable == sum(file.size for file in group.suggested_removals)
    assert group.reclaimable == group.total_size - group.keeper.size


def test_a_group_with_one_present_file_cannot_be_resolved(
    session: LibrarySession, library: ReviewLibrary
) -> None:
    session.check_presence()
    group = group_of(session, library, "b1")
    assert not group.resolvable
    assert group.keeper.file_id == library.ids["b1"]
    assert group.suggested_removals == () and group.reclaimable == 0


def test_a_removal_plan_looks_at_its_files_again(
    session: LibrarySession, library: ReviewLibrary, tmp_path: Path
) -> None:
    session.check_presence()
    library.path("a2").unlink()  # gone since the check
    group = group_of(session, library, "a1")
    plan = {
        "groups": [
            {"group_id": group.group_id, "keep": [library.ids["a1"]], "remove": [library.ids["a2"]]}
        ]
    }
    with pytest.raises(RefusedError):  # the removal code's own check
        session.remove(plan, mode="move", trash_dir=str(tmp_path / "trash"), dry_run=True)
    assert library.ids["a2"] in session.presence.missing  # and the count follows


# ---- the API -------------------------------------------------------------------------------


def test_status_and_summary_report_missing_and_checked_files(
    served: tuple[AppState, Client], library: ReviewLibrary
) -> None:
    _state, client = served
    status = client.get("/api/status")
    assert status["presence_job"] is None  # finished
    assert status["database"]["missing_files"] == len(MISSING)
    assert status["database"]["checked_files"] == len(library.ids)
    summary = client.get("/api/summary?media=video&distance=0")
    assert summary["missing_files"] == len(MISSING)
    assert summary["checked_files"] == len(library.ids)
    listing = client.get("/api/groups?media=video&distance=0")
    assert summary["files_in_groups"] == sum(item["present_count"] for item in listing["items"])
    assert summary["files_in_groups"] == len(library.ids) - len(MISSING)  # any duration: all


def test_every_figure_is_the_sum_of_the_suggested_removals(
    served: tuple[AppState, Client],
) -> None:
    _state, client = served
    listing = client.get("/api/groups?media=video&distance=0")
    assert listing["reclaimable"] == sum(item["reclaimable"] for item in listing["items"])
    assert (
        client.get("/api/summary?media=video&distance=0")["reclaimable"] == listing["reclaimable"]
    )
    for item in listing["items"]:
        group = client.get(f"/api/groups/{item['id']}")
        marked = [file for file in group["files"] if file["suggested_remove"]]
        assert all(file["present"] and file["copy_of_keeper"] for file in marked)
        assert group["reclaimable"] == item["reclaimable"] == sum(f["size"] for f in marked)


def test_a_missing_file_is_said_plainly_in_its_group(
    served: tuple[AppState, Client], library: ReviewLibrary
) -> None:
    _state, client = served
    listing = client.get("/api/groups?media=video&distance=0")
    (item,) = [
        item for item in listing["items"] if item["missing_count"] and not item["resolvable"]
    ]
    assert item["present_count"] == 1 and item["count"] == 2
    group = client.get(f"/api/groups/{item['id']}")
    by_id = {file["file_id"]: file for file in group["files"]}
    assert not by_id[library.ids["b2"]]["present"] and by_id[library.ids["b1"]]["present"]
    assert group["total_size"] == library.sizes["b1"]


def test_the_group_page_looks_again_at_its_files(
    served: tuple[AppState, Client], library: ReviewLibrary
) -> None:
    _state, client = served
    listing = client.get("/api/groups?media=video&distance=0")
    (item,) = [
        item for item in listing["items"] if item["first_path"].endswith(("c1.mp4", "c2.mp4"))
    ]
    library.path("c2").unlink()
    group = client.get(f"/api/groups/{item['id']}")
    assert not {f["file_id"]: f for f in group["files"]}[library.ids["c2"]]["present"]
    assert not group["resolvable"]
    assert client.get("/api/summary?media=video&distance=0")["missing_files"] == len(MISSING) + 1


def test_mapping_preview_counts_mapped_and_present_files(
    served: tuple[AppState, Client], library: ReviewLibrary, tmp_path: Path
) -> None:
    _state, client = served
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("a1", "c1"):
        (elsewhere / f"{name}.mp4").write_bytes(library.path(name).read_bytes())
    answer = client.post(
        "/api/path-mappings/preview",
        {
            "path_mappings": [
                {"stash_prefix": str(library.media), "local_prefix": str(elsewhere)},
                {"stash_prefix": "/nowhere", "local_prefix": "/also/nowhere"},
            ]
        },
    )
    first, second = answer["mappings"]
    assert first["mapped_files"] == len(library.ids) and first["present_files"] == 2
    assert first["sample_path"].startswith(str(elsewhere))
    assert second["mapped_files"] == 0 and second["present_files"] == 0
    # Nothing was saved: the library still reads its own paths.
    assert client.get("/api/status")["database"]["missing_files"] == len(MISSING)


@pytest.mark.parametrize(
    "body",
    [{"path_mappings": "x"}, {"path_mappings": [{"stash_prefix": 1, "local_prefix": "/x"}]}],
)
def test_a_bad_mapping_preview_gets_a_message(served: tuple[AppState, Client], body) -> None:
    _state, client = served
    assert (
        "path mapping"
        in client.post("/api/path-mappings/preview", body, expect=400)["error"].lower()
    )


def test_the_check_runs_as_a_job_when_a_library_opens(
    library: ReviewLibrary, tmp_path: Path
) -> None:
    state = AppState(
        Settings(duration_tolerance=None),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )
    session = state.open_database(str(library.database))
    job = state.presence_job
    assert job is not None and job.kind == "presence"
    deadline = time.monotonic() + 60
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.state == "done" and job.result == len(MISSING)
    assert session.presence.checked == len(library.ids)


def test_the_check_waits_while_a_list_of_groups_is_being_worked_out(
    session: LibrarySession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a large library the check and the first list would slow each other: the check
    gives way between batches while a list is asked for, then finishes."""
    import threading

    grouping_started, release = threading.Event(), threading.Event()
    raw = session._raw

    def slow_raw(group_filter: GroupFilter) -> object:
        grouping_started.set()
        release.wait(30)
        return raw(group_filter)

    monkeypatch.setattr(session, "_raw", slow_raw)
    lister = threading.Thread(target=session.groups, args=(GroupFilter(media="video"),))
    lister.start()
    checker = threading.Thread(target=session.check_presence)
    try:
        assert grouping_started.wait(30)
        checker.start()
        checker.join(1.0)
        assert checker.is_alive() and session.presence.checked == 0  # waiting for the list
    finally:
        release.set()
        lister.join(30)
        if checker.is_alive() or checker.ident is not None:
            checker.join(30)
    assert not checker.is_alive()
    assert session.presence.checked > 0 and len(session.presence.missing) == len(MISSING)

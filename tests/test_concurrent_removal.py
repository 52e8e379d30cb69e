"""No group ever loses its last copy, whatever runs at the same time: crossed API requests,
crossed CLI processes, undos and re-scans in several sessions, and processes racing for real.

Every test builds a real-schema Stash library of small real files, in groups of copies whose
phashes are far from every other group's, so each group is known and checked on disk.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.errors import RefusedError
from stash_dedupe.removal.journal import Journal, list_batches
from stash_dedupe.settings import Settings
from stash_dedupe.stash.library_writer import LibraryWriter
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .test_server import Client

SCHEMA_75 = Path(__file__).resolve().parent / "data" / "stash-schemas" / "stash-go-schema-75.sqlite"


@dataclass
class Library:
    """A real-schema Stash database over real files: `groups[i]` are file ids of copies."""

    database: Path
    media: Path
    groups: list[list[int]]
    paths: dict[int, Path]

    def copies_left(self, group: list[int]) -> list[int]:
        return [file_id for file_id in group if self.paths[file_id].is_file()]

    def assert_every_group_keeps_a_copy(self) -> None:
        for number, group in enumerate(self.groups):
            assert self.copies_left(group), f"group {number} lost every copy"


def far_apart_phashes(count: int, rng: random.Random) -> list[str]:
    """Random phashes, every two more than 16 bits apart (no group can join another)."""
    chosen: list[int] = []
    while len(chosen) < count:
        value = rng.getrandbits(64)
        if all((value ^ other).bit_count() > 16 for other in chosen):
            chosen.append(value)
    return [f"{value:016x}" for value in chosen]


def build_library(folder: Path, group_sizes: list[int], seed: int = 1) -> Library:
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "stash-go.sqlite"
    shutil.copyfile(SCHEMA_75, database)
    database.chmod(0o644)
    media = folder / "media"
    media.mkdir()
    writer = LibraryWriter(database)
    writer.library_root(str(media))
    rng = random.Random(seed)
    groups: list[list[int]] = []
    paths: dict[int, Path] = {}
    for number, (size, phash) in enumerate(
        zip(group_sizes, far_apart_phashes(len(group_sizes), rng), strict=True)
    ):
        members = []
        for copy in range(size):
            path = media / f"group {number:02d} copy {copy}.mp4"
            path.write_bytes(os.urandom(2000 + 100 * copy))  # distinct files, distinct sizes
            scene = writer.add_scene(path.stem)
            file_id = writer.add_video_file(str(path), scene_id=scene, phash=phash, duration=30)
            members.append(file_id)
            paths[file_id] = path
        groups.append(members)
    writer.close()
    return Library(database, media, groups, paths)


# ---- crossed requests to one server -------------------------------------------------------


@contextlib.contextmanager
def serving(database: Path, folder: Path) -> Iterator[tuple[AppState, Client]]:
    """The app on a real server with `database` open; its own journal and dismissals."""
    state = AppState(
        Settings(duration_tolerance=None),
        Journal.open(folder / "journal.sqlite3"),
        DismissalStore(folder / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(database))
    server, _url = start(state)
    try:
        yield state, Client(server.server_address[1], state.token)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def served_library(tmp_path: Path) -> Iterator[tuple[Library, AppState, Client]]:
    library = build_library(tmp_path / "library", [2] * 20)
    with serving(library.database, tmp_path) as (state, client):
        yield library, state, client


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls on threads released at the same instant; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def test_crossed_api_removals_keep_one_copy_of_every_group(served_library) -> None:
    library, _state, client = served_library
    listing = client.get("/api/groups?media=video&distance=0&limit=100")
    assert listing["total"] == 20
    group_ids = {}
    for item in listing["items"]:
        detail = client.get(f"/api/groups/{item['id']}")
        group_ids[frozenset(file["file_id"] for file in detail["files"])] = item["id"]

    def remove(group_id: str, keep: int, drop: int) -> Callable[[], tuple[int, bytes]]:
        plan = {"groups": [{"group_id": group_id, "keep": [keep], "remove": [drop]}]}
        return lambda: client.request("POST", "/api/remove", {"plan": plan})[::2]

    for first, second in library.groups:
        group_id = group_ids[frozenset((first, second))]
        outcomes = run_together([remove(group_id, first, second), remove(group_id, second, first)])
        statuses = sorted(status for status, _ in outcomes)
        assert statuses == [200, 409], outcomes
        refused = json.loads(next(body for status, body in outcomes if status == 409))
        assert group_id in refused["error"] and "already removed" in refused["error"]
        assert len(library.copies_left([first, second])) == 1
    library.assert_every_group_keeps_a_copy()


def test_many_simultaneous_requests_on_one_group_leave_a_copy(served_library) -> None:
    library, _state, client = served_library
    first, second = library.groups[0]
    plans = [
        {"groups": [{"keep": [keep], "remove": [drop]}]}
        for keep, drop in [(first, second), (second, first)] * 4
    ]
    client.get("/api/groups?media=video&distance=0")
    outcomes = run_together(
        [
            lambda plan=plan: client.request("POST", "/api/remove", {"plan": plan})[0]
            for plan in plans
        ]
    )
    assert outcomes.count(200) == 1 and outcomes.count(409) == 7
    assert len(library.copies_left([first, second])) == 1


# ---- crossed CLI processes -----------------------------------------------------------------


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stash_dedupe", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_plan(path: Path, groups: list[dict[str, list[int]]]) -> Path:
    path.write_text(json.dumps({"distance": 0, "groups": groups}))
    return path


def test_crossed_cli_processes_keep_one_copy_of_every_group(tmp_path: Path) -> None:
    library = build_library(tmp_path / "library", [2] * 10)
    runs = []
    for number, (first, second) in enumerate(library.groups):
        forward = write_plan(
            tmp_path / f"forward-{number}.json", [{"keep": [first], "remove": [second]}]
        )
        backward = write_plan(
            tmp_path / f"backward-{number}.json", [{"keep": [second], "remove": [first]}]
        )
        for plan in (forward, backward):
            runs.append(cli("remove", "--db", str(library.database), "--plan", str(plan)))
    results = [(run.wait(120), *run.communicate()) for run in runs]
    for number, group in enumerate(library.groups):
        pair = results[2 * number : 2 * number + 2]
        codes = sorted(code for code, _out, _err in pair)
        assert codes == [0, 2], pair
        refused = next(err for code, _out, err in pair if code == 2)
        assert "already removed" in refused and "Traceback" not in refused
        assert len(library.copies_left(group)) == 1
    library.assert_every_group_keeps_a_copy()


def test_a_cli_plan_across_two_groups_is_refused_whole(tmp_path: Path) -> None:
    library = build_library(tmp_path / "library", [2, 2])
    group_zero, group_one = library.groups
    plan = write_plan(tmp_path / "plan.json", [{"keep": [group_one[0]], "remove": group_zero}])
    run = cli("remove", "--db", str(library.database), "--plan", str(plan))
    code, _out, err = run.wait(120), *run.communicate()
    assert code == 2 and "not a current duplicate group" in err and "Traceback" not in err
    assert all(path.is_file() for path in library.paths.values())


def test_a_cli_plan_that_keeps_nothing_of_a_group_is_refused(tmp_path: Path) -> None:
    library = build_library(tmp_path / "library", [3])
    (group,) = library.groups
    plan = write_plan(tmp_path / "plan.json", [{"keep": [], "remove": group}])
    run = cli("remove", "--db", str(library.database), "--plan", str(plan))
    code, _out, err = run.wait(120), *run.communicate()
    assert code == 2 and "would lose every copy" in err
    assert all(path.is_file() for path in library.paths.values())


# ---- random interleavings: several sessions, one journal -----------------------------------

OPERATION = st.tuples(
    st.sampled_from(["remove", "remove", "remove", "undo", "rescan"]),
    st.integers(0, 5),  # group
    st.integers(0, 2),  # which file to keep
    st.integers(0, 3),  # how many to remove
)


def open_session(library: Library, journal_path: Path, dismissals: Path) -> LibrarySession:
    settings = Settings(duration_tolerance=None)
    return LibrarySession.open(
        library.database, settings, Journal.open(journal_path), DismissalStore(dismissals)
    )


def apply(session: LibrarySession, library: Library, operation: tuple[str, int, int, int]) -> None:
    """One user action in one window; refusals are expected, anything else is a bug."""
    kind, group_number, keep_index, remove_count = operation
    try:
        if kind == "rescan":
            session.reload_files()
        elif kind == "undo":
            batches = [b for b in list_batches(session.journal) if b.mode != "undo"]
            if batches:
                session.undo_batch(random.choice(batches).id)
        else:
            groups = session.groups(GroupFilter(media="video", distance=0))
            members = library.groups[group_number]
            group = next((g for g in groups if {f.file_id for f in g.files} <= set(members)), None)
            if group is None:
                return
            ids = [file.file_id for file in group.files]
            keep = ids[keep_index % len(ids)]
            others = [file_id for file_id in ids if file_id != keep][:remove_count]
            plan = {"groups": [{"group_id": group.group_id, "keep": [keep], "remove": others}]}
            session.remove(plan)
    except RefusedError:
        pass


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.lists(OPERATION, min_size=1, max_size=6), min_size=2, max_size=3))
def test_random_interleavings_of_removals_undos_and_rescans_keep_a_copy(
    tmp_path_factory: pytest.TempPathFactory, actors: list[list[tuple[str, int, int, int]]]
) -> None:
    folder = tmp_path_factory.mktemp("interleaving")
    library = build_library(folder / "library", [3, 2, 3, 2, 3, 2])
    journal_path, dismissals = folder / "journal.sqlite3", folder / "dismissals.sqlite3"
    sessions = [open_session(library, journal_path, dismissals) for _ in actors]
    errors: list[BaseException] = []

    def act(session: LibrarySession, operations: list[tuple[str, int, int, int]]) -> None:
        try:
            for operation in operations:
                apply(session, library, operation)
                library.assert_every_group_keeps_a_copy()
        except BaseException as error:  # reported below, with the thread's traceback lost
            errors.append(error)

    run_together(
        [
            lambda session=session, operations=operations: act(session, operations)
            for session, operations in zip(sessions, actors, strict=True)
        ]
    )
    for session in sessions:
        session.journal.close()
        session.close()
    assert not errors, errors
    library.assert_every_group_keeps_a_copy()


# ---- processes racing for real ------------------------------------------------------------


def _racer(
    database: str, journal_path: str, dismissals: str, groups: list[list[int]], seed: int
) -> None:
    """A separate process removing and undoing at random for a moment."""
    library = Library(Path(database), Path(), groups, {})
    session = open_session(library, Path(journal_path), Path(dismissals))
    rng = random.Random(seed)
    random.seed(seed)
    for _ in range(12):
        operation = (
            rng.choice(["remove", "remove", "undo", "rescan"]),
            rng.randrange(len(groups)),
            rng.randrange(3),
            rng.randrange(1, 3),
        )
        apply(session, library, operation)


@pytest.mark.slow
def test_processes_racing_removals_and_undos_keep_a_copy_of_every_group(tmp_path: Path) -> None:
    library = build_library(tmp_path / "library", [3, 2, 3, 2, 3, 2, 2, 3])
    journal_path, dismissals = tmp_path / "journal.sqlite3", tmp_path / "dismissals.sqlite3"
    context = multiprocessing.get_context("spawn")
    racers = [
        context.Process(
            target=_racer,
            args=(str(library.database), str(journal_path), str(dismissals), library.groups, seed),
        )
        for seed in range(4)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(180)
        assert racer.exitcode == 0
    library.assert_every_group_keeps_a_copy()
    with Journal.open(journal_path) as journal:
        assert any(batch.mode == "trash" for batch in list_batches(journal))

"""Crash safety: whatever moment a removal or undo dies, no file is lost.

First each crash window is rebuilt by hand and reconciled; then real batches run in a
forked child process that is SIGKILLed at a random moment, many times, and after each a
restart reconciles and every file must be whole at its original path or its destination.
Set CRASH_TEST_SEED to replay a run (timing still varies).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import random
import shutil
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import stash_dedupe.removal
from stash_dedupe.errors import RefusedError
from stash_dedupe.models import MediaFile
from stash_dedupe.removal import files as removal_files
from stash_dedupe.removal import trash as removal_trash
from stash_dedupe.removal.execute import execute_plan
from stash_dedupe.removal.files import PARTIAL_PREFIX, partial_path
from stash_dedupe.removal.journal import (
    DONE,
    FAILED,
    INTERRUPTED,
    MOVE,
    PLANNED,
    REMOVAL_MODES,
    TRASH,
    UNDO,
    UNDONE,
    Action,
    Journal,
    batch_actions,
    list_batches,
    removed_file_ids,
)
from stash_dedupe.removal.plan import RemovalPlan, RemovalResult
from stash_dedupe.removal.recovery import reconcile, undo_batch
from stash_dedupe.removal.trash import FreedesktopTrash, write_trashinfo
from tests.removal_helpers import (
    media_file_for,
    memory_backed_dir,
    other_filesystem_dir,
    sha256_of,
)

SEED = int(os.environ.get("CRASH_TEST_SEED", time.time_ns() % 1_000_000))


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite3") as opened:
        yield opened


def home_trash() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "Trash"


def planned_move(journal: Journal, source: Path, destination: Path, mode: str = MOVE) -> int:
    """Journal an action as execute_plan does just before touching the file, then 'crash'."""
    batch_id = journal.start_batch(mode, str(destination.parent))
    return journal.add_action(
        batch_id, mode, 1, str(source), str(destination), source.stat().st_size, None, (2,)
    )


def planned_trash(journal: Journal, source: Path) -> tuple[int, Path]:
    """Journal a trash action as execute_plan does before its .trashinfo is written, then
    'crash'; returns the action's id and where its .trashinfo goes."""
    trash = FreedesktopTrash(home_trash(), None)
    removal_trash._make_trash_dirs(trash, make_parents=True)
    info = trash.info_path(source.name)
    batch_id = journal.start_batch(TRASH, None)
    action_id = journal.add_action(
        batch_id,
        TRASH,
        1,
        str(source),
        str(trash.files / source.name),
        source.stat().st_size,
        None,
        (2,),
        trash_info_path=str(info),
    )
    return action_id, info


# Each crash window, rebuilt by hand.


def test_an_action_that_never_touched_the_file_is_rolled_back(
    journal: Journal, tmp_path: Path
) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(b"data")
    planned_move(journal, source, tmp_path / "trash" / "a.mp4")
    [settled] = reconcile(journal)
    assert settled.state == FAILED
    assert f"still at {source}" in (settled.reason or "")
    assert source.read_bytes() == b"data"
    assert removed_file_ids(journal) == set()


def test_a_file_found_at_its_destination_is_marked_done(journal: Journal, tmp_path: Path) -> None:
    source, destination = tmp_path / "a.mp4", tmp_path / "trash" / "a.mp4"
    source.write_bytes(b"data")
    planned_move(journal, source, destination)
    destination.parent.mkdir()
    source.rename(destination)
    [settled] = reconcile(journal)
    assert settled.state == DONE
    assert removed_file_ids(journal) == {1}


def test_a_partial_copy_is_deleted_and_the_original_kept(journal: Journal, tmp_path: Path) -> None:
    source, destination = tmp_path / "a.mp4", tmp_path / "trash" / "a.mp4"
    source.write_bytes(b"data" * 1000)
    action_id = planned_move(journal, source, destination)
    destination.parent.mkdir()
    partial = partial_path(destination, action_id)
    partial.write_bytes(b"data")
    [settled] = reconcile(journal)
    assert settled.state == FAILED
    assert not partial.exists() and not destination.exists()
    assert source.read_bytes() == b"data" * 1000


def test_when_a_complete_copy_and_the_original_both_exist_the_original_wins(
    journal: Journal, tmp_path: Path
) -> None:
    source, destination = tmp_path / "a.mp4", tmp_path / "trash" / "a.mp4"
    source.write_bytes(b"data")
    planned_move(journal, source, destination)
    destination.parent.mkdir()
    shutil.copy2(source, destination)  # crashed after renaming the copy into place
    [settled] = reconcile(journal)
    assert settled.state == FAILED
    assert "the copy removed" in (settled.reason or "")
    assert source.read_bytes() == b"data"
    assert not destination.exists()


def test_when_original_and_destination_differ_both_are_kept(
    journal: Journal, tmp_path: Path
) -> None:
    source, destination = tmp_path / "a.mp4", tmp_path / "trash" / "a.mp4"
    source.write_bytes(b"data")
    planned_move(journal, source, destination)
    destination.parent.mkdir()
    destination.write_bytes(b"something else")
    [settled] = reconcile(journal)
    assert settled.state == FAILED
    assert "differ" in (settled.reason or "")
    assert source.read_bytes() == b"data"
    assert destination.read_bytes() == b"something else"


def test_a_trashinfo_written_for_a_file_that_never_moved_is_removed(
    journal: Journal, tmp_path: Path
) -> None:
    source = tmp_path / "a b.mp4"
    source.write_bytes(b"data")
    action_id, info = planned_trash(journal, source)
    write_trashinfo(info, source, None, action_id)
    [settled] = reconcile(journal)
    assert settled.state == FAILED
    assert not info.exists()
    assert source.exists()


def test_an_unfinished_trashinfo_is_removed(journal: Journal, tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(b"data")
    action_id, info = planned_trash(journal, source)
    partial_path(info, action_id).write_text("[Trash Info]\nPa")
    reconcile(journal)
    assert list(info.parent.iterdir()) == []
    assert source.exists()


def test_a_trashinfo_that_is_not_ours_is_left_alone(journal: Journal, tmp_path: Path) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(b"data")
    action_id, info = planned_trash(journal, source)
    write_trashinfo(info, tmp_path / "another program's file.mp4", None, action_id)
    reconcile(journal)
    assert info.exists()


def test_a_trash_name_journaled_by_a_crashed_action_is_not_given_to_another_file(
    journal: Journal, tmp_path: Path
) -> None:
    """A crash between journaling a trash name and writing its .trashinfo leaves the name
    free on disk. Were another removal to take it, reconcile would find the crashed
    action's file seemingly copied there and delete that other, identical file."""
    first, second, keeper = (tmp_path / folder / "a.mp4" for folder in ("one", "two", "keep"))
    for path in (first, second, keeper):
        path.parent.mkdir()
        path.write_bytes(b"the same video")
    planned_trash(journal, first)
    library = {5: media_file_for(5, second), 6: media_file_for(6, keeper)}
    plan = RemovalPlan.from_json({"groups": [{"keep": [6], "remove": [5]}]})
    [trashed] = execute_plan(plan, library, [str(tmp_path)], journal).done
    assert trashed.destination == str(home_trash() / "files" / "a.2.mp4")
    reconcile(journal)
    assert first.read_bytes() == b"the same video"
    assert Path(trashed.destination).read_bytes() == b"the same video"


def test_an_interrupted_undo_that_reached_the_library_is_completed(
    journal: Journal, tmp_path: Path
) -> None:
    library_path, trash_path = tmp_path / "library" / "a.mp4", tmp_path / "trash" / "a.mp4"
    trash_path.parent.mkdir()
    trash_path.write_bytes(b"data")
    removal_batch = journal.start_batch(MOVE, str(trash_path.parent))
    removal_id = journal.add_action(
        removal_batch, MOVE, 1, str(library_path), str(trash_path), 4, None, (2,), DONE
    )
    undo_batch_id = journal.start_batch(UNDO, None)
    journal.add_action(
        undo_batch_id,
        UNDO,
        1,
        str(trash_path),
        str(library_path),
        4,
        None,
        (2,),
        undoes_action_id=removal_id,
    )
    library_path.parent.mkdir()
    trash_path.rename(library_path)
    [settled] = reconcile(journal)
    assert settled.state == DONE
    assert journal.action(removal_id).state == UNDONE
    assert removed_file_ids(journal) == set()


def test_batches_that_never_finished_are_marked_interrupted(journal: Journal) -> None:
    batch_id = journal.start_batch(MOVE, "/trash")
    reconcile(journal)
    assert journal.batch(batch_id).status == INTERRUPTED


# Real batches, killed at random moments.


class Scenario:
    """Files for one kill: groups of a keeper and two copies, in a fresh library folder."""

    def __init__(self, root: Path, first_id: int, rng: random.Random) -> None:
        self.root = root
        self.files: dict[int, MediaFile] = {}
        self.digests: dict[int, str] = {}
        self.groups: list[dict[str, list[int]]] = []
        file_id = first_id
        for group in range(4):
            content = rng.randbytes(rng.randint(1, 160_000))
            ids = []
            for folder in ("keep", "copy one", "copy two"):
                path = root / folder / f"clip {group} ü.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                self.files[file_id] = media_file_for(file_id, path)
                self.digests[file_id] = sha256_of(path)
                ids.append(file_id)
                file_id += 1
            self.groups.append({"keep": ids[:1], "remove": ids[1:]})

    @property
    def removed_ids(self) -> set[int]:
        return {file_id for group in self.groups for file_id in group["remove"]}

    def remove(self, journal: Journal, options: dict[str, str]) -> RemovalResult:
        plan = RemovalPlan.from_json({"groups": self.groups})
        return execute_plan(plan, self.files, [str(self.root)], journal, **options)


# The filesystem steps a kill should land just before or after, each named in the module
# whose code looks it up when it runs: replacing a function in the module that defines it
# does not reach a module that imported it by name.
WIDENED_STEPS: list[tuple[ModuleType, str]] = [
    (removal_files, "rename_no_replace"),  # a file, or its copy, moved into place
    (removal_trash, "rename_no_replace"),  # a .trashinfo renamed into place
    (removal_trash, "write_trashinfo"),  # a trash name reserved before the file moves
    (os, "fsync"),
    (os, "unlink"),
]


def widen_crash_windows(
    rng: random.Random,
    patch: Callable[[object, str, Any], None] = setattr,
    calls: Counter[str] | None = None,
) -> None:
    """Sleep a little around each filesystem step so kills land between them.

    The child patches for good with `setattr` (it never returns into pytest); a test may
    pass `monkeypatch.setattr` and a Counter that counts each step as it is taken.
    """

    def pausing(step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def paused(*args: Any, **kwargs: Any) -> Any:
            if calls is not None:
                calls[step] += 1
            time.sleep(rng.uniform(0, 0.001))
            result = function(*args, **kwargs)
            time.sleep(rng.uniform(0, 0.001))
            return result

        return paused

    for module, name in WIDENED_STEPS:
        patch(module, name, pausing(f"{module.__name__}.{name}", getattr(module, name)))


def start_child(work: Callable[[], object], seed: float) -> int:
    """Fork a child that runs `work` with widened crash windows; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        exit_code = 1
        try:
            widen_crash_windows(random.Random(seed))
            work()
            exit_code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(exit_code)
    return pid


def run_and_kill(work: Callable[[], object], rng: random.Random, max_delay: float | None) -> float:
    """Run `work` in a forked child and SIGKILL it after a random delay; returns how long.

    With `max_delay` None the child runs to the end, which measures how long a batch takes.
    Fork rather than a new interpreter: the child starts in a millisecond, not 100.
    """
    started = time.monotonic()
    pid = start_child(work, rng.random())
    if max_delay is not None:
        time.sleep(rng.uniform(0, max_delay))
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) in (0, -signal.SIGKILL), "the child failed"
    return time.monotonic() - started


def file_actions(journal: Journal) -> dict[int, list[Action]]:
    by_file: dict[int, list[Action]] = {}
    for batch in list_batches(journal):
        for action in batch_actions(journal, batch.id):
            by_file.setdefault(action.file_id, []).append(action)
    return by_file


def assert_every_file_is_whole_somewhere(
    journal: Journal, scenario: Scenario, trash_roots: list[Path], context: str
) -> None:
    """The invariant after reconcile: each file at its original path xor its destination."""
    assert journal.actions_in_state(PLANNED) == [], context
    removed = removed_file_ids(journal)
    actions = file_actions(journal)
    for file_id, digest in scenario.digests.items():
        path = scenario.files[file_id].path
        done = [
            action
            for action in actions.get(file_id, [])
            if action.state == DONE and action.mode in REMOVAL_MODES
        ]
        if file_id in removed:
            assert len(done) == 1, context
            assert not os.path.lexists(path), f"{context}: file {file_id} at both places"
            assert sha256_of(done[0].destination or "") == digest, f"{context}: {file_id} damaged"
        else:
            assert done == [], context
            assert sha256_of(path) == digest, f"{context}: file {file_id} lost or damaged"
    for root in [scenario.root, *trash_roots]:
        leftovers = list(root.rglob(PARTIAL_PREFIX + "*"))
        assert leftovers == [], f"{context}: unfinished copies left: {leftovers}"
    trash = home_trash()
    if trash.exists():
        names = {path.name for path in (trash / "files").iterdir()}
        info_names = {path.name[: -len(".trashinfo")] for path in (trash / "info").iterdir()}
        assert names == info_names, f"{context}: trash files and .trashinfo files disagree"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where killed batches run: tmpfs when there is one, as syncing costs nothing there.

    Syncing guards against power cuts, which a SIGKILL is not: what a killed process wrote
    stays written, so these tests lose nothing by avoiding the real disk. The home trash
    goes there too, so that trash mode renames within one filesystem.
    """
    with memory_backed_dir(tmp_path) as directory:
        monkeypatch.setenv("XDG_DATA_HOME", str(directory / "xdg-data"))
        yield directory


def mode_options(kind: str, stack: ExitStack, workspace: Path) -> tuple[dict[str, str], list[Path]]:
    """Options for execute_plan for a scenario kind, and the trash roots to check."""
    if kind == "trash":
        return {"mode": TRASH}, [home_trash()]
    if kind == "move-same-fs":
        folder = workspace / "trash-folder"
    else:
        folder = stack.enter_context(other_filesystem_dir(workspace))
    folder.mkdir(exist_ok=True)
    return {"mode": MOVE, "trash_dir": str(folder)}, [folder]


def run_killed(work: Callable[[], object], rng: random.Random, max_delay: list[float]) -> None:
    """The first run calibrates: it finishes, and later kills land within 1.2x its duration."""
    ran_for = run_and_kill(work, rng, max_delay[0] if max_delay else None)
    if not max_delay:
        max_delay.append(ran_for * 1.2)


def test_every_widened_crash_window_is_in_the_code_that_runs(
    journal: Journal, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kills land between filesystem steps only if the pauses reach the code that runs."""
    widened = {(module.__name__, name) for module, name in WIDENED_STEPS}
    for module_info in pkgutil.iter_modules(stash_dedupe.removal.__path__):
        module = importlib.import_module(f"stash_dedupe.removal.{module_info.name}")
        for name in ("rename_no_replace", "write_trashinfo"):
            if hasattr(module, name):
                assert (module.__name__, name) in widened, f"{module.__name__} looks up {name}"
    rng = random.Random(SEED)
    calls: Counter[str] = Counter()
    widen_crash_windows(rng, monkeypatch.setattr, calls)
    scenario = Scenario(workspace / "library", 1, rng)
    undo_batch(journal, scenario.remove(journal, {"mode": TRASH}).batch_id or 0)
    assert set(calls) == {f"{module.__name__}.{name}" for module, name in WIDENED_STEPS}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["move-same-fs", "move-other-fs", "trash"])
def test_a_removal_killed_at_any_moment_loses_no_file(workspace: Path, kind: str) -> None:
    rng = random.Random(f"{SEED}-{kind}")
    journal_path = workspace / "journal.sqlite3"
    max_delay: list[float] = []
    with ExitStack() as stack:
        options, trash_roots = mode_options(kind, stack, workspace)
        for iteration in range(40):
            context = f"{kind}, iteration {iteration}, CRASH_TEST_SEED={SEED}"
            scenario = Scenario(workspace / f"library-{iteration}", iteration * 100, rng)

            def work(scenario: Scenario = scenario) -> None:
                with Journal.open(journal_path) as journal:
                    scenario.remove(journal, options)

            run_killed(work, rng, max_delay)
            with Journal.open(journal_path) as journal:
                reconcile(journal)
                assert_every_file_is_whole_somewhere(journal, scenario, trash_roots, context)
                scenario.remove(journal, options)  # running the plan again finishes the job
                assert scenario.removed_ids <= removed_file_ids(journal), context
                assert_every_file_is_whole_somewhere(journal, scenario, trash_roots, context)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["move-other-fs", "trash"])
def test_an_undo_killed_at_any_moment_loses_no_file(workspace: Path, kind: str) -> None:
    rng = random.Random(f"{SEED}-undo-{kind}")
    journal_path = workspace / "journal.sqlite3"
    max_delay: list[float] = []
    with ExitStack() as stack:
        options, trash_roots = mode_options(kind, stack, workspace)
        for iteration in range(25):
            context = f"undo {kind}, iteration {iteration}, CRASH_TEST_SEED={SEED}"
            scenario = Scenario(workspace / f"library-{iteration}", iteration * 100, rng)
            with Journal.open(journal_path) as journal:
                batch_id = scenario.remove(journal, options).batch_id or 0
                assert scenario.removed_ids <= removed_file_ids(journal)

            def work(batch_id: int = batch_id) -> None:
                with Journal.open(journal_path) as journal:
                    undo_batch(journal, batch_id)

            run_killed(work, rng, max_delay)
            with Journal.open(journal_path) as journal:
                reconcile(journal)
                assert_every_file_is_whole_somewhere(journal, scenario, trash_roots, context)
                if removed_file_ids(journal) & scenario.removed_ids:
                    undo_batch(journal, batch_id)  # undoing again finishes the job
                assert not removed_file_ids(journal) & scenario.removed_ids, context
                assert_every_file_is_whole_somewhere(journal, scenario, trash_roots, context)


def assert_every_group_keeps_a_whole_copy(
    journal: Journal, scenario: Scenario, context: str
) -> None:
    """After reconcile: each file whole at its path or its recorded destination, and at
    least one file of every group whole at its original path."""
    assert journal.actions_in_state(PLANNED) == [], context
    actions = file_actions(journal)
    for group in scenario.groups:
        members = group["keep"] + group["remove"]
        at_home = [
            file_id
            for file_id in members
            if os.path.lexists(scenario.files[file_id].path)
            and sha256_of(scenario.files[file_id].path) == scenario.digests[file_id]
        ]
        assert at_home, f"{context}: group {members} lost every copy"
        for file_id in set(members) - set(at_home):
            done = [a for a in actions.get(file_id, []) if a.state == DONE and a.mode != UNDO]
            assert len(done) == 1 and done[0].destination, f"{context}: {file_id} lost"
            assert sha256_of(done[0].destination) == scenario.digests[file_id], context


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["move-same-fs", "trash"])
def test_two_processes_with_crossed_plans_killed_at_any_moment_keep_a_copy(
    workspace: Path, kind: str
) -> None:
    """Two processes remove crossed plans at once (one keeps what the other removes); one or
    both are killed at a random moment. The lock lets one plan run; the other is refused."""
    rng = random.Random(f"{SEED}-crossed-{kind}")
    journal_path = workspace / "journal.sqlite3"
    longest = 0.0
    with ExitStack() as stack:
        options, _trash_roots = mode_options(kind, stack, workspace)
        for iteration in range(20):
            context = f"crossed {kind}, iteration {iteration}, CRASH_TEST_SEED={SEED}"
            scenario = Scenario(workspace / f"library-{iteration}", iteration * 100, rng)
            crossed = [
                {"keep": [group["remove"][0]], "remove": [group["keep"][0], group["remove"][1]]}
                for group in scenario.groups
            ]

            def work(groups: list[dict[str, list[int]]], scenario: Scenario = scenario) -> None:
                with Journal.open(journal_path) as journal:
                    plan = RemovalPlan.from_json({"groups": groups})
                    # Refused when the other plan ran first and took this one's keepers.
                    with contextlib.suppress(RefusedError):
                        execute_plan(plan, scenario.files, [str(scenario.root)], journal, **options)

            started = time.monotonic()
            pids = [
                start_child(lambda groups=groups: work(groups), rng.random())
                for groups in (scenario.groups, crossed)
            ]
            if iteration > 0:  # the first run measures how long both take
                time.sleep(rng.uniform(0, longest * 1.2))
                for pid in rng.sample(pids, rng.choice([1, 2])):
                    os.kill(pid, signal.SIGKILL)
            for pid in pids:
                _, status = os.waitpid(pid, 0)
                assert os.waitstatus_to_exitcode(status) in (0, -signal.SIGKILL), context
            longest = max(longest, time.monotonic() - started)
            with Journal.open(journal_path) as journal:
                reconcile(journal)
                assert_every_group_keeps_a_whole_copy(journal, scenario, context)

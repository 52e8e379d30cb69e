"""Crash safety of hardlink mode: whatever moment a hardlink removal or its undo dies, every
path still holds its original bytes (the file itself or a hardlink to identical bytes) and
the keeper is intact.

First each crash window is made by stopping the process at one step (an exception no code
catches, so the action stays 'planned' as after a kill) and reconciled; then real batches
run in a forked child that is SIGKILLed at a random moment, many times. Set
CRASH_TEST_SEED to replay a run (timing still varies).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.models import MediaFile
from stash_dedupe.removal import files as removal_files
from stash_dedupe.removal import hardlink as removal_hardlink
from stash_dedupe.removal import trash as removal_trash
from stash_dedupe.removal.execute import execute_plan
from stash_dedupe.removal.files import PARTIAL_PREFIX
from stash_dedupe.removal.journal import (
    DONE,
    FAILED,
    HARDLINK,
    INTERRUPTED,
    PLANNED,
    UNDO,
    UNDONE,
    Journal,
    list_batches,
    removed_file_ids,
)
from stash_dedupe.removal.plan import RemovalPlan, RemovalResult
from stash_dedupe.removal.recovery import reconcile, undo_batch
from tests.removal_helpers import media_file_for, memory_backed_dir, sha256_of
from tests.test_journal_crash import file_actions, home_trash, run_killed

SEED = int(os.environ.get("CRASH_TEST_SEED", time.time_ns() % 1_000_000))


class Crash(BaseException):
    """Stands for the process dying: nothing in the app catches it."""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmpfs when there is one (syncing costs nothing), with the home trash on it too, so
    the library, its keepers and the trash share one filesystem as hardlinks need."""
    with memory_backed_dir(tmp_path) as directory:
        monkeypatch.setenv("XDG_DATA_HOME", str(directory / "xdg-data"))
        yield directory


class Scenario:
    """Groups of a keeper and two byte-identical copies, in a fresh library folder."""

    def __init__(self, root: Path, first_id: int, rng: random.Random, groups: int = 4) -> None:
        self.root = root
        self.files: dict[int, MediaFile] = {}
        self.digests: dict[int, str] = {}
        self.groups: list[dict[str, list[int]]] = []
        file_id = first_id
        for group in range(groups):
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
    def copy_ids(self) -> set[int]:
        return {file_id for group in self.groups for file_id in group["remove"]}

    def keeper_of(self, file_id: int) -> MediaFile:
        [keeper_id] = next(g["keep"] for g in self.groups if file_id in g["remove"])
        return self.files[keeper_id]

    def link(self, journal: Journal) -> RemovalResult:
        plan = RemovalPlan.from_json({"groups": self.groups})
        return execute_plan(plan, self.files, [str(self.root)], journal, HARDLINK)


def same_inode(first: str | Path, second: str | Path) -> bool:
    one, other = os.stat(first), os.stat(second)
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def assert_every_path_holds_its_bytes(journal: Journal, scenario: Scenario, context: str) -> None:
    """After reconcile: no action left 'planned'; every keeper whole and never a link; each
    copy whole at its path, and a hardlink of its keeper exactly when the journal says it was
    linked, its original then waiting in the trash; no temporary link or copy left over."""
    assert journal.actions_in_state(PLANNED) == [], context
    linked = removed_file_ids(journal)
    actions = file_actions(journal)
    for file_id, digest in scenario.digests.items():
        path = scenario.files[file_id].path
        assert sha256_of(path) == digest, f"{context}: file {file_id} lost or damaged"
        if file_id not in scenario.copy_ids:
            continue  # a keeper: whole, checked above
        keeper = scenario.keeper_of(file_id)
        done = [a for a in actions.get(file_id, []) if a.state == DONE and a.mode == HARDLINK]
        if file_id in linked:
            assert len(done) == 1, context
            assert same_inode(path, keeper.path), f"{context}: {file_id} marked linked, is not"
            assert sha256_of(done[0].destination or "") == digest, f"{context}: original lost"
        else:
            assert done == [], context
            assert not same_inode(path, keeper.path), f"{context}: {file_id} linked, not marked"
    leftovers = list(scenario.root.rglob(PARTIAL_PREFIX + "*"))
    assert leftovers == [], f"{context}: temporary files left: {leftovers}"
    trash = home_trash()
    if trash.exists():
        names = {path.name for path in (trash / "files").iterdir()}
        info_names = {path.name[: -len(".trashinfo")] for path in (trash / "info").iterdir()}
        assert names == info_names, f"{context}: trash files and .trashinfo files disagree"
        assert not list((trash / "info").glob(PARTIAL_PREFIX + "*")), context


# Each crash window, made by stopping at one step.


def crash_on_call(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, call: int, after: bool = False
) -> None:
    """Make the `call`-th call of module.name die (before it acts, or just after)."""
    function = getattr(module, name)
    calls = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == call and not after:
            raise Crash
        result = function(*args, **kwargs)
        if calls[0] == call:
            raise Crash
        return result

    monkeypatch.setattr(module, name, dying)


def crashed_link(scenario: Scenario, journal: Journal) -> None:
    with pytest.raises(Crash):
        scenario.link(journal)
    [planned] = journal.actions_in_state(PLANNED)
    assert planned.mode == HARDLINK


# Where a hardlink removal can die: (what dies, which call, before/after, linked after all).
# (An unfinished .trashinfo, which an exception cleans up, is left only by the kills below.)
# The steps: the .trashinfo written (trash.write_trashinfo), the copy renamed into the trash
# (files.rename_no_replace), the link made under a temporary name (os.link), the link
# renamed to the copy's path (files.rename_no_replace), its folder synced.
CRASH_POINTS = [
    ("trash-info", 1, False, False),
    ("trash-info", 1, True, False),
    ("rename", 1, False, False),
    ("rename", 1, True, False),
    ("link", 1, False, False),
    ("link", 1, True, False),
    ("rename", 2, False, False),
    ("rename", 2, True, True),
    ("sync", 1, True, True),
]


@pytest.mark.parametrize(("step", "call", "after", "linked"), CRASH_POINTS)
def test_a_hardlink_removal_stopped_at_each_step_is_settled(
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    call: int,
    after: bool,
    linked: bool,
) -> None:
    scenario = Scenario(workspace / "library", 1, random.Random(SEED), groups=1)
    scenario.groups[0]["remove"] = scenario.groups[0]["remove"][:1]
    copy_id = scenario.groups[0]["remove"][0]
    with Journal.open(workspace / "journal.sqlite3") as journal:
        with monkeypatch.context() as patches:
            module, name = {
                "trash-info": (removal_trash, "write_trashinfo"),
                "rename": (removal_files, "rename_no_replace"),
                "link": (os, "link"),
                "sync": (removal_hardlink, "fsync_directory"),
            }[step]
            crash_on_call(patches, module, name, call, after)
            crashed_link(scenario, journal)
        [settled] = reconcile(journal)
        assert settled.state == (DONE if linked else FAILED), settled.reason
        assert (settled.reason or "").startswith("Interrupted by a crash: ")
        assert (copy_id in removed_file_ids(journal)) == linked
        assert journal.batch(settled.batch_id).status == INTERRUPTED
        assert_every_path_holds_its_bytes(journal, scenario, f"{step} {call} {after}")
        scenario.link(journal)  # running the plan again finishes the job
        assert copy_id in removed_file_ids(journal)
        assert_every_path_holds_its_bytes(journal, scenario, f"again after {step}")


@pytest.mark.parametrize(("after", "restored"), [(False, False), (True, True)])
def test_an_undo_stopped_at_its_rename_is_settled(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, after: bool, restored: bool
) -> None:
    scenario = Scenario(workspace / "library", 1, random.Random(SEED), groups=1)
    with Journal.open(workspace / "journal.sqlite3") as journal:
        batch_id = scenario.link(journal).batch_id or 0
        with monkeypatch.context() as patches:
            crash_on_call(patches, os, "replace", 1, after)
            with pytest.raises(Crash):
                undo_batch(journal, batch_id)
        [settled] = reconcile(journal)
        assert settled.mode == UNDO
        assert settled.state == (DONE if restored else FAILED), settled.reason
        undone = journal.action(settled.undoes_action_id or 0).state == UNDONE
        assert undone == restored
        assert_every_path_holds_its_bytes(journal, scenario, f"undo, after={after}")
        undo_batch(journal, batch_id)  # undoing again finishes the job
        assert removed_file_ids(journal) == set()
        assert_every_path_holds_its_bytes(journal, scenario, "undone again")
        assert not list((home_trash() / "files").iterdir())


# Real batches, killed at random moments.


def widen_link_windows(rng: random.Random) -> None:
    """Sleep a little around the two steps only hardlink mode takes (the child has widened
    the others with `widen_crash_windows` already)."""
    for name in ("link", "replace"):
        function = getattr(os, name)

        def paused(*args: Any, _function: Callable[..., Any] = function, **kwargs: Any) -> Any:
            time.sleep(rng.uniform(0, 0.001))
            result = _function(*args, **kwargs)
            time.sleep(rng.uniform(0, 0.001))
            return result

        setattr(os, name, paused)


def linking(journal_path: Path, scenario: Scenario, seed: float) -> Callable[[], None]:
    def work() -> None:
        widen_link_windows(random.Random(seed))
        with Journal.open(journal_path) as journal:
            scenario.link(journal)

    return work


@pytest.mark.slow
def test_a_hardlink_removal_killed_at_any_moment_loses_no_bytes(workspace: Path) -> None:
    rng = random.Random(f"{SEED}-hardlink")
    journal_path = workspace / "journal.sqlite3"
    max_delay: list[float] = []
    outcomes: set[bool] = set()
    for iteration in range(40):
        context = f"hardlink, iteration {iteration}, CRASH_TEST_SEED={SEED}"
        scenario = Scenario(workspace / f"library-{iteration}", iteration * 100, rng)
        run_killed(linking(journal_path, scenario, rng.random()), rng, max_delay)
        with Journal.open(journal_path) as journal:
            reconcile(journal)
            assert_every_path_holds_its_bytes(journal, scenario, context)
            outcomes.add(scenario.copy_ids <= removed_file_ids(journal))
            scenario.link(journal)  # running the plan again finishes the job
            assert scenario.copy_ids <= removed_file_ids(journal), context
            assert_every_path_holds_its_bytes(journal, scenario, context)
    assert False in outcomes, "no kill landed before the batch finished"


@pytest.mark.slow
def test_a_hardlink_undo_killed_at_any_moment_loses_no_bytes(workspace: Path) -> None:
    rng = random.Random(f"{SEED}-hardlink-undo")
    journal_path = workspace / "journal.sqlite3"
    max_delay: list[float] = []
    for iteration in range(25):
        context = f"hardlink undo, iteration {iteration}, CRASH_TEST_SEED={SEED}"
        scenario = Scenario(workspace / f"library-{iteration}", iteration * 100, rng)
        with Journal.open(journal_path) as journal:
            batch_id = scenario.link(journal).batch_id or 0
            assert scenario.copy_ids <= removed_file_ids(journal)

        def work(batch_id: int = batch_id, seed: float = rng.random()) -> None:
            widen_link_windows(random.Random(seed))
            with Journal.open(journal_path) as journal:
                undo_batch(journal, batch_id)

        run_killed(work, rng, max_delay)
        with Journal.open(journal_path) as journal:
            reconcile(journal)
            assert_every_path_holds_its_bytes(journal, scenario, context)
            if removed_file_ids(journal) & scenario.copy_ids:
                undo_batch(journal, batch_id)  # undoing again finishes the job
            assert not removed_file_ids(journal) & scenario.copy_ids, context
            assert_every_path_holds_its_bytes(journal, scenario, context)
            assert all(batch.status != "running" for batch in list_batches(journal)), context

"""Removal plans, their outcomes, and the rules a plan must pass before anything is touched.

The safety rules live here, in the lowest layer, so no caller can skip them: every group
keeps at least one readable regular file (its kept files are checked on disk, and a file
to remove that is the same file on disk as a keeper refuses the plan), only regular files
inside the library roots are touched, none under a protected folder, and a "move" trash
folder lies outside the library with room for the files. Any broken rule refuses the whole
plan (RefusedError) before a single file is touched. What can change between the check and
the removal, a file or its keeper changing since the scan, is checked again right before
each file (`skip_reason`), and such a file is skipped with a reason while the rest continues.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stash_dedupe.errors import RefusedError
from stash_dedupe.library_paths import checked_library_path, is_below, protected_folder_of
from stash_dedupe.models import MediaFile
from stash_dedupe.removal.files import describe_error
from stash_dedupe.removal.journal import DELETE, MOVE, REMOVAL_MODES

# Plans and their outcomes.


@dataclass(frozen=True)
class RemovalGroup:
    """Files of one duplicate group: `keep` stays, `remove` goes.

    `group_id` names the duplicate group the user reviewed (None in a hand-written plan): the
    session holds the plan group against that group, and messages name it. `allow_longer`
    is the user's explicit choice to remove the longer file of an overlap pair (the one with
    footage the other lacks), which is refused otherwise.
    """

    keep: tuple[int, ...]
    remove: tuple[int, ...]
    group_id: str | None = None
    allow_longer: bool = False

    def label(self, number: int) -> str:
        """How messages name this group: by its id, else by its place in the plan."""
        return f"Group {self.group_id}" if self.group_id else f"Group {number} of the plan"


@dataclass(frozen=True)
class RemovalPlan:
    """What the user asked to remove, group by group."""

    groups: tuple[RemovalGroup, ...]

    @classmethod
    def from_json(cls, obj: object) -> RemovalPlan:
        """Parse {"groups": [{"keep": [ids], "remove": [ids]}, ...]} as sent by the UI or CLI."""
        if not isinstance(obj, dict) or "groups" not in obj:
            raise RefusedError('A removal plan must be an object with a "groups" list.')
        groups = obj["groups"]
        if not isinstance(groups, list):
            raise RefusedError('The plan\'s "groups" must be a list.')
        parsed = []
        for number, group in enumerate(groups, start=1):
            if not isinstance(group, dict):
                raise RefusedError(f'Group {number} must be an object with "keep" and "remove".')
            group_id = group.get("group_id")
            if group_id is not None and (not isinstance(group_id, str) or len(group_id) > 64):
                raise RefusedError(f'The plan\'s group {number} "group_id" must be a group id.')
            allow_longer = group.get("allow_longer", False)
            if not isinstance(allow_longer, bool):
                raise RefusedError(
                    f'The plan\'s group {number} "allow_longer" must be true or false.'
                )
            parsed.append(
                RemovalGroup(
                    keep=_file_ids(group.get("keep"), f'group {number} "keep"'),
                    remove=_file_ids(group.get("remove"), f'group {number} "remove"'),
                    group_id=group_id or None,
                    allow_longer=allow_longer,
                )
            )
        return cls(tuple(parsed))

    def to_json(self) -> dict[str, object]:
        """The plan as `from_json` reads it (and as the page and `groups --json` users send)."""
        return {
            "groups": [
                {
                    **({"group_id": group.group_id} if group.group_id else {}),
                    "keep": list(group.keep),
                    "remove": list(group.remove),
                    **({"allow_longer": True} if group.allow_longer else {}),
                }
                for group in self.groups
            ]
        }

    @property
    def removed_ids(self) -> list[int]:
        return [file_id for group in self.groups for file_id in group.remove]


def _file_ids(value: object, where: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise RefusedError(f"The plan's {where} must be a list of file ids.")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < 1 << 63:
            raise RefusedError(f"The plan's {where} must hold file ids (integers), not {item!r}.")
    return tuple(value)


@dataclass(frozen=True)
class RemovedFile:
    """A file that was (or in a dry run would be) removed; `destination` None if unknown/gone."""

    file_id: int
    path: str
    destination: str | None
    size: int


@dataclass(frozen=True)
class SkippedFile:
    """A file left in place, with the reason to show the user."""

    file_id: int
    path: str
    reason: str


@dataclass(frozen=True)
class RemovalResult:
    """Outcome of `execute_plan`; `batch_id` is None for a dry run (nothing was journaled)."""

    batch_id: int | None
    mode: str
    dry_run: bool
    done: tuple[RemovedFile, ...]
    skipped: tuple[SkippedFile, ...]
    bytes_freed: int


@dataclass(frozen=True)
class RestoredFile:
    """A file moved back to its original path by an undo."""

    file_id: int
    path: str
    restored_from: str


@dataclass(frozen=True)
class UndoResult:
    """Outcome of an undo; itself journaled as batch `batch_id` (mode 'undo')."""

    batch_id: int
    restored: tuple[RestoredFile, ...]
    skipped: tuple[SkippedFile, ...]


@dataclass(frozen=True)
class CheckedRemoval:
    """One file to remove, its real path (checked to be in the library) and its group's keepers."""

    file: MediaFile
    path: str
    keepers: tuple[MediaFile, ...]

    @property
    def keeper_ids(self) -> tuple[int, ...]:
        return tuple(keeper.file_id for keeper in self.keepers)


# The checks.


def check_mode(
    mode: str, trash_dir: str | None, confirm_delete: bool, dry_run: bool
) -> Path | None:
    """Refuse unknown modes, an unconfirmed delete and a trash folder outside 'move' mode."""
    if mode not in REMOVAL_MODES:
        raise RefusedError(f"Unknown removal mode {mode!r}; use one of {', '.join(REMOVAL_MODES)}.")
    if mode == DELETE and not confirm_delete and not dry_run:
        raise RefusedError(
            "Deleting permanently needs explicit confirmation; the files cannot be recovered."
        )
    if mode != MOVE:
        if trash_dir is not None:
            raise RefusedError(f"A trash folder is only used with mode 'move', not {mode!r}.")
        return None
    if not trash_dir:
        raise RefusedError("Mode 'move' needs a trash folder.")
    if not os.path.isabs(trash_dir):
        raise RefusedError(f"The trash folder must be an absolute path, not {trash_dir!r}.")
    return Path(os.path.realpath(trash_dir))


def check_plan(
    plan: RemovalPlan,
    library: Mapping[int, MediaFile],
    library_roots: Sequence[str],
    protected_folders: Sequence[str] = (),
    same_file_allowed: bool = False,
) -> list[CheckedRemoval]:
    """Check every rule that does not depend on timing; any failure refuses the whole plan.

    `protected_folders` (Settings): no file in one is ever removed, whatever the plan says
    (nor replaced by a hardlink). With `same_file_allowed` (hardlink mode, where nothing is
    removed) a file that is the same file on disk as a keeper passes, to be reported as
    already linked.
    """
    if not any(library_roots):
        raise RefusedError("No library folders are known, so no file can be shown to be in it.")
    kept_ids = {file_id for group in plan.groups for file_id in group.keep}
    removed_ids: set[int] = set()
    removals = []
    keepers_of_group: list[tuple[str, tuple[MediaFile, ...]]] = []
    for number, group in enumerate(plan.groups, start=1):
        if not group.remove:
            continue
        if not group.keep:
            raise RefusedError(
                f"{group.label(number)} would lose every copy: keep at least one file in each"
                " group."
            )
        keepers = tuple(_library_file(library, file_id, "Kept") for file_id in group.keep)
        keepers_of_group.append((group.label(number), keepers))
        for file_id in group.remove:
            if file_id in kept_ids:
                raise RefusedError(f"File {file_id} is both kept and removed; pick one.")
            if file_id in removed_ids:
                raise RefusedError(f"File {file_id} is listed for removal twice.")
            removed_ids.add(file_id)
            file = _library_file(library, file_id, "Removed")
            real_path = checked_library_path(file, library_roots)
            _check_not_protected(file, real_path, protected_folders)
            removals.append(CheckedRemoval(file, real_path, keepers))
    if not removals:
        raise RefusedError("The plan removes nothing.")

    keeper_identities: dict[tuple[int, int], MediaFile] = {}
    for label, keepers in keepers_of_group:
        for keeper in keepers:
            checked_library_path(keeper, library_roots)  # a kept link or outsider is no copy
            problem = _keeper_problem(keeper)
            try:
                keeper_stat = os.stat(keeper.path)
            except OSError as error:
                problem = problem or f"cannot be checked ({describe_error(error)})"
            if problem:
                raise RefusedError(
                    f"{label}: its kept file {keeper.file_id} ({keeper.path}) {problem}, so"
                    " nothing in this plan was removed. Reload the groups and decide again."
                )
            keeper_identities[(keeper_stat.st_dev, keeper_stat.st_ino)] = keeper
    for removal in removals:
        try:
            removal_stat = os.lstat(removal.path)
        except OSError:
            continue  # missing now: skipped with a reason when its turn comes
        same = keeper_identities.get((removal_stat.st_dev, removal_stat.st_ino))
        if same is not None and not same_file_allowed:
            raise RefusedError(
                f"File {removal.file.file_id} ({removal.path}) is the same file on disk as"
                f" kept file {same.file_id}; removing it would remove the keeper."
            )
    return removals


def _check_not_protected(file: MediaFile, real_path: str, protected_folders: Sequence[str]) -> None:
    """Refuse a file in a protected folder, by its path as Stash lists it or its real path."""
    folder = protected_folder_of(file.path, protected_folders) or protected_folder_of(
        real_path, protected_folders
    )
    if folder is not None:
        raise RefusedError(
            f"File {file.file_id} ({file.path}) is in the protected folder {folder}, whose"
            " files are never removed (Settings → Protected folders); nothing in this plan"
            " was removed."
        )


def _library_file(library: Mapping[int, MediaFile], file_id: int, role: str) -> MediaFile:
    file = library.get(file_id)
    if file is None:
        raise RefusedError(f"{role} file {file_id} is not in the library.")
    if file.zip_file_id is not None:
        raise RefusedError(
            f"{role} file {file_id} ({file.path}) is inside a zip archive;"
            " the app only handles loose files."
        )
    try:
        file.path.encode("utf-8")
    except UnicodeEncodeError:
        raise RefusedError(f"{role} file {file_id} has a path that is not valid UTF-8.") from None
    return file


def _keeper_problem(keeper: MediaFile) -> str | None:
    """Why a kept file can't be relied on as the group's surviving copy, or None."""
    try:
        keeper_stat = os.stat(keeper.path)
        if not stat.S_ISREG(keeper_stat.st_mode):
            return "is not a regular file"
        with open(keeper.path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        return "no longer exists"
    except OSError as error:
        return f"cannot be read ({describe_error(error)})"
    if keeper_stat.st_size != keeper.size:
        return f"changed size since the scan ({keeper.size} -> {keeper_stat.st_size} bytes)"
    return None


def check_trash_folder(
    trash_root: Path, removals: list[CheckedRemoval], library_roots: Sequence[str], probe: bool
) -> None:
    """Refuse a trash folder that is missing, not a folder, read-only or too small, or that
    lies inside the library (Stash would scan the removed files back in)."""
    for root in library_roots:
        real_root = os.path.realpath(root)
        if str(trash_root) == real_root or is_below(str(trash_root), real_root):
            raise RefusedError(
                f"The trash folder {trash_root} is inside the library folder {root}; choose a"
                " folder outside the library."
            )
    if not trash_root.exists():
        raise RefusedError(f"The trash folder {trash_root} does not exist.")
    if not trash_root.is_dir():
        raise RefusedError(f"The trash folder {trash_root} is not a folder.")
    if not os.access(trash_root, os.W_OK | os.X_OK):
        raise RefusedError(f"The trash folder {trash_root} is not writable.")
    if probe:  # os.access says yes to root even on an immutable or read-only folder
        try:
            handle, probe_path = tempfile.mkstemp(prefix=".stash-dedupe-probe-", dir=trash_root)
            os.close(handle)
            os.unlink(probe_path)
        except OSError as error:
            raise RefusedError(
                f"The trash folder {trash_root} is not writable ({describe_error(error)})."
            ) from None
    trash_device = os.stat(trash_root).st_dev
    needed = 0
    for removal in removals:
        try:
            file_stat = os.lstat(removal.path)
        except OSError:
            continue
        if file_stat.st_dev != trash_device:
            needed += file_stat.st_size
    free = shutil.disk_usage(trash_root).free
    if needed > free:
        raise RefusedError(
            f"The trash folder {trash_root} has {free} bytes free but the files need {needed}."
        )


def skip_reason(removal: CheckedRemoval) -> str | None:
    """Why this file must not be removed now (changed since the scan, keeper gone), or None."""
    try:
        file_stat = os.lstat(removal.path)
    except FileNotFoundError:
        return "The file no longer exists."
    except OSError as error:
        return f"The file cannot be checked ({describe_error(error)})."
    if stat.S_ISLNK(file_stat.st_mode) or os.path.realpath(removal.path) != removal.path:
        return "The file or a folder above it has become a symbolic link."
    if not stat.S_ISREG(file_stat.st_mode):
        return "The path is no longer a regular file."
    if file_stat.st_size != removal.file.size:
        return (
            f"The file changed size since the scan ({removal.file.size} -> "
            f"{file_stat.st_size} bytes)."
        )
    expected_mtime = removal.file.mod_time_epoch
    # Stash keeps whole seconds, so anything under a second apart is the same time.
    if expected_mtime is not None and abs(file_stat.st_mtime - expected_mtime) >= 1:
        return "The file was modified since the scan."
    for keeper in removal.keepers:
        problem = _keeper_problem(keeper)
        if problem:
            return f"The kept copy {keeper.path} {problem}."

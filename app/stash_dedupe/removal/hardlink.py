"""Replacing a byte-identical copy with a hardlink to its keeper ("hardlink" mode).

The copy's path stays, so Stash keeps its entry, but it shares the keeper's blocks, so its
space is freed. Only a copy shown to be identical is linked: the same size and the same md5
and oshash where Stash knows them (checked for the whole plan first), then the same bytes,
both files read in full right before acting, under the removal lock; and it must be on the
keeper's filesystem, as a hardlink cannot cross filesystems.

The original bytes survive until the link is in place: the copy is first renamed into the
system trash on its own filesystem (journaled like trash mode), then a hardlink to the
keeper is made under a temporary name in the copy's folder and renamed to the copy's path.
After a crash `settle_link` reads the disk: the link in place means done; otherwise the
temporary link is removed and the original put back from the trash. Undo renames the trash
copy over the link in one atomic step, so the path always holds the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from stash_dedupe.errors import RefusedError
from stash_dedupe.models import MediaFile
from stash_dedupe.removal import files
from stash_dedupe.removal.files import describe_error, fsync_directory, partial_path
from stash_dedupe.removal.journal import DONE, FAILED, UNDO, Action, Journal
from stash_dedupe.removal.plan import CheckedRemoval, RemovalPlan
from stash_dedupe.removal.trash import (
    USES_FREEDESKTOP_TRASH,
    FreedesktopTrash,
    trashinfo_names,
)

_READ_CHUNK_BYTES = 1 << 20
_CRASHED = "Interrupted by a crash: "


# Before: which keeper each copy is linked to, and whether it may be.


def check_links(removals: Sequence[CheckedRemoval]) -> dict[int, MediaFile]:
    """The keeper each file will be linked to, by file id; refuses the whole plan (naming
    the file) if a file is not identical to any of its keepers as far as Stash knows, or lies
    on another filesystem than its keeper."""
    if not USES_FREEDESKTOP_TRASH:
        raise RefusedError(
            "Replacing copies with hardlinks keeps each original in the system trash until the"
            " link is in place, and this system's trash does not say where a file went; use"
            " another mode."
        )
    targets = {}
    for removal in removals:
        where = f"File {removal.file.file_id} ({removal.path})"
        differences = [_stash_difference(removal.file, keeper) for keeper in removal.keepers]
        identical = [k for k, diff in zip(removal.keepers, differences, strict=True) if not diff]
        if not identical:
            keeper, difference = removal.keepers[0], differences[0]
            raise RefusedError(
                f"{where} is not byte-identical to its kept file {keeper.file_id}"
                f" ({keeper.path}): {difference}. Only identical copies can become hardlinks."
            )
        target = identical[0]
        try:
            copy_device = os.lstat(removal.path).st_dev
        except OSError:
            targets[removal.file.file_id] = target  # missing now: skipped when its turn comes
            continue
        same_filesystem = [k for k in identical if _device(k.path) == copy_device]
        if not same_filesystem:
            raise RefusedError(
                f"{where} is on another filesystem than its kept file {target.file_id}"
                f" ({target.path}); a hardlink cannot cross filesystems."
            )
        targets[removal.file.file_id] = same_filesystem[0]
    return targets


def identical_part(
    plan: RemovalPlan, library: Mapping[int, MediaFile]
) -> tuple[RemovalPlan, tuple[MediaFile, ...]]:
    """The part of a plan that hardlink mode can carry out: the files Stash's record shows
    identical to a keeper of their group; and the files left out. (Auto-resolve matches by
    picture, so its copies need not be identical.)"""
    groups, left_out = [], []
    for group in plan.groups:
        keepers = [library[file_id] for file_id in group.keep if file_id in library]
        remove = []
        for file_id in group.remove:
            file = library.get(file_id)
            if file is None:
                continue
            if any(_stash_difference(file, keeper) is None for keeper in keepers):
                remove.append(file_id)
            else:
                left_out.append(file)
        if remove:
            groups.append(replace(group, remove=tuple(remove)))
    return RemovalPlan(tuple(groups)), tuple(left_out)


def _stash_difference(copy: MediaFile, keeper: MediaFile) -> str | None:
    """How Stash's record shows the two files differ (size, md5, oshash), or None."""
    if copy.size != keeper.size:
        return f"the sizes differ ({copy.size} and {keeper.size} bytes)"
    if copy.md5 and keeper.md5 and copy.md5.lower() != keeper.md5.lower():
        return "their MD5 checksums differ"
    if copy.oshash and keeper.oshash and copy.oshash.lower() != keeper.oshash.lower():
        return "their oshashes differ"
    return None


def _device(path: str) -> int | None:
    try:
        return os.stat(path).st_dev
    except OSError:
        return None  # gone since the plan was checked: no target, and skipped in its turn


def link_skip_reason(removal: CheckedRemoval, keeper: MediaFile, read_bytes: bool) -> str | None:
    """Why this copy must not become a link to `keeper` now, or None; with `read_bytes` both
    files are read in full and must be identical byte for byte."""
    try:
        copy_stat, keeper_stat = os.lstat(removal.path), os.stat(keeper.path)
    except OSError as error:
        return f"The file or its kept copy cannot be checked ({describe_error(error)})."
    if (copy_stat.st_dev, copy_stat.st_ino) == (keeper_stat.st_dev, keeper_stat.st_ino):
        return f"Already a hardlink to the kept file {keeper.path}; nothing to do."
    if copy_stat.st_dev != keeper_stat.st_dev:
        return (
            f"The file is on another filesystem than the kept file {keeper.path}; a hardlink"
            " cannot cross filesystems."
        )
    if not read_bytes:
        return None
    try:
        same = identical_bytes(removal.path, keeper.path)
    except OSError as error:
        return f"The file or its kept copy cannot be read ({describe_error(error)})."
    if not same:
        return f"The file's bytes differ from the kept file {keeper.path}; it was left in place."
    return None


def identical_bytes(first: str | Path, second: str | Path) -> bool:
    """Whether two files hold the same bytes, both read to the end."""
    with open(first, "rb") as one, open(second, "rb") as other:
        if os.fstat(one.fileno()).st_size != os.fstat(other.fileno()).st_size:
            return False
        while True:
            chunk = one.read(_READ_CHUNK_BYTES)
            if chunk != other.read(_READ_CHUNK_BYTES):
                return False
            if not chunk:
                return True


def is_link_to(path: str | Path, target: str | Path) -> bool:
    """Whether `path` is the same file on disk as `target` (a hardlink of it)."""
    try:
        return os.path.samefile(path, target) and not os.path.islink(path)
    except OSError:
        return False


# Acting, as journaled.


def replace_with_link(
    journal: Journal,
    action_id: int,
    trash: FreedesktopTrash,
    path: Path,
    destination: Path,
    keeper_path: Path,
) -> None:
    """Move the copy into the trash, then put a hardlink to the keeper at its path.

    On an error the caller settles the action (`settle_link`), which puts the original back.
    """
    trash.move_in(journal, action_id, path, destination)
    temporary = partial_path(path, action_id)
    os.link(keeper_path, temporary)
    files.rename_no_replace(temporary, path)  # looked up in `files`: the crash tests pause it
    fsync_directory(path.parent)


def link_undo_refusal(action: Action) -> str | None:
    """Why a done hardlink action can't be undone (its trash copy gone, its path taken)."""
    where = f"File {action.file_id} ({action.original_path})"
    trash_copy = action.destination or ""
    if not os.path.lexists(trash_copy):
        return (
            f"{where} is a hardlink to {action.link_target} now, and its original is no longer"
            f" at {trash_copy} (the trash may have been emptied), so it cannot be restored; the"
            " same bytes remain in the kept file."
        )
    path = action.original_path
    if os.path.lexists(path) and not (
        is_link_to(path, action.link_target or "") or _same_bytes(path, trash_copy)
    ):
        return f"Something else now exists at {path}; not overwriting it."
    return None


def restore_original(trash_copy: Path, path: Path) -> None:
    """Put the original back over the link in one rename (the path never lacks its bytes)."""
    if os.path.lexists(path):
        os.replace(trash_copy, path)
    else:
        files.rename_no_replace(trash_copy, path)
    fsync_directory(path.parent)
    fsync_directory(trash_copy.parent)


# After a crash.


def settle_link(action: Action) -> tuple[str, str]:
    """The state a 'planned' hardlink action (or its undo) really reached, read from disk;
    an unfinished link is rolled back, so the original is at its path or in the trash."""
    if action.mode == UNDO:
        return _settle_undo(action)
    path, trash_copy = Path(action.original_path), Path(action.destination or "")
    temporary = partial_path(path, action.id)
    if os.path.lexists(temporary):
        os.unlink(temporary)  # a link to the keeper never put in place
        fsync_directory(path.parent)
    at_path, in_trash = os.path.lexists(path), os.path.lexists(trash_copy)
    if at_path and not in_trash:
        _remove_trashinfo(action)
        return FAILED, _CRASHED + f"the file was not replaced and is still at {path}."
    if in_trash and not at_path:
        files.rename_no_replace(trash_copy, path)
        fsync_directory(path.parent)
        _remove_trashinfo(action)
        return FAILED, _CRASHED + f"the link was not made; the original is back at {path}."
    if at_path and in_trash:
        if is_link_to(path, action.link_target or ""):
            return DONE, _CRASHED + f"the hardlink was in place; the original is at {trash_copy}."
        return FAILED, _CRASHED + f"{path} and {trash_copy} both exist; kept both."
    return FAILED, _CRASHED + f"the file is neither at {path} nor at {trash_copy}."


def _settle_undo(action: Action) -> tuple[str, str]:
    """An undo renames the trash copy over the link in one step: it happened or it did not."""
    trash_copy, path = action.original_path, action.destination or ""
    in_trash, at_path = os.path.lexists(trash_copy), os.path.lexists(path)
    if at_path and not in_trash:
        _remove_trashinfo(action)
        return DONE, _CRASHED + f"the original was already back at {path}."
    if in_trash:
        return FAILED, _CRASHED + f"not restored; the original is still at {trash_copy}."
    return FAILED, _CRASHED + f"the file is neither at {trash_copy} nor at {path}."


def _remove_trashinfo(action: Action) -> None:
    """Remove the action's .trashinfo once no trash copy of ours answers to it."""
    info = action.trash_info_path
    if not info or not os.path.lexists(info):
        return
    # An undo's own path is the trash copy; a removal's .trashinfo must name the copy's path.
    if action.mode == UNDO or trashinfo_names(Path(info), action.original_path):
        os.unlink(info)
        fsync_directory(os.path.dirname(info))


def _same_bytes(first: str, second: str) -> bool:
    try:
        return identical_bytes(first, second)
    except OSError:
        return False

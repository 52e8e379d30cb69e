"""Executing a removal plan: one file at a time, each step journaled before it is taken.

Modes: "trash" (the system trash), "move" (a trash folder the user chose, keeping each
file's full path below it), "delete" (permanent, only with `confirm_delete=True`) and
"hardlink" (a byte-identical copy becomes a hardlink to its keeper, its original kept in the
system trash; see `hardlink`).

How a removal stays safe: it holds the journal's removal lock, so no other removal, undo
or reconcile (in this process or another) runs at the same time; the whole plan is checked
first (`plan.check_plan`) and refused before anything is touched if a group would lose its
last copy or a file lies outside the library; each file and its keepers are checked again
right before its turn; and the action is committed to the journal as 'planned', with its
destination, before the file is touched. The file then moves only in ways that keep it
whole at one of its two places (`files`), so after a crash `recovery.reconcile` settles
every 'planned' row by looking at disk. A dry run checks the same rules, takes no lock and
journals nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath

from stash_dedupe.models import MediaFile
from stash_dedupe.removal.files import describe_error, fsync_directory, move_file, partial_path
from stash_dedupe.removal.hardlink import check_links, link_skip_reason, replace_with_link
from stash_dedupe.removal.journal import (
    DELETE,
    DONE,
    FAILED,
    HARDLINK,
    INTERRUPTED,
    MOVE,
    PLANNED,
    SKIPPED,
    TRASH,
    Journal,
)
from stash_dedupe.removal.plan import (
    CheckedRemoval,
    RemovalPlan,
    RemovalResult,
    RemovedFile,
    SkippedFile,
    check_mode,
    check_plan,
    check_trash_folder,
    skip_reason,
)
from stash_dedupe.removal.recovery import settle
from stash_dedupe.removal.trash import (
    USES_FREEDESKTOP_TRASH,
    FreedesktopTrash,
    freedesktop_trash_for,
    send_to_platform_trash,
)


def execute_plan(
    plan: RemovalPlan,
    library: Mapping[int, MediaFile],
    library_roots: Sequence[str],
    journal: Journal,
    mode: str = TRASH,
    trash_dir: str | None = None,
    confirm_delete: bool = False,
    dry_run: bool = False,
    protected_folders: Sequence[str] = (),
) -> RemovalResult:
    """Remove the plan's files (or with `dry_run` only say what would happen).

    `library_roots` are the library's real folders (`library_paths.real_roots`, taken when
    the library was opened); only regular files inside them are ever touched, and none
    under `protected_folders`.

    The whole plan is checked first and refused (RefusedError, nothing touched) if any rule
    is broken. A file that changed since the scan, or whose keeper changed, is skipped and
    reported while the rest continues.
    """
    if dry_run:
        return _execute(
            plan, library, library_roots, journal, mode, trash_dir, False, True, protected_folders
        )
    with journal.removal_lock():
        return _execute(
            plan,
            library,
            library_roots,
            journal,
            mode,
            trash_dir,
            confirm_delete,
            False,
            protected_folders,
        )


def _execute(
    plan: RemovalPlan,
    library: Mapping[int, MediaFile],
    library_roots: Sequence[str],
    journal: Journal,
    mode: str,
    trash_dir: str | None,
    confirm_delete: bool,
    dry_run: bool,
    protected_folders: Sequence[str] = (),
) -> RemovalResult:
    """`execute_plan`'s work; the caller holds the removal lock unless it is a dry run."""
    trash_root = check_mode(mode, trash_dir, confirm_delete, dry_run)
    removals = check_plan(
        plan, library, library_roots, protected_folders, same_file_allowed=mode == HARDLINK
    )
    if trash_root is not None:
        check_trash_folder(trash_root, removals, library_roots, probe=not dry_run)
    link_targets = check_links(removals) if mode == HARDLINK else {}
    if dry_run:
        return _preview(removals, mode, trash_root, link_targets)

    batch_id = journal.start_batch(mode, None if trash_root is None else str(trash_root))
    outcomes: list[RemovedFile | SkippedFile] = []
    try:
        for removal in removals:
            link_target = link_targets.get(removal.file.file_id)
            outcomes.append(_remove_one(journal, batch_id, removal, mode, trash_root, link_target))
    except BaseException:
        journal.finish_batch(batch_id, INTERRUPTED)
        raise
    journal.finish_batch(batch_id)
    return _result(batch_id, mode, False, outcomes)


def _result(
    batch_id: int | None, mode: str, dry_run: bool, outcomes: list[RemovedFile | SkippedFile]
) -> RemovalResult:
    done = tuple(outcome for outcome in outcomes if isinstance(outcome, RemovedFile))
    skipped = tuple(outcome for outcome in outcomes if isinstance(outcome, SkippedFile))
    return RemovalResult(
        batch_id=batch_id,
        mode=mode,
        dry_run=dry_run,
        done=done,
        skipped=skipped,
        bytes_freed=sum(removed.size for removed in done),
    )


def _preview(
    removals: list[CheckedRemoval],
    mode: str,
    trash_root: Path | None,
    link_targets: Mapping[int, MediaFile],
) -> RemovalResult:
    outcomes: list[RemovedFile | SkippedFile] = []
    for removal in removals:
        file, path = removal.file, removal.path
        reason = skip_reason(removal)
        link_target = link_targets.get(file.file_id)
        if reason is None and link_target is not None:  # the bytes are read only when acting
            reason = link_skip_reason(removal, link_target, read_bytes=False)
        destination = None if trash_root is None else _path_below(trash_root, PurePath(path))
        if reason is None and destination is not None and os.path.lexists(destination):
            reason = f"Something already exists at {destination} in the trash folder."
        if reason is None:
            shown = None if destination is None else str(destination)
            outcomes.append(RemovedFile(file.file_id, path, shown, file.size))
        else:
            outcomes.append(SkippedFile(file.file_id, path, reason))
    return _result(None, mode, True, outcomes)


def _remove_one(
    journal: Journal,
    batch_id: int,
    removal: CheckedRemoval,
    mode: str,
    trash_root: Path | None,
    link_target: MediaFile | None = None,
) -> RemovedFile | SkippedFile:
    """Recheck, journal, then remove one file; filesystem errors become a reported failure.

    In hardlink mode `link_target` is the keeper the file becomes a hardlink of.
    """
    file, path = removal.file, removal.path

    def record(
        state: str,
        reason: str | None = None,
        destination: Path | None = None,
        info: Path | None = None,
    ) -> int:
        return journal.add_action(
            batch_id=batch_id,
            mode=mode,
            file_id=file.file_id,
            original_path=path,
            destination=None if destination is None else str(destination),
            size=file.size,
            mtime=file.mod_time_epoch,
            keeper_ids=removal.keeper_ids,
            state=state,
            reason=reason,
            trash_info_path=None if info is None else str(info),
            link_target=None if link_target is None else link_target.path,
        )

    def skip(state: str, reason: str, destination: Path | None = None) -> SkippedFile:
        record(state, reason, destination)
        return SkippedFile(file.file_id, path, reason)

    reason = skip_reason(removal)
    if reason is None and link_target is not None:
        reason = link_skip_reason(removal, link_target, read_bytes=True)
    if reason is not None:
        return skip(SKIPPED, reason)
    try:
        destination, trash = _destination_for(journal, mode, path, trash_root)
    except OSError as error:
        return skip(FAILED, f"No trash is available for this file ({describe_error(error)}).")
    if mode == MOVE and destination is not None and os.path.lexists(destination):
        reason = f"Something already exists at {destination} in the trash folder."
        return skip(SKIPPED, reason, destination)

    info = None if trash is None or destination is None else trash.info_path(destination.name)
    action_id = record(PLANNED, destination=destination, info=info)  # before touching the file
    try:
        if mode == DELETE:
            os.unlink(path)
            fsync_directory(os.path.dirname(path))
        elif link_target is not None and trash is not None and destination is not None:
            replace_with_link(
                journal, action_id, trash, Path(path), destination, Path(link_target.path)
            )
        elif trash is not None and destination is not None:
            trash.move_in(journal, action_id, Path(path), destination)
        elif destination is not None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            move_file(Path(path), destination, partial_path(destination, action_id))
        else:
            send_to_platform_trash(path)
    except OSError as error:
        # The disk, not the exception, says what happened (a sync can fail after the move).
        if settle(journal.action(action_id))[0] != DONE:
            reason = f"Could not remove the file ({describe_error(error)})."
            if link_target is not None:  # settling put the original back
                reason = (
                    f"Could not replace the file with a hardlink ({describe_error(error)});"
                    " it is back in place."
                )
            journal.set_state(action_id, FAILED, reason)
            return SkippedFile(file.file_id, path, reason)
    journal.set_state(action_id, DONE)
    return RemovedFile(file.file_id, path, journal.action(action_id).destination, file.size)


def _destination_for(
    journal: Journal, mode: str, path: str, trash_root: Path | None
) -> tuple[Path | None, FreedesktopTrash | None]:
    """Where a file will go (None when deleted or sent to a platform trash), and its trash."""
    if mode == MOVE and trash_root is not None:
        return _path_below(trash_root, PurePath(path)), None
    if mode in (TRASH, HARDLINK) and USES_FREEDESKTOP_TRASH:
        trash = freedesktop_trash_for(path)
        return trash.files / trash.free_name(os.path.basename(path), journal), trash
    return None, None


def _path_below(root: Path, original: PurePath) -> Path:
    """Where a file goes in a trash folder: /media/a.mp4 -> ROOT/media/a.mp4, C:\\a -> ROOT/C/a."""
    drive_parts = [part for part in original.drive.replace(":", "").replace("\\", "/").split("/")]
    return root.joinpath(*[part for part in drive_parts if part], *original.parts[1:])

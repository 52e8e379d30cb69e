"""After a crash, and on request: put the journal and the disk back in agreement.

`reconcile` (run at startup) settles every action a crash left 'planned'. The journal
recorded each action, with its destination, before the file was touched, and files only
move in ways that keep a file whole at its original path or at its destination (see
`files`), so looking at those two places says how far the action got: the file is marked
removed or not, and what an interrupted step left behind (a partial copy, an unfinished or
orphaned .trashinfo, a complete copy beside an original that is still there) is cleared.

Undo moves removed files back, never overwriting anything (but the hardlink that replaced a
copy, which holds the same bytes; see `hardlink`); it is itself journaled, as a
batch of mode 'undo', so a crash during an undo is settled by `reconcile` like any other.
Both run under the journal's removal lock, like `execute.execute_plan`.
"""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

from stash_dedupe.errors import RefusedError
from stash_dedupe.removal.files import (
    describe_error,
    fsync_directory,
    move_file,
    partial_path,
)
from stash_dedupe.removal.hardlink import link_undo_refusal, restore_original, settle_link
from stash_dedupe.removal.journal import (
    DELETE,
    DONE,
    FAILED,
    HARDLINK,
    INTERRUPTED,
    PLANNED,
    REMOVAL_MODES,
    TRASH,
    UNDO,
    Action,
    Journal,
    batch_actions,
)
from stash_dedupe.removal.plan import RestoredFile, SkippedFile, UndoResult
from stash_dedupe.removal.trash import trashinfo_names

# Recovery after a crash.


def reconcile(journal: Journal) -> list[Action]:
    """Settle every action a crash left 'planned', by looking at the disk; call at startup.

    Afterwards every file is at its original path or at its recorded destination, and the
    journal says which. Returns the settled actions. A partial copy is deleted; if both the
    original and a complete copy exist, the copy is deleted (the original wins) after a
    byte comparison; if they differ both are kept and the action is marked failed.
    """
    with journal.removal_lock():
        return _reconcile(journal)


def _reconcile(journal: Journal) -> list[Action]:
    settled = []
    for action in journal.actions_in_state(PLANNED):
        state, reason = settle(action)
        if state == DONE and action.mode == UNDO:
            journal.complete_undo(action.id, reason)
        else:
            journal.set_state(action.id, state, reason)
        settled.append(journal.action(action.id))
    journal.interrupt_running_batches()
    return settled


def settle(action: Action) -> tuple[str, str]:
    """The state a 'planned' action really reached, read from disk, with a reason to record.

    Also clears what an interrupted step left behind: an unfinished copy or .trashinfo.
    """
    source = action.original_path
    destination = action.destination
    at_source = os.path.lexists(source)
    at_destination = destination is not None and os.path.lexists(destination)
    if destination is not None and at_source:
        partial = partial_path(Path(destination), action.id)
        if os.path.lexists(partial):
            os.unlink(partial)  # an unfinished copy; the original is still whole
    if action.trash_info_path:
        unfinished_info = partial_path(Path(action.trash_info_path), action.id)
        if os.path.lexists(unfinished_info):
            os.unlink(unfinished_info)  # never renamed into place, so never in use
    if action.link_target is not None:
        return settle_link(action)  # a hardlink and its undo have steps of their own
    prefix = "Interrupted by a crash: "
    if at_source and not at_destination:
        _remove_trashinfo_of_unmoved(action)
        return FAILED, prefix + f"the file was not moved and is still at {source}."
    if at_destination and not at_source:
        if action.mode == UNDO:
            _remove_trashinfo(action)
        return DONE, prefix + f"the file had already reached {destination}."
    if at_source and destination is not None:  # both exist
        if filecmp.cmp(source, destination, shallow=False):
            os.unlink(destination)
            fsync_directory(os.path.dirname(destination))
            _remove_trashinfo_of_unmoved(action)
            return FAILED, prefix + f"the file was copied, the copy removed; it stays at {source}."
        return FAILED, prefix + f"{source} and {destination} both exist and differ; kept both."
    if destination is None:  # delete, or a platform trash: the only step was the removal
        return DONE, prefix + "the file is no longer at its original path."
    return FAILED, prefix + f"the file is neither at {source} nor at {destination}."


def _remove_trashinfo_of_unmoved(action: Action) -> None:
    """A .trashinfo written for a file that never made it into the trash is meaningless."""
    if action.mode == TRASH and action.trash_info_path:
        info_path = Path(action.trash_info_path)
        if trashinfo_names(info_path, action.original_path):
            os.unlink(info_path)


def _remove_trashinfo(action: Action) -> None:
    if action.trash_info_path and os.path.lexists(action.trash_info_path):
        os.unlink(action.trash_info_path)
        fsync_directory(os.path.dirname(action.trash_info_path))


# Undo.


def undo_action(journal: Journal, action_id: int) -> UndoResult:
    """Move one removed file back to its original path; refuses if it can't be done safely."""
    with journal.removal_lock():
        action = journal.action(action_id)
        refusal = _undo_refusal(action)
        if refusal is not None:
            raise RefusedError(refusal)
        result = _undo(journal, [action])
    if result.skipped:
        raise RefusedError(result.skipped[0].reason)
    return result


def undo_batch(journal: Journal, batch_id: int) -> UndoResult:
    """Move back every file of a batch that can be restored; reports those that can't."""
    with journal.removal_lock():
        return _undo_batch(journal, batch_id)


def _undo_batch(journal: Journal, batch_id: int) -> UndoResult:
    batch = journal.batch(batch_id)
    if batch.mode == UNDO:
        raise RefusedError(f"Batch {batch_id} is itself an undo; remove the files again instead.")
    if batch.mode == DELETE:
        raise RefusedError(
            f"Batch {batch_id} deleted its files permanently; they cannot be restored."
        )
    actions = [action for action in batch_actions(journal, batch_id) if action.state == DONE]
    if not actions:
        raise RefusedError(f"Batch {batch_id} has no removed files left to restore.")
    restorable = []
    refused = []
    for action in actions:
        refusal = _undo_refusal(action)
        if refusal is None:
            restorable.append(action)
        else:
            refused.append(SkippedFile(action.file_id, action.original_path, refusal))
    if not restorable:
        raise RefusedError(" ".join(skipped.reason for skipped in refused))
    result = _undo(journal, restorable)
    return UndoResult(result.batch_id, result.restored, tuple(refused) + result.skipped)


def _undo_refusal(action: Action) -> str | None:
    """Why this action can't be undone, saying where the file went; None if it can."""
    where = f"File {action.file_id} ({action.original_path})"
    if action.mode not in REMOVAL_MODES:
        return f"Action {action.id} is an undo; remove the file again instead."
    if action.state != DONE:
        return f"{where} was not removed by action {action.id} (it is {action.state})."
    if action.mode == DELETE:
        return f"{where} was deleted permanently; it cannot be restored."
    if action.destination is None:
        return f"{where} was moved to the system trash; restore it from there."
    if action.mode == HARDLINK:
        return link_undo_refusal(action)
    if not os.path.lexists(action.destination):
        return f"{where} is no longer at {action.destination}; the trash may have been emptied."
    if os.path.lexists(action.original_path):
        return f"Something now exists at {action.original_path}; not overwriting it."
    return None


def _undo(journal: Journal, actions: list[Action]) -> UndoResult:
    batch_id = journal.start_batch(UNDO, None)
    restored: list[RestoredFile] = []
    skipped: list[SkippedFile] = []
    try:
        for action in actions:
            outcome = _undo_one(journal, batch_id, action)
            if isinstance(outcome, RestoredFile):
                restored.append(outcome)
            else:
                skipped.append(outcome)
    except BaseException:
        journal.finish_batch(batch_id, INTERRUPTED)
        raise
    journal.finish_batch(batch_id)
    return UndoResult(batch_id, tuple(restored), tuple(skipped))


def _undo_one(journal: Journal, batch_id: int, action: Action) -> RestoredFile | SkippedFile:
    """Journal, then move the file from the trash back to where it was, never overwriting."""
    assert action.destination is not None
    source, target = Path(action.destination), Path(action.original_path)
    undo_id = journal.add_action(
        batch_id=batch_id,
        mode=UNDO,
        file_id=action.file_id,
        original_path=str(source),
        destination=str(target),
        size=action.size,
        mtime=action.mtime,
        keeper_ids=action.keeper_ids,
        trash_info_path=action.trash_info_path,
        undoes_action_id=action.id,
        link_target=action.link_target,
    )
    try:
        if action.link_target is not None:
            restore_original(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            move_file(source, target, partial_path(target, undo_id))
    except OSError as error:
        if settle(journal.action(undo_id))[0] != DONE:
            if isinstance(error, FileExistsError):
                reason = f"Something now exists at {target}; not overwriting it."
            else:
                reason = f"Could not restore {target} ({describe_error(error)})."
            journal.set_state(undo_id, FAILED, reason)
            return SkippedFile(action.file_id, str(target), reason)
    _remove_trashinfo(action)  # before marking done, so a crash here is settled by reconcile
    journal.complete_undo(undo_id)
    return RestoredFile(action.file_id, str(target), str(source))

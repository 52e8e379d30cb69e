"""Removing duplicates safely: check the whole plan, journal each step, reconcile after a crash.

Modes: "trash" (the OS trash), "move" (a trash folder the user chose, keeping each file's
full path below it) and "delete" (permanent, only with `confirm_delete=True`). The safety
rules live here so no caller can skip them: every group keeps a readable file, only regular
files inside the library roots are touched, a file changed since the scan is skipped, and
every filesystem step comes after a committed journal row.

Crash safety: an action is committed as 'planned', with its destination, before the file
is touched. A file only ever moves by an atomic rename that never replaces anything, or by
copying to a partial name that is renamed into place once complete and synced, and only
then unlinking the original. So at every instant the file is whole at its original path
or at its destination, and `reconcile` settles leftover 'planned' rows by looking at disk.

On Linux and other freedesktop systems the trash is implemented here (trash spec 1.0:
write the .trashinfo, then rename the file into Trash/files) because send2trash does not
say where a file went, which crash recovery and undo need. On Windows and macOS send2trash
is used; the destination is then unknown and such removals must be restored from the
system trash, not from the app.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import filecmp
import functools
import itertools
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from urllib.parse import quote, unquote_to_bytes

from stash_dedupe.errors import RefusedError
from stash_dedupe.library_paths import checked_library_path, is_below
from stash_dedupe.models import MediaFile
from stash_dedupe.removal.journal import (
    DELETE,
    DONE,
    FAILED,
    INTERRUPTED,
    MOVE,
    PLANNED,
    REMOVAL_MODES,
    SKIPPED,
    TRASH,
    UNDO,
    Action,
    Journal,
    batch_actions,
)

PARTIAL_PREFIX = ".stash-dedupe-partial-"
_COPY_CHUNK_BYTES = 1 << 20
_NAME_MAX_BYTES = 255
_TRASHINFO_SUFFIX = ".trashinfo"
_USES_FREEDESKTOP_TRASH = sys.platform not in ("win32", "darwin")
_AT_FDCWD = -100  # from <fcntl.h>: paths are relative to the working directory
_RENAME_NOREPLACE = 1  # from <linux/fs.h>


# Plans and results.


@dataclass(frozen=True)
class RemovalGroup:
    """Files of one duplicate group: `keep` stays, `remove` goes.

    `group_id` names the duplicate group the user reviewed (None in a hand-written plan): the
    session holds the plan group against that group, and messages name it.
    """

    keep: tuple[int, ...]
    remove: tuple[int, ...]
    group_id: str | None = None

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
            parsed.append(
                RemovalGroup(
                    keep=_file_ids(group.get("keep"), f'group {number} "keep"'),
                    remove=_file_ids(group.get("remove"), f'group {number} "remove"'),
                    group_id=group_id or None,
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
class _Removal:
    """One file to remove, its real path (checked to be in the library) and its group's keepers."""

    file: MediaFile
    path: str
    keepers: tuple[MediaFile, ...]

    @property
    def keeper_ids(self) -> tuple[int, ...]:
        return tuple(keeper.file_id for keeper in self.keepers)


# Executing a plan.


def execute_plan(
    plan: RemovalPlan,
    library: Mapping[int, MediaFile],
    library_roots: Sequence[str],
    journal: Journal,
    mode: str = TRASH,
    trash_dir: str | None = None,
    confirm_delete: bool = False,
    dry_run: bool = False,
) -> RemovalResult:
    """Remove the plan's files (or with `dry_run` only say what would happen).

    `library_roots` are the library's real folders (`library_paths.real_roots`, taken when
    the library was opened); only regular files inside them are ever touched.

    The whole plan is checked first and refused (RefusedError, nothing touched) if any rule
    is broken. A file that changed since the scan, or whose keeper changed, is skipped and
    reported while the rest continues.
    """
    if dry_run:
        return _execute(plan, library, library_roots, journal, mode, trash_dir, False, True)
    with journal.removal_lock():
        return _execute(
            plan, library, library_roots, journal, mode, trash_dir, confirm_delete, False
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
) -> RemovalResult:
    """`execute_plan`'s work; the caller holds the removal lock unless it is a dry run."""
    trash_root = _check_mode(mode, trash_dir, confirm_delete, dry_run)
    removals = _check_plan(plan, library, library_roots)
    if trash_root is not None:
        _check_trash_folder(trash_root, removals, library_roots, probe=not dry_run)
    if dry_run:
        return _preview(removals, mode, trash_root)

    batch_id = journal.start_batch(mode, None if trash_root is None else str(trash_root))
    outcomes: list[RemovedFile | SkippedFile] = []
    try:
        for removal in removals:
            outcomes.append(_remove_one(journal, batch_id, removal, mode, trash_root))
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


def _check_mode(
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


def _check_plan(
    plan: RemovalPlan, library: Mapping[int, MediaFile], library_roots: Sequence[str]
) -> list[_Removal]:
    """Check every rule that does not depend on timing; any failure refuses the whole plan."""
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
            removals.append(_Removal(file, checked_library_path(file, library_roots), keepers))
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
                problem = problem or f"cannot be checked ({_describe(error)})"
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
        if same is not None:
            raise RefusedError(
                f"File {removal.file.file_id} ({removal.path}) is the same file on disk as"
                f" kept file {same.file_id}; removing it would remove the keeper."
            )
    return removals


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
        return f"cannot be read ({_describe(error)})"
    if keeper_stat.st_size != keeper.size:
        return f"changed size since the scan ({keeper.size} -> {keeper_stat.st_size} bytes)"
    return None


def _check_trash_folder(
    trash_root: Path, removals: list[_Removal], library_roots: Sequence[str], probe: bool
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
                f"The trash folder {trash_root} is not writable ({_describe(error)})."
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


def _skip_reason(removal: _Removal) -> str | None:
    """Why this file must not be removed now (changed since the scan, keeper gone), or None."""
    try:
        file_stat = os.lstat(removal.path)
    except FileNotFoundError:
        return "The file no longer exists."
    except OSError as error:
        return f"The file cannot be checked ({_describe(error)})."
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
    return None


def _preview(removals: list[_Removal], mode: str, trash_root: Path | None) -> RemovalResult:
    outcomes: list[RemovedFile | SkippedFile] = []
    for removal in removals:
        file, path = removal.file, removal.path
        reason = _skip_reason(removal)
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
    journal: Journal, batch_id: int, removal: _Removal, mode: str, trash_root: Path | None
) -> RemovedFile | SkippedFile:
    """Recheck, journal, then remove one file; filesystem errors become a reported failure."""
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
        )

    def skip(state: str, reason: str, destination: Path | None = None) -> SkippedFile:
        record(state, reason, destination)
        return SkippedFile(file.file_id, path, reason)

    reason = _skip_reason(removal)
    if reason is not None:
        return skip(SKIPPED, reason)
    try:
        destination, trash = _destination_for(mode, path, trash_root)
    except OSError as error:
        return skip(FAILED, f"No trash is available for this file ({_describe(error)}).")
    if mode == MOVE and destination is not None and os.path.lexists(destination):
        reason = f"Something already exists at {destination} in the trash folder."
        return skip(SKIPPED, reason, destination)

    info = None if trash is None or destination is None else trash.info_path(destination.name)
    action_id = record(PLANNED, destination=destination, info=info)  # before touching the file
    try:
        if mode == DELETE:
            os.unlink(path)
            _fsync_directory(os.path.dirname(path))
        elif trash is not None and destination is not None:
            trash.move_in(journal, action_id, Path(path), destination)
        elif destination is not None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            _move_file(Path(path), destination, _partial_path(destination, action_id))
        else:
            from send2trash import send2trash  # only where there is no freedesktop trash

            send2trash(path)
    except OSError as error:
        # The disk, not the exception, says what happened (a sync can fail after the move).
        if _settle(journal.action(action_id))[0] != DONE:
            reason = f"Could not remove the file ({_describe(error)})."
            journal.set_state(action_id, FAILED, reason)
            return SkippedFile(file.file_id, path, reason)
    journal.set_state(action_id, DONE)
    return RemovedFile(file.file_id, path, journal.action(action_id).destination, file.size)


def _destination_for(
    mode: str, path: str, trash_root: Path | None
) -> tuple[Path | None, _FreedesktopTrash | None]:
    """Where a file will go (None when deleted or sent to a platform trash), and its trash."""
    if mode == MOVE and trash_root is not None:
        return _path_below(trash_root, PurePath(path)), None
    if mode == TRASH and _USES_FREEDESKTOP_TRASH:
        trash = _freedesktop_trash_for(path)
        return trash.files / trash.free_name(os.path.basename(path)), trash
    return None, None


def _path_below(root: Path, original: PurePath) -> Path:
    """Where a file goes in a trash folder: /media/a.mp4 -> ROOT/media/a.mp4, C:\\a -> ROOT/C/a."""
    drive_parts = [part for part in original.drive.replace(":", "").replace("\\", "/").split("/")]
    return root.joinpath(*[part for part in drive_parts if part], *original.parts[1:])


def _partial_path(destination: Path, action_id: int) -> Path:
    """A short, predictable name for an unfinished copy, so reconcile can find and remove it."""
    return destination.parent / f"{PARTIAL_PREFIX}{action_id}"


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


# Moving files without ever losing or overwriting one.


def _move_file(source: Path, destination: Path, partial: Path) -> None:
    """Move by rename; across filesystems copy to `partial`, sync, rename into place, unlink."""
    try:
        _rename_no_replace(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        _copy_then_unlink(source, destination, partial)
        return
    _fsync_directory(destination.parent)
    _fsync_directory(source.parent)


def _copy_then_unlink(source: Path, destination: Path, partial: Path) -> None:
    """Copy across filesystems so a crash leaves the original intact until the copy is whole."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    created_partial = False
    try:
        source_fd = os.open(source, os.O_RDONLY | nofollow)
        with open(source_fd, "rb") as reader:
            partial_fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600)
            created_partial = True
            with open(partial_fd, "wb") as writer:
                shutil.copyfileobj(reader, writer, _COPY_CHUNK_BYTES)
                writer.flush()
                source_stat = os.fstat(reader.fileno())
                try:
                    shutil.copystat(source, partial)  # like copy2: keep times and permissions
                except PermissionError:  # e.g. FAT can't store permission bits; keep the times
                    os.utime(partial, ns=(source_stat.st_atime_ns, source_stat.st_mtime_ns))
                os.fsync(writer.fileno())
            source_size = source_stat.st_size
        copied_size = os.stat(partial).st_size
        if copied_size != source_size:
            raise OSError(
                errno.EIO, f"copy has {copied_size} bytes, original {source_size}", str(partial)
            )
        _rename_no_replace(partial, destination)
    except BaseException:
        if created_partial and os.path.lexists(partial):
            os.unlink(partial)
        raise
    _fsync_directory(destination.parent)
    try:
        os.unlink(source)
    except OSError:
        os.unlink(destination)  # our own complete copy; the original stays where it was
        _fsync_directory(destination.parent)
        raise
    _fsync_directory(source.parent)


def _rename_no_replace(source: Path, destination: Path) -> None:
    """Rename, failing with FileExistsError rather than replacing anything at `destination`."""
    if sys.platform == "win32":
        os.rename(source, destination)  # never replaces on Windows
        return
    renameat2 = _libc_renameat2()
    if renameat2 is not None:
        source_bytes, destination_bytes = os.fsencode(source), os.fsencode(destination)
        flags = _RENAME_NOREPLACE
        if renameat2(_AT_FDCWD, source_bytes, _AT_FDCWD, destination_bytes, flags) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS):  # those mean: no NOREPLACE on this fs
            raise OSError(code, os.strerror(code), str(source), None, str(destination))
    # No atomic no-replace rename here: check first (a tiny window remains).
    if os.path.lexists(destination):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(destination))
    os.rename(source, destination)


@functools.lru_cache(maxsize=1)
def _libc_renameat2() -> Callable[..., int] | None:
    """glibc's renameat2, which can rename without replacing atomically (Linux 3.15+)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        return None
    if function is not None:
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        ]
        function.restype = ctypes.c_int
    return function


def _fsync_directory(directory: str | Path) -> None:
    """Make a rename or unlink durable; not possible (nor needed) on Windows."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# The freedesktop.org trash (https://specifications.freedesktop.org/trash-spec/1.0/).


@dataclass(frozen=True)
class _FreedesktopTrash:
    """A trash directory on the file's filesystem; `topdir` set for a per-volume trash."""

    root: Path
    topdir: Path | None

    @property
    def files(self) -> Path:
        return self.root / "files"

    def info_path(self, name: str) -> Path:
        return self.root / "info" / (name + _TRASHINFO_SUFFIX)

    def free_name(self, original_name: str) -> str:
        for name in _trash_names(original_name):
            if not os.path.lexists(self.files / name) and not os.path.lexists(self.info_path(name)):
                return name
        raise AssertionError("unreachable: _trash_names is endless")

    def move_in(self, journal: Journal, action_id: int, source: Path, destination: Path) -> None:
        """Reserve the name with a .trashinfo, then rename the file in (as journaled)."""
        while True:
            try:
                _write_trashinfo(self.info_path(destination.name), source, self.topdir, action_id)
                break
            except FileExistsError:  # another program took the name since free_name
                destination = self.files / self.free_name(source.name)
                journal.set_destination(
                    action_id, str(destination), str(self.info_path(destination.name))
                )
        try:
            _move_file(source, destination, _partial_path(destination, action_id))
        except OSError:
            os.unlink(self.info_path(destination.name))  # ours: created with O_EXCL above
            raise


def _trash_names(original_name: str) -> Iterator[str]:
    """name.mp4, name.2.mp4, ...: shortened so that NAME.trashinfo still fits in 255 bytes."""
    stem, suffix = os.path.splitext(original_name)
    if len(suffix.encode()) > 32:
        stem, suffix = original_name, ""
    for counter in itertools.count(1):
        tag = "" if counter == 1 else f".{counter}"
        room = _NAME_MAX_BYTES - len(_TRASHINFO_SUFFIX) - len((tag + suffix).encode())
        yield stem.encode()[:room].decode("utf-8", "ignore") + tag + suffix


def _freedesktop_trash_for(path: str) -> _FreedesktopTrash:
    """The home trash if the file is on its filesystem, else the trash at the volume's top."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    home_trash = _FreedesktopTrash(Path(data_home) / "Trash", None)
    _make_trash_dirs(home_trash, make_parents=True)
    file_device = os.lstat(path).st_dev
    if os.stat(home_trash.files).st_dev == file_device:
        return home_trash
    topdir = _mount_point(path)
    shared = topdir / ".Trash"
    try:
        shared_stat = os.lstat(shared)
    except FileNotFoundError:
        shared_stat = None
    if (
        shared_stat is not None
        and stat.S_ISDIR(shared_stat.st_mode)
        and shared_stat.st_mode & stat.S_ISVTX
    ):
        user_trash = _FreedesktopTrash(shared / str(os.getuid()), topdir)
        try:
            _make_trash_dirs(user_trash, make_parents=False)
            return user_trash
        except OSError:
            pass  # the spec says: if $topdir/.Trash/$uid can't be used, use $topdir/.Trash-$uid
    volume_trash = _FreedesktopTrash(topdir / f".Trash-{os.getuid()}", topdir)
    _make_trash_dirs(volume_trash, make_parents=False)
    return volume_trash


def _make_trash_dirs(trash: _FreedesktopTrash, make_parents: bool) -> None:
    if make_parents:
        os.makedirs(trash.root, mode=0o700, exist_ok=True)
    else:
        with contextlib.suppress(FileExistsError):
            os.mkdir(trash.root, 0o700)
    root_stat = os.lstat(trash.root)
    if not stat.S_ISDIR(root_stat.st_mode) or (
        trash.topdir is not None and root_stat.st_uid != os.getuid()
    ):
        raise OSError(errno.EPERM, "not a usable trash directory", str(trash.root))
    for sub in ("files", "info"):
        os.makedirs(trash.root / sub, mode=0o700, exist_ok=True)


def _mount_point(path: str) -> Path:
    """The top directory of the filesystem holding `path`."""
    current = os.path.dirname(path)
    device = os.lstat(current).st_dev
    while True:
        parent = os.path.dirname(current)
        if parent == current or os.lstat(parent).st_dev != device:
            return Path(current)
        current = parent


def _write_trashinfo(info_path: Path, original: Path, topdir: Path | None, action_id: int) -> None:
    """Create the .trashinfo, which reserves the name; FileExistsError if it is taken.

    Written whole under a temporary name first, so a crash never leaves a truncated one.
    """
    shown = str(original) if topdir is None else os.path.relpath(original, topdir)
    content = (
        "[Trash Info]\n"
        f"Path={quote(shown.encode(), safe='/')}\n"
        f"DeletionDate={datetime.now().strftime('%Y-%m-%dT%H:%M:%S')}\n"
    )
    temporary = _partial_path(info_path, action_id)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        _rename_no_replace(temporary, info_path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    _fsync_directory(info_path.parent)


def _trashinfo_names(info_path: Path, original: str) -> bool:
    """Whether a .trashinfo records `original` (so it is ours to clean up)."""
    try:
        lines = info_path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    for line in lines:
        if line.startswith("Path="):
            recorded = os.fsdecode(unquote_to_bytes(line[len("Path=") :]))
            return recorded == original or (
                not os.path.isabs(recorded) and original.endswith(os.sep + recorded)
            )
    return False


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
        state, reason = _settle(action)
        if state == DONE and action.mode == UNDO:
            journal.complete_undo(action.id, reason)
        else:
            journal.set_state(action.id, state, reason)
        settled.append(journal.action(action.id))
    journal.interrupt_running_batches()
    return settled


def _settle(action: Action) -> tuple[str, str]:
    """The state a 'planned' action really reached, read from disk, with a reason to record.

    Also clears what an interrupted step left behind: an unfinished copy or .trashinfo.
    """
    source = action.original_path
    destination = action.destination
    at_source = os.path.lexists(source)
    at_destination = destination is not None and os.path.lexists(destination)
    if destination is not None and at_source:
        partial = _partial_path(Path(destination), action.id)
        if os.path.lexists(partial):
            os.unlink(partial)  # an unfinished copy; the original is still whole
    if action.trash_info_path:
        unfinished_info = _partial_path(Path(action.trash_info_path), action.id)
        if os.path.lexists(unfinished_info):
            os.unlink(unfinished_info)  # never renamed into place, so never in use
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
            _fsync_directory(os.path.dirname(destination))
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
        if _trashinfo_names(info_path, action.original_path):
            os.unlink(info_path)


def _remove_trashinfo(action: Action) -> None:
    if action.trash_info_path and os.path.lexists(action.trash_info_path):
        os.unlink(action.trash_info_path)
        _fsync_directory(os.path.dirname(action.trash_info_path))


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
    )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _move_file(source, target, _partial_path(target, undo_id))
    except OSError as error:
        if _settle(journal.action(undo_id))[0] != DONE:
            if isinstance(error, FileExistsError):
                reason = f"Something now exists at {target}; not overwriting it."
            else:
                reason = f"Could not restore {target} ({_describe(error)})."
            journal.set_state(undo_id, FAILED, reason)
            return SkippedFile(action.file_id, str(target), reason)
    _remove_trashinfo(action)  # before marking done, so a crash here is settled by reconcile
    journal.complete_undo(undo_id)
    return RestoredFile(action.file_id, str(target), str(source))

"""The system trash: the freedesktop.org trash implemented here, send2trash elsewhere.

On Linux and other freedesktop systems the trash is implemented here (trash spec 1.0,
https://specifications.freedesktop.org/trash-spec/1.0/) because send2trash does not say
where a file went, which crash recovery and undo need. The name is reserved by writing the
.trashinfo first (whole, under a partial name, then renamed into place without replacing),
and only then is the file moved into Trash/files; a crash between the two leaves a
.trashinfo that `recovery.reconcile` recognises as ours and removes. On Windows and macOS
send2trash is used; the destination is then unknown and such removals must be restored
from the system trash, not from the app.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

from stash_dedupe.removal.files import (
    fsync_directory,
    move_file,
    partial_path,
    rename_no_replace,
)
from stash_dedupe.removal.journal import PLANNED, Journal

USES_FREEDESKTOP_TRASH = sys.platform not in ("win32", "darwin")
_NAME_MAX_BYTES = 255
_TRASHINFO_SUFFIX = ".trashinfo"


@dataclass(frozen=True)
class FreedesktopTrash:
    """A trash directory on the file's filesystem; `topdir` set for a per-volume trash."""

    root: Path
    topdir: Path | None

    @property
    def files(self) -> Path:
        return self.root / "files"

    def info_path(self, name: str) -> Path:
        return self.root / "info" / (name + _TRASHINFO_SUFFIX)

    def free_name(self, original_name: str, journal: Journal) -> str:
        """A name with no file and no .trashinfo here, and not journaled by an action a crash
        left 'planned': such an action may have died before writing its .trashinfo, and if
        another file took its name, reconcile would take that file for its copy."""
        journaled = {
            Path(action.destination).name
            for action in journal.actions_in_state(PLANNED)
            if action.destination is not None and Path(action.destination).parent == self.files
        }
        for name in _trash_names(original_name):
            if (
                name not in journaled
                and not os.path.lexists(self.files / name)
                and not os.path.lexists(self.info_path(name))
            ):
                return name
        raise AssertionError("unreachable: _trash_names is endless")

    def move_in(self, journal: Journal, action_id: int, source: Path, destination: Path) -> None:
        """Reserve the name with a .trashinfo, then rename the file in (as journaled)."""
        while True:
            try:
                write_trashinfo(self.info_path(destination.name), source, self.topdir, action_id)
                break
            except FileExistsError:  # another program took the name since free_name
                destination = self.files / self.free_name(source.name, journal)
                journal.set_destination(
                    action_id, str(destination), str(self.info_path(destination.name))
                )
        try:
            move_file(source, destination, partial_path(destination, action_id))
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


def freedesktop_trash_for(path: str) -> FreedesktopTrash:
    """The home trash if the file is on its filesystem, else the trash at the volume's top."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    home_trash = FreedesktopTrash(Path(data_home) / "Trash", None)
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
        user_trash = FreedesktopTrash(shared / str(os.getuid()), topdir)
        try:
            _make_trash_dirs(user_trash, make_parents=False)
            return user_trash
        except OSError:
            pass  # the spec says: if $topdir/.Trash/$uid can't be used, use $topdir/.Trash-$uid
    volume_trash = FreedesktopTrash(topdir / f".Trash-{os.getuid()}", topdir)
    _make_trash_dirs(volume_trash, make_parents=False)
    return volume_trash


def _make_trash_dirs(trash: FreedesktopTrash, make_parents: bool) -> None:
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


def write_trashinfo(info_path: Path, original: Path, topdir: Path | None, action_id: int) -> None:
    """Create the .trashinfo, which reserves the name; FileExistsError if it is taken.

    Written whole under a temporary name first, so a crash never leaves a truncated one.
    """
    shown = str(original) if topdir is None else os.path.relpath(original, topdir)
    content = (
        "[Trash Info]\n"
        f"Path={quote(shown.encode(), safe='/')}\n"
        f"DeletionDate={datetime.now().strftime('%Y-%m-%dT%H:%M:%S')}\n"
    )
    temporary = partial_path(info_path, action_id)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        rename_no_replace(temporary, info_path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    fsync_directory(info_path.parent)


def trashinfo_names(info_path: Path, original: str) -> bool:
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


def send_to_platform_trash(path: str) -> None:
    """Windows and macOS: the system's own trash, which does not say where the file went."""
    from send2trash import send2trash  # only where there is no freedesktop trash

    send2trash(path)

"""Which paths the app may touch: regular files inside the library folders, never by a link.

One rule for every way a file's bytes leave the disk or the file is moved: removal, the
media and thumbnail routes, frame and image comparison, "open in the default player". A
path that is itself a symbolic link, or that resolves (every link above it followed) to a
place outside the library's (mapped) root folders, or to something that is not a regular
file, is refused with a message naming the file. So a library file or folder replaced by a
link to /etc serves nothing and removes nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from stash_dedupe.errors import MediaError, RefusedError
from stash_dedupe.models import MediaFile


def is_below(path: str, root: str) -> bool:
    """Whether `path` lies strictly inside the folder `root` (both already resolved)."""
    path, root = os.path.normcase(path), os.path.normcase(root)
    return path.startswith(root.rstrip(os.sep) + os.sep)


def protected_folder_of(path: str, protected_folders: Sequence[str]) -> str | None:
    """The protected folder (as the user wrote it) that `path` is or lies in, else None.

    Compared both as written and with every link resolved, so neither a link to a protected
    folder nor a library path through a linked alias of it escapes the protection. Resolved
    afresh at each call: what the removal code asks.
    """
    roots = _protected_roots(protected_folders)
    if not roots:
        return None
    return _folder_holding((path, os.path.realpath(path)), roots)


class ProtectedFolders:
    """The same rule for many paths (every group's suggestion): the folders are resolved
    once and each file's folder once, so a 25,000-file library is checked in a blink. A
    stale answer here only changes a suggestion; removal asks `protected_folder_of`."""

    def __init__(self, protected_folders: Sequence[str]) -> None:
        self._roots = _protected_roots(protected_folders)
        self._real_folders: dict[str, str] = {}

    @property
    def active(self) -> bool:
        """Whether any folder is protected (else no path needs looking at)."""
        return bool(self._roots)

    def folder_of(self, path: str) -> str | None:
        if not self._roots:
            return None
        folder, name = os.path.split(path)
        real_folder = self._real_folders.get(folder)
        if real_folder is None:
            real_folder = self._real_folders[folder] = os.path.realpath(folder)
        return _folder_holding((path, os.path.join(real_folder, name)), self._roots)


def _protected_roots(protected_folders: Sequence[str]) -> list[tuple[str, str]]:
    """(the folder resolved or as written, normalised for comparing; as the user wrote it)."""
    return [
        (os.path.normcase(root), folder)
        for folder in protected_folders
        if folder
        for root in dict.fromkeys((os.path.normpath(folder), os.path.realpath(folder)))
    ]


def _folder_holding(paths: Sequence[str], roots: list[tuple[str, str]]) -> str | None:
    candidates = {os.path.normcase(os.path.normpath(path)) for path in paths}
    for root, folder in roots:
        if any(candidate == root or is_below(candidate, root) for candidate in candidates):
            return folder
    return None


def real_roots(library_roots: Sequence[str]) -> list[str]:
    """The library folders with their own links resolved, once, when the library opens: a
    root that is a link (a NAS mount, say) works, and one swapped for a link later does not
    move the library."""
    return [os.path.realpath(root) for root in library_roots if root]


def checked_library_path(file: MediaFile, library_roots: Sequence[str]) -> str:
    """The file's real path if the app may touch it; RefusedError says why not.

    `library_roots` are real paths (`real_roots`, taken when the library opened). A missing
    file passes (its real path is returned): removal skips it with a reason when its turn
    comes, and readers report it with `readable_library_path`.
    """
    where = f"File {file.file_id} ({file.path})"
    roots = [os.path.normpath(root) for root in library_roots if root]
    if not roots:
        raise RefusedError("No library folders are known, so no file can be shown to be in it.")
    if not os.path.isabs(file.path):
        raise RefusedError(f"{where} does not have an absolute path.")
    if os.path.islink(file.path):
        raise RefusedError(f"{where} is a symbolic link; the app never follows links.")
    real_path = os.path.realpath(file.path)
    if not any(is_below(real_path, root) for root in roots):
        shown = "" if real_path == os.path.normpath(file.path) else f" (it resolves to {real_path})"
        raise RefusedError(f"{where} is outside the library folders{shown}.")
    try:
        mode = os.lstat(real_path).st_mode
    except OSError:
        return real_path
    if not stat.S_ISREG(mode):
        raise RefusedError(f"{where} is not a regular file.")
    return real_path


def readable_library_path(file: MediaFile, library_roots: Sequence[str]) -> str:
    """The real path of a library file that is on disk and may be read or served."""
    real_path = checked_library_path(file, library_roots)
    if not os.path.lexists(real_path):
        raise MediaError(f"{file.path} is not on disk (check the path mappings).")
    if not os.access(real_path, os.R_OK):
        raise MediaError(f"{file.path} cannot be read (permission denied).")
    return real_path

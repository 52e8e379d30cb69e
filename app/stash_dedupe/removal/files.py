"""Moving a file without ever losing or overwriting one.

A file only ever moves by an atomic rename that never replaces anything, or, across
filesystems, by copying to a partial name that is renamed into place once complete and
synced, and only then unlinking the original. So at every instant the file is whole at its
original path or at its destination, which is what lets `recovery.reconcile` settle a
crash by looking at disk. Every rename and unlink is made durable by syncing its folder.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

PARTIAL_PREFIX = ".stash-dedupe-partial-"
_COPY_CHUNK_BYTES = 1 << 20
_AT_FDCWD = -100  # from <fcntl.h>: paths are relative to the working directory
_RENAME_NOREPLACE = 1  # from <linux/fs.h>


def partial_path(destination: Path, action_id: int) -> Path:
    """A short, predictable name for an unfinished copy, so reconcile can find and remove it."""
    return destination.parent / f"{PARTIAL_PREFIX}{action_id}"


def describe_error(error: OSError) -> str:
    """How an OS error reads in a message to the user, e.g. "No space left on device"."""
    return error.strerror or str(error)


def move_file(source: Path, destination: Path, partial: Path) -> None:
    """Move by rename; across filesystems copy to `partial`, sync, rename into place, unlink."""
    try:
        rename_no_replace(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        _copy_then_unlink(source, destination, partial)
        return
    fsync_directory(destination.parent)
    fsync_directory(source.parent)


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
        rename_no_replace(partial, destination)
    except BaseException:
        if created_partial and os.path.lexists(partial):
            os.unlink(partial)
        raise
    fsync_directory(destination.parent)
    try:
        os.unlink(source)
    except OSError:
        os.unlink(destination)  # our own complete copy; the original stays where it was
        fsync_directory(destination.parent)
        raise
    fsync_directory(source.parent)


def rename_no_replace(source: Path, destination: Path) -> None:
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


def fsync_directory(directory: str | Path) -> None:
    """Make a rename or unlink durable; not possible (nor needed) on Windows."""
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

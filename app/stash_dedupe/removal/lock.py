"""An exclusive lock that holds across threads and processes: an OS lock on a file.

Removal needs one critical section (check the plan, re-check the files, journal, move) that
no other thread, window, API request or CLI process can interleave with. The OS lock is
`flock` on POSIX and `msvcrt.locking` on Windows; both are released by the OS when the
holder dies, so a killed process never leaves the lock taken. Within one process a
re-entrant thread lock comes first, so the thread that holds the lock may take it again
(the session holds it around `execute_plan`, which takes it itself).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_POLL_SECONDS = 0.05


class LockTimeout(Exception):
    """The lock stayed taken for longer than the caller was willing to wait."""


class FileLock:
    """A re-entrant, inter-process exclusive lock on `path` (created if missing)."""

    _thread_locks: dict[str, threading.RLock] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        key = os.path.normcase(os.path.abspath(self.path))
        with FileLock._registry_lock:
            self._thread_lock = FileLock._thread_locks.setdefault(key, threading.RLock())
            # One holder count per path, shared by every FileLock object on it.
            self._state = _SharedState.for_key(key)

    @contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock for the block; LockTimeout if it is not free within `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._thread_lock.acquire(timeout=-1 if remaining is None else remaining):
            raise LockTimeout(str(self.path))
        try:
            if self._state.depth == 0:
                self._state.descriptor = _acquire_os_lock(self.path, deadline)
            self._state.depth += 1
            try:
                yield
            finally:
                self._state.depth -= 1
                if self._state.depth == 0:
                    _release_os_lock(self._state.descriptor)
                    self._state.descriptor = -1
        finally:
            self._thread_lock.release()


class _SharedState:
    """How deep the current holder is in the lock, and the descriptor holding the OS lock."""

    _by_key: dict[str, _SharedState] = {}

    def __init__(self) -> None:
        self.depth = 0
        self.descriptor = -1

    @classmethod
    def for_key(cls, key: str) -> _SharedState:
        return cls._by_key.setdefault(key, cls())


def _acquire_os_lock(path: Path, deadline: float | None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while not _try_os_lock(descriptor):
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout(str(path))
            time.sleep(_POLL_SECONDS)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _release_os_lock(descriptor: int) -> None:
    try:
        _unlock(descriptor)
    finally:
        os.close(descriptor)


if sys.platform == "win32":
    import msvcrt

    def _try_os_lock(descriptor: int) -> bool:
        os.lseek(descriptor, 0, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(descriptor: int) -> None:
        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_os_lock(descriptor: int) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)

"""Helpers shared by the removal tests: real files described as Stash would, and real
filesystem conditions (another filesystem, an unwritable folder) set up and torn down."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from stash_dedupe.models import VIDEO, MediaFile


def media_file_for(file_id: int, path: Path) -> MediaFile:
    """Describe a real file the way the Stash reader would (mtime truncated to whole seconds)."""
    file_stat = os.stat(path)
    seconds = int(file_stat.st_mtime)
    return MediaFile(
        file_id=file_id,
        media=VIDEO,
        path=str(path),
        stash_path=str(path),
        size=file_stat.st_size,
        mod_time=datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z"),
        mod_time_epoch=float(seconds),
    )


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK)


@contextmanager
def other_filesystem_dir(near: Path) -> Iterator[Path]:
    """A fresh directory on a different filesystem than `near`, for moves that must copy."""
    near_device = os.stat(near).st_dev
    for base in ("/dev/shm", "/run/shm", tempfile.gettempdir()):
        if _writable_dir(base) and os.stat(base).st_dev != near_device:
            directory = Path(tempfile.mkdtemp(prefix="stash-dedupe-test-", dir=base))
            try:
                yield directory
            finally:
                shutil.rmtree(directory)
            return
    pytest.skip(reason="no second filesystem (such as /dev/shm) to move files across")


@contextmanager
def memory_backed_dir(fallback: Path) -> Iterator[Path]:
    """A fresh directory on tmpfs if there is one, else `fallback`: fsync costs nothing there."""
    if not _writable_dir("/dev/shm"):
        yield fallback
        return
    directory = Path(tempfile.mkdtemp(prefix="stash-dedupe-test-", dir="/dev/shm"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """Make a directory refuse changes for real; root ignores mode bits, so use chattr +i."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, text=True)
    if made.returncode != 0:
        unavailable = made.stderr.strip()
        pytest.skip(reason=f"running as root and chattr +i is unavailable here: {unavailable}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


class Library:
    """Real files under a library root, described as the Stash reader would describe them.
    `copy_size`: the bytes of each file `duplicates` writes."""

    def __init__(self, root: Path, copy_size: int = 4096) -> None:
        self.root = root
        self.copy_size = copy_size
        self.files: dict[int, MediaFile] = {}

    def add(self, relative: str, content: bytes | None = None) -> MediaFile:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        file_id = len(self.files) + 1
        path.write_bytes(content if content is not None else os.urandom(1000 + file_id))
        self.files[file_id] = media_file_for(file_id, path)
        return self.files[file_id]

    def duplicates(self, name: str) -> tuple[MediaFile, MediaFile]:
        """A keeper and a byte-identical copy of it, in two folders."""
        content = os.urandom(self.copy_size)
        return self.add(f"keep/{name}", content), self.add(f"copies/{name}", content)

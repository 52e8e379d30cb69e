"""Path mappings: Stash may see the library at other paths (Docker, a NAS share).

A mapping rewrites a `stash prefix` into a `local prefix`; the first matching rule wins.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PathMapping:
    stash_prefix: str
    local_prefix: str

    @classmethod
    def parse(cls, text: str) -> PathMapping:
        """Parse `STASH=LOCAL` (as typed on the command line)."""
        stash, sep, local = text.partition("=")
        if not sep or not stash or not local:
            from stash_dedupe.errors import AppError

            raise AppError(f"Path mapping {text!r} must look like /stash/prefix=/local/prefix")
        return cls(stash, local)


def _strip_sep(prefix: str) -> str:
    return prefix.rstrip("/\\") or prefix


def to_local(stash_path: str, mappings: Sequence[PathMapping]) -> str:
    """Rewrite a path as Stash stores it into the path on this machine."""
    for mapping in mappings:
        prefix = _strip_sep(mapping.stash_prefix)
        if stash_path == prefix or stash_path.startswith((prefix + "/", prefix + "\\")):
            rest = stash_path[len(prefix) :].lstrip("/\\")
            parts = [part for part in rest.replace("\\", "/").split("/") if part]
            return os.path.join(_strip_sep(mapping.local_prefix), *parts)
    return stash_path


class FolderMapper:
    """`to_local` for the many files of a library: a folder's mapping is worked out once
    for all its files (at a million files the per-path rewrite costs seconds). Same
    answers as `to_local`."""

    def __init__(self, mappings: Sequence[PathMapping]) -> None:
        self.mappings = list(mappings)
        self._prefixes = [_strip_sep(mapping.stash_prefix) for mapping in self.mappings]
        # Stash folder -> its local path; "" when no mapping applies, None: file by file.
        self._folders: dict[str, str | None] = {}

    def local(self, stash_path: str, name: str) -> str:
        """The local path of `stash_path`, Stash's path of a file called `name`."""
        if not self.mappings:
            return stash_path
        cut = len(stash_path) - len(name) - 1  # where the separator before `name` is
        if (
            not name
            or "/" in name
            or "\\" in name
            or cut < 0
            or not stash_path.endswith(name)
            or stash_path[cut] not in "/\\"
        ):
            return to_local(stash_path, self.mappings)
        folder = stash_path[:cut]
        if folder not in self._folders:
            self._folders[folder] = self._local_folder(folder)
        local_folder = self._folders[folder]
        if local_folder is None:
            return to_local(stash_path, self.mappings)
        return os.path.join(local_folder, name) if local_folder else stash_path

    def _local_folder(self, folder: str) -> str | None:
        if not folder or any(
            len(prefix) > len(folder) and prefix.startswith(folder) for prefix in self._prefixes
        ):
            return None  # a mapping may match some of its files and not the folder
        matched = any(
            folder == prefix or folder.startswith((prefix + "/", prefix + "\\"))
            for prefix in self._prefixes
        )
        return to_local(folder, self.mappings) if matched else ""

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

"""Byte-identical groups: every present file has the same size and the same md5 or oshash.

Such copies differ in nothing but their path, so accepting the suggestion for all of them at
once is safe to offer as one bulk action (still through `LibrarySession.remove`, with its
plan checks and journal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stash_dedupe.dedupe.grouping import DuplicateGroup
from stash_dedupe.removal.plan import RemovalGroup, RemovalPlan


def is_byte_identical(group: DuplicateGroup) -> bool:
    """Whether the group's present files (two or more) are the same bytes as far as Stash
    knows: one size, and all the same md5 or all the same oshash."""
    files = group.present_files
    if len(files) < 2 or len({file.size for file in files}) != 1:
        return False
    for fingerprint in ("md5", "oshash"):
        values = {getattr(file, fingerprint) for file in files}
        if len(values) == 1 and None not in values:
            return True
    return False


@dataclass(frozen=True)
class IdenticalPreview:
    """The byte-identical groups of a view whose suggestion removes something."""

    groups: tuple[DuplicateGroup, ...]

    @property
    def bytes(self) -> int:
        return sum(group.reclaimable for group in self.groups)

    def plan(self) -> RemovalPlan:
        """Each group keeps its suggested keeper (and any file not a close copy of it) and
        removes what its suggestion marks Remove; groups are named so the session checks
        they are still current."""
        return RemovalPlan(
            tuple(
                RemovalGroup(
                    keep=tuple(
                        file.file_id
                        for file in group.present_files
                        if file not in group.suggested_removals
                    ),
                    remove=tuple(file.file_id for file in group.suggested_removals),
                    group_id=group.group_id,
                )
                for group in self.groups
            )
        )


def identical_groups(groups: Iterable[DuplicateGroup]) -> IdenticalPreview:
    """The byte-identical groups among `groups` that have something to remove."""
    return IdenticalPreview(
        tuple(group for group in groups if is_byte_identical(group) and group.suggested_removals)
    )

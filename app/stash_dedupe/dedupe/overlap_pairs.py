"""Overlap pairs under review: each overlap (dedupe/overlaps.py) as a group of two files.

A pair goes through the same removal checks as a duplicate group (the session holds a plan
group named `overlap-<a>-<b>` against the current overlaps), plus one rule of its own: the
longer file of a `contained` or `shared` pair holds footage the other lacks, so it is never
the suggested removal and goes only when the plan says so explicitly (`allow_longer`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stash_dedupe.dedupe.overlaps import SAME, Overlap
from stash_dedupe.errors import RefusedError
from stash_dedupe.models import MediaFile
from stash_dedupe.removal.plan import RemovalGroup

OVERLAP_GROUP = "overlap"
_GROUP_ID = re.compile(r"overlap-(\d+)-(\d+)")


def overlap_group_id(overlap: Overlap) -> str:
    """The pair's id in plans and URLs: its shorter file's id, then the longer one's."""
    return f"{OVERLAP_GROUP}-{overlap.a.file_id}-{overlap.b.file_id}"


def is_overlap_group_id(group_id: str | None) -> bool:
    return bool(group_id) and _GROUP_ID.fullmatch(group_id or "") is not None


@dataclass(frozen=True)
class OverlapPair:
    """An overlap with its two files and the keeper suggested for it."""

    overlap: Overlap
    shorter: MediaFile  # the overlap's `a`
    longer: MediaFile  # the overlap's `b`
    keeper: MediaFile

    @property
    def group_id(self) -> str:
        return overlap_group_id(self.overlap)

    @property
    def files(self) -> tuple[MediaFile, MediaFile]:
        return self.shorter, self.longer

    @property
    def longer_has_more(self) -> bool:
        """Whether the longer file shows footage the shorter one lacks (not a `same` pair)."""
        return self.overlap.kind != SAME


def suggested_keeper(overlap: Overlap, shorter: MediaFile, longer: MediaFile) -> MediaFile | None:
    """The longer file when it holds more footage; None for a `same` pair, which the keeper
    rules decide like any duplicate group."""
    return None if overlap.kind == SAME else longer


def check_pair_removal(pair: OverlapPair, group: RemovalGroup, label: str) -> None:
    """Refuse a plan group that names files outside the pair, or removes the longer file
    of a pair where it has more footage without the explicit `allow_longer`."""
    members = set(group.keep) | set(group.remove)
    if not members <= {file.file_id for file in pair.files}:
        raise RefusedError(
            f"{label} names files that are not the two files of this overlap "
            f"({pair.shorter.file_id} and {pair.longer.file_id})."
        )
    if pair.longer_has_more and pair.longer.file_id in group.remove and not group.allow_longer:
        extra = (pair.longer.duration or 0.0) - pair.overlap.overlap_seconds
        raise RefusedError(
            f"{label}: {pair.longer.path} is the longer file of this {pair.overlap.kind} pair"
            f" and shows about {extra:.0f} s that {pair.shorter.path} lacks. Removing it needs"
            " an explicit choice (allow_longer): nothing was removed."
        )

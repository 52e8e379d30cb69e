"""Duplicate groups: files whose phashes all lie within a Hamming distance of each other.

`find_groups` turns `MediaFile`s into the `DuplicateGroup`s the UI, the CLI and the keeper
rules work with: hash links come from `hash_index.connected_components` (what Stash's checker
finds), chains are split by `cliques.split_into_cliques` (every two files of a group are
close), and the other files of a multi-file Stash scene or image join their siblings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from stash_dedupe.dedupe.cliques import split_into_cliques
from stash_dedupe.dedupe.durations import durations_match, log_durations, percent_limit
from stash_dedupe.dedupe.hash_index import connected_components, largest_distance
from stash_dedupe.errors import NotFoundError
from stash_dedupe.models import VIDEO, MediaFile

PHASH_GROUP = "phash"
SAME_ITEM_GROUP = "same_item"

# Flat images (one colour, or nothing but a DC term) hash to these: ~1.4 % of a real library,
# all "identical" to each other although they show different things.
FLAT_PHASHES = frozenset({"0000000000000000", "8000000000000000"})


def distance(a_hex: str, b_hex: str) -> int:
    """Hamming distance between two phashes given as hex text."""
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


# ---------------------------------------------------------------------------------------------
# Groups of files


@dataclass(frozen=True)
class DuplicateGroup:
    """Files to review together: look-alikes by phash, or the several files of one Stash item.

    `files` are sorted largest first (then by file id); `suspicious` marks groups made only of
    flat hashes (blank or one-colour pictures), which are equal to each other without showing
    the same thing. `distance_limit` and `duration_tolerance` are the rule the group was
    formed under. `group_id` comes from the members' ids, and the review session keeps it
    while files are removed or dismissed from the group (a copy with fewer `files`).
    """

    group_id: str
    kind: str
    media: str
    files: tuple[MediaFile, ...]
    max_distance: int
    suspicious: bool
    distance_limit: int = 0
    duration_tolerance: float | None = None
    # The tolerance in percent of the longer duration (instead of seconds); then, set by the
    # review session, the suggested keeper (None: the largest present file), missing files.
    duration_percent: float | None = None
    keeper_id: int | None = None
    missing_ids: frozenset[int] = frozenset()
    # Files the suggestion leaves alone whatever they match (dedupe/protections.py).
    protected_ids: frozenset[int] = frozenset()

    @cached_property
    def present_files(self) -> tuple[MediaFile, ...]:
        """The files found at their paths (all of them until a check said otherwise)."""
        if not self.missing_ids:
            return self.files
        return tuple(file for file in self.files if file.file_id not in self.missing_ids)

    @property
    def resolvable(self) -> bool:
        """Whether removal can do anything here: at least two files are present."""
        return len(self.present_files) >= 2

    @cached_property
    def total_size(self) -> int:
        """The bytes of the present files."""
        return sum(file.size for file in self.present_files)

    @cached_property
    def keeper(self) -> MediaFile:
        """The suggested keeper: the session's choice, else the largest present file."""
        if self.keeper_id is not None:
            return self.file(self.keeper_id)
        return (self.present_files or self.files)[0]

    @cached_property
    def suggested_removals(self) -> tuple[MediaFile, ...]:
        """The files the suggestion marks Remove: present copies of the keeper that are
        not protected."""
        copies = self.copies_of(self.keeper)
        if not self.protected_ids:
            return copies
        return tuple(file for file in copies if file.file_id not in self.protected_ids)

    @cached_property
    def reclaimable(self) -> int:
        """The one definition of reclaimable space: the bytes that removing every file the
        suggestion marks Remove frees. The page, the CLI and the totals all show this."""
        return sum(file.size for file in self.suggested_removals)

    def matches(self, keeper: MediaFile, file: MediaFile) -> bool:
        """Whether `file` is a copy of `keeper` under the group's own filter: phashes within
        its distance and durations within its tolerance. Only such files are ever marked
        Remove by a suggestion, auto-resolve or a bulk action; any other member (a file of
        the same Stash scene, say) stays unless the user marks it by hand."""
        if file.file_id == keeper.file_id:
            return True
        if not keeper.phash or not file.phash:
            return False
        # `max_distance` bounds every pair of the group: most groups need no hash compared.
        if self.max_distance > self.distance_limit and (
            distance(keeper.phash, file.phash) > self.distance_limit
        ):
            return False
        if self.duration_tolerance is None and self.duration_percent is None:
            return True
        return durations_match(
            keeper.duration, file.duration, self.duration_tolerance, self.duration_percent
        )

    def copies_of(self, keeper: MediaFile) -> tuple[MediaFile, ...]:
        """The other files a suggestion to keep `keeper` marks Remove: its present copies
        (a missing file cannot be removed)."""
        return tuple(
            file
            for file in self.present_files
            if file.file_id != keeper.file_id and self.matches(keeper, file)
        )

    def file(self, file_id: int) -> MediaFile:
        for file in self.files:
            if file.file_id == file_id:
                return file
        raise NotFoundError(f"File {file_id} is not in group {self.group_id}.")


def find_groups(
    files: Sequence[MediaFile],
    max_distance: int = 0,
    max_duration_diff: float | None = None,
    include_flat: bool = False,
    include_same_item: bool = True,
    max_duration_percent: float | None = None,
) -> list[DuplicateGroup]:
    """Duplicate groups among `files`, largest reclaimable space first (then by group id).

    Files are only grouped with files of the same media. Phash groups link files whose
    phashes are within `max_distance` bits and, for videos with known durations, whose
    durations differ by at most `max_duration_diff` seconds (None: any) or, given instead,
    `max_duration_percent` of the longer duration, transitively, as Stash's duplicate
    checker does. Flat hashes are left out unless `include_flat`.

    Same-item rule (`include_same_item`): a file is in at most one group. Phash groups are
    formed first and are never merged through an item, since two files of one scene that
    look different are not copies of each other. A file of a multi-file Stash item that is
    in no phash group joins the phash group of a sibling (the group holding the lowest file
    id, if siblings sit in several); siblings in no phash group at all form a "same_item"
    group together, with or without phashes.
    """
    by_media: dict[str, list[MediaFile]] = {}
    for file in sorted(files, key=lambda file: file.file_id):
        by_media.setdefault(file.media, []).append(file)
    groups: list[DuplicateGroup] = []
    for media, media_files in sorted(by_media.items()):
        members = _phash_members(
            media_files, max_distance, max_duration_diff, include_flat, max_duration_percent
        )
        phash_group_count = len(members)
        if include_same_item:
            members += _attach_same_item_files(media_files, members)
        groups += [
            _make_group(
                media,
                group_files,
                PHASH_GROUP if index < phash_group_count else SAME_ITEM_GROUP,
                max_distance,
                max_duration_diff if media == VIDEO else None,
                max_duration_percent if media == VIDEO else None,
            )
            for index, group_files in enumerate(members)
        ]
    groups.sort(key=lambda group: (-group.reclaimable, group.group_id))
    return groups


def _phash_members(
    files: list[MediaFile],
    max_distance: int,
    max_duration_diff: float | None,
    include_flat: bool,
    max_duration_percent: float | None = None,
) -> list[list[MediaFile]]:
    """Files (sorted by id) of each phash group, groups ordered by their lowest file id."""
    hashed = [
        (file, file.phash)
        for file in files
        if file.phash and (include_flat or file.phash not in FLAT_PHASHES)
    ]
    hashes = np.array([int(phash, 16) for _, phash in hashed], dtype=np.uint64)
    durations = None
    if max_duration_percent is not None:
        # A percentage of the longer duration is a constant limit on log durations.
        seconds = np.array([file.duration or 0.0 for file, _ in hashed], dtype=np.float64)
        durations = log_durations(seconds)
        max_duration_diff = percent_limit(max_duration_percent)
    elif max_duration_diff is not None:
        durations = np.array([file.duration or 0.0 for file, _ in hashed], dtype=np.float64)
    components = connected_components(hashes, max_distance, durations, max_duration_diff)
    groups = split_into_cliques(hashes, components, max_distance, durations, max_duration_diff)
    return [[hashed[index][0] for index in group] for group in groups]


def _attach_same_item_files(
    files: list[MediaFile], members: list[list[MediaFile]]
) -> list[list[MediaFile]]:
    """Apply the same-item rule of `find_groups`: extend `members` (phash groups) in place
    with ungrouped siblings, and return the new same-item groups."""
    group_of = {file.file_id: index for index, group in enumerate(members) for file in group}
    siblings: dict[int, list[MediaFile]] = {}
    for file in files:
        for item_id in dict.fromkeys(file.item_ids):
            siblings.setdefault(item_id, []).append(file)
    # Ungrouped files linked through shared items, joined with a small union-find.
    parent: dict[int, int] = {}

    def root(file_id: int) -> int:
        while parent[file_id] != file_id:
            parent[file_id] = parent[parent[file_id]]
            file_id = parent[file_id]
        return file_id

    target: dict[int, int] = {}  # ungrouped file id -> phash group of a sibling
    by_id = {file.file_id: file for file in files}
    for item_files in siblings.values():
        if len(item_files) < 2:
            continue
        grouped = [group_of[file.file_id] for file in item_files if file.file_id in group_of]
        ungrouped = [file.file_id for file in item_files if file.file_id not in group_of]
        for file_id in ungrouped:
            parent.setdefault(file_id, file_id)
            if grouped:
                target[file_id] = min(target.get(file_id, len(members)), min(grouped))
        for file_id in ungrouped[1:]:
            parent[root(file_id)] = root(ungrouped[0])
    clusters: dict[int, list[int]] = {}
    for file_id in sorted(parent):
        clusters.setdefault(root(file_id), []).append(file_id)
    same_item = []
    for cluster in clusters.values():
        joins = [target[file_id] for file_id in cluster if file_id in target]
        if joins:
            members[min(joins)] += [by_id[file_id] for file_id in cluster]
        elif len(cluster) >= 2:
            same_item.append([by_id[file_id] for file_id in cluster])
    return same_item


def _make_group(
    media: str,
    files: list[MediaFile],
    kind: str,
    distance_limit: int,
    duration_tolerance: float | None,
    duration_percent: float | None = None,
) -> DuplicateGroup:
    ordered = tuple(sorted(files, key=lambda file: (-file.size, file.file_id)))
    ids = ",".join(str(file_id) for file_id in sorted(file.file_id for file in files))
    hashes = np.array([int(file.phash, 16) for file in files if file.phash], dtype=np.uint64)
    return DuplicateGroup(
        group_id=hashlib.sha1(ids.encode()).hexdigest()[:12],
        kind=kind,
        media=media,
        files=ordered,
        max_distance=largest_distance(hashes),
        suspicious=all(file.phash in FLAT_PHASHES for file in files),
        distance_limit=distance_limit,
        duration_tolerance=None if duration_percent is not None else duration_tolerance,
        duration_percent=duration_percent,
    )

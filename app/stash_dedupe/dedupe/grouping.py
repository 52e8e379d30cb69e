"""Duplicate groups: files whose phashes all lie within a Hamming distance of each other.

`find_groups` turns `MediaFile`s into the `DuplicateGroup`s the UI, the CLI and the keeper
rules work with: hash links come from `hash_index.linked_components` (what Stash's checker
finds), chains are split by `cliques.split_into_cliques` (every two files of a group are
close), and the other files of a multi-file Stash scene or image join their siblings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import overload

import numpy as np

from stash_dedupe.dedupe.cliques import split_into_cliques
from stash_dedupe.dedupe.durations import durations_match, log_durations, percent_limit
from stash_dedupe.dedupe.hash_index import largest_distance, linked_components, popcount
from stash_dedupe.errors import NotFoundError
from stash_dedupe.models import VIDEO, FileColumns, MediaFile

PHASH_GROUP = "phash"
SAME_ITEM_GROUP = "same_item"

# Flat images (one colour, or nothing but a DC term) hash to these: ~1.4 % of a real library,
# all "identical" to each other although they show different things.
FLAT_PHASHES = frozenset({"0000000000000000", "8000000000000000"})
_FLAT_VALUES = np.array([int(phash, 16) for phash in sorted(FLAT_PHASHES)], dtype=np.uint64)
# Groups up to this many files get their largest distance in one numpy call per size.
_BATCHED_DIAMETER = 16


def distance(a_hex: str, b_hex: str) -> int:
    """Hamming distance between two phashes given as hex text."""
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


# ---------------------------------------------------------------------------------------------
# Groups of files


class GroupFiles(Sequence[MediaFile]):
    """A group's files, largest first. Ids and sizes are known from the start; the files
    themselves (paths, codecs, scenes) are built by `load`, from their ids, when looked at,
    so a million-file library never builds a `MediaFile` for groups nobody opens."""

    __slots__ = ("file_ids", "sizes", "_load")

    def __init__(
        self,
        file_ids: tuple[int, ...],
        sizes: tuple[int, ...],
        load: Callable[[Sequence[int]], Sequence[MediaFile]],
    ) -> None:
        self.file_ids = file_ids
        self.sizes = sizes
        self._load = load

    def __len__(self) -> int:
        return len(self.file_ids)

    @overload
    def __getitem__(self, index: int) -> MediaFile: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[MediaFile, ...]: ...

    def __getitem__(self, index: int | slice) -> MediaFile | tuple[MediaFile, ...]:
        if isinstance(index, slice):
            return tuple(self._load(self.file_ids[index]))
        return self._load((self.file_ids[index],))[0]

    def __iter__(self) -> Iterator[MediaFile]:
        return iter(self._load(self.file_ids))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(self.file_ids)

    def __repr__(self) -> str:
        return f"GroupFiles(file_ids={self.file_ids!r})"


@dataclass(frozen=True)
class SuggestedRemovals:
    """The files a suggestion marks Remove (in the group's order) and their bytes, when the
    review session worked them out for all groups at once (dedupe/suggestion.py)."""

    file_ids: tuple[int, ...]
    size: int


@dataclass(frozen=True)
class DuplicateGroup:
    """Files to review together: look-alikes by phash, or the several files of one Stash item.

    `files` are sorted largest first (then by file id); `suspicious` marks groups made only of
    flat hashes (blank or one-colour pictures), which are equal to each other without showing
    the same thing. `distance_limit` and `duration_tolerance` are the rule the group was
    formed under. `group_id` comes from the members' ids, and the review session keeps it
    while files are removed or dismissed from the group (a copy with fewer `files`).
    `files` may be a `GroupFiles`: ids and sizes at hand, details built when looked at.
    """

    group_id: str
    kind: str
    media: str
    files: Sequence[MediaFile]
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
    # What the suggestion marks Remove when the session worked it out for all groups at
    # once from columns; None: worked out here from the files.
    suggested: SuggestedRemovals | None = None

    @cached_property
    def file_ids(self) -> tuple[int, ...]:
        if isinstance(self.files, GroupFiles):
            return self.files.file_ids
        return tuple(file.file_id for file in self.files)

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        if isinstance(self.files, GroupFiles):
            return self.files.sizes
        return tuple(file.size for file in self.files)

    @cached_property
    def present_files(self) -> tuple[MediaFile, ...]:
        """The files found at their paths (all of them until a check said otherwise)."""
        if not self.missing_ids:
            return tuple(self.files)
        return tuple(file for file in self.files if file.file_id not in self.missing_ids)

    @property
    def present_count(self) -> int:
        return len(self.file_ids) - len(self.missing_ids.intersection(self.file_ids))

    @property
    def resolvable(self) -> bool:
        """Whether removal can do anything here: at least two files are present."""
        return self.present_count >= 2

    @cached_property
    def total_size(self) -> int:
        """The bytes of the present files (from the sizes: no file details needed)."""
        missing = self.missing_ids
        return sum(
            size
            for file_id, size in zip(self.file_ids, self.sizes, strict=True)
            if file_id not in missing
        )

    @cached_property
    def keeper(self) -> MediaFile:
        """The suggested keeper: the session's choice, else the largest present file."""
        if self.keeper_id is not None:
            return self.file(self.keeper_id)
        return (self.present_files or tuple(self.files))[0]

    @cached_property
    def suggested_removals(self) -> tuple[MediaFile, ...]:
        """The files the suggestion marks Remove: present copies of the keeper that are
        not protected."""
        if self.suggested is not None:
            by_id = {file.file_id: file for file in self.files}
            return tuple(by_id[file_id] for file_id in self.suggested.file_ids)
        copies = self.copies_of(self.keeper)
        if not self.protected_ids:
            return copies
        return tuple(file for file in copies if file.file_id not in self.protected_ids)

    @property
    def reclaimable(self) -> int:
        """The one definition of reclaimable space: the bytes that removing every file the
        suggestion marks Remove frees. The page, the CLI and the totals all show this."""
        if self.suggested is not None:  # no file details needed
            return self.suggested.size
        return self._reclaimable_from_files

    @cached_property
    def _reclaimable_from_files(self) -> int:
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
    for file in files:
        by_media.setdefault(file.media, []).append(file)
    groups: list[DuplicateGroup] = []
    for media, media_files in sorted(by_media.items()):
        by_id = {file.file_id: file for file in media_files}
        groups += find_column_groups(
            FileColumns.of_files(media, media_files),
            lambda file_ids, by_id=by_id: [by_id[file_id] for file_id in file_ids],
            max_distance,
            max_duration_diff,
            include_flat,
            include_same_item,
            max_duration_percent,
        )
    groups.sort(key=lambda group: (-group.reclaimable, group.group_id))
    return groups


def find_column_groups(
    columns: FileColumns,
    load: Callable[[Sequence[int]], Sequence[MediaFile]],
    max_distance: int = 0,
    max_duration_diff: float | None = None,
    include_flat: bool = False,
    include_same_item: bool = True,
    max_duration_percent: float | None = None,
) -> list[DuplicateGroup]:
    """`find_groups` for the files of one media given as columns: the groups' `files` are
    `GroupFiles` whose details `load` builds from file ids when they are looked at. Ordered
    by the space removing all but the largest file frees (from sizes alone, no details):
    the review session orders them by its suggestion's `reclaimable`."""
    members = _phash_members(
        columns, max_distance, max_duration_diff, include_flat, max_duration_percent
    )
    phash_group_count = len(members)
    if include_same_item and len(columns.item_rows):
        members += _attach_same_item_files(columns, members)
    kinds = [PHASH_GROUP] * phash_group_count + [SAME_ITEM_GROUP] * (
        len(members) - phash_group_count
    )
    video = columns.media == VIDEO
    percent = max_duration_percent if video else None
    tolerance = max_duration_diff if video and percent is None else None
    groups = _make_groups(columns, members, kinds, load, max_distance, tolerance, percent)
    if not groups:
        return groups
    lengths = np.fromiter((len(rows) for rows in members), np.int64, len(members))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    sizes = columns.sizes[np.concatenate(members)]
    freed = np.add.reduceat(sizes, starts) - np.maximum.reduceat(sizes, starts)
    group_ids = np.array([group.group_id for group in groups])
    return [groups[index] for index in np.lexsort((group_ids, -freed)).tolist()]


def _phash_members(
    columns: FileColumns,
    max_distance: int,
    max_duration_diff: float | None,
    include_flat: bool,
    max_duration_percent: float | None = None,
) -> list[np.ndarray]:
    """Rows (ascending) of each phash group, groups ordered by their lowest row (file id)."""
    usable = columns.has_phash.copy()
    if not include_flat:
        usable &= ~np.isin(columns.phashes, _FLAT_VALUES)
    rows = np.flatnonzero(usable)
    hashes = columns.phashes[rows]
    durations = None
    if max_duration_percent is not None:
        # A percentage of the longer duration is a constant limit on log durations.
        durations = log_durations(columns.durations[rows])
        max_duration_diff = percent_limit(max_duration_percent)
    elif max_duration_diff is not None:
        durations = columns.durations[rows]
    components, close = linked_components(hashes, max_distance, durations, max_duration_diff)
    groups = split_into_cliques(
        hashes, components, max_distance, durations, max_duration_diff, close
    )
    return [rows[group] for group in groups]


def _attach_same_item_files(columns: FileColumns, members: list[np.ndarray]) -> list[np.ndarray]:
    """Apply the same-item rule of `find_groups`: extend `members` (phash groups, as rows) in
    place with ungrouped siblings, and return the new same-item groups."""
    group_of = np.full(len(columns), -1, dtype=np.int64)
    for index, group in enumerate(members):
        group_of[group] = index
    siblings: dict[int, list[int]] = {}
    for row, item_id in zip(columns.item_rows.tolist(), columns.item_ids.tolist(), strict=True):
        siblings.setdefault(item_id, []).append(row)
    # Ungrouped files linked through shared items, joined with a small union-find.
    parent: dict[int, int] = {}

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    target: dict[int, int] = {}  # ungrouped row -> phash group of a sibling
    for item_rows in siblings.values():
        if len(item_rows) < 2:
            continue
        grouped = [int(group_of[row]) for row in item_rows if group_of[row] >= 0]
        ungrouped = [row for row in item_rows if group_of[row] < 0]
        for row in ungrouped:
            parent.setdefault(row, row)
            if grouped:
                target[row] = min(target.get(row, len(members)), min(grouped))
        for row in ungrouped[1:]:
            parent[root(row)] = root(ungrouped[0])
    clusters: dict[int, list[int]] = {}
    for row in sorted(parent):
        clusters.setdefault(root(row), []).append(row)
    same_item = []
    for cluster in clusters.values():
        joins = [target[row] for row in cluster if row in target]
        if joins:
            joined = min(joins)
            members[joined] = np.sort(np.r_[members[joined], cluster])
        elif len(cluster) >= 2:
            same_item.append(np.array(cluster, dtype=np.int64))
    return same_item


def _make_groups(
    columns: FileColumns,
    members: list[np.ndarray],
    kinds: list[str],
    load: Callable[[Sequence[int]], Sequence[MediaFile]],
    distance_limit: int,
    duration_tolerance: float | None,
    duration_percent: float | None = None,
) -> list[DuplicateGroup]:
    largest = _largest_distances(columns, members)
    flat = columns.has_phash & np.isin(columns.phashes, _FLAT_VALUES)
    groups = []
    for rows, kind, max_distance in zip(members, kinds, largest, strict=True):
        file_ids = columns.file_ids[rows]
        sizes = columns.sizes[rows]
        order = np.lexsort((file_ids, -sizes))
        ids = ",".join(map(str, file_ids.tolist()))  # rows ascend, and so do their ids
        groups.append(
            DuplicateGroup(
                group_id=hashlib.sha1(ids.encode()).hexdigest()[:12],
                kind=kind,
                media=columns.media,
                files=GroupFiles(
                    tuple(file_ids[order].tolist()), tuple(sizes[order].tolist()), load
                ),
                max_distance=max_distance,
                suspicious=bool(flat[rows].all()),
                distance_limit=distance_limit,
                duration_tolerance=duration_tolerance,
                duration_percent=duration_percent,
            )
        )
    return groups


def _largest_distances(columns: FileColumns, members: list[np.ndarray]) -> list[int]:
    """Each group's largest distance between two of its phashes: groups of a few files, all
    with a phash, are done together by size; the others one by one."""
    largest = [0] * len(members)
    by_size: dict[int, list[int]] = {}
    for index, rows in enumerate(members):
        if len(rows) <= _BATCHED_DIAMETER and columns.has_phash[rows].all():
            by_size.setdefault(len(rows), []).append(index)
        else:
            hashes = columns.phashes[rows[columns.has_phash[rows]]]
            largest[index] = largest_distance(hashes)
    for indexes in by_size.values():
        values = columns.phashes[np.array([members[index] for index in indexes])]
        gaps = popcount(values[:, :, None] ^ values[:, None, :]).max(axis=(1, 2))
        for index, gap in zip(indexes, gaps.tolist(), strict=True):
            largest[index] = gap
    return largest

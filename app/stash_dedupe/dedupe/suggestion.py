"""The suggestion for many groups at once: keeper, protected files and removals, from columns.

The review session needs every group's suggestion before it shows one: a group's
reclaimable space (what its suggested removals free) orders the list and makes its totals.
`suggest_keeper` and `group_protections` answer for one group of built `MediaFile`s; at a
million files, building them costs a minute. Here the same rules run on arrays
(`KeeperColumns`, `FileColumns`) for all groups together: each keeper rule is one segment
reduction over the groups' files, each protection one comparison with the group's keeper.
The answers are the same, file for file (tests/test_suggestion.py holds them to it); a group
whose files belong to several Stash items each is left to the per-group code, as
`metadata_losses` compares such files item by item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stash_dedupe.dedupe.durations import percent_limit
from stash_dedupe.dedupe.grouping import DuplicateGroup, SuggestedRemovals
from stash_dedupe.dedupe.hash_index import popcount
from stash_dedupe.dedupe.keeper import DEFAULT_CODEC_ORDER, RULES, codec_family
from stash_dedupe.dedupe.protections import NO_PROTECTED_FOLDERS
from stash_dedupe.library_paths import ProtectedFolders
from stash_dedupe.models import FileColumns, KeeperColumns, positions_in

# The path and mod time (epoch seconds, None if unknown) of files by id: what the
# path and time rules read, asked only for the files a rule reaches with ties left.
FileTexts = Callable[[Sequence[int]], Mapping[int, tuple[str, float | None]]]

_NO_IDS: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Suggestion:
    """One group's suggestion, as `LibrarySession` sets it on the group."""

    keeper_id: int
    missing_ids: frozenset[int]
    protected_ids: frozenset[int]
    suggested: SuggestedRemovals


@dataclass(frozen=True)
class SuggestionRules:
    """The user's settings the suggestion follows."""

    keeper_rules: Sequence[str]
    preferred_folders: Sequence[str] = ()
    codec_order: Sequence[str] = DEFAULT_CODEC_ORDER
    protected: ProtectedFolders = NO_PROTECTED_FOLDERS


def suggest_for_groups(
    groups: Sequence[DuplicateGroup],
    files: FileColumns,
    keeper_columns: KeeperColumns,
    rules: SuggestionRules,
    file_texts: FileTexts,
    missing: frozenset[int] = _NO_IDS,
    picture_pixels: Mapping[int, int] | None = None,
) -> list[Suggestion | None]:
    """Each group's suggestion (None for a group this cannot answer: files of several
    Stash items, or files the columns do not list), in the order of `groups`."""
    if not groups:
        return []
    work = _Work(groups, files, keeper_columns, rules, file_texts, missing, picture_pixels or {})
    return work.suggestions()


class _Work:
    """The groups' files laid end to end (positions), with each group's segment."""

    def __init__(
        self,
        groups: Sequence[DuplicateGroup],
        files: FileColumns,
        columns: KeeperColumns,
        rules: SuggestionRules,
        file_texts: FileTexts,
        missing: frozenset[int],
        picture_pixels: Mapping[int, int],
    ) -> None:
        self.groups = groups
        self.files = files
        self.columns = columns
        self.rules = rules
        self.file_texts = file_texts
        sizes = np.fromiter((len(group.file_ids) for group in groups), np.int64, len(groups))
        self.starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        self.group_of = np.repeat(np.arange(len(groups)), sizes)
        self.file_ids = np.fromiter(
            (file_id for group in groups for file_id in group.file_ids), np.int64, sizes.sum()
        )
        self.rows = files.rows_of(self.file_ids)
        column_rows = positions_in(columns.file_ids, self.file_ids)
        listed = (self.rows >= 0) & (column_rows >= 0)
        self.column_rows = np.where(listed, column_rows, 0)  # each file's row in `columns`
        self.answerable = self._per_group(np.logical_and, listed)
        self.missing = (
            np.isin(self.file_ids, np.fromiter(missing, np.int64, len(missing)))
            if missing
            else np.zeros(len(self.file_ids), bool)
        )
        self.picture_pixels = picture_pixels
        self._texts: dict[int, tuple[str, float | None]] = {}

    def _per_group(self, ufunc: np.ufunc, values: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(values, self.starts)

    # ---- the keeper --------------------------------------------------------------------

    def keepers(self) -> np.ndarray:
        """Each group's keeper, as a position: the rules in order narrow the present files
        (all of them when none is present), then the lowest file id."""
        present = ~self.missing
        any_present = self._per_group(np.logical_or, present)
        candidates = present | ~any_present[self.group_of]
        for name in self.rules.keeper_rules:
            counts = self._per_group(np.add, candidates.astype(np.int64))
            undecided = (counts > 1)[self.group_of] & candidates
            if not undecided.any():
                break
            scores = np.full(len(self.file_ids), -np.inf)
            scores[undecided] = self._scores(name, np.flatnonzero(undecided))
            best = self._per_group(np.maximum, scores)[self.group_of]
            tolerance = RULES[name].tolerance
            good_enough = best - np.abs(best) * tolerance if tolerance else best
            candidates = np.where(undecided, scores >= good_enough, candidates)
        ids = np.where(candidates, self.file_ids, np.iinfo(np.int64).max)
        lowest = self._per_group(np.minimum, ids)
        return np.flatnonzero(candidates & (self.file_ids == lowest[self.group_of]))

    def _scores(self, name: str, positions: np.ndarray) -> np.ndarray:
        """The rule's score of the files at these positions, as `keeper.RULES` scores them."""
        c, k = self.columns, self.column_rows[positions]
        if name == "highest_resolution":
            return self._pixels(positions)
        if name == "highest_bit_rate":
            return c.bit_rate[k].astype(np.float64)
        if name == "highest_bits_per_pixel":
            pixels, bit_rate, frame_rate = self._pixels(positions), c.bit_rate[k], c.frame_rate[k]
            known = (bit_rate != 0) & (frame_rate != 0) & (pixels != 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(known, bit_rate / (pixels * frame_rate), 0.0)
        if name == "preferred_codec":
            order = list(self.rules.codec_order)
            ranks = np.array(
                [
                    float(len(order) - order.index(codec_family(codec)))
                    if codec_family(codec) in order
                    else 0.0
                    for codec in c.codec_names
                ]
                + [0.0]  # code -1: no codec
            )
            return ranks[c.codec[k]]
        if name == "largest_file":
            return self.files.sizes[self.rows[positions]].astype(np.float64)
        if name == "longest_duration":
            return self.files.durations[self.rows[positions]]
        if name == "highest_frame_rate":
            return c.frame_rate[k]
        item_fields = {
            "highest_rating": c.rating,
            "organized": c.organized,
            "most_o_count": c.o_count,
            "most_plays": c.plays,
            "most_performers": c.performers,
            "most_tags": c.tags,
            "most_markers": c.markers,
            "richest_metadata": c.richness,
        }
        if name in item_fields:
            return item_fields[name][k].astype(np.float64)
        if name == "has_stash_id":
            return (c.stash_ids[k] > 0).astype(np.float64)
        if name == "most_galleries":
            return np.bincount(c.gallery_rows, minlength=len(c))[k].astype(np.float64)
        texts = self._texts_of(positions)
        if name == "preferred_folders":
            return np.array([self._folder_rank(path) for path, _ in texts])
        if name == "shortest_path":
            return np.array([-float(len(path)) for path, _ in texts])
        if name == "oldest":
            return np.array([-(epoch or np.inf) for _, epoch in texts])
        if name == "newest":
            return np.array([float(epoch or 0) for _, epoch in texts])
        raise KeyError(name)

    def _pixels(self, positions: np.ndarray) -> np.ndarray:
        pixels = self.columns.pixels[self.column_rows[positions]].astype(np.float64)
        if self.picture_pixels:
            for index, file_id in enumerate(self.file_ids[positions].tolist()):
                known = self.picture_pixels.get(file_id)
                if known is not None:
                    pixels[index] = known
        return pixels

    def _folder_rank(self, path: str) -> float:
        folders = self.rules.preferred_folders
        for rank, folder in enumerate(folders):
            prefix = folder.rstrip("/\\")
            if prefix and (path == prefix or path.startswith((prefix + "/", prefix + "\\"))):
                return float(len(folders) - rank)
        return 0.0

    def _texts_of(self, positions: np.ndarray) -> list[tuple[str, float | None]]:
        file_ids = self.file_ids[positions].tolist()
        wanted = [file_id for file_id in file_ids if file_id not in self._texts]
        if wanted:
            self._texts.update(self.file_texts(wanted))
        return [self._texts.get(file_id, ("", None)) for file_id in file_ids]

    # ---- protections and removals ------------------------------------------------------

    def suggestions(self) -> list[Suggestion | None]:
        keepers = self.keepers()
        keeper_at = keepers[self.group_of]  # each position's group keeper, as a position
        others = np.arange(len(self.file_ids)) != keeper_at
        # The metadata; each file's row in it, and its group keeper's row.
        c, k, kk = self.columns, self.column_rows, self.column_rows[keeper_at]
        # Files of several items are compared item by item: the per-group code's work.
        several = self._per_group(np.logical_or, c.item_count[k] > 1)
        own_item = others & (c.item_count[k] == 1) & (c.item_id[k] != c.item_id[kk])
        loses = own_item & (
            (c.rating[k] > c.rating[kk])
            | (c.organized[k] & ~c.organized[kk])
            | (c.o_count[k] > c.o_count[kk])
            | (c.stash_ids[k] > c.stash_ids[kk])
            | (c.plays[k] > c.plays[kk])
            | (c.performers[k] > c.performers[kk])
            | (c.tags[k] > c.tags[kk])
            | (c.markers[k] > c.markers[kk])
            | self._galleries_beyond_keeper(own_item, kk)
        )
        if self.rules.protected.active:
            positions = np.flatnonzero(others)
            texts = self._texts_of(positions)
            in_folder = [self.rules.protected.folder_of(path) is not None for path, _ in texts]
            loses[positions[np.array(in_folder, dtype=bool)]] = True
        copies = others & ~self.missing & self._close_to_keeper(keeper_at)
        removed = copies & ~loses
        return self._by_group(keepers, loses, removed, ~several & self.answerable)

    def _galleries_beyond_keeper(self, own_item: np.ndarray, keeper_rows: np.ndarray) -> np.ndarray:
        """Whether each file's item is in a gallery its group's keeper is not in."""
        c = self.columns
        result = np.zeros(len(self.file_ids), bool)
        if not len(c.gallery_rows):
            return result
        # Galleries numbered 0..n-1 first, so (row, gallery) packs into one number safely.
        galleries, gallery = np.unique(c.gallery_ids, return_inverse=True)
        gallery = gallery.reshape(-1)
        width = len(galleries)
        held = c.gallery_rows * width + gallery  # (row, gallery) as one number
        position_of_row = np.full(len(c), -1, np.int64)
        position_of_row[self.column_rows[own_item]] = np.flatnonzero(own_item)
        positions = position_of_row[c.gallery_rows]
        mine = positions >= 0
        positions = positions[mine]
        wanted = keeper_rows[positions] * width + gallery[mine]
        result[positions[~np.isin(wanted, held)]] = True
        return result

    def _close_to_keeper(self, keeper_at: np.ndarray) -> np.ndarray:
        """`DuplicateGroup.matches(keeper, file)` for each position: both have a phash, within
        the group's distance (checked only where its largest distance exceeds it) and
        durations within its tolerance."""
        rows, keeper_rows = self.rows, self.rows[keeper_at]
        has = self.files.has_phash
        close = has[rows] & has[keeper_rows]
        group_of = self.group_of
        limits = np.fromiter((g.distance_limit for g in self.groups), np.int64, len(self.groups))
        widest = np.fromiter((g.max_distance for g in self.groups), np.int64, len(self.groups))
        check = close & (widest > limits)[group_of]
        if check.any():
            bits = popcount(
                self.files.phashes[rows[check]] ^ self.files.phashes[keeper_rows[check]]
            )
            close[check] = bits <= limits[group_of[check]]
        group = self.groups[0]
        if group.duration_tolerance is None and group.duration_percent is None:
            return close
        first, second = self.files.durations[rows], self.files.durations[keeper_rows]
        known = (first > 0) & (second > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if group.duration_percent is not None:
                gap = np.abs(np.log(first) - np.log(second))
                within = gap <= percent_limit(group.duration_percent)
            else:
                within = np.abs(first - second) <= group.duration_tolerance
        return close & (~known | within)

    def _by_group(
        self, keepers: np.ndarray, loses: np.ndarray, removed: np.ndarray, answered: np.ndarray
    ) -> list[Suggestion | None]:
        keeper_ids = self.file_ids[keepers].tolist()
        ends = np.append(self.starts[1:], len(self.file_ids)).tolist()
        ids = self.file_ids.tolist()
        with_missing = set(self.group_of[self.missing].tolist())
        with_losses = set(self.group_of[loses].tolist())
        removed_positions = np.flatnonzero(removed)
        cuts = np.searchsorted(removed_positions, self.starts).tolist() + [len(removed_positions)]
        removed_ids = self.file_ids[removed_positions].tolist()
        sizes = np.where(removed, self.files.sizes[self.rows], 0)
        removed_sizes = self._per_group(np.add, sizes).tolist()
        result: list[Suggestion | None] = []
        missing, lose = self.missing, loses
        for index, (start, end) in enumerate(zip(self.starts.tolist(), ends, strict=True)):
            if not answered[index]:
                result.append(None)
                continue
            result.append(
                Suggestion(
                    keeper_id=keeper_ids[index],
                    missing_ids=(
                        frozenset(ids[p] for p in range(start, end) if missing[p])
                        if index in with_missing
                        else _NO_IDS
                    ),
                    protected_ids=(
                        frozenset(ids[p] for p in range(start, end) if lose[p])
                        if index in with_losses
                        else _NO_IDS
                    ),
                    suggested=SuggestedRemovals(
                        tuple(removed_ids[cuts[index] : cuts[index + 1]]), removed_sizes[index]
                    ),
                )
            )
        return result

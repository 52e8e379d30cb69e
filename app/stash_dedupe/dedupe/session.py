"""An open Stash library under review: its files, its duplicate groups per filter, decisions.

The one domain object behind the web API (and usable from the CLI): it knows nothing of
HTTP. It applies what the user decided since the scan — files removed (the journal) and
"not a duplicate" (dismissals) — on top of the groups the grouping engine finds, caches
the expensive grouping per filter, and checks removal plans against the current groups.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from stash_dedupe.appdata import AppPaths
from stash_dedupe.dedupe.dismissals import Dismissal, DismissalRules, DismissalStore
from stash_dedupe.dedupe.durations import MAX_DURATION_PERCENT
from stash_dedupe.dedupe.grouping import DuplicateGroup, GroupFiles, find_column_groups
from stash_dedupe.dedupe.grouping import distance as phash_distance
from stash_dedupe.dedupe.keeper import DEFAULT_CODEC_ORDER, DEFAULT_RULES, suggest_keeper
from stash_dedupe.dedupe.overlap_pairs import (
    OVERLAP_GROUP,
    OverlapPair,
    check_pair_removal,
    is_overlap_group_id,
    overlap_group_id,
)
from stash_dedupe.dedupe.overlap_pairs import suggested_keeper as pair_keeper
from stash_dedupe.dedupe.overlaps import Overlap, find_overlaps
from stash_dedupe.dedupe.presence import FilePresence, MappingPreview, preview_mappings
from stash_dedupe.dedupe.protections import Protection, group_protections, suggested_removals
from stash_dedupe.dedupe.suggestion import SuggestionRules, suggest_for_groups
from stash_dedupe.errors import AppError, NotFoundError, RefusedError
from stash_dedupe.jobs import Job, Progress
from stash_dedupe.library_paths import (
    ProtectedFolders,
    checked_library_path,
    readable_library_path,
    real_roots,
)
from stash_dedupe.media.backfill import (
    BackfillReport,
    HashTask,
    PhashCache,
    files_to_hash,
    library_key,
    run_backfill,
    with_cached_phash_columns,
    with_cached_phashes,
)
from stash_dedupe.media.fingerprints import (
    FingerprintCache,
    FingerprintReport,
    FingerprintTask,
    fingerprint_tasks,
    run_fingerprints,
)
from stash_dedupe.media.frame_cache import FrameCache, app_frame_cache
from stash_dedupe.media.frame_results import GroupComparison, SampledFrames
from stash_dedupe.media.overlap_frames import compare_at_times, matching_times
from stash_dedupe.media.sampling import compare_group, known_picture, sample_group
from stash_dedupe.media.similarity import Crop, compare_images, image_difference_heatmap
from stash_dedupe.media.thumbnails import Thumbnails
from stash_dedupe.models import (
    DEFAULT_FRAME_COUNT,
    DEFAULT_MIN_OVERLAP,
    IMAGE,
    MAX_DISTANCE,
    MEDIA_NAMES,
    VIDEO,
    FileColumns,
    KeeperColumns,
    ListedFile,
    MediaFile,
)
from stash_dedupe.removal.execute import execute_plan
from stash_dedupe.removal.journal import Journal, linked_file_ids, removed_file_ids
from stash_dedupe.removal.plan import RemovalGroup, RemovalPlan, RemovalResult, UndoResult
from stash_dedupe.removal.recovery import undo_batch
from stash_dedupe.settings import Settings
from stash_dedupe.stash.pathmap import PathMapping
from stash_dedupe.stash.reader import (
    ItemNames,
    StashDatabase,
    open_stash_database,
    parse_stash_time,
)

# How many filters (distance, duration, path, ...) keep their groups in memory at once.
KEEP_FILTERS = 8
# How many files' details (paths, codecs, scenes) stay built at once; the least recently
# used are built again from the database when looked at.
KEEP_FILE_DETAILS = 100_000
# Groups whose files' details are loaded together when many groups are read in a row; all
# of them at once when their files are more than this share of the library (one scan).
_DETAILS_BATCH = 2000
# Groups whose listed files are built together when a listing is read from one scan.
_LISTING_CHUNK = 4096
_SCAN_SHARE = 0.2
# Recomputing the largest pairwise distance after files leave a group is O(n²): only for
# groups up to this size (larger ones keep the engine's value, an upper bound).
_RECOMPUTE_DISTANCE_UP_TO = 200


@dataclass(frozen=True)
class GroupFilter:
    """What the user asked to see, and in which order.

    `duration_tolerance` None means any duration (videos); `duration_percent`, when given,
    is the tolerance in percent of the longer duration instead. `studio`, `performer` and
    `tag` keep groups where some file's Stash item has a matching one (a part of its name,
    any case); `organized` is "yes" (some item organized), "no" (none) or "" (either);
    `missing_only` keeps groups with files not found at their paths. `sort` is one of
    GROUP_SORTS."""

    media: str = VIDEO
    distance: int = 0
    duration_tolerance: float | None = None
    path: str = ""
    min_size: int = 2
    include_suspicious: bool = False
    duration_percent: float | None = None
    sort: str = "reclaimable"
    studio: str = ""
    performer: str = ""
    tag: str = ""
    organized: str = ""
    missing_only: bool = False

    def checked(self) -> GroupFilter:
        """The same filter, validated, with values that do not apply normalised away."""
        media = MEDIA_NAMES.get(self.media)
        if media is None:
            raise AppError(f"Unknown media {self.media!r}: use videos or images.")
        if not 0 <= self.distance <= MAX_DISTANCE:
            raise AppError(f"The distance must be from 0 to {MAX_DISTANCE}.")
        if self.duration_tolerance is not None and self.duration_tolerance < 0:
            raise AppError("The duration tolerance must be seconds >= 0, or any.")
        if self.min_size < 2:
            raise AppError("A group has at least 2 files.")
        percent = self.duration_percent
        if percent is not None and not 0 <= percent <= MAX_DURATION_PERCENT:
            raise AppError(
                f"The duration tolerance in percent must be from 0 to {MAX_DURATION_PERCENT:g}."
            )
        if self.sort not in GROUP_SORTS:
            raise AppError(f"Sort by one of {', '.join(GROUP_SORTS)}, not {self.sort!r}.")
        if self.organized not in ("", "yes", "no"):
            raise AppError("The organized filter is yes, no or empty (either).")
        return GroupFilter(
            media=media,
            distance=self.distance,
            # A percentage, when given, replaces the seconds.
            duration_tolerance=(
                self.duration_tolerance if media == VIDEO and percent is None else None
            ),
            path=self.path.strip(),
            min_size=self.min_size,
            include_suspicious=self.include_suspicious,
            duration_percent=percent if media == VIDEO else None,
            sort=self.sort,
            studio=self.studio.strip(),
            performer=self.performer.strip(),
            tag=self.tag.strip(),
            organized=self.organized,
            missing_only=self.missing_only,
        )

    @property
    def grouping_key(self) -> tuple[object, ...]:
        """The part of the filter the (expensive) grouping depends on."""
        return (
            self.media,
            self.distance,
            self.duration_tolerance,
            self.include_suspicious,
            self.duration_percent,
        )


# How the group list can be ordered (the first is the default), each with its sort key. The
# keys of "newest" and "path" read the files' paths and mod times (by file id, from one scan).
PathsAndTimes = Mapping[int, tuple[str, float | None]]
GROUP_SORTS: dict[str, Callable[[DuplicateGroup, PathsAndTimes], tuple[object, ...]]] = {
    "reclaimable": lambda group, _: (-group.reclaimable, group.group_id),
    "files": lambda group, _: (-group.present_count, -group.reclaimable, group.group_id),
    "distance": lambda group, _: (-group.max_distance, -group.reclaimable, group.group_id),
    "newest": lambda group, texts: (
        -max((texts.get(file_id, _NO_TEXT)[1] or 0.0 for file_id in group.file_ids), default=0),
        group.group_id,
    ),
    "path": lambda group, texts: (
        texts.get(group.file_ids[0], _NO_TEXT)[0].casefold(),
        group.group_id,
    ),
}
_SORTS_READING_FILES = frozenset({"newest", "path"})
_NO_TEXT: tuple[str, float | None] = ("", None)


class LibrarySession:
    """One open Stash database and the review state over it. Safe to use from many threads."""

    def __init__(
        self,
        database: StashDatabase,
        journal: Journal,
        dismissals: DismissalStore,
        keeper_rules: Sequence[str] = DEFAULT_RULES,
        preferred_folders: Sequence[str] = (),
        paths: AppPaths | None = None,
        codec_order: Sequence[str] = DEFAULT_CODEC_ORDER,
        protected_folders: Sequence[str] = (),
    ) -> None:
        """`paths`: where the app's caches are (default: the app's data folder as it is now)."""
        self.paths = paths or AppPaths.for_this_run()
        self.database = database
        self.journal = journal
        self.dismissals = dismissals
        self.keeper_rules = tuple(keeper_rules)
        self.preferred_folders = tuple(preferred_folders)
        self.codec_order = tuple(codec_order)
        self.protected_folders = tuple(protected_folders)
        self._protected = ProtectedFolders(self.protected_folders)
        # Resolved once: a root swapped for a link later must not move the library.
        self.library_roots = real_roots(database.library_roots())
        self.thumbnails = Thumbnails(database.path, self.paths.thumbnails)
        self._files_lock = threading.Lock()
        self._groups_lock = threading.RLock()
        # Lists of groups asked for and not answered yet: the missing-files check, a
        # background job, waits for them between batches (on a million files it would slow
        # the first list by half; the banner can come a few seconds later).
        self._lists_asked = _Pending()
        self._files: dict[str, list[MediaFile]] = {}
        # What grouping needs of every file, per media; details only of files looked at.
        self._columns: dict[str, FileColumns] = {}
        self._keeper_columns: dict[str, KeeperColumns] = {}
        self._details: OrderedDict[tuple[str, int], MediaFile] = OrderedDict()
        self._paths: dict[int, str] = {}  # for the path filter, once one is used
        self._stash_paths: list[str] | None = None  # for the path-mapping preview
        self._raw_groups: dict[tuple[object, ...], list[DuplicateGroup]] = {}
        # The filters viewed, least recent first: at most KEEP_FILTERS keep their groups.
        self._filtered: OrderedDict[GroupFilter, list[DuplicateGroup]] = OrderedDict()
        self._current: dict[str, DuplicateGroup] = {}
        self._removed: set[int] = set()
        # Video file id -> (width, height) of the picture inside black bars, in Stash's units;
        # learnt when frames are sampled, or read back from the frame cache (None: not known).
        self._pictures: dict[int, tuple[int, int] | None] = {}
        self._rules: DismissalRules = dismissals.rules()
        # What decided the groups last settled: their files' removals, dismissals, presence.
        self._decided: _DecidedFiles | None = None
        # Overlaps found from the cached fingerprints, per minimum overlap (reset when
        # fingerprints are computed or files reloaded); removals are applied when read.
        self._overlaps_lock = threading.Lock()
        self._overlaps: dict[float, list[Overlap]] = {}
        # Which files are at their paths (see check_presence), and the performer and tag
        # names of grouped files' items, read when a filter first asks for them.
        self.presence = FilePresence()
        self._item_names: dict[int, ItemNames] = {}
        self._refresh_removed()
        self._decided = _DecidedFiles.now(self)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        settings: Settings,
        journal: Journal,
        dismissals: DismissalStore,
        paths: AppPaths | None = None,
    ) -> LibrarySession:
        """Open and check a Stash database (DatabaseError says what is wrong with it)."""
        database = open_stash_database(path, settings.path_mappings)
        return cls(
            database,
            journal,
            dismissals,
            settings.keeper_rules,
            settings.preferred_folders,
            paths,
            settings.codec_order,
            settings.protected_folders,
        )

    def _frame_cache(self) -> FrameCache:
        return app_frame_cache(self.paths.frame_cache)

    def close(self) -> None:
        self.database.close()

    @property
    def path(self) -> str:
        return self.database.path

    def configure(self, settings: Settings) -> None:
        """Take keeper rules, codec order, preferred and protected folders from changed settings."""
        self.keeper_rules = tuple(settings.keeper_rules)
        self.preferred_folders = tuple(settings.preferred_folders)
        self.codec_order = tuple(settings.codec_order)
        self.protected_folders = tuple(settings.protected_folders)
        self._protected = ProtectedFolders(self.protected_folders)
        self._decisions_changed(everything=True)  # every keeper, so reclaimable, may change

    # ---- files --------------------------------------------------------------------------

    def files(self, media: str) -> list[MediaFile]:
        """Every file of one media Stash lists (phashes missing in Stash taken from the
        backfill cache), loaded once per session or `reload`. Costly on a large library:
        grouping and the review read `file_columns` and build details per file instead."""
        with self._files_lock:
            if media not in self._files:
                with PhashCache(self.paths.phash_cache) as cache:
                    loaded = with_cached_phashes(
                        self.database.load_files(media), library_key(self.database.path), cache
                    )
                self._files[media] = loaded
            return self._files[media]

    def file_columns(self, media: str) -> FileColumns:
        """What grouping needs of every file of one media, as arrays (phashes missing in
        Stash taken from the backfill cache), loaded once per session or `reload`."""
        with self._files_lock:
            if media not in self._columns:
                columns = self.database.file_columns(media)
                with PhashCache(self.paths.phash_cache) as cache:
                    self._columns[media] = with_cached_phash_columns(
                        columns, library_key(self.database.path), cache, self.database.file_stamps
                    )
            return self._columns[media]

    def keeper_columns(self, media: str) -> KeeperColumns:
        """What the keeper rules and protections read of every file of one media, as arrays
        (`suggestion.suggest_for_groups`), loaded once per session or `reload`."""
        with self._files_lock:
            if media not in self._keeper_columns:
                self._keeper_columns[media] = self.database.keeper_columns(media)
            return self._keeper_columns[media]

    def build_files(self, groups: Sequence[DuplicateGroup]) -> None:
        """Build the details of these groups' files together (a few queries for a page of
        groups rather than some for each file), kept for when the groups are looked at."""
        by_media: dict[str, list[int]] = {}
        for group in groups:
            if isinstance(group.files, GroupFiles):
                by_media.setdefault(group.media, []).extend(group.file_ids)
        for media, file_ids in by_media.items():
            self.file_details(media, file_ids)

    def file_details(self, media: str, file_ids: Sequence[int]) -> list[MediaFile]:
        """The files of one media with these ids, in this order, details and all (built from
        the database for those not built recently); KeyError for an id not of this media."""
        columns = self.file_columns(media)
        with self._files_lock:
            found = {file_id: self._details.get((media, file_id)) for file_id in file_ids}
        missing = [file_id for file_id, file in found.items() if file is None]
        if missing:
            loaded = self.database.load_files(media, missing)
            rows = columns.rows_of(np.array([file.file_id for file in loaded], dtype=np.int64))
            for file, row in zip(loaded, rows.tolist(), strict=True):
                if not file.phash and row >= 0 and columns.has_phash[row]:
                    file = dataclasses.replace(file, phash=f"{int(columns.phashes[row]):016x}")
                found[file.file_id] = file
        with self._files_lock:
            for file_id, file in found.items():
                if file is None:
                    raise KeyError(file_id)
                self._details[(media, file_id)] = file
                self._details.move_to_end((media, file_id))
            while len(self._details) > max(KEEP_FILE_DETAILS, len(found)):
                self._details.popitem(last=False)
        return [found[file_id] for file_id in file_ids]  # type: ignore[misc]

    def groups_with_files(
        self, groups: Sequence[DuplicateGroup], full_details: bool = False
    ) -> Iterator[DuplicateGroup]:
        """The groups, each with its files at hand, for reading many groups in a row: their
        details built a batch of groups at a time (a few queries per batch). When the files
        are most of the library, and not `full_details`, each group gets instead files with
        only what a listing shows (`ListedFile`), read in one scan. Groups whose files are
        built already are given as they are."""
        if not any(isinstance(group.files, GroupFiles) for group in groups):
            yield from groups
            return
        if not full_details and self._listing_scan_pays(groups):
            for group, files in self._scanned_listing(groups):
                media = group.media
                yield dataclasses.replace(
                    group, files=tuple(file.as_media_file(media) for file in files)
                )
            return
        for start in range(0, len(groups), _DETAILS_BATCH):
            self.build_files(groups[start : start + _DETAILS_BATCH])
            yield from groups[start : start + _DETAILS_BATCH]

    def listed_files(
        self, groups: Sequence[DuplicateGroup]
    ) -> Iterator[tuple[DuplicateGroup, tuple[ListedFile, ...]]]:
        """Each group with its files as a listing shows them (the CLI's JSON): read in one
        scan when they are most of the library, else from their details."""
        if self._listing_scan_pays(groups):
            yield from self._scanned_listing(groups)
            return
        for group in self.groups_with_files(groups, full_details=True):
            yield group, tuple(ListedFile.of_file(file) for file in group.files)

    def _listing_scan_pays(self, groups: Sequence[DuplicateGroup]) -> bool:
        count = sum(len(group.file_ids) for group in groups)
        media_of_groups = {group.media for group in groups}
        library = sum(len(self.file_columns(media)) for media in media_of_groups)
        return count > _SCAN_SHARE * library

    def _scanned_listing(
        self, groups: Sequence[DuplicateGroup]
    ) -> Iterator[tuple[DuplicateGroup, tuple[ListedFile, ...]]]:
        """The groups' files (groups of one media) from one scan, built a chunk of groups at
        a time: a million listed files never sit in memory as objects at once."""
        if not groups:
            return
        media = groups[0].media
        if any(group.media != media for group in groups):
            raise ValueError("a listing holds groups of one media")
        file_ids = np.fromiter(
            (file_id for group in groups for file_id in group.file_ids),
            np.int64,
            sum(len(group.file_ids) for group in groups),
        )
        columns = self.file_columns(media)
        rows = columns.rows_of(file_ids)
        listing = self.database.file_listing(media, file_ids)
        position = 0
        for first in range(0, len(groups), _LISTING_CHUNK):
            chunk = groups[first : first + _LISTING_CHUNK]
            end = position + sum(len(group.file_ids) for group in chunk)
            part = slice(position, end)
            chunk_rows = rows[part]
            known = columns.has_phash[chunk_rows].tolist()
            values = columns.phashes[chunk_rows].tolist()
            phashes = [f"{v:016x}" if k else None for v, k in zip(values, known, strict=True)]
            durations = [d if d > 0 else None for d in columns.durations[chunk_rows].tolist()]
            sizes = columns.sizes[chunk_rows].tolist()
            widths = [w or None for w in listing.widths[part].tolist()]
            heights = [h or None for h in listing.heights[part].tolist()]
            starts = listing.item_starts[position : end + 1].tolist()
            items = listing.items[starts[0] : starts[-1]].tolist()
            files = [
                ListedFile(
                    int(file_ids[position + index]),
                    listing.paths[position + index],
                    listing.stash_paths[position + index],
                    sizes[index],
                    phashes[index],
                    durations[index],
                    widths[index],
                    heights[index],
                    tuple(items[starts[index] - starts[0] : starts[index + 1] - starts[0]]),
                )
                for index in range(end - position)
            ]
            offset = 0
            for group in chunk:
                count = len(group.file_ids)
                yield group, tuple(files[offset : offset + count])
                offset += count
            position = end

    def library(self) -> Mapping[int, MediaFile]:
        """Every file by id (both media): what removal and file serving may touch. Files
        are built when looked up, not all at once."""
        return _LibraryFiles(self)

    def _media_of(self, file_id: int) -> str | None:
        """The media a file id is listed under (an image when both), None if not listed."""
        if not -(1 << 63) <= file_id < 1 << 63:  # SQLite's ids are 64-bit
            return None
        for media in (IMAGE, VIDEO):
            if self.file_columns(media).rows_of(np.array([file_id]))[0] >= 0:
                return media
        return None

    def file(self, file_id: int) -> MediaFile:
        """A file the Stash database lists; nothing else can be served or removed."""
        file = self.library().get(file_id)
        if file is None:
            raise NotFoundError(f"The Stash database lists no file with id {file_id}.")
        return file

    def thumbnail(self, file_id: int) -> bytes:
        """A small JPEG of a library file (Stash's own when its generated folder is found)."""
        file = self.file(file_id)
        return self.thumbnails.thumbnail(self._inside_library(file))

    def readable_path(self, file_id: int) -> str:
        """The real path of a library file to serve: on disk, inside the library, no link."""
        return readable_library_path(self.file(file_id), self.library_roots)

    def _inside_library(self, file: MediaFile) -> MediaFile:
        """The file with its real path, refused if it is a link or lies outside the library
        (a missing file passes: readers report it as missing)."""
        real_path = checked_library_path(file, self.library_roots)
        return file if real_path == file.path else dataclasses.replace(file, path=real_path)

    def _refresh_removed(self) -> None:
        self._removed = self._removed_now()

    def _removed_now(self) -> set[int]:
        # The journal is shared by every database the user opens: an id counts as removed
        # here only when this database's file is gone from its path too.
        # A file replaced by a hardlink to its keeper still has its path: it counts as
        # removed while that path is still the keeper's file (the space is shared).
        library = self.library()
        listed = [file_id for file_id in removed_file_ids(self.journal) if file_id in library]
        stamps = self.database.file_stamps(listed)
        linked = linked_file_ids(self.journal)
        removed = set()
        for file_id in listed:
            if file_id not in stamps:
                continue
            path = stamps[file_id][0]
            if not os.path.lexists(path) or _still_linked(path, linked.get(file_id)):
                removed.add(file_id)
        return removed

    # ---- status -------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        videos, images = self.file_columns(VIDEO), self.file_columns(IMAGE)
        return {
            "path": self.database.path,
            "schema_version": self.database.schema_version,
            "warnings": list(self.database.warnings),
            "library_roots": self.library_roots,
            "videos": len(videos),
            "images": len(images),
            "removed": len(self._removed),
            "missing_files": len(self.presence.missing),
            "checked_files": self.presence.checked,
        }

    def summary(self, group_filter: GroupFilter) -> dict[str, object]:
        """Library counts and what the filter finds: what the summary bar shows."""
        videos, images = self.file_columns(VIDEO), self.file_columns(IMAGE)
        groups = self.groups(group_filter)
        return {
            "videos": len(videos),
            "videos_with_phash": int(videos.has_phash.sum()),
            "images": len(images),
            "images_with_phash": int(images.has_phash.sum()),
            "removed": len(self._removed),
            "groups": len(groups),
            "files_in_groups": sum(group.present_count for group in groups),
            "reclaimable": sum(group.reclaimable for group in groups),
            "missing_files": len(self.presence.missing),
            "checked_files": self.presence.checked,
        }

    # ---- groups -------------------------------------------------------------------------

    def groups(self, group_filter: GroupFilter) -> list[DuplicateGroup]:
        """The groups left to review under a filter, largest reclaimable space first."""
        group_filter = group_filter.checked()
        with self._lists_asked, self._groups_lock:
            cached = self._filtered.get(group_filter)
            if cached is not None:
                self._filtered.move_to_end(group_filter)
                return cached
            result = self._filter(group_filter, self._raw(group_filter))
            self._sort(result, group_filter.sort)
            self._keep(group_filter, result)
            return result

    def _filter(self, group_filter: GroupFilter, raw: list[DuplicateGroup]) -> list[DuplicateGroup]:
        """Those of the engine's groups that the filter shows, settled (unsorted)."""
        needle = group_filter.path.casefold()
        paths = self._paths_of(raw) if needle else {}
        result = []
        for current in self._settled(group_filter.media, raw):
            if current is None or len(current.files) < group_filter.min_size:
                continue
            if needle and not any(
                needle in paths[file_id].casefold() for file_id in current.file_ids
            ):
                continue
            result.append(current)
        return self._matching_items(result, group_filter)

    def _sort(self, groups: list[DuplicateGroup], sort: str) -> None:
        """Order the groups in place by one of `GROUP_SORTS`; the paths and mod times some
        read come from one scan, not from each group's files built one by one."""
        texts: PathsAndTimes = {}
        if sort in _SORTS_READING_FILES:
            texts = self._file_texts([file_id for group in groups for file_id in group.file_ids])
        key = GROUP_SORTS[sort]
        groups.sort(key=lambda group: key(group, texts))

    def _keep(self, group_filter: GroupFilter, result: list[DuplicateGroup]) -> None:
        self._filtered[group_filter] = result
        self._current.update((group.group_id, group) for group in result)
        if len(self._filtered) > KEEP_FILTERS:
            self._forget_least_recent_filter()

    def _regroup(
        self, group_filter: GroupFilter, shown: list[DuplicateGroup], changed: frozenset[int]
    ) -> None:
        """The filter's groups after decisions on the `changed` files: only the groups
        holding one of them are settled again (a removal in a million-file library does not
        redo every suggestion); the others stay as they were."""
        raw = self._raw(group_filter)
        touched = [group for group in raw if not changed.isdisjoint(group.file_ids)]
        touched_ids = {group.group_id for group in touched}
        result = [group for group in shown if group.group_id not in touched_ids]
        result += self._filter(group_filter, touched)
        self._sort(result, group_filter.sort)
        self._keep(group_filter, result)

    def _forget_least_recent_filter(self) -> None:
        """Bound memory: drop the groups of the filter viewed longest ago, and its grouping
        when no filter kept uses it (plans for its groups are then refused: reload)."""
        forgotten, _ = self._filtered.popitem(last=False)
        if all(kept.grouping_key != forgotten.grouping_key for kept in self._filtered):
            self._raw_groups.pop(forgotten.grouping_key, None)
        self._current = {
            group.group_id: group for groups in self._filtered.values() for group in groups
        }

    def _paths_of(self, groups: list[DuplicateGroup]) -> dict[int, str]:
        """The path of every file in these groups (read once, kept for later path filters)."""
        missing = {file_id for group in groups for file_id in group.file_ids} - self._paths.keys()
        if missing:
            stamps = self.database.file_stamps(missing)
            self._paths.update((file_id, stamp[0]) for file_id, stamp in stamps.items())
        return self._paths

    def _raw(self, group_filter: GroupFilter) -> list[DuplicateGroup]:
        key = group_filter.grouping_key
        if key not in self._raw_groups:
            media = group_filter.media
            groups = find_column_groups(
                self.file_columns(media),
                lambda file_ids: self.file_details(media, file_ids),
                max_distance=group_filter.distance,
                max_duration_diff=group_filter.duration_tolerance,
                include_flat=group_filter.include_suspicious,
                include_same_item=True,
                max_duration_percent=group_filter.duration_percent,
            )
            self._raw_groups[key] = groups
        return self._raw_groups[key]

    def _settled(self, media: str, groups: list[DuplicateGroup]) -> Iterator[DuplicateGroup | None]:
        """The groups as they stand after decisions, each with its missing files, keeper,
        protected files and removals (None for a group no longer to review). Groups no
        decision touches get their suggestion all together from columns, without building
        their files; the others, and those the columns cannot answer, one by one."""
        decided = self._removed | self._rules.file_ids
        untouched = (
            [group for group in groups if decided.isdisjoint(group.file_ids)] if decided else groups
        )
        pictures = {
            file_id: picture[0] * picture[1]
            for file_id, picture in self._pictures.items()
            if picture is not None
        }
        answers = suggest_for_groups(
            untouched,
            self.file_columns(media),
            self.keeper_columns(media),
            SuggestionRules(
                self.keeper_rules, self.preferred_folders, self.codec_order, self._protected
            ),
            self._file_texts,
            self.presence.missing,
            pictures,
        )
        answer_of = {
            group.group_id: answer
            for group, answer in zip(untouched, answers, strict=True)
            if answer is not None
        }
        self.build_files([group for group in groups if group.group_id not in answer_of])
        for group in groups:
            answer = answer_of.get(group.group_id)
            if answer is None:
                yield self._apply_decisions(group)
            else:
                yield dataclasses.replace(
                    group,
                    keeper_id=answer.keeper_id,
                    missing_ids=answer.missing_ids,
                    protected_ids=answer.protected_ids,
                    suggested=answer.suggested,
                )

    def _file_texts(self, file_ids: Sequence[int]) -> dict[int, tuple[str, float | None]]:
        """Path and mod time of files, for the keeper rules that read them."""
        return {
            file_id: (path, parse_stash_time(mod_time))
            for file_id, (path, _size, mod_time) in self.database.file_stamps(file_ids).items()
        }

    def _apply_decisions(self, group: DuplicateGroup) -> DuplicateGroup | None:
        if self._removed.isdisjoint(group.file_ids) and self._rules.file_ids.isdisjoint(
            group.file_ids
        ):
            return self._with_presence_and_keeper(group)  # no decision names its files
        files = [file for file in group.files if file.file_id not in self._removed]
        files = self._rules.visible_files(files) if len(files) >= 2 else []
        if not files:
            return None
        if len(files) != len(group.files):
            group = dataclasses.replace(
                group, files=tuple(files), max_distance=_max_distance(files, group.max_distance)
            )
        return self._with_presence_and_keeper(group)

    def _with_presence_and_keeper(self, group: DuplicateGroup) -> DuplicateGroup:
        """The group with its missing files, suggested keeper and protected files, on which
        its reclaimable space depends. Pictures inside black bars count once learnt in this
        session; the group's page looks in the frame cache too (`reviewed_group`)."""
        missing = frozenset(f.file_id for f in group.files if self.presence.is_missing(f.file_id))
        present = [f for f in group.files if f.file_id not in missing] if missing else group.files
        keeper = suggest_keeper(
            present or group.files,
            self.keeper_rules,
            self.preferred_folders,
            self._known_pictures(group),
            self.codec_order,
        )
        protected = frozenset(group_protections(group, keeper, self._protected))
        return dataclasses.replace(
            group,
            missing_ids=missing,
            keeper_id=keeper.file_id,
            protected_ids=protected,
            suggested=None,
        )

    def _known_pictures(self, group: DuplicateGroup) -> dict[int, int]:
        known = (self._pictures.get(file.file_id) for file in group.files)
        return {
            file.file_id: picture[0] * picture[1]
            for file, picture in zip(group.files, known, strict=True)
            if picture is not None
        }

    def _keeper(self, group: DuplicateGroup, pictures: Mapping[int, int]) -> MediaFile:
        """The keeper rules' choice among the present files (any file when none is)."""
        candidates = group.present_files or group.files
        return suggest_keeper(
            candidates, self.keeper_rules, self.preferred_folders, pictures, self.codec_order
        )

    def _matching_items(
        self, groups: list[DuplicateGroup], group_filter: GroupFilter
    ) -> list[DuplicateGroup]:
        """The groups that pass the filter's studio, performer, tag, organized and missing
        files conditions (each must hold for some file's Stash item). Read from columns,
        or from files built a batch of groups at a time: never file by file."""
        if group_filter.missing_only:
            groups = [group for group in groups if group.missing_ids]
        if group_filter.organized and groups:
            wanted = group_filter.organized == "yes"
            columns = self.keeper_columns(group_filter.media)
            organized = set(columns.file_ids[columns.organized].tolist())
            groups = [
                group for group in groups if (not organized.isdisjoint(group.file_ids)) == wanted
            ]
        if group_filter.studio:
            studio = group_filter.studio.casefold()
            matching = {
                group.group_id
                for group in self.groups_with_files(groups, full_details=True)
                if any(
                    studio in (item.studio or "").casefold()
                    for file in group.files
                    for item in file.items
                )
            }
            groups = [group for group in groups if group.group_id in matching]
        for needle, field in ((group_filter.performer, "performers"), (group_filter.tag, "tags")):
            if not needle:
                continue
            file_ids = [file_id for group in groups for file_id in group.file_ids]
            names = self.item_names(group_filter.media, file_ids)
            needle = needle.casefold()
            groups = [
                group
                for group in groups
                if any(
                    needle in name.casefold()
                    for file_id in group.file_ids
                    for name in getattr(names[file_id], field)
                )
            ]
        return groups

    def item_names(self, media: str, file_ids: Iterable[int]) -> Mapping[int, ItemNames]:
        """Performer and tag names of the files' Stash items (read once per file)."""
        wanted = [file_id for file_id in file_ids if file_id not in self._item_names]
        if wanted:
            found = self.database.item_names(media, wanted)
            for file_id in wanted:
                self._item_names[file_id] = found.get(file_id, ItemNames())
        return self._item_names

    def group(self, group_id: str) -> DuplicateGroup:
        """A group from the filters viewed so far, as it stands after decisions."""
        with self._groups_lock:
            group = self._current.get(group_id)
            if group is None:
                raise NotFoundError(
                    f"Group {group_id} is not among the current groups "
                    "(its files were removed or dismissed, or the library was reopened)."
                )
            return group

    def suggested_keeper(self, group: DuplicateGroup) -> MediaFile:
        pictures = {}
        for file in group.files:
            picture = self.picture_size(file)
            if picture is not None:
                pictures[file.file_id] = picture[0] * picture[1]
        return self._keeper(group, pictures)

    def suggested_removals(
        self, group: DuplicateGroup, keeper: MediaFile | None = None
    ) -> tuple[MediaFile, ...]:
        """What the suggestion (and auto-resolve, and bulk actions) marks Remove: the keeper's
        close copies, less protected files (`protections`)."""
        keeper = keeper or self.suggested_keeper(group)
        return suggested_removals(group, keeper, self._protected)

    def protections(
        self, group: DuplicateGroup, keeper: MediaFile | None = None
    ) -> dict[int, Protection]:
        """The group's files that keeping `keeper` (default: the suggested one) leaves alone,
        and why (`protections.group_protections`)."""
        keeper = keeper or self.suggested_keeper(group)
        return group_protections(group, keeper, self._protected)

    def reviewed_group(self, group_id: str) -> DuplicateGroup:
        """A group as its page shows it: its files' presence looked at again, and its
        keeper chosen with every picture size known (the frame cache included), so its
        reclaimable space is what its Remove button frees."""
        group = self.group(group_id)
        if self.presence.refresh(group.files):
            self._decisions_changed()
            group = self.group(group_id)
        keeper = self.suggested_keeper(group)
        if keeper.file_id == group.keeper_id:
            return group
        with self._groups_lock:
            protected = frozenset(group_protections(group, keeper, self._protected))
            updated = dataclasses.replace(
                group, keeper_id=keeper.file_id, protected_ids=protected, suggested=None
            )
            self._current[group_id] = updated
            for groups in self._filtered.values():
                for index, listed in enumerate(groups):
                    if listed.group_id == group_id:
                        groups[index] = updated
            return updated

    # ---- missing files ------------------------------------------------------------------

    def preview_mappings(self, mappings: Sequence[PathMapping]) -> list[MappingPreview]:
        """For path mappings as typed: how many library files each maps, how many exist."""
        with self._files_lock:
            if self._stash_paths is None:  # read once: the preview is asked as the user types
                self._stash_paths = self.database.stash_paths()
            stash_paths = self._stash_paths
        return preview_mappings(stash_paths, mappings)

    def check_presence(self, progress: Progress | None = None) -> int:
        """Look for every listed file at its (mapped) path; regroup when the answer changed.
        Returns how many are missing. Long on a big library: run it as a job."""
        before = self.presence.missing
        total = len(self.file_columns(VIDEO)) + len(self.file_columns(IMAGE))
        # Only ids and paths, as a scan reads them: no file's details are built.
        missing = self.presence.check_paths(
            self.database.listed_paths(), total, progress, pause=self._lists_asked.wait_for_none
        )
        if self.presence.missing != before:
            self._decisions_changed()
        return missing

    def picture_size(self, file: MediaFile) -> tuple[int, int] | None:
        """A video's picture inside black bars, once its frames were sampled (else None)."""
        if file.media != VIDEO:
            return None
        if file.file_id not in self._pictures:  # one look in the frame cache per file
            known = known_picture(file.path, self._frame_cache())
            picture = None if known is None else _picture_in_stash_units(file, *known)
            self._pictures[file.file_id] = picture
        return self._pictures[file.file_id]

    @staticmethod
    def distance_to(keeper: MediaFile, file: MediaFile) -> int | None:
        """Bits between two files' phashes (None when either has none)."""
        if not keeper.phash or not file.phash:
            return None
        return phash_distance(keeper.phash, file.phash)

    def _decisions_changed(self, everything: bool = False) -> None:
        """Dismissals, removals or missing files changed: regroup from the cached engine
        output, settling again only the groups that hold a file whose state changed (all of
        them with `everything`: keeper rules or files changed)."""
        with self._groups_lock:
            before = self._decided
            self._rules = self.dismissals.rules()
            self._refresh_removed()
            self._decided = _DecidedFiles.now(self)
            changed = None if everything or before is None else before.changed(self._decided)
            filters = list(self._filtered.items())
            self._filtered.clear()
            self._current.clear()
            for group_filter, shown in filters:  # keep ids of groups still current resolvable
                if changed is None:
                    self.groups(group_filter)
                else:
                    self._regroup(group_filter, shown, changed)

    # ---- "not a duplicate" --------------------------------------------------------------

    def dismiss_group(self, group_id: str) -> Dismissal:
        group = self.group(group_id)
        dismissal = self.dismissals.dismiss_group(group.media, group.files)
        self._decisions_changed()
        return dismissal

    def dismiss_file(self, group_id: str, file_id: int) -> Dismissal:
        group = self.group(group_id)
        dismissal = self.dismissals.dismiss_file(group.media, group.file(file_id), group.files)
        self._decisions_changed()
        return dismissal

    def undo_dismissal(self, dismissal_id: int) -> Dismissal:
        dismissal = self.dismissals.undo(dismissal_id)
        self._decisions_changed()
        return dismissal

    # ---- removal ------------------------------------------------------------------------

    def check_plan(self, plan: RemovalPlan | object) -> RemovalPlan:
        """Parse a plan (from the page, the CLI or auto-resolve) and hold each of its groups
        against a current duplicate group; RefusedError names the first group that fails.

        Each plan group may name its `group_id`; every file it keeps or removes must belong
        to that current group (or, without an id, to one current group), and it must keep
        at least one. The removal code enforces the last-copy rule again on its own.
        """
        parsed = plan if isinstance(plan, RemovalPlan) else RemovalPlan.from_json(plan)
        with self._groups_lock:
            for number, group in enumerate(parsed.groups, 1):
                self._check_plan_group(number, group)
        return parsed

    def _check_plan_group(self, number: int, group: RemovalGroup) -> None:
        label = group.label(number)
        if not group.keep:
            raise RefusedError(f"{label} would lose every copy: keep at least one file.")
        library = self.library()
        for file_id in (*group.keep, *group.remove):
            if file_id in self._removed:
                role = "its kept file" if file_id in group.keep else "file"
                path = library[file_id].path
                raise RefusedError(
                    f"{label}: {role} {file_id} ({path}) was already removed (by another "
                    "removal in this window, another window or the command line), so nothing "
                    "in this plan was removed. Reload the groups and decide again."
                )
        if is_overlap_group_id(group.group_id):
            check_pair_removal(self.overlap_pair(group.group_id or ""), group, label)
            return
        members = set(group.keep) | set(group.remove)
        if self._current_group_for(group.group_id, members) is None:
            raise RefusedError(
                f"{label} is not a current duplicate group: its files are not all in one group"
                " of the groups shown (reload the groups and try again)."
            )

    def _current_group_for(self, group_id: str | None, members: set[int]) -> DuplicateGroup | None:
        if group_id is not None:
            candidates = [self._current[group_id]] if group_id in self._current else []
        else:
            candidates = list(self._current.values())
        for group in candidates:
            if members <= set(group.file_ids):
                return group
        return None

    def _recheck_presence(self, plan: RemovalPlan) -> None:
        """Look again at the plan's files before acting: the missing-files count stays true
        (the removal code checks each file again on its own)."""
        library = self.library()
        ids = [file_id for group in plan.groups for file_id in (*group.keep, *group.remove)]
        if self.presence.refresh(library[file_id] for file_id in ids if file_id in library):
            self._decisions_changed()

    def _catch_up(self) -> None:
        """Take in removals and undos done elsewhere (another window or process) since the
        groups were computed: the plan must be held against the library as it is now."""
        with self._groups_lock:
            if self._removed_now() != self._removed:
                self._decisions_changed()

    def remove(
        self,
        plan: RemovalPlan | object,
        mode: str = "trash",
        trash_dir: str | None = None,
        confirm_delete: bool = False,
        dry_run: bool = False,
    ) -> RemovalResult:
        """Check the plan against the current groups, then run it through the journal.

        Both happen under the journal's removal lock, after catching up with removals done
        elsewhere, so two crossed plans (keep A remove B, keep B remove A) never both run:
        the second one finds its keeper gone and is refused.
        """
        parsed = plan if isinstance(plan, RemovalPlan) else RemovalPlan.from_json(plan)
        lock = contextlib.nullcontext() if dry_run else self.journal.removal_lock()
        with lock:
            self._recheck_presence(parsed)
            self._catch_up()
            self.check_plan(parsed)
            result = execute_plan(
                parsed,
                self.library(),
                self.library_roots,
                self.journal,
                mode=mode,
                trash_dir=trash_dir or None,
                confirm_delete=confirm_delete,
                dry_run=dry_run,
                protected_folders=self.protected_folders,
            )
            if not dry_run:
                self._decisions_changed()
        return result

    # ---- long work --------------------------------------------------------------------------

    def compare_frames(self, group_id: str, samples: int = DEFAULT_FRAME_COUNT) -> GroupComparison:
        """Frame strips of a video group's files and their similarity to the suggested keeper."""
        group = self.group(group_id)
        paths = [self._inside_library(file).path for file in group.files]
        # Sample first: black bars found in the frames can change which file is the keeper.
        for file, sampled in zip(
            group.files, sample_group(paths, samples, cache=self._frame_cache()), strict=True
        ):
            if isinstance(sampled, SampledFrames):
                self._pictures[file.file_id] = _picture_in_stash_units(
                    file, sampled.width, sampled.height, sampled.crop
                )
        keeper = self.suggested_keeper(group)
        return compare_group(paths, group.files.index(keeper), k=samples, cache=self._frame_cache())

    def compare_images(self, first_id: int, second_id: int) -> float:
        """Structural similarity (0..1) of two image files of the library."""
        first, second = self._image_pair(first_id, second_id)
        return compare_images(first.path, second.path)

    def image_difference(self, first_id: int, second_id: int) -> bytes:
        """A JPEG heat map of where two image files of the library differ."""
        first, second = self._image_pair(first_id, second_id)
        return image_difference_heatmap(first.path, second.path, max_side=640)

    def _image_pair(self, first_id: int, second_id: int) -> tuple[MediaFile, MediaFile]:
        pair = self.file(first_id), self.file(second_id)
        if any(file.media != IMAGE for file in pair):
            raise AppError("Only images are compared this way; videos compare by frames.")
        return self._inside_library(pair[0]), self._inside_library(pair[1])

    def files_to_backfill(self, media: str = "all", exact_images: bool = False) -> list[HashTask]:
        """The files whose phash neither Stash nor the app's cache has (or, with
        `exact_images`, whose cached image hash is only the fast one)."""
        wanted = (VIDEO, IMAGE) if media == "all" else (MEDIA_NAMES.get(media, ""),)
        if "" in wanted:
            raise AppError(f"Unknown media {media!r}: use videos, images or all.")
        # Straight from Stash: `files()` already carries cached hashes, which would hide them.
        files = [file for kind in wanted for file in self.database.load_files(kind)]
        cache = PhashCache(self.paths.phash_cache)
        try:
            return files_to_hash(files, library_key(self.database.path), cache, exact_images)
        finally:
            cache.close()

    def backfill(
        self, job: Job, tasks: Sequence[HashTask], workers: int | None = None
    ) -> BackfillReport:
        """Compute those phashes (a job: progress, pause, cancel), then regroup."""
        job.total = len(tasks)
        report = run_backfill(
            job, tasks, library_key(self.database.path), workers, str(self.paths.phash_cache)
        )
        self.reload_files()
        return report

    def reload_files(self) -> None:
        """Read the files again (Stash rescanned, or phashes were computed) and regroup."""
        with self._groups_lock, self._files_lock:
            self._files.clear()
            self._columns.clear()
            self._keeper_columns.clear()
            self._details.clear()
            self._paths.clear()
            self._stash_paths = None
            self._raw_groups.clear()
            self._protected = ProtectedFolders(self.protected_folders)  # folders may have moved
            self._overlaps.clear()
        self._decisions_changed(everything=True)

    # ---- overlaps: videos sharing footage (dedupe/overlaps.py, dedupe/overlap_pairs.py) --

    def fingerprints_to_compute(self) -> list[FingerprintTask]:
        """The videos with no current frame fingerprint in the cache (Stash's scrubber
        sprite is used for those that have one)."""
        with FingerprintCache(self.paths.fingerprint_cache) as cache:
            return fingerprint_tasks(
                self.files(VIDEO),
                library_key(self.database.path),
                cache,
                self.thumbnails.generated,
                self.thumbnails.video_hash,
            )

    def fingerprint_failures(self) -> dict[int, str]:
        """Why each video that could not be fingerprinted could not, by file id."""
        with FingerprintCache(self.paths.fingerprint_cache) as cache:
            failures = cache.failures(library_key(self.database.path))
        return {failure.file_id: failure.reason for failure in failures}

    def compute_fingerprints(
        self, job: Job, tasks: Sequence[FingerprintTask], workers: int | None = None
    ) -> FingerprintReport:
        """Fingerprint those videos (a job: progress, pause, cancel); overlaps are found
        again on the next look, with what was done even if cancelled."""
        job.total = len(tasks)
        try:
            return run_fingerprints(
                job,
                tasks,
                library_key(self.database.path),
                workers,
                cache_path=self.paths.fingerprint_cache,
            )
        finally:
            with self._overlaps_lock:
                self._overlaps.clear()

    def overlaps(self, min_overlap: float = DEFAULT_MIN_OVERLAP) -> list[OverlapPair]:
        """Pairs of videos sharing at least `min_overlap` seconds of footage, from the cached
        fingerprints (none for videos not yet fingerprinted), longest overlap first; pairs
        with a removed file are left out."""
        if not min_overlap > 0:
            raise AppError(
                f"The minimum overlap must be a positive number of seconds, not {min_overlap}."
            )
        with self._overlaps_lock:
            found = self._overlaps.get(min_overlap)
            if found is None:
                files = self.files(VIDEO)
                with FingerprintCache(self.paths.fingerprint_cache) as cache:
                    fingerprints = cache.lookup(library_key(self.database.path), files)
                found = find_overlaps(list(fingerprints.values()), min_overlap)
                if len(self._overlaps) >= KEEP_FILTERS:  # a few minimums viewed, not all
                    self._overlaps.pop(next(iter(self._overlaps)))
                self._overlaps[min_overlap] = found
        library = self.library()
        removed = self._removed
        return [
            self._pair(overlap, library[overlap.a.file_id], library[overlap.b.file_id])
            for overlap in found
            if overlap.a.file_id not in removed and overlap.b.file_id not in removed
        ]

    def overlap_pair(self, group_id: str) -> OverlapPair:
        """A current overlap pair by its id (`overlap-<a>-<b>`), among those found so far at
        any minimum (else at the default one)."""
        with self._overlaps_lock:
            known = [overlap for found in self._overlaps.values() for overlap in found]
        if not known:
            self.overlaps()
            with self._overlaps_lock:
                known = [overlap for found in self._overlaps.values() for overlap in found]
        for overlap in known:
            if overlap_group_id(overlap) == group_id:
                if {overlap.a.file_id, overlap.b.file_id} & self._removed:
                    break
                library = self.library()
                return self._pair(overlap, library[overlap.a.file_id], library[overlap.b.file_id])
        raise NotFoundError(
            f"{group_id} is not among the current overlaps (a file was removed, or the "
            "library was reopened): reload the overlaps."
        )

    def _pair(self, overlap: Overlap, shorter: MediaFile, longer: MediaFile) -> OverlapPair:
        keeper = pair_keeper(overlap, shorter, longer)
        if keeper is None:  # a `same` pair: the keeper rules decide, as for any group
            group = DuplicateGroup(
                overlap_group_id(overlap), OVERLAP_GROUP, VIDEO, (shorter, longer), 0, False
            )
            keeper = self.suggested_keeper(group)
        return OverlapPair(overlap, shorter, longer, keeper)

    def overlap_frame_times(
        self, group_id: str, samples: int = DEFAULT_FRAME_COUNT
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Matching times in both files of a pair (the shorter first): `samples` moments
        spread over the common segment, in each file's own time."""
        overlap = self.overlap_pair(group_id).overlap
        return (
            matching_times(overlap.a.start, overlap.a.end, samples),
            matching_times(overlap.b.start, overlap.b.end, samples),
        )

    def compare_overlap_frames(
        self, group_id: str, samples: int = DEFAULT_FRAME_COUNT
    ) -> GroupComparison:
        """Both files' frames at the matching times (the shorter file first), scored against
        the suggested keeper."""
        pair = self.overlap_pair(group_id)
        paths = (
            self._inside_library(pair.shorter).path,
            self._inside_library(pair.longer).path,
        )
        keeper_index = 0 if pair.keeper.file_id == pair.shorter.file_id else 1
        return compare_at_times(paths, self.overlap_frame_times(group_id, samples), keeper_index)

    def undo_batch(self, batch_id: int) -> UndoResult:
        with self.journal.removal_lock():
            result = undo_batch(self.journal, batch_id)
            # The files put back are at their paths again: no longer "not found".
            restored = [_ListedPath(file.file_id, file.path) for file in result.restored]
            self.presence.refresh(restored)  # type: ignore[arg-type]
            self._decisions_changed()
        return result


class _LibraryFiles(Mapping[int, MediaFile]):
    """The library's files by id, each built from the database when looked up."""

    def __init__(self, session: LibrarySession) -> None:
        self._session = session

    def __getitem__(self, file_id: int) -> MediaFile:
        media = self._session._media_of(file_id) if _is_id(file_id) else None
        if media is None:
            raise KeyError(file_id)
        return self._session.file_details(media, [int(file_id)])[0]

    def __contains__(self, file_id: object) -> bool:
        return _is_id(file_id) and self._session._media_of(file_id) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        for media in (VIDEO, IMAGE):
            yield from self._session.file_columns(media).file_ids.tolist()

    def __len__(self) -> int:
        return sum(len(self._session.file_columns(media)) for media in (VIDEO, IMAGE))


class _Pending:
    """A count of calls under way (`with pending:`), and a wait for none to be."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def __enter__(self) -> None:
        with self._changed:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait_for_none(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._count == 0)


@dataclass(frozen=True)
class _DecidedFiles:
    """The files whose state settles groups: removed, named by a dismissal, missing, and
    those whose picture inside black bars is known."""

    removed: frozenset[int]
    dismissed: frozenset[int]
    missing: frozenset[int]
    pictured: frozenset[int]

    @classmethod
    def now(cls, session: LibrarySession) -> _DecidedFiles:
        return cls(
            frozenset(session._removed),
            frozenset(session._rules.file_ids),
            session.presence.missing,
            frozenset(session._pictures),
        )

    def changed(self, later: _DecidedFiles) -> frozenset[int]:
        """The files whose state differs between this and `later`."""
        return (
            (self.removed ^ later.removed)
            | (self.dismissed ^ later.dismissed)
            | (self.missing ^ later.missing)
            | (self.pictured ^ later.pictured)
        )


class _ListedPath(NamedTuple):
    """A listed file's id and local path: all the missing-files check looks at."""

    file_id: int
    path: str


def _still_linked(path: str, link: tuple[str, str] | None) -> bool:
    """Whether `path` is still the hardlink the journal says replaced it."""
    if link is None or os.path.normpath(link[0]) != os.path.normpath(path):
        return False
    try:
        return os.path.samefile(path, link[1])
    except OSError:
        return False


def _is_id(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _max_distance(files: Sequence[MediaFile], fallback: int) -> int:
    hashes = [file.phash for file in files if file.phash]
    if len(hashes) != len(files) or len(hashes) > _RECOMPUTE_DISTANCE_UP_TO:
        return fallback
    return max(
        (phash_distance(a, b) for index, a in enumerate(hashes) for b in hashes[index + 1 :]),
        default=0,
    )


def _picture_in_stash_units(
    file: MediaFile, frame_width: int, frame_height: int, crop: Crop
) -> tuple[int, int]:
    """The crop of the decoded frame, scaled to the size Stash records for the file.

    Decoded frames are turned by rotation metadata while Stash may record the stored size, so
    the crop's share of each side is swapped when the orientations disagree.
    """
    width_share, height_share = crop.width / frame_width, crop.height / frame_height
    width, height = file.width or frame_width, file.height or frame_height
    if (
        width != height
        and frame_width != frame_height
        and ((width > height) != (frame_width > frame_height))
    ):
        width_share, height_share = height_share, width_share
    # Video sizes are even; bar edges found a pixel off round back to them.
    return 2 * round(width * width_share / 2), 2 * round(height * height_share / 2)

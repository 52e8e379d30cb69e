"""Keeping a running Stash in step with what the app did, from the app's own records.

The glue between the app's records and what is sent to Stash (`cleanup`, `scene_merge`,
`phash_writeback`, over the client in `api`): the files a removal batch took away, the scenes
of a duplicate group, the phashes the backfill cached. Optional and off until the user's
Stash answers; it knows nothing of HTTP (the web API calls it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stash_dedupe.dedupe.grouping import DuplicateGroup
from stash_dedupe.dedupe.session import LibrarySession
from stash_dedupe.errors import AppError, RefusedError
from stash_dedupe.jobs import Progress
from stash_dedupe.media.backfill import CachedPhash, PhashCache, library_key
from stash_dedupe.models import IMAGE, VIDEO, MediaFile
from stash_dedupe.removal.journal import DONE, REMOVAL_MODES, Journal, batch_actions
from stash_dedupe.removal.plan import RemovedFile
from stash_dedupe.settings import Settings
from stash_dedupe.stash.api import DEFAULT_TIMEOUT_SECONDS, StashClient
from stash_dedupe.stash.cleanup import Operation, apply_operations, plan_operations
from stash_dedupe.stash.phash_writeback import PhashWrite, SkippedWrite, write_phashes
from stash_dedupe.stash.scene_merge import MergePreview, SceneSummary, merge_scenes, plan_merge

TEST_TIMEOUT_SECONDS = 5.0
""""Test connection" must answer quickly: a Stash that is up answers `version` at once."""


def connect(
    settings: Settings,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    url: str | None = None,
    api_key: str | None = None,
) -> StashClient:
    """A client for the Stash of the settings; `url` and a non-empty `api_key` override them
    (the values typed in the settings form, tested before they are saved)."""
    return StashClient(url or settings.stash_url, api_key or settings.stash_api_key, timeout)


@dataclass(frozen=True)
class Connection:
    url: str
    version: str


def check_connection(
    settings: Settings, url: str | None = None, api_key: str | None = None
) -> Connection:
    """Stash's version, or a StashError saying exactly why it cannot be asked."""
    client = connect(settings, TEST_TIMEOUT_SECONDS, url, api_key)
    return Connection(client.url, client.version())


# ---- after a removal ----------------------------------------------------------------------


@dataclass(frozen=True)
class CleanupPlan:
    """What telling Stash about one removal batch sends, before anything is sent."""

    batch_id: int
    removed: tuple[RemovedFile, ...]
    operations: tuple[Operation, ...]


@dataclass(frozen=True)
class CleanupResult:
    batch_id: int
    outcomes: tuple[str, ...]
    paths: tuple[str, ...]


def removed_in_batch(
    journal: Journal, batch_id: int, library: Mapping[int, MediaFile]
) -> list[RemovedFile]:
    """The files of a removal batch that are gone now and belong to this library.

    The journal is shared by every database the user opens, so a file counts only when this
    library lists it at the path the batch removed it from; a file put back (undo, or by
    hand) does not count: Stash must not forget a scene whose file is on disk.
    """
    removed = []
    for action in batch_actions(journal, batch_id):
        file = library.get(action.file_id)
        if (
            action.state == DONE
            and action.mode in REMOVAL_MODES
            and file is not None
            and file.path == action.original_path
            and not os.path.lexists(file.path)
        ):
            removed.append(
                RemovedFile(action.file_id, action.original_path, action.destination, action.size)
            )
    return removed


def plan_cleanup(session: LibrarySession, batch_id: int) -> CleanupPlan:
    """What to tell Stash about a removal batch, planned from the journal (never from a page)."""
    library = session.library()
    removed = removed_in_batch(session.journal, batch_id, library)
    if not removed:
        raise AppError(
            f"Removal #{batch_id} has no removed files of the open library left to tell Stash "
            "about (its files were put back, or it belongs to another Stash database)."
        )
    operations = plan_operations(removed, library)
    return CleanupPlan(batch_id, tuple(removed), tuple(operations))


def apply_cleanup(
    client: StashClient, session: LibrarySession, batch_id: int, progress: Progress | None = None
) -> CleanupResult:
    """Plan the batch's cleanup again from the journal and send it."""
    plan = plan_cleanup(session, batch_id)
    outcomes = apply_operations(client, plan.operations, progress)
    return CleanupResult(batch_id, tuple(outcomes), tuple(file.path for file in plan.removed))


# ---- merge ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneMerge:
    keeper_scene_id: int
    source_scene_ids: tuple[int, ...]


def scenes_to_merge(group: DuplicateGroup, keeper_file_id: int) -> SceneMerge:
    """The keeper file's scene, and the other scenes the group's files belong to."""
    if group.media != VIDEO:
        raise AppError("Only scenes (video groups) can be merged in Stash.")
    keeper = group.file(keeper_file_id)
    if not keeper.items:
        raise RefusedError(f"{keeper.path} belongs to no Stash scene to merge into.")
    own = set(keeper.item_ids)
    sources = dict.fromkeys(
        item_id for file in group.files for item_id in file.item_ids if item_id not in own
    )
    if not sources:
        raise RefusedError("Every file of this group is in the keeper's scene already.")
    return SceneMerge(keeper.items[0].item_id, tuple(sources))


def preview_merge(
    client: StashClient, session: LibrarySession, group_id: str, keeper_file_id: int
) -> MergePreview:
    """The keeper's scene as it will be after merging the group's other scenes into it."""
    merge = scenes_to_merge(session.group(group_id), keeper_file_id)
    return plan_merge(client, merge.keeper_scene_id, merge.source_scene_ids)


def merge_group_scenes(
    client: StashClient, session: LibrarySession, group_id: str, keeper_file_id: int
) -> SceneSummary:
    """Merge the group's other scenes into the keeper's; then read Stash's database again."""
    merge = scenes_to_merge(session.group(group_id), keeper_file_id)
    scene = merge_scenes(client, merge.keeper_scene_id, merge.source_scene_ids)
    session.reload_files()
    return scene


# ---- phash write-back --------------------------------------------------------------------


def phash_writes(files: Iterable[MediaFile], cached: Iterable[CachedPhash]) -> list[PhashWrite]:
    """The cached phashes Stash lacks, for files it lists without one: exact ones only.

    An approximate video hash (the OpenCV fallback) or a fast-mode image hash can be a few
    bits off the phash Stash computes itself, so it never leaves the app (`stash-dedupe hash
    --exact-images` makes exact image hashes). Each carries the size and mod time it was
    hashed at, so the client skips files that changed since.
    """
    lacking = {file.file_id for file in files if not file.phash}
    return [
        PhashWrite(entry.file_id, entry.phash, entry.size, entry.mod_time)
        for entry in cached
        if entry.file_id in lacking and entry.exact
    ]


@dataclass(frozen=True)
class PhashNote:
    """A phash not written, with the file's path and the reason, to show the user."""

    file_id: int
    path: str
    reason: str


@dataclass(frozen=True)
class PhashWriteReport:
    written: int
    skipped: tuple[PhashNote, ...]
    failed: tuple[PhashNote, ...]


def write_back_phashes(
    client: StashClient, session: LibrarySession, progress: Progress | None = None
) -> PhashWriteReport:
    """Send the backfilled phashes of files Stash has none for, in batches.

    Stash's database is read again first: Stash may have computed some phashes since.
    """
    files = [file for media in (VIDEO, IMAGE) for file in session.database.load_files(media)]
    cache = PhashCache(session.paths.phash_cache)
    try:
        cached = cache.entries(library_key(session.database.path))
    finally:
        cache.close()
    result = write_phashes(client, phash_writes(files, cached), progress=progress)
    paths = {file.file_id: file.path for file in files}

    def notes(entries: Iterable[SkippedWrite]) -> tuple[PhashNote, ...]:
        return tuple(
            PhashNote(entry.file_id, paths.get(entry.file_id, ""), entry.reason)
            for entry in entries
        )

    return PhashWriteReport(len(result.written), notes(result.skipped), notes(result.failed))

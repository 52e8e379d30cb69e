"""Protections: files a suggestion never marks Remove, and what removing them would lose.

Two kinds, like SmartResolve's protections and dupeGuru's reference folders:

- A file whose Stash scene or image carries something the kept file's item lacks (a rating,
  an O count, plays, tags, performers, markers, galleries, a StashDB id, "organized") would
  take that work with it. `metadata_losses` says what, in words a card and the confirm
  dialog can show ("5★ rating", "O count 2", "in 1 gallery the keeper is not in").
- A file under a protected folder (Settings) is never removed at all: the removal code
  refuses it (`removal.plan.check_plan`; `library_paths` holds the one path rule).

Neither is marked Remove by the suggestion, auto-resolve or a bulk action
(`suggested_removals`). The user can still mark a file with metadata Remove by hand; the
confirm dialog then says what goes with it. Stash keeps the metadata on the item, not on
the file, so a file sharing an item with a kept file loses nothing: the item stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from stash_dedupe.dedupe.grouping import DuplicateGroup
from stash_dedupe.errors import AppError
from stash_dedupe.library_paths import ProtectedFolders
from stash_dedupe.models import MediaFile, SceneInfo

LossKind = Literal[
    "rating",
    "organized",
    "o_count",
    "stash_id",
    "plays",
    "galleries",
    "performers",
    "tags",
    "markers",
]


@dataclass(frozen=True)
class MetadataLoss:
    """One thing Stash would lose with a file: its kind, and how the page says it."""

    kind: LossKind
    text: str


@dataclass(frozen=True)
class Protection:
    """Why a file of a group is not suggested for removal."""

    file: MediaFile
    losses: tuple[MetadataLoss, ...] = ()
    folder: str | None = None  # the protected folder it lies in

    @property
    def reason(self) -> str:
        """One line for the CLI and auto-resolve's preview."""
        if self.folder is not None:
            return f"in the protected folder {self.folder}"
        return "carries what the keeper lacks: " + ", ".join(loss.text for loss in self.losses)


def stars(rating: int) -> str:
    """Stash's 1-100 rating as the stars its page shows (20 per star)."""
    return f"{round(rating / 20, 1):g}★"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def metadata_losses(file: MediaFile, kept: Sequence[MediaFile]) -> tuple[MetadataLoss, ...]:
    """What Stash would lose if `file` were removed and the `kept` files stayed, in a fixed
    order: what its own items (those no kept file shares) carry beyond the best of the kept
    files' items. Galleries are compared by id; the rest by value or count, as the reader
    has counts, not which tags or performers (copies of a scene scraped from StashDB carry
    the same ones), so a kept item with as many is taken to hold them."""
    kept_items = [item for keeper in kept for item in keeper.items]
    kept_ids = {item.item_id for item in kept_items}
    own = [item for item in file.items if item.item_id not in kept_ids]
    if not any(_carries_anything(item) for item in own):
        return ()  # most copies: nothing of their own to lose
    holder = "the keeper" if len(kept) == 1 else "the kept files"

    def best(items: list[SceneInfo], value: Callable[[SceneInfo], int]) -> int:
        return max((value(item) for item in items), default=0)

    def more(value: Callable[[SceneInfo], int]) -> tuple[int, int] | None:
        """(this file's, the keeper's) when this file's is higher, else None."""
        mine, theirs = best(own, value), best(kept_items, value)
        return (mine, theirs) if mine > theirs else None

    def than(theirs: int, shown: str) -> str:
        return f" ({holder} has {shown})" if theirs else ""

    losses: list[MetadataLoss] = []
    if found := more(lambda item: item.rating or 0):
        mine, theirs = found
        losses.append(MetadataLoss("rating", f"{stars(mine)} rating{than(theirs, stars(theirs))}"))
    if any(item.organized for item in own) and not any(item.organized for item in kept_items):
        losses.append(MetadataLoss("organized", "organized"))
    if found := more(lambda item: item.o_count):
        mine, theirs = found
        losses.append(MetadataLoss("o_count", f"O count {mine}{than(theirs, str(theirs))}"))
    if found := more(lambda item: item.stash_id_count):
        mine, theirs = found
        text = "a StashDB id" if mine == 1 else f"{mine} StashDB ids"
        losses.append(MetadataLoss("stash_id", text + than(theirs, str(theirs))))
    for kind, word, value in (
        ("plays", "play", lambda item: item.play_count),
        ("performers", "performer", lambda item: item.performer_count),
        ("tags", "tag", lambda item: item.tag_count),
        ("markers", "marker", lambda item: item.marker_count),
    ):
        if found := more(value):
            mine, theirs = found
            losses.append(MetadataLoss(kind, _plural(mine, word) + than(theirs, str(theirs))))
    kept_galleries = {gallery for item in kept_items for gallery in item.gallery_ids}
    galleries = {gallery for item in own for gallery in item.gallery_ids} - kept_galleries
    if galleries:
        where = "the keeper is not in" if len(kept) == 1 else "no kept file is in"
        text = f"in {_plural(len(galleries), 'gallery', 'galleries')} {where}"
        losses.append(MetadataLoss("galleries", text))
    return tuple(losses)


def _carries_anything(item: SceneInfo) -> bool:
    """Whether an item holds any of what `metadata_losses` compares."""
    return bool(
        item.rating
        or item.organized
        or item.o_count
        or item.stash_id_count
        or item.play_count
        or item.performer_count
        or item.tag_count
        or item.marker_count
        or item.gallery_ids
    )


NO_PROTECTED_FOLDERS = ProtectedFolders(())


def group_protections(
    group: DuplicateGroup, keeper: MediaFile, protected: ProtectedFolders = NO_PROTECTED_FOLDERS
) -> dict[int, Protection]:
    """The files of a group, other than `keeper`, that keeping it must not remove for the
    user: by file id, with what each would lose or the protected folder it lies in."""
    found = {}
    for file in group.files:
        if file.file_id == keeper.file_id:
            continue
        folder = protected.folder_of(file.path)
        losses = metadata_losses(file, [keeper])
        if folder is not None or losses:
            found[file.file_id] = Protection(file, losses, folder)
    return found


def suggested_removals(
    group: DuplicateGroup, keeper: MediaFile, protected: ProtectedFolders = NO_PROTECTED_FOLDERS
) -> tuple[MediaFile, ...]:
    """The files a suggestion to keep `keeper` marks Remove (so do auto-resolve and bulk
    actions): close copies of the keeper (`DuplicateGroup.copies_of`) that are not
    protected."""
    protections = group_protections(group, keeper, protected)
    return tuple(file for file in group.copies_of(keeper) if file.file_id not in protections)


def losses_if_removed(
    group: DuplicateGroup,
    kept_ids: Sequence[int],
    protected: ProtectedFolders = NO_PROTECTED_FOLDERS,
) -> dict[int, Protection]:
    """For each file of the group not in `kept_ids`: what removing it loses while the kept
    files stay, and the protected folder it lies in. What the confirm dialog shows."""
    kept = [group.file(file_id) for file_id in kept_ids]  # NotFoundError names a stranger
    if not kept:
        raise AppError("Keep at least one file of the group.")
    return {
        file.file_id: Protection(file, metadata_losses(file, kept), protected.folder_of(file.path))
        for file in group.files
        if file.file_id not in kept_ids
    }

"""Auto-resolve: groups whose every copy matches the keeper closely are resolved by the rules.

Nothing is removed here: this builds a preview (keeper, files to remove, bytes, scores) and
a plan; removal goes through `LibrarySession.remove`, with its checks and journal, only
after the user confirms. A protected copy (Stash metadata the keeper lacks, a protected
folder: `protections`) is never in a plan; the group's other copies still are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stash_dedupe.dedupe.grouping import DuplicateGroup
from stash_dedupe.dedupe.protections import Protection
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.errors import AppError, MediaError
from stash_dedupe.media.similarity import compare_images as image_similarity
from stash_dedupe.models import DEFAULT_FRAME_COUNT, DEFAULT_MATCH_THRESHOLD, IMAGE, MediaFile
from stash_dedupe.removal.plan import RemovalGroup, RemovalPlan


@dataclass(frozen=True)
class Resolution:
    """One group that auto-resolve would settle: keep `keeper`, remove the rest."""

    group_id: str
    keeper: MediaFile
    remove: tuple[MediaFile, ...]
    scores: dict[int, float]  # file id -> similarity to the keeper
    protected: tuple[Protection, ...] = ()  # close copies left in place, and why

    @property
    def bytes(self) -> int:
        return sum(file.size for file in self.remove)


@dataclass(frozen=True)
class Unresolved:
    group_id: str
    reason: str


@dataclass(frozen=True)
class AutoPreview:
    threshold: float
    resolved: tuple[Resolution, ...]
    unresolved: tuple[Unresolved, ...]

    @property
    def bytes(self) -> int:
        return sum(resolution.bytes for resolution in self.resolved)

    def plan(self) -> RemovalPlan:
        """The removal plan, naming each group so the session checks it is still current."""
        return RemovalPlan(
            tuple(
                RemovalGroup(
                    keep=(resolution.keeper.file_id,),
                    remove=tuple(file.file_id for file in resolution.remove),
                    group_id=resolution.group_id,
                )
                for resolution in self.resolved
            )
        )


def check_threshold(threshold: float) -> float:
    if not 0.0 < threshold <= 1.0:
        raise AppError("The match threshold must be above 0 and at most 1.")
    return threshold


def preview_auto_resolve(
    session: LibrarySession,
    group_filter: GroupFilter,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
    frame_count: int = DEFAULT_FRAME_COUNT,
    progress: Callable[[int, int, str], None] | None = None,
) -> AutoPreview:
    """Compare every group of the filter with its suggested keeper; keep those that match."""
    check_threshold(threshold)
    groups = session.groups(group_filter)
    resolved: list[Resolution] = []
    unresolved: list[Unresolved] = []
    for number, group in enumerate(groups, 1):
        if progress is not None:
            progress(number - 1, len(groups), group.files[0].path)
        if group.suspicious:
            unresolved.append(Unresolved(group.group_id, "flat hashes: review by hand"))
            continue
        try:
            keeper, scores = _keeper_and_scores(session, group, frame_count)
        except MediaError as error:
            unresolved.append(Unresolved(group.group_id, error.message))
            continue
        close = group.copies_of(keeper)
        if not close:
            unresolved.append(
                Unresolved(group.group_id, "no file is within the distance of the keeper")
            )
            continue
        copies = session.suggested_removals(group, keeper)
        protections = session.protections(group, keeper)
        protected = tuple(protections[f.file_id] for f in close if f.file_id in protections)
        if not copies:
            reasons = "; ".join(f"{p.file.path} {p.reason}" for p in protected)
            unresolved.append(Unresolved(group.group_id, f"every copy is protected: {reasons}"))
            continue
        copy_scores = {file.file_id: scores.get(file.file_id) for file in copies}
        failing = [score for score in copy_scores.values() if score is None or score < threshold]
        if failing:
            worst = min((score for score in failing if score is not None), default=None)
            reason = (
                "a file could not be compared"
                if worst is None
                else f"a copy scores {worst:.2f}, below {threshold:.2f}"
            )
            unresolved.append(Unresolved(group.group_id, reason))
            continue
        resolved.append(
            Resolution(
                group.group_id,
                keeper,
                copies,
                {file_id: score for file_id, score in copy_scores.items() if score is not None},
                protected,
            )
        )
    if progress is not None:
        progress(len(groups), len(groups), "")
    return AutoPreview(threshold, tuple(resolved), tuple(unresolved))


def _keeper_and_scores(
    session: LibrarySession, group: DuplicateGroup, frame_count: int
) -> tuple[MediaFile, dict[int, float | None]]:
    """The keeper and each other file's similarity to it (None: could not be compared).

    Videos are sampled before the keeper is chosen, so black bars count against a copy."""
    if group.media == IMAGE:
        keeper = session.suggested_keeper(group)
        others = [file for file in group.files if file.file_id != keeper.file_id]
        return keeper, {file.file_id: image_similarity(keeper.path, file.path) for file in others}
    comparison = session.compare_frames(group.group_id, frame_count)
    keeper = group.files[comparison.keeper_index]
    keeper_result = comparison.files[comparison.keeper_index]
    if keeper_result.error:
        raise MediaError(f"the keeper cannot be read: {keeper_result.error}")
    return keeper, {
        file.file_id: (None if result.error else result.score)
        for file, result in zip(group.files, comparison.files, strict=True)
        if file.file_id != keeper.file_id
    }

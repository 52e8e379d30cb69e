"""Keeper rules: which file of a group to keep, by an ordered list the user edits.

Like the "select all but the highest resolution / largest file / oldest" helpers of Stash's
duplicate checker, but as rules applied in order: each rule narrows the candidates to the
files that are best by it, and the next rule breaks the remaining ties.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stash_dedupe.models import MediaFile


@dataclass(frozen=True)
class KeeperContext:
    """What rules know beyond the file itself.

    `picture_pixels`: for videos whose frames were sampled, the pixels of the picture inside
    black bars, so a letterboxed 1920x1080 copy of a 1440x1080 film does not outrank a true
    1920x1080 one. Files not in it count their whole frame.
    """

    preferred_folders: Sequence[str] = ()
    picture_pixels: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class KeeperRule:
    name: str
    label: str
    score: Callable[[MediaFile, KeeperContext], float]
    tolerance: float = 0.0  # scores within this fraction of the best count as the best


def _metadata_richness(file: MediaFile) -> float:
    return float(
        sum(
            item.tag_count
            + item.performer_count
            + item.marker_count
            + item.stash_id_count
            + item.play_count
            + item.o_count
            + (1 if item.organized else 0)
            for item in file.items
        )
    )


def _picture_pixels(file: MediaFile, context: KeeperContext) -> float:
    return float(context.picture_pixels.get(file.file_id, file.pixels))


def _in_preferred_folder(file: MediaFile, context: KeeperContext) -> float:
    """Earlier preferred folders score higher; files outside every one score 0."""
    preferred_folders = context.preferred_folders
    for rank, folder in enumerate(preferred_folders):
        prefix = folder.rstrip("/\\")
        if prefix and (file.path == prefix or file.path.startswith((prefix + "/", prefix + "\\"))):
            return float(len(preferred_folders) - rank)
    return 0.0


RULES: dict[str, KeeperRule] = {
    rule.name: rule
    for rule in (
        # 1920x1088 is 1920x1080 with padding rows, and bar edges are found to a pixel or so.
        KeeperRule("highest_resolution", "Highest resolution", _picture_pixels, tolerance=0.01),
        KeeperRule("highest_bit_rate", "Highest bit rate", lambda f, _: f.bit_rate or 0),
        KeeperRule("largest_file", "Largest file", lambda f, _: f.size),
        KeeperRule("longest_duration", "Longest duration", lambda f, _: f.duration or 0),
        KeeperRule("highest_frame_rate", "Highest frame rate", lambda f, _: f.frame_rate or 0),
        KeeperRule("preferred_folders", "In a preferred folder", _in_preferred_folder),
        KeeperRule(
            "richest_metadata",
            "Most tags, performers, markers and plays",
            lambda f, _: _metadata_richness(f),
        ),
        KeeperRule("oldest", "Oldest file", lambda f, _: -(f.mod_time_epoch or float("inf"))),
        KeeperRule("newest", "Newest file", lambda f, _: f.mod_time_epoch or 0),
        KeeperRule("shortest_path", "Shortest path", lambda f, _: -len(f.path)),
    )
}

DEFAULT_RULES = (
    "highest_resolution",
    "highest_bit_rate",
    "largest_file",
    "preferred_folders",
    "oldest",
)


def check_rules(rule_names: Sequence[str]) -> list[str]:
    """Validate a rule list from settings or a request; unknown names are an error."""
    from stash_dedupe.errors import AppError

    unknown = [name for name in rule_names if name not in RULES]
    if unknown:
        raise AppError(f"Unknown keeper rule(s): {', '.join(unknown)}. Known: {', '.join(RULES)}.")
    return list(rule_names)


def suggest_keeper(
    files: Sequence[MediaFile],
    rule_names: Sequence[str] = DEFAULT_RULES,
    preferred_folders: Sequence[str] = (),
    picture_pixels: Mapping[int, int] | None = None,
) -> MediaFile:
    """The file to keep: the best by the first rule, ties broken by the next, then by id."""
    if not files:
        raise ValueError("a group has at least one file")
    context = KeeperContext(preferred_folders, picture_pixels or {})
    candidates = list(files)
    for name in rule_names:
        rule = RULES[name]
        scores = [rule.score(file, context) for file in candidates]
        best = max(scores)
        good_enough = best - abs(best) * rule.tolerance
        candidates = [
            file for file, score in zip(candidates, scores, strict=True) if score >= good_enough
        ]
        if len(candidates) == 1:
            break
    return min(candidates, key=lambda file: file.file_id)

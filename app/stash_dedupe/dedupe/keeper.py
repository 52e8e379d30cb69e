"""Keeper rules: which file of a group to keep, by an ordered list the user edits.

Like the "select all but the highest resolution / largest file / oldest" helpers of Stash's
duplicate checker, but as rules applied in order: each rule narrows the candidates to the
files that are best by it, and the next rule breaks the remaining ties. Rules read the
file (resolution, bit rate, codec, ...) or the Stash scene or image it belongs to (rating,
O count, organized, ...): a file carries its item's metadata, and keeping the bare copy of
a rated, organized scene would leave that work on a file about to be removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stash_dedupe.models import MediaFile, SceneInfo

# Video codec families, best first as the default order has them, with the names Stash
# records (ffprobe's codec_name, or a tool's name for it). A codec no family lists, or one
# the user leaves out of the order, ranks below every listed one ("older").
CODEC_FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "av1": ("AV1", ("av1", "av01", "libdav1d", "libaom-av1", "libsvtav1")),
    "hevc": ("HEVC (H.265)", ("hevc", "h265", "h.265", "x265", "hev1", "hvc1")),
    "vp9": ("VP9", ("vp9", "vp09", "libvpx-vp9")),
    "h264": ("H.264 (AVC)", ("h264", "h.264", "avc", "avc1", "x264")),
    "vp8": ("VP8", ("vp8", "libvpx")),
    "mpeg4": ("MPEG-4 Part 2 (DivX, Xvid)", ("mpeg4", "xvid", "divx", "msmpeg4v3", "msmpeg4")),
    "mpeg2": ("MPEG-2", ("mpeg2video", "mpeg2")),
    "vc1": ("VC-1 / WMV", ("vc1", "wmv3", "wmv2", "wmv1")),
}
DEFAULT_CODEC_ORDER = ("av1", "hevc", "vp9", "h264")
_FAMILY_OF_NAME = {
    alias: family for family, (_label, aliases) in CODEC_FAMILIES.items() for alias in aliases
}


def codec_family(codec: str | None) -> str | None:
    """The family of a codec name as Stash records it ("h265" -> "hevc"); None if unknown."""
    return _FAMILY_OF_NAME.get((codec or "").strip().lower())


@dataclass(frozen=True)
class KeeperContext:
    """What rules know beyond the file itself.

    `picture_pixels`: for videos whose frames were sampled, the pixels of the picture inside
    black bars, so a letterboxed 1920x1080 copy of a 1440x1080 film does not outrank a true
    1920x1080 one. Files not in it count their whole frame. `codec_order`: codec families,
    best first (`CODEC_FAMILIES`).
    """

    preferred_folders: Sequence[str] = ()
    picture_pixels: Mapping[int, int] = field(default_factory=dict)
    codec_order: Sequence[str] = DEFAULT_CODEC_ORDER


Score = Callable[[MediaFile, KeeperContext], float]


@dataclass(frozen=True)
class KeeperRule:
    name: str
    label: str
    score: Score
    tolerance: float = 0.0  # scores within this fraction of the best count as the best


def _metadata_richness(file: MediaFile) -> float:
    return float(sum(item.richness for item in file.items))


def _best_of_items(value: Callable[[SceneInfo], float]) -> Score:
    """A rule's score from the file's Stash items: the best of them (a file may be in several)."""
    return lambda file, _: max((float(value(item)) for item in file.items), default=0.0)


def _gallery_count(file: MediaFile, _: KeeperContext) -> float:
    return float(len({gallery for item in file.items for gallery in item.gallery_ids}))


def _picture_pixels(file: MediaFile, context: KeeperContext) -> float:
    return float(context.picture_pixels.get(file.file_id, file.pixels))


def _bits_per_pixel(file: MediaFile, context: KeeperContext) -> float:
    """Bits per pixel per frame: bit rate normalised for picture size and frame rate."""
    pixels = _picture_pixels(file, context)
    if not file.bit_rate or not file.frame_rate or not pixels:
        return 0.0
    return file.bit_rate / (pixels * file.frame_rate)


def _codec_rank(file: MediaFile, context: KeeperContext) -> float:
    """Earlier codec families in the order score higher; others (older, unknown) score 0."""
    family = codec_family(file.video_codec)
    order = list(context.codec_order)
    return float(len(order) - order.index(family)) if family in order else 0.0


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
        # Within 10% is the same encode as far as a bit rate can tell: container overhead, an
        # extra audio track, a remux. Past that tie the metadata rules decide (DEFAULT_RULES).
        KeeperRule(
            "highest_bit_rate",
            "Highest bit rate (within 10%)",
            lambda f, _: f.bit_rate or 0,
            tolerance=0.1,
        ),
        KeeperRule(
            "highest_bits_per_pixel",
            "Most bits per pixel (within 10%)",
            _bits_per_pixel,
            tolerance=0.1,
        ),
        KeeperRule("preferred_codec", "Preferred codec", _codec_rank),
        KeeperRule("largest_file", "Largest file", lambda f, _: f.size),
        KeeperRule("longest_duration", "Longest duration", lambda f, _: f.duration or 0),
        KeeperRule("highest_frame_rate", "Highest frame rate", lambda f, _: f.frame_rate or 0),
        KeeperRule("highest_rating", "Highest rating", _best_of_items(lambda i: i.rating or 0)),
        KeeperRule("organized", "Organized in Stash", _best_of_items(lambda i: i.organized)),
        KeeperRule("most_o_count", "Highest O count", _best_of_items(lambda i: i.o_count)),
        KeeperRule(
            "has_stash_id", "Has a StashDB id", _best_of_items(lambda i: i.stash_id_count > 0)
        ),
        KeeperRule("most_plays", "Most plays", _best_of_items(lambda i: i.play_count)),
        KeeperRule("most_galleries", "In most galleries", _gallery_count),
        KeeperRule(
            "most_performers", "Most performers", _best_of_items(lambda i: i.performer_count)
        ),
        KeeperRule("most_tags", "Most tags", _best_of_items(lambda i: i.tag_count)),
        KeeperRule("most_markers", "Most markers", _best_of_items(lambda i: i.marker_count)),
        KeeperRule("preferred_folders", "In a preferred folder", _in_preferred_folder),
        KeeperRule(
            "richest_metadata",
            "Most tags, performers, markers and plays (together)",
            lambda f, _: _metadata_richness(f),
        ),
        KeeperRule("oldest", "Oldest file", lambda f, _: -(f.mod_time_epoch or float("inf"))),
        KeeperRule("newest", "Newest file", lambda f, _: f.mod_time_epoch or 0),
        KeeperRule("shortest_path", "Shortest path", lambda f, _: -len(f.path)),
    )
}

# Quality first, then the user's own work in Stash, then the tie-breakers.
#
# Resolution (within 1%) and bit rate (within 10%) say whether two copies are of the same
# quality; only a real difference there outranks metadata. Where they tie, a copy the user
# rated, organized, finished (O count), matched to StashDB, watched, or put in galleries,
# tags and performers is the one they would keep: the bare copy next to it is the duplicate
# (Stash's metadata lives on the scene or image, so keeping the bare file's item leaves the
# rated item behind with no file). Where quality does differ, the better bare copy is kept
# and the rated one is protected instead (`protections`): never suggested for removal, with
# "Merge into keeper" to move its metadata over. Then codec (a newer codec at the same bit
# rate is the better picture), file size, the user's preferred folders, and the oldest file
# (most likely the original).
DEFAULT_RULES = (
    "highest_resolution",
    "highest_bit_rate",
    "highest_rating",
    "organized",
    "most_o_count",
    "has_stash_id",
    "most_plays",
    "most_galleries",
    "most_performers",
    "most_tags",
    "most_markers",
    "preferred_codec",
    "largest_file",
    "preferred_folders",
    "oldest",
)

# The default before the metadata rules existed: a settings file holding exactly this list
# never chose it, so it moves to DEFAULT_RULES (`settings.load_settings`).
PREVIOUS_DEFAULT_RULES = (
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


def check_codec_order(families: Sequence[str]) -> list[str]:
    """Validate a codec order from settings: known families, each at most once."""
    from stash_dedupe.errors import AppError

    unknown = [name for name in families if name not in CODEC_FAMILIES]
    if unknown:
        raise AppError(
            f"Unknown codec(s) in the codec order (codec_order): {', '.join(unknown)}."
            f" Known: {', '.join(CODEC_FAMILIES)}."
        )
    repeated = sorted({name for name in families if list(families).count(name) > 1})
    if repeated:
        raise AppError(f"The codec order (codec_order) lists {', '.join(repeated)} more than once.")
    return list(families)


def suggest_keeper(
    files: Sequence[MediaFile],
    rule_names: Sequence[str] = DEFAULT_RULES,
    preferred_folders: Sequence[str] = (),
    picture_pixels: Mapping[int, int] | None = None,
    codec_order: Sequence[str] = DEFAULT_CODEC_ORDER,
) -> MediaFile:
    """The file to keep: the best by the first rule, ties broken by the next, then by id."""
    if not files:
        raise ValueError("a group has at least one file")
    context = KeeperContext(preferred_folders, picture_pixels or {}, codec_order)
    candidates = list(files)
    for name in rule_names:
        rule = RULES[name]
        scores = [rule.score(file, context) for file in candidates]
        best = max(scores)
        # (No tolerance: the best itself, which also holds when it is -inf, e.g. "oldest"
        # among files without a mod time, where -inf - inf * 0 would be NaN.)
        good_enough = best - abs(best) * rule.tolerance if rule.tolerance else best
        candidates = [
            file for file, score in zip(candidates, scores, strict=True) if score >= good_enough
        ]
        if len(candidates) == 1:
            break
    return min(candidates, key=lambda file: file.file_id)

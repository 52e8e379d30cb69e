"""The JSON the API answers with, shaped from the domain's dataclasses in one place."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from stash_dedupe.dedupe.autoresolve import AutoPreview
from stash_dedupe.dedupe.dismissals import Dismissal
from stash_dedupe.dedupe.grouping import DuplicateGroup
from stash_dedupe.dedupe.identical import IdenticalPreview, is_byte_identical
from stash_dedupe.dedupe.overlap_pairs import OverlapPair
from stash_dedupe.dedupe.protections import MetadataLoss, Protection
from stash_dedupe.dedupe.session import LibrarySession
from stash_dedupe.jobs import Job
from stash_dedupe.media.backfill import BackfillReport
from stash_dedupe.media.frame_results import GroupComparison
from stash_dedupe.models import MediaFile


def file_json(file: MediaFile) -> dict[str, Any]:
    data = dataclasses.asdict(file)
    data["name"] = os.path.basename(file.path)
    data["folder"] = os.path.dirname(file.path)
    return data


def group_summary_json(group: DuplicateGroup) -> dict[str, Any]:
    return {
        "id": group.group_id,
        "kind": group.kind,
        "media": group.media,
        "count": len(group.files),
        "total_size": group.total_size,
        "reclaimable": group.reclaimable,
        "max_distance": group.max_distance,
        "suspicious": group.suspicious,
        "first_path": group.files[0].path,
        "present_count": group.present_count,
        "missing_count": len(group.missing_ids),
        "resolvable": group.resolvable,
        "byte_identical": is_byte_identical(group),
    }


# Files of one group in one answer: a group of thousands is read a page at a time.
GROUP_FILES_PAGE = 200


def group_detail_json(
    session: LibrarySession, group: DuplicateGroup, offset: int = 0, limit: int = GROUP_FILES_PAGE
) -> dict[str, Any]:
    """A group with the files from `offset` (at most `limit`, largest first); `count` is the
    number of files in the group, `files_offset` where these start. `keeper_id` and
    `suggested_remove` are the suggestion its `reclaimable` counts (the session chose the
    keeper: see `reviewed_group`); each file the suggestion leaves alone says why
    (`protections`, `protected_folder`)."""
    keeper = group.keeper
    protections = session.protections(group, keeper)
    removals = {file.file_id for file in group.suggested_removals}
    files = []
    for file in group.files[offset : offset + limit]:
        entry = file_json(file)
        entry["distance"] = session.distance_to(keeper, file)
        entry["copy_of_keeper"] = group.matches(keeper, file)
        entry["present"] = file.file_id not in group.missing_ids
        entry["suggested_remove"] = file.file_id in removals
        protection = protections.get(file.file_id)
        entry["protections"] = losses_json(protection.losses if protection else ())
        entry["protected_folder"] = protection.folder if protection else None
        picture = session.picture_size(file)
        entry["picture_width"], entry["picture_height"] = picture or (None, None)
        files.append(entry)
    return {
        **group_summary_json(group),
        "keeper_id": keeper.file_id,
        "distance_limit": group.distance_limit,
        "duration_tolerance": group.duration_tolerance,
        "duration_percent": group.duration_percent,
        "files_offset": offset,
        "files": files,
    }


def overlap_json(pair: OverlapPair, detail: bool = False) -> dict[str, Any]:
    """An overlap pair: its segments (`a` the shorter file), the keeper suggested, and both
    files (briefly in the list; as cards when `detail`)."""

    def side(file: MediaFile) -> dict[str, Any]:
        if detail:
            return file_json(file)
        return {
            "file_id": file.file_id,
            "path": file.path,
            "name": os.path.basename(file.path),
            "size": file.size,
            "duration": file.duration,
            "width": file.width,
            "height": file.height,
        }

    return {
        "id": pair.group_id,
        **pair.overlap.as_json(),
        "offset": round(pair.overlap.offset, 3),
        "keeper_id": pair.keeper.file_id,
        "longer_has_more": pair.longer_has_more,
        "files": [side(pair.shorter), side(pair.longer)],
    }


def losses_json(losses: tuple[MetadataLoss, ...]) -> list[dict[str, str]]:
    """What Stash would lose with a file, as the page shows it."""
    return [{"kind": loss.kind, "text": loss.text} for loss in losses]


def protection_json(protection: Protection) -> dict[str, Any]:
    """A file and what removing it would lose (or the protected folder it lies in)."""
    return {
        "file_id": protection.file.file_id,
        "path": protection.file.path,
        "protections": losses_json(protection.losses),
        "protected_folder": protection.folder,
    }


def identical_preview_json(preview: IdenticalPreview) -> dict[str, Any]:
    """What accepting the suggestions of every byte-identical group would remove."""

    def brief(file: MediaFile) -> dict[str, Any]:
        return {"file_id": file.file_id, "path": file.path, "size": file.size}

    return {
        "bytes": preview.bytes,
        "groups": [
            {
                "group_id": group.group_id,
                "keeper": brief(group.keeper),
                "remove": [brief(file) for file in group.suggested_removals],
            }
            for group in preview.groups
        ],
        "plan": preview.plan().to_json(),
    }


def dismissal_json(dismissal: Dismissal) -> dict[str, Any]:
    return dataclasses.asdict(dismissal)


def comparison_json(comparison: GroupComparison) -> dict[str, Any]:
    """Scores and how many frames each file has; the frames themselves are separate JPEGs."""
    return {
        "keeper_index": comparison.keeper_index,
        "positions": list(comparison.positions),
        "files": [
            {
                "path": file.path,
                "error": file.error,
                "score": file.score,
                "column_scores": list(file.column_scores),
                "offset_seconds": file.offset_seconds,
                "frame_count": len(file.frames.strip) if file.frames else 0,
                "has_bars": bool(file.frames and file.frames.has_bars),
                "frame_size": [file.frames.width, file.frames.height] if file.frames else None,
                "picture_size": (  # even, as video sizes are: bar edges are found to a pixel
                    [
                        2 * round(side / 2)
                        for side in (file.frames.crop.width, file.frames.crop.height)
                    ]
                    if file.frames
                    else None
                ),
            }
            for file in comparison.files
        ],
    }


def auto_preview_json(preview: AutoPreview) -> dict[str, Any]:
    def brief(file: MediaFile) -> dict[str, Any]:
        return {"file_id": file.file_id, "path": file.path, "size": file.size}

    return {
        "threshold": preview.threshold,
        "bytes": preview.bytes,
        "resolved": [
            {
                "group_id": resolution.group_id,
                "keeper": brief(resolution.keeper),
                "remove": [
                    {**brief(file), "score": resolution.scores.get(file.file_id)}
                    for file in resolution.remove
                ],
                "protected": [
                    {**brief(protection.file), "reason": protection.reason}
                    for protection in resolution.protected
                ],
            }
            for resolution in preview.resolved
        ],
        "unresolved": [dataclasses.asdict(unresolved) for unresolved in preview.unresolved],
        "plan": preview.plan().to_json(),
    }


def backfill_summary_json(report: BackfillReport) -> dict[str, int]:
    return {"hashed": report.hashed, "failed": len(report.failed)}


def job_json(job: Job) -> dict[str, Any]:
    """A job's progress, with its result once finished when the result has a JSON shape."""
    data = dataclasses.asdict(job.progress())
    result = job.result if job.finished else None
    if isinstance(result, GroupComparison):
        data["result"] = comparison_json(result)
    elif isinstance(result, AutoPreview):
        data["result"] = auto_preview_json(result)
    else:
        data["result"] = result if _is_json(result) else None
    return data


def _is_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True

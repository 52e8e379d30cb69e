"""Groups as rows to export (CSV or JSON): one row per file, with the suggestion's mark.

The same rows serve the page's download and the CLI (`groups --csv`), written one group at
a time so a million files never sit in memory as one document.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from stash_dedupe.dedupe.grouping import DuplicateGroup, distance

EXPORT_COLUMNS = (
    "group_id",
    "file_id",
    "path",
    "size",
    "distance_to_keeper",
    "suggested_mark",
    "present",
)
KEEP, REMOVE = "keep", "remove"


def file_rows(group: DuplicateGroup) -> Iterator[dict[str, Any]]:
    """One row per file of the group: `suggested_mark` is what the suggestion marks it (a
    missing file is kept: it cannot be removed); `distance_to_keeper` is None without phash."""
    keeper = group.keeper
    removals = {file.file_id for file in group.suggested_removals}
    for file in group.files:
        yield {
            "group_id": group.group_id,
            "file_id": file.file_id,
            "path": file.path,
            "size": file.size,
            "distance_to_keeper": (
                distance(keeper.phash, file.phash) if keeper.phash and file.phash else None
            ),
            "suggested_mark": REMOVE if file.file_id in removals else KEEP,
            "present": file.file_id not in group.missing_ids,
        }


def group_document(group: DuplicateGroup) -> dict[str, Any]:
    """A group as one JSON object of the export."""
    return {
        "group_id": group.group_id,
        "kind": group.kind,
        "media": group.media,
        "keeper_id": group.keeper.file_id,
        "max_distance": group.max_distance,
        "total_size": group.total_size,
        "reclaimable": group.reclaimable,
        "files": [
            {key: value for key, value in row.items() if key != "group_id"}
            for row in file_rows(group)
        ],
    }


def write_csv(groups: Iterable[DuplicateGroup], output: TextIO) -> None:
    """Write a header and one row per file, group by group."""
    writer = csv.DictWriter(output, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for group in groups:
        for row in file_rows(group):
            writer.writerow({**row, "distance_to_keeper": _blank_if_none(row)})


def _blank_if_none(row: dict[str, Any]) -> object:
    value = row["distance_to_keeper"]
    return "" if value is None else value

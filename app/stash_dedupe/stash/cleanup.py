"""Telling Stash about files a removal batch took away: destroy emptied scenes and images,
then clean the removed files' folders.

Apart from `sync`, which finds the removed files in the journal, because these rules need
only Stash's own ids and paths: they are tested against a fake Stash with no library, journal
or session. The safety rules (Stash deletes no file, a clean stays in its folders) are
checked here, just before sending, so no caller can skip them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stash_dedupe.errors import RefusedError
from stash_dedupe.jobs import Progress
from stash_dedupe.models import IMAGE, VIDEO
from stash_dedupe.stash.api import StashClient
from stash_dedupe.stash.documents import (
    IMAGES_DESTROY_MUTATION,
    METADATA_CLEAN_MUTATION,
    SCENES_DESTROY_MUTATION,
)
from stash_dedupe.stash.errors import StashError

if TYPE_CHECKING:
    from stash_dedupe.models import MediaFile
    from stash_dedupe.removal.execute import RemovedFile

DESTROY_SCENES, DESTROY_IMAGES, CLEAN = "destroy_scenes", "destroy_images", "clean"
_OPERATION_DOCUMENTS = {
    DESTROY_SCENES: SCENES_DESTROY_MUTATION,
    DESTROY_IMAGES: IMAGES_DESTROY_MUTATION,
    CLEAN: METADATA_CLEAN_MUTATION,
}


@dataclass(frozen=True)
class Operation:
    """One request to Stash, planned first so the user sees exactly what will be sent.

    The document comes from `kind`, so an operation can only ever send one of the app's own.
    """

    kind: str
    summary: str
    variables: Mapping[str, Any]

    @property
    def document(self) -> str:
        return _OPERATION_DOCUMENTS[self.kind]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "summary": self.summary,
            "document": self.document,
            "variables": self.variables,
        }


def plan_operations(
    removed: Iterable[RemovedFile], library: Mapping[int, MediaFile]
) -> list[Operation]:
    """What to tell Stash after a removal batch; nothing is sent.

    Scenes and images whose every file was removed are destroyed (`delete_file: false`:
    the files are already gone, Stash must not delete anything else; their generated
    previews go). Stash's Clean task then drops the removed files' records; it only takes
    folders, so it is limited to the removed files' folders (Stash also visits their
    subfolders). Paths are Stash's own (`MediaFile.stash_path`), so no mapping is needed.
    Files no longer in `library` are left out: Stash no longer lists them.
    """
    files = [
        library[file_id]
        for file_id in sorted({item.file_id for item in removed})
        if file_id in library
    ]
    removed_per_item: Counter[tuple[str, int]] = Counter()
    file_count: dict[tuple[str, int], int] = {}
    for file in files:
        for item in file.items:
            removed_per_item[(file.media, item.item_id)] += 1
            file_count[(file.media, item.item_id)] = item.file_count
    emptied = [key for key, count in removed_per_item.items() if count >= file_count[key]]
    scene_ids = sorted(item_id for media, item_id in emptied if media == VIDEO)
    image_ids = sorted(item_id for media, item_id in emptied if media == IMAGE)
    folders = _outermost_folders(
        {_parent_folder(file.stash_path) for file in files if file.zip_file_id is None}
    )
    operations = []
    if scene_ids:
        operations.append(_destroy(DESTROY_SCENES, "scene", scene_ids, "generated previews"))
    if image_ids:
        operations.append(_destroy(DESTROY_IMAGES, "image", image_ids, "thumbnails"))
    if folders:
        summary = (
            f"Run Stash's Clean task on {_count(len(folders), 'folder')} (and subfolders): "
            "it forgets files that are no longer on disk"
        )
        operations.append(Operation(CLEAN, summary, {"input": {"paths": folders, "dryRun": False}}))
    return operations


def apply_operations(
    client: StashClient, operations: Sequence[Operation], progress: Progress | None = None
) -> list[str]:
    """Send planned operations in order; one line per operation says what Stash did.

    All are checked before any is sent: a destroy that would delete files, or a clean
    without folders (Stash would clean the whole library), is refused.
    """
    for operation in operations:
        _check_operation(operation)
    outcomes: list[str] = []
    for number, operation in enumerate(operations, start=1):
        try:
            data = client.query(operation.document, operation.variables)
        except StashError as error:
            raise type(error)(
                f"Step {number} of {len(operations)} ({operation.kind}) failed: {error.message}"
            ) from error
        outcomes.append(_outcome(operation, data))
        if progress:
            progress(number, len(operations), outcomes[-1])
    return outcomes


def _parent_folder(stash_path: str) -> str:
    """The folder Stash stores a file in, with the Stash host's separator (see join_stash_path)."""
    separator = "\\" if "\\" in stash_path and "/" not in stash_path else "/"
    folder = stash_path.rsplit(separator, 1)[0]
    return folder or separator


def _outermost_folders(folders: Iterable[str]) -> list[str]:
    """Drop folders inside another listed one: Stash's clean of a folder covers subfolders."""
    kept: list[str] = []
    for folder in sorted(folders):
        if not any(_is_inside(folder, outer) for outer in kept):
            kept.append(folder)
    return kept


def _is_inside(folder: str, outer: str) -> bool:
    base = outer.rstrip("/\\")
    return folder == outer or folder.startswith((base + "/", base + "\\"))


def _destroy(kind: str, noun: str, item_ids: list[int], generated: str) -> Operation:
    summary = (
        f"Delete {_count(len(item_ids), noun)} whose only file was removed from Stash's "
        f"library (no file is deleted; their {generated} are)"
    )
    ids = [str(item_id) for item_id in item_ids]
    return Operation(
        kind, summary, {"input": {"ids": ids, "delete_file": False, "delete_generated": True}}
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _check_operation(operation: Operation) -> None:
    """Safety rules no caller can skip: Stash deletes no file, and clean stays in its folders."""
    if operation.kind not in _OPERATION_DOCUMENTS:
        raise RefusedError(f"Unknown Stash operation {operation.kind!r}.")
    given = operation.variables.get("input")
    if not isinstance(given, dict):
        raise RefusedError(f"The {operation.kind} operation has no input.")
    if operation.kind in (DESTROY_SCENES, DESTROY_IMAGES):
        if given.get("delete_file") is not False:
            raise RefusedError("Refused: Stash must not delete files when records are destroyed.")
        if not given.get("ids"):
            raise RefusedError(f"The {operation.kind} operation names no ids.")
    else:
        paths = given.get("paths")
        if not paths or not all(isinstance(path, str) and path for path in paths):
            raise RefusedError("Refused: a clean without folders would clean the whole library.")


def _outcome(operation: Operation, data: dict[str, Any]) -> str:
    if operation.kind == CLEAN:
        return f"Stash started its Clean task (job {data.get('metadataClean')})."
    count = len(operation.variables["input"]["ids"])
    noun = "scene" if operation.kind == DESTROY_SCENES else "image"
    return f"Stash deleted {_count(count, noun)} from its library."

"""Writing the phashes the app computed back to Stash as file fingerprints, in batches.

The checks live here, next to the requests they guard: a phash is sent only for a file that
Stash still has with the size and mod time it was hashed at, and that has no phash in Stash
yet (Stash's own is kept). `sync` picks which cached phashes to offer; this module needs
only the client, so it is tested against a fake Stash alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stash_dedupe.jobs import Progress
from stash_dedupe.stash.api import StashClient, error_messages
from stash_dedupe.stash.documents import FIND_FILE_QUERY, FIND_FILES_QUERY, set_phashes_document
from stash_dedupe.stash.errors import StashQueryError
from stash_dedupe.stash.reader import parse_stash_time

DEFAULT_PHASH_BATCH = 50
MAX_PHASH_BATCH = 200


@dataclass(frozen=True)
class PhashWrite:
    """A phash the app computed for a Stash file, with the file's size and mod time (Stash's
    RFC 3339 text) as they were when it was hashed."""

    file_id: int
    phash: str
    size: int
    mod_time: str | None


@dataclass(frozen=True)
class SkippedWrite:
    file_id: int
    reason: str


@dataclass(frozen=True)
class PhashWriteResult:
    """`skipped` were not sent (changed, gone, already set); `failed` were refused by Stash."""

    written: tuple[int, ...]
    skipped: tuple[SkippedWrite, ...]
    failed: tuple[SkippedWrite, ...]


def write_phashes(
    client: StashClient,
    items: Sequence[PhashWrite],
    batch_size: int = DEFAULT_PHASH_BATCH,
    progress: Progress | None = None,
) -> PhashWriteResult:
    """Set the app's phashes as Stash file fingerprints, a batch per request.

    Before each batch, Stash's current size and mod time of the files are compared with
    those the phash was computed from; a file that changed, is gone, or already has a
    phash in Stash (Stash's own is kept) is skipped. Needs Stash 0.29+ (`findFiles`).
    """
    batch_size = max(1, min(batch_size, MAX_PHASH_BATCH))
    skipped: list[SkippedWrite] = []
    failed: list[SkippedWrite] = []
    written: list[int] = []
    pending: dict[int, PhashWrite] = {}
    for item in items:
        if not _is_phash(item.phash):
            skipped.append(SkippedWrite(item.file_id, f"{item.phash!r} is not a phash"))
        else:
            pending.setdefault(item.file_id, item)
    batches = list(pending.values())
    total, done = len(batches) + len(skipped), len(skipped)
    for start in range(0, len(batches), batch_size):
        batch = batches[start : start + batch_size]
        current = _current_files(client, [item.file_id for item in batch])
        to_send = []
        for item in batch:
            reason = _stale_reason(item, current.get(item.file_id))
            if reason:
                skipped.append(SkippedWrite(item.file_id, reason))
            else:
                to_send.append(item)
        if to_send:
            sent_ok, refused = _send_phashes(client, to_send)
            written.extend(sent_ok)
            failed.extend(refused)
        done += len(batch)
        if progress:
            progress(done, total, f"{len(written)} of {total} phashes written to Stash")
    return PhashWriteResult(tuple(written), tuple(skipped), tuple(failed))


def _current_files(client: StashClient, file_ids: list[int]) -> dict[int, dict[str, Any] | str]:
    """Stash's current facts per file id, or the reason it could not say.

    `findFiles(ids:)` fails as a whole when one id is unknown, so then each is asked alone.
    """
    try:
        data = client.query(FIND_FILES_QUERY, {"ids": [str(i) for i in file_ids]})
        return {int(file["id"]): file for file in data["findFiles"]["files"]}
    except StashQueryError:
        pass
    current: dict[int, dict[str, Any] | str] = {}
    for file_id in file_ids:
        try:
            current[file_id] = client.query(FIND_FILE_QUERY, {"id": str(file_id)})["findFile"]
        except StashQueryError as error:
            current[file_id] = f"Stash could not find this file ({error.message})"
    return current


def _send_phashes(
    client: StashClient, items: list[PhashWrite]
) -> tuple[list[int], list[SkippedWrite]]:
    """Send one batch; refusals are told apart by the alias in each error's path.

    One refused field nulls the whole `data` (the fields are non-null), so then the others
    are read back: Stash (gqlgen) runs every field, but a server that stopped at the first
    error must not have its unsent phashes reported as written.
    """
    variables = {
        f"input{n}": {
            "id": str(item.file_id),
            "fingerprints": [{"type": "phash", "value": item.phash}],
        }
        for n, item in enumerate(items)
    }
    payload = client.request(set_phashes_document(len(items)), variables)
    refused: dict[int, str] = {}
    for error in payload.get("errors") or []:
        path = error.get("path") or []
        alias = str(path[0]) if path else ""
        if not alias.startswith("set") or not alias[3:].isdigit():
            raise StashQueryError(f"Stash reported an error: {error_messages([error])}")
        refused[int(alias[3:])] = f"Stash refused it: {error_messages([error])}"
    if refused:
        others = [n for n in range(len(items)) if n not in refused]
        current = _current_files(client, [items[n].file_id for n in others]) if others else {}
        for n in others:
            if not _has_phash(current.get(items[n].file_id), items[n].phash):
                refused[n] = "Stash did not confirm that it was written"
    written = [item.file_id for n, item in enumerate(items) if n not in refused]
    failed = [SkippedWrite(items[n].file_id, reason) for n, reason in sorted(refused.items())]
    return written, failed


def _is_phash(value: str) -> bool:
    return len(value) == 16 and all(ch in "0123456789abcdef" for ch in value)


def _stale_reason(item: PhashWrite, current: dict[str, Any] | str | None) -> str | None:
    """Why this phash must not be written now, or None when the file is as it was hashed."""
    if current is None:
        return "Stash no longer has this file"
    if isinstance(current, str):
        return current
    if int(current["size"]) != item.size:
        return f"its size changed since it was hashed ({item.size} → {current['size']} bytes)"
    hashed_at, now = parse_stash_time(item.mod_time), parse_stash_time(current["mod_time"])
    if hashed_at is None or now is None:
        return "its mod time cannot be compared with the one it was hashed at"
    if abs(hashed_at - now) > 0.001:
        return "it was modified since it was hashed"
    if current.get("phash"):
        if _has_phash(current, item.phash):
            return "Stash already has this phash"
        return "Stash already has its own phash for it (kept)"
    return None


def _has_phash(current: dict[str, Any] | str | None, phash: str) -> bool:
    """Whether Stash's file has this phash; Stash prints it as unpadded hex, so compare numbers."""
    if not isinstance(current, dict) or not current.get("phash"):
        return False
    return int(current["phash"], 16) == int(phash, 16)

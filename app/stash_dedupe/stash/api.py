"""Keep a running Stash in step with what the app did, through Stash's own GraphQL API.

Optional: the app works without it, and it never touches Stash's SQLite file. It tests the
connection, tells Stash about removed files, merges scenes and writes backfilled phashes back.
It uses urllib, so it adds no dependency. Every document it sends is a module-level constant
(the phash batch is built from one), so the tests validate each against Stash's schema
(tests/stash_schema.graphql, written from stashapp/stash v0.30.1).
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stash_dedupe.errors import AppError, RefusedError
from stash_dedupe.models import IMAGE, VIDEO
from stash_dedupe.stash.reader import parse_stash_time

if TYPE_CHECKING:
    from stash_dedupe.models import MediaFile
    from stash_dedupe.removal.plan import RemovedFile

DEFAULT_URL = "http://localhost:9999"
DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_PHASH_BATCH = 50
MAX_PHASH_BATCH = 200
_MAX_MESSAGES = 3

Progress = Callable[[int, int, str], None]
"""Called as work goes with (done, total, message); it may raise to stop between steps."""


# Errors. Messages name the URL the user typed, never the API key.


class StashError(AppError):
    """Stash answered, but not as asked: HTTP 5xx, a refused request, or not Stash at all."""

    http_status = 502


class StashAuthError(StashError):
    """Stash wants an API key, or refused the one given."""


class StashUnreachableError(StashError):
    """Nothing answered at the URL, or not in time."""


class StashQueryError(StashError):
    """Stash ran the request and reported an error (a missing scene, a bad phash, ...)."""


# The documents the app sends.

VERSION_QUERY = """
query StashDedupeVersion {
  version {
    version
    hash
  }
}
"""

_MERGE_SCENE_FRAGMENT = """
fragment StashDedupeMergeScene on Scene {
  id
  title
  code
  details
  director
  urls
  date
  rating100
  organized
  o_counter
  play_count
  play_duration
  files { id path }
  scene_markers { id }
  galleries { id }
  studio { id name }
  groups { group { id name } scene_index }
  tags { id name }
  performers { id name }
  stash_ids { endpoint stash_id updated_at }
}
"""

FIND_SCENES_QUERY = (
    """
query StashDedupeFindScenes($ids: [ID!]) {
  findScenes(ids: $ids) {
    scenes { ...StashDedupeMergeScene }
  }
}
"""
    + _MERGE_SCENE_FRAGMENT
)

SCENE_MERGE_MUTATION = (
    """
mutation StashDedupeSceneMerge($input: SceneMergeInput!) {
  sceneMerge(input: $input) { ...StashDedupeMergeScene }
}
"""
    + _MERGE_SCENE_FRAGMENT
)

SCENES_DESTROY_MUTATION = """
mutation StashDedupeScenesDestroy($input: ScenesDestroyInput!) {
  scenesDestroy(input: $input)
}
"""

IMAGES_DESTROY_MUTATION = """
mutation StashDedupeImagesDestroy($input: ImagesDestroyInput!) {
  imagesDestroy(input: $input)
}
"""

METADATA_CLEAN_MUTATION = """
mutation StashDedupeClean($input: CleanMetadataInput!) {
  metadataClean(input: $input)
}
"""

FIND_FILES_QUERY = """
query StashDedupeFindFiles($ids: [ID!]) {
  findFiles(ids: $ids) {
    files { id size mod_time phash: fingerprint(type: "phash") }
  }
}
"""

FIND_FILE_QUERY = """
query StashDedupeFindFile($id: ID) {
  findFile(id: $id) { id size mod_time phash: fingerprint(type: "phash") }
}
"""

SET_PHASH_MUTATION_FIELD = "set{n}: fileSetFingerprints(input: $input{n})"
"""One aliased field of the phash batch; see `set_phashes_document`."""


def set_phashes_document(count: int) -> str:
    """One mutation setting `count` phashes (aliases set0, set1, ...): a batch is one request."""
    variables = ", ".join(f"$input{n}: FileSetFingerprintsInput!" for n in range(count))
    fields = "\n  ".join(SET_PHASH_MUTATION_FIELD.format(n=n) for n in range(count))
    return f"mutation StashDedupeSetPhashes({variables}) {{\n  {fields}\n}}\n"


# Plain data in and out.

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


@dataclass(frozen=True)
class SceneSummary:
    """What a scene holds that a merge must not lose, as shown in the merge preview."""

    scene_id: int
    title: str
    date: str | None
    studio: str | None
    file_paths: tuple[str, ...]
    tags: tuple[str, ...]
    performers: tuple[str, ...]
    groups: tuple[str, ...]
    gallery_count: int
    marker_count: int
    play_count: int
    o_count: int
    stash_ids: tuple[str, ...]


@dataclass(frozen=True)
class MergePreview:
    """The keeper's scene, the scenes merged into it, and the keeper as it will be after.

    `dropped_stash_ids` are sources' stash ids for a stash-box the keeper (or an earlier
    source) already has an id for: Stash keeps one per stash-box, so they cannot be kept.
    """

    keeper: SceneSummary
    sources: tuple[SceneSummary, ...]
    merged: SceneSummary
    dropped_stash_ids: tuple[str, ...]
    variables: Mapping[str, Any]


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


# The client.


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are reported, not followed: urllib would resend the API key to the new host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class StashClient:
    """A connection to one Stash server. Cheap to create; each call is one or a few requests.

    Environment proxies are ignored on purpose: Stash is the user's own server, usually on
    this machine or the LAN, and the API key should not travel through a proxy.
    """

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str = "", timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.url = normalize_url(url)
        self.endpoint = self.url + "/graphql"
        self.timeout = timeout
        self._api_key = api_key.strip()
        if not all("!" <= ch <= "~" for ch in self._api_key):
            # http.client would refuse it mid-request (or let a newline split the header).
            raise StashError("The API key has characters no Stash API key has: paste it again.")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def __repr__(self) -> str:
        return f"StashClient({self.url!r}, api_key={'set' if self._api_key else 'not set'})"

    # ---- connection ------------------------------------------------------------------

    def version(self) -> str:
        """Stash's version, e.g. "v0.30.1": what "Test connection" shows when it works."""
        info = self._query(VERSION_QUERY).get("version") or {}
        return info.get("version") or f"development build {info.get('hash') or '(unknown)'}"

    # ---- after a removal -------------------------------------------------------------

    @staticmethod
    def plan_cleanup(
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
            operations.append(
                Operation(CLEAN, summary, {"input": {"paths": folders, "dryRun": False}})
            )
        return operations

    def apply(self, operations: Sequence[Operation], progress: Progress | None = None) -> list[str]:
        """Send planned operations in order; one line per operation says what Stash did.

        All are checked before any is sent: a destroy that would delete files, or a clean
        without folders (Stash would clean the whole library), is refused.
        """
        for operation in operations:
            _check_operation(operation)
        outcomes: list[str] = []
        for number, operation in enumerate(operations, start=1):
            try:
                data = self._query(operation.document, operation.variables)
            except StashError as error:
                raise type(error)(
                    f"Step {number} of {len(operations)} ({operation.kind}) failed: {error.message}"
                ) from error
            outcomes.append(_outcome(operation, data))
            if progress:
                progress(number, len(operations), outcomes[-1])
        return outcomes

    # ---- merge -----------------------------------------------------------------------

    def plan_merge(self, keeper_scene_id: int, source_scene_ids: Sequence[int]) -> MergePreview:
        """Read the scenes and show the keeper as it will be after merging the others into it.

        Lists (tags, performers, galleries, groups, URLs, stash ids) become their union;
        the keeper's own title, date, studio, ... win and empty ones are filled from the
        sources in order; markers, files and play/O history move with Stash's merge itself.
        """
        sources = _checked_sources(keeper_scene_id, source_scene_ids)
        wanted = [keeper_scene_id, *sources]
        data = self._query(FIND_SCENES_QUERY, {"ids": [str(i) for i in wanted]})
        found = {int(scene["id"]): scene for scene in data["findScenes"]["scenes"]}
        missing = [scene_id for scene_id in wanted if scene_id not in found]
        if missing:
            raise StashQueryError(f"Stash has no scene {', '.join(map(str, missing))}.")
        keeper, others = found[keeper_scene_id], [found[i] for i in sources]
        merged, dropped = _merged_scene(keeper, others)
        variables = {
            "input": {
                "source": [str(i) for i in sources],
                "destination": str(keeper_scene_id),
                "values": _update_values(merged),
                "play_history": True,
                "o_history": True,
            }
        }
        return MergePreview(
            _summary(keeper),
            tuple(_summary(s) for s in others),
            _summary(merged),
            tuple(dropped),
            variables,
        )

    def merge(self, keeper_scene_id: int, source_scene_ids: Sequence[int]) -> SceneSummary:
        """Merge the sources into the keeper's scene; returns the keeper as Stash now has it.

        The scenes are read again first, so nothing changed in Stash since the preview is
        lost. Stash moves the sources' files and markers, adds their play/O history and
        destroys the source scenes; it deletes no file.
        """
        preview = self.plan_merge(keeper_scene_id, source_scene_ids)
        scene = self._query(SCENE_MERGE_MUTATION, preview.variables).get("sceneMerge")
        if not scene:
            raise StashQueryError(f"Stash did not return scene {keeper_scene_id} after merging.")
        return _summary(scene)

    # ---- phash write-back ------------------------------------------------------------

    def write_phashes(
        self,
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
            current = self._current_files([item.file_id for item in batch])
            to_send = []
            for item in batch:
                reason = _stale_reason(item, current.get(item.file_id))
                if reason:
                    skipped.append(SkippedWrite(item.file_id, reason))
                else:
                    to_send.append(item)
            if to_send:
                sent_ok, refused = self._send_phashes(to_send)
                written.extend(sent_ok)
                failed.extend(refused)
            done += len(batch)
            if progress:
                progress(done, total, f"{len(written)} of {total} phashes written to Stash")
        return PhashWriteResult(tuple(written), tuple(skipped), tuple(failed))

    def _current_files(self, file_ids: list[int]) -> dict[int, dict[str, Any] | str]:
        """Stash's current facts per file id, or the reason it could not say.

        `findFiles(ids:)` fails as a whole when one id is unknown, so then each is asked alone.
        """
        try:
            data = self._query(FIND_FILES_QUERY, {"ids": [str(i) for i in file_ids]})
            return {int(file["id"]): file for file in data["findFiles"]["files"]}
        except StashQueryError:
            pass
        current: dict[int, dict[str, Any] | str] = {}
        for file_id in file_ids:
            try:
                current[file_id] = self._query(FIND_FILE_QUERY, {"id": str(file_id)})["findFile"]
            except StashQueryError as error:
                current[file_id] = f"Stash could not find this file ({error.message})"
        return current

    def _send_phashes(self, items: list[PhashWrite]) -> tuple[list[int], list[SkippedWrite]]:
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
        payload = self._request(set_phashes_document(len(items)), variables)
        refused: dict[int, str] = {}
        for error in payload.get("errors") or []:
            path = error.get("path") or []
            alias = str(path[0]) if path else ""
            if not alias.startswith("set") or not alias[3:].isdigit():
                raise StashQueryError(f"Stash reported an error: {_messages([error])}")
            refused[int(alias[3:])] = f"Stash refused it: {_messages([error])}"
        if refused:
            others = [n for n in range(len(items)) if n not in refused]
            current = self._current_files([items[n].file_id for n in others]) if others else {}
            for n in others:
                if not _has_phash(current.get(items[n].file_id), items[n].phash):
                    refused[n] = "Stash did not confirm that it was written"
        written = [item.file_id for n, item in enumerate(items) if n not in refused]
        failed = [SkippedWrite(items[n].file_id, reason) for n, reason in sorted(refused.items())]
        return written, failed

    # ---- HTTP ------------------------------------------------------------------------

    def _query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a request that must succeed as a whole."""
        payload = self._request(document, variables)
        if payload.get("errors"):
            raise StashQueryError(f"Stash reported an error: {_messages(payload['errors'])}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise StashError(f"Stash at {self.url} answered without data.")
        return data

    def _request(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one document; HTTP, network and validation failures become readable errors."""
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "stash-dedupe",
        }
        if self._api_key:
            headers["ApiKey"] = self._api_key
        request = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        location = None
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, location = error.code, error.headers.get("Location")
            raw = _read_error_body(error)
        except TimeoutError as error:
            raise self._timeout_error() from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self._timeout_error() from error
            raise self._unreachable_error(error.reason) from error
        except (OSError, http.client.HTTPException) as error:
            raise self._unreachable_error(error) from error
        return self._payload(status, raw, location)

    def _payload(self, status: int, raw: bytes, location: str | None) -> dict[str, Any]:
        text = raw.decode("utf-8", "replace")
        try:
            payload = json.loads(text) if text.strip() else None
        except ValueError:
            payload = None
        if status == 401:
            if self._api_key:
                raise StashAuthError(
                    f"Stash at {self.url} rejected the API key (HTTP 401): "
                    "copy it again from Stash's Settings → Security."
                )
            raise StashAuthError(
                f"Stash at {self.url} needs an API key (HTTP 401): copy it "
                "from Stash's Settings → Security into the app's settings."
            )
        if status == 403:
            raise StashAuthError(f"Stash at {self.url} refused access (HTTP 403){_detail(text)}.")
        if 300 <= status < 400:
            raise StashError(
                f"Stash at {self.url} redirects to {location or 'another address'}"
                ": use that address as the Stash URL."
            )
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if status == 422 and errors:
            raise StashError(
                f"Stash did not accept the request ({_messages(errors)}): it may "
                "be older than this app needs (v0.29 or newer)."
            )
        if status >= 500:
            reason = f": {_messages(errors)}" if errors else _detail(text)
            raise StashError(f"Stash at {self.url} failed (HTTP {status}){reason}.")
        if status != 200:
            raise StashError(
                f"{self.url} answered HTTP {status} at /graphql: "
                "check that this is Stash's address."
            )
        if not isinstance(payload, dict):
            raise StashError(
                f"{self.url} did not answer like Stash: check that this is Stash's address."
            )
        return payload

    def _timeout_error(self) -> StashUnreachableError:
        return StashUnreachableError(
            f"Stash at {self.url} did not answer within {self.timeout:g} s."
        )

    def _unreachable_error(self, reason: object) -> StashUnreachableError:
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        return StashUnreachableError(
            f"Cannot reach Stash at {self.url} ({reason}): is it running, and is the URL right?"
        )


def normalize_url(text: str) -> str:
    """Stash's base URL from what the user typed: `http://` added, `/` and `/graphql` dropped."""
    url = (text or "").strip()
    example = "it should look like http://localhost:9999"
    if not url:
        raise StashError(f"Set the Stash URL: {example}.")
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise StashError(f"The Stash URL is not valid: {example}.") from None
    if parts.username or parts.password:
        raise StashError(
            "Leave the user name and password out of the Stash URL: "
            "put Stash's API key in the API key field instead."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StashError(f"The Stash URL {text.strip()!r} is not an http address: {example}.")
    path = parts.path.rstrip("/")
    if path.endswith("/graphql"):
        path = path[: -len("/graphql")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# Helpers: cleanup.


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


# Helpers: merge.


def _checked_sources(keeper_scene_id: int, source_scene_ids: Sequence[int]) -> list[int]:
    sources = list(dict.fromkeys(int(i) for i in source_scene_ids))
    if not sources:
        raise RefusedError("Choose at least one scene to merge into the keeper's scene.")
    if int(keeper_scene_id) in sources:
        raise RefusedError("The keeper's scene cannot also be merged into itself.")
    return sources


_SCALARS = ("title", "code", "details", "director", "date", "rating100")


def _merged_scene(
    keeper: dict[str, Any], sources: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The keeper's scene as it will be, in the shape Stash returns, and the lost stash ids."""
    everyone = [keeper, *sources]
    merged = dict(keeper)
    for name in (*_SCALARS, "studio"):
        if not keeper.get(name):
            merged[name] = next((s[name] for s in sources if s.get(name)), keeper.get(name))
    merged["urls"] = _unique(url for scene in everyone for url in scene["urls"])
    for name in ("tags", "performers", "galleries"):
        merged[name] = _unique_by_id(item for scene in everyone for item in scene[name])
    groups: dict[str, dict[str, Any]] = {}
    for entry in (entry for scene in everyone for entry in scene["groups"]):
        groups.setdefault(entry["group"]["id"], entry)
    merged["groups"] = list(groups.values())
    merged["files"] = [file for scene in everyone for file in scene["files"]]
    merged["scene_markers"] = [marker for scene in everyone for marker in scene["scene_markers"]]
    for name in ("play_count", "o_counter", "play_duration"):
        merged[name] = sum(scene.get(name) or 0 for scene in everyone)
    kept: dict[str, dict[str, Any]] = {}
    dropped = []
    for scene in everyone:
        for stash_id in scene["stash_ids"]:
            if stash_id["endpoint"] not in kept:
                kept[stash_id["endpoint"]] = stash_id
            elif kept[stash_id["endpoint"]]["stash_id"] != stash_id["stash_id"]:
                dropped.append(_stash_id_text(stash_id))
    merged["stash_ids"] = list(kept.values())
    return merged, dropped


def _update_values(merged: dict[str, Any]) -> dict[str, Any]:
    """The `SceneUpdateInput` that makes the keeper's scene look like `merged`."""
    values: dict[str, Any] = {"id": merged["id"]}
    values.update({name: merged[name] for name in _SCALARS if merged.get(name)})
    if merged.get("studio"):
        values["studio_id"] = merged["studio"]["id"]
    values["urls"] = merged["urls"]
    values["tag_ids"] = [tag["id"] for tag in merged["tags"]]
    values["performer_ids"] = [performer["id"] for performer in merged["performers"]]
    values["gallery_ids"] = [gallery["id"] for gallery in merged["galleries"]]
    values["groups"] = [
        {"group_id": entry["group"]["id"], "scene_index": entry["scene_index"]}
        for entry in merged["groups"]
    ]
    values["stash_ids"] = [
        {"endpoint": s["endpoint"], "stash_id": s["stash_id"], "updated_at": s["updated_at"]}
        for s in merged["stash_ids"]
    ]
    if merged.get("play_duration"):
        values["play_duration"] = merged["play_duration"]
    return values


def _summary(scene: dict[str, Any]) -> SceneSummary:
    return SceneSummary(
        scene_id=int(scene["id"]),
        title=scene.get("title") or "",
        date=scene.get("date"),
        studio=(scene.get("studio") or {}).get("name"),
        file_paths=tuple(file["path"] for file in scene["files"]),
        tags=tuple(tag["name"] for tag in scene["tags"]),
        performers=tuple(performer["name"] for performer in scene["performers"]),
        groups=tuple(entry["group"]["name"] for entry in scene["groups"]),
        gallery_count=len(scene["galleries"]),
        marker_count=len(scene["scene_markers"]),
        play_count=scene.get("play_count") or 0,
        o_count=scene.get("o_counter") or 0,
        stash_ids=tuple(_stash_id_text(s) for s in scene["stash_ids"]),
    )


def _stash_id_text(stash_id: dict[str, Any]) -> str:
    return f"{stash_id['endpoint']} {stash_id['stash_id']}"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _unique_by_id(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for item in items:
        first.setdefault(item["id"], item)
    return list(first.values())


# Helpers: phash write-back.


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


# Helpers: messages.


def _messages(errors: list[Any]) -> str:
    texts = [
        " ".join(str(error.get("message", error) if isinstance(error, dict) else error).split())
        for error in errors
    ]
    more = len(texts) - _MAX_MESSAGES
    return "; ".join(texts[:_MAX_MESSAGES]) + (f" (and {more} more)" if more > 0 else "")


def _detail(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f": {line[:200]}" if line else ""


def _read_error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""

"""A stand-in for Stash's /graphql endpoint, for end-to-end tests of the Stash client.

It listens on 127.0.0.1 (a free port) in a thread, checks every request against
tests/stash_schema.graphql with graphql-core the way Stash's gqlgen would (HTTP 422 with
`errors` when a document does not validate), records what was asked, and answers from a small
in-memory library that the tests script. It can demand an API key (HTTP 401 like Stash),
fail chosen fields with a GraphQL error, refuse phashes of chosen files, stall, or answer
anything (`canned_response`) to play a broken server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, build_schema, execute_sync, parse, validate

SCHEMA_PATH = Path(__file__).with_name("stash_schema.graphql")
SCHEMA = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


@dataclass
class RecordedRequest:
    """One POST as Stash would have seen it."""

    path: str
    api_key: str | None
    query: str
    variables: dict[str, Any]
    valid: bool
    errors: list[str] = field(default_factory=list)


@dataclass
class FieldCall:
    """One root field that ran, with its arguments as Stash's resolver would get them."""

    name: str
    args: dict[str, Any]


class FakeStash:
    """Use as a context manager; `url` is what the app's settings would hold."""

    def __init__(self, api_key: str = "", version: str | None = "v0.30.1") -> None:
        self.api_key = api_key
        self.version = version
        self.scenes: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.requests: list[RecordedRequest] = []
        self.calls: list[FieldCall] = []
        self.failing_fields: dict[str, str] = {}
        self.refused_phash_files: dict[str, str] = {}
        self.stall_seconds = 0.0
        self.canned_response: tuple[int, bytes, dict[str, str]] | None = None
        self._clean_jobs = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> FakeStash:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- scripting -------------------------------------------------------------------

    def add_file(
        self,
        file_id: int,
        path: str,
        size: int = 1000,
        mod_time: str = "2024-05-01T10:00:00Z",
        phash: str | None = None,
        kind: str = "VideoFile",
    ) -> dict[str, Any]:
        file = {
            "__typename": kind,
            "id": str(file_id),
            "path": path,
            "basename": path.rsplit("/", 1)[-1],
            "mod_time": mod_time,
            "size": size,
            "duration": 60.0,
            "width": 640,
            "height": 480,
            "fingerprints": {"phash": phash} if phash else {},
        }
        self.files[file["id"]] = file
        return file

    def add_scene(
        self, scene_id: int, file_ids: Sequence[int] = (), **values: Any
    ) -> dict[str, Any]:
        scene = {
            "id": str(scene_id),
            "title": None,
            "code": None,
            "details": None,
            "director": None,
            "urls": [],
            "date": None,
            "rating100": None,
            "organized": False,
            "o_counter": 0,
            "play_count": 0,
            "play_duration": 0.0,
            "scene_markers": [],
            "galleries": [],
            "studio": None,
            "groups": [],
            "tags": [],
            "performers": [],
            "stash_ids": [],
            "file_ids": [str(i) for i in file_ids],
        }
        scene.update(values)
        self.scenes[scene["id"]] = scene
        return scene

    def fail(self, field_name: str, message: str) -> None:
        """Make every call of a root field end in a GraphQL error with this message."""
        self.failing_fields[field_name] = message

    def called(self, name: str) -> list[dict[str, Any]]:
        """The arguments of each call of a root field, in order."""
        return [call.args for call in self.calls if call.name == name]

    @property
    def invalid_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if not request.valid]

    # ---- HTTP ------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if self.stall_seconds:
            time.sleep(self.stall_seconds)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        record = RecordedRequest(
            handler.path,
            handler.headers.get("ApiKey"),
            body.get("query", ""),
            body.get("variables") or {},
            False,
        )
        document, problems = _check(record.query)
        record.valid, record.errors = not problems, problems
        with self._lock:
            self.requests.append(record)
        if self.canned_response is not None:
            status, canned_body, headers = self.canned_response
            return self._reply(handler, status, canned_body, "text/plain", headers)
        if handler.path != "/graphql":
            return self._reply(handler, 404, b"404 page not found\n", "text/plain")
        if self.api_key and record.api_key != self.api_key:
            return self._reply(handler, 401, b"", "text/plain", {"WWW-Authenticate": "FormBased"})
        if document is None or problems:
            return self._reply_json(
                handler,
                422,
                {"errors": [{"message": problem} for problem in problems], "data": None},
            )
        with self._lock:  # one request at a time, like Stash's write transactions
            result = execute_sync(
                SCHEMA, document, root_value=_Root(self), variable_values=record.variables
            )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        return self._reply_json(handler, 200, payload)

    @staticmethod
    def _reply_json(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
        FakeStash._reply(handler, status, json.dumps(payload).encode(), "application/json")

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        try:
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout test): nothing left to tell it


def _check(query: str) -> tuple[DocumentNode | None, list[str]]:
    """Parse and validate like Stash's gqlgen does before running anything."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return None, [error.message]
    return document, [problem.message for problem in validate(SCHEMA, document)]


class _Root:
    """Root resolvers: graphql-core calls a method named like the field with its arguments."""

    def __init__(self, fake: FakeStash) -> None:
        self.fake = fake

    def _call(self, name: str, args: dict[str, Any]) -> None:
        self.fake.calls.append(FieldCall(name, args))
        if name in self.fake.failing_fields:
            raise GraphQLError(self.fake.failing_fields[name])

    def _scene(self, scene_id: str) -> dict[str, Any]:
        scene = self.fake.scenes.get(scene_id)
        if scene is None:
            raise GraphQLError(f"scene with id {scene_id} not found")
        return {**scene, "files": [self._file(i) for i in scene["file_ids"]]}

    def _file(self, file_id: str) -> dict[str, Any]:
        file = self.fake.files.get(file_id)
        if file is None:
            raise GraphQLError(f"file with id {file_id} not found")
        fingerprints = file["fingerprints"]
        return {
            **file,
            "fingerprint": lambda _info, type: fingerprints.get(type),
            "fingerprints": [{"type": t, "value": v} for t, v in fingerprints.items()],
        }

    # ---- queries ---------------------------------------------------------------------

    def version(self, _info: Any) -> dict[str, Any]:
        self._call("version", {})
        return {"version": self.fake.version, "hash": "abc1234", "build_time": "2025-12-01"}

    def findScenes(self, _info: Any, ids: list[str] | None = None) -> dict[str, Any]:
        self._call("findScenes", {"ids": ids})
        scenes = [self._scene(i) for i in ids or []]
        return {"count": len(scenes), "scenes": scenes}

    def findFiles(self, _info: Any, ids: list[str] | None = None) -> dict[str, Any]:
        self._call("findFiles", {"ids": ids})
        files = [self._file(i) for i in ids or []]
        return {"count": len(files), "files": files}

    def findFile(
        self, _info: Any, id: str | None = None, path: str | None = None
    ) -> dict[str, Any]:
        self._call("findFile", {"id": id, "path": path})
        return self._file(id or "")

    # ---- mutations -------------------------------------------------------------------

    def scenesDestroy(self, _info: Any, input: dict[str, Any]) -> bool:
        self._call("scenesDestroy", input)
        for scene_id in input["ids"]:
            self._scene(scene_id)
        for scene_id in input["ids"]:
            del self.fake.scenes[scene_id]
        return True

    def imagesDestroy(self, _info: Any, input: dict[str, Any]) -> bool:
        self._call("imagesDestroy", input)
        for image_id in input["ids"]:
            self.fake.images.pop(image_id, None)
        return True

    def metadataClean(self, _info: Any, input: dict[str, Any]) -> str:
        self._call("metadataClean", input)
        self.fake._clean_jobs += 1
        return str(self.fake._clean_jobs)

    def fileSetFingerprints(self, _info: Any, input: dict[str, Any]) -> bool:
        self._call("fileSetFingerprints", input)
        file = self.fake.files.get(input["id"])
        if file is None:
            raise GraphQLError(f"file with id {input['id']} not found")
        if input["id"] in self.fake.refused_phash_files:
            raise GraphQLError(self.fake.refused_phash_files[input["id"]])
        for fingerprint in input["fingerprints"]:
            if fingerprint["type"] in ("md5", "oshash"):
                raise GraphQLError(f"cannot modify {fingerprint['type']} fingerprint")
            if fingerprint["type"] == "phash":
                # Stash parses the text as a base-16 uint64 and prints it back unpadded.
                value = int(fingerprint["value"], 16)
                if value >= 1 << 64:
                    raise GraphQLError(f"converting phash {fingerprint['value']}: out of range")
                file["fingerprints"]["phash"] = f"{value:x}"
        return True

    def sceneMerge(self, _info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._call("sceneMerge", input)
        destination = self.fake.scenes[input["destination"]]
        sources = [self._scene(i) for i in input["source"]]
        for source in sources:
            destination["file_ids"] += self.fake.scenes[source["id"]]["file_ids"]
            destination["scene_markers"] = destination["scene_markers"] + source["scene_markers"]
            if input.get("play_history"):
                destination["play_count"] += source["play_count"]
            if input.get("o_history"):
                destination["o_counter"] += source["o_counter"]
            del self.fake.scenes[source["id"]]
        values = input.get("values") or {}
        lookups = {"tag_ids": "tags", "performer_ids": "performers", "gallery_ids": "galleries"}
        known = {
            name: {item["id"]: item for scene in [destination, *sources] for item in scene[name]}
            for name in lookups.values()
        }
        for key, value in values.items():
            if key in lookups:
                destination[lookups[key]] = [known[lookups[key]][i] for i in value]
            elif key == "studio_id":
                destination["studio"] = next(
                    s["studio"] for s in sources if s["studio"] and s["studio"]["id"] == value
                )
            elif key == "groups":
                groups = {
                    entry["group"]["id"]: entry["group"]
                    for scene in [destination, *sources]
                    for entry in scene["groups"]
                }
                destination["groups"] = [
                    {"group": groups[g["group_id"]], "scene_index": g.get("scene_index")}
                    for g in value
                ]
            elif key == "stash_ids":
                destination["stash_ids"] = [
                    {**s, "updated_at": s.get("updated_at") or ""} for s in value
                ]
            elif key != "id":
                destination[key] = value
        return self._scene(destination["id"])

"""The web API and the page: a Bottle app over the domain, behind a security gate.

Routes parse input, call one domain function and return JSON; an `AppError` becomes
`{"error": message}` with its `http_status`. The gate in front of every request refuses a
Host header that is not the bound address (DNS rebinding) and any /api/ call without the
launch's random token (header `X-Token`, or `?token=` where a header cannot be set: <img>,
<video>, downloads). Files are served by Stash file id only: no parameter is a path.

Bottle's own errors (404, 405, 413, ...) are JSON too. Anything else is a bug: the gate
answers a JSON 500 with an error id and logs the traceback under that id (`errorlog`).

`serve_in_thread` runs the app on a threaded wsgiref server (Bottle's default server is
single-threaded: one slow request would freeze the window).
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import io
import ipaddress
import json
import math
import mimetypes
import os
import secrets
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import bottle

from stash_dedupe import __version__
from stash_dedupe.dedupe.autoresolve import AutoPreview, check_threshold, preview_auto_resolve
from stash_dedupe.dedupe.dismissals import Dismissal, DismissalStore
from stash_dedupe.dedupe.grouping import DuplicateGroup
from stash_dedupe.dedupe.keeper import RULES
from stash_dedupe.dedupe.session import MEDIA_NAMES, GroupFilter, LibrarySession
from stash_dedupe.errorlog import ErrorLogStream, log_path, record_unexpected
from stash_dedupe.errors import AppError, NotFoundError
from stash_dedupe.jobs import Job, JobRegistry, Progress
from stash_dedupe.media.backfill import BackfillReport
from stash_dedupe.media.frame_results import GroupComparison
from stash_dedupe.media.similarity import DEFAULT_MATCH_THRESHOLD, decode_jpeg, difference_heatmap
from stash_dedupe.models import VIDEO, MediaFile
from stash_dedupe.removal.journal import Journal, batch_actions, export_history_csv, list_batches
from stash_dedupe.removal.recovery import reconcile, undo_batch
from stash_dedupe.settings import (
    MAX_DURATION_TOLERANCE,
    Settings,
    changes_from_page,
    checked_text,
    is_duration_tolerance,
    load_settings,
    quoted,
    save_settings,
    settings_for_page,
)
from stash_dedupe.stash.config import database_candidates
from stash_dedupe.stash.reader import open_stash_database
from stash_dedupe.stash.sync import (
    apply_cleanup,
    check_connection,
    connect,
    merge_group_scenes,
    plan_cleanup,
    preview_merge,
    write_back_phashes,
)

TOKEN_HEADER = "X-Token"
MAX_PAGE = 1000
MAX_BODY_BYTES = 1024 * 1024  # a request body; the largest the page sends is a removal plan
MAX_JSON_DEPTH = 32  # nesting of a request body; the page's deepest is 4
MAX_DISCARDED_BYTES = 64 * 1024 * 1024  # a body too large is read up to this and dropped
_SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
# Only the app's own origin. pywebview's bridge (injected into the window's page) needs
# eval and inline styles; the page itself builds DOM with text nodes only.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


def frontend_dir() -> Path:
    """The page's files: in a PyInstaller bundle, an installed wheel, or a checkout."""
    package = Path(__file__).resolve().parents[1]  # stash_dedupe/
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "frontend")
    candidates += [package / "frontend", package.parents[1] / "frontend"]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    raise AppError(
        "The app's page files are missing (looked in "
        + ", ".join(str(path) for path in candidates)
        + "); reinstall Stash Dedupe."
    )


# ---- what one launch holds ------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "[::]")


class AppState:
    """One launch of the app: its token, bound address, settings and the open library."""

    def __init__(
        self,
        settings: Settings | None = None,
        journal: Journal | None = None,
        dismissals: DismissalStore | None = None,
        token: str | None = None,
        remember: bool = True,
    ) -> None:
        """`remember=False` keeps settings changes in memory only (self-test, tests)."""
        self.remember = remember
        self.token = token or secrets.token_urlsafe(32)
        self.settings = settings if settings is not None else load_settings()
        self.journal = journal or Journal.open()
        self.dismissals = dismissals or DismissalStore()
        self.jobs = JobRegistry()
        self.session: LibrarySession | None = None
        self.open_error: str | None = None
        self.reconciled = reconcile(self.journal)  # settle what a crash left half done
        self._host, self._port = "127.0.0.1", 0
        self._lock = threading.RLock()

    # -- security --

    def bind(self, host: str, port: int) -> None:
        """Remember the address the server listens on; the Host check compares against it."""
        self._host, self._port = host, port

    def host_allowed(self, header: str) -> bool:
        """Whether a request's Host header names this server (refuses DNS rebinding)."""
        header = header.strip().lower()
        host, _, port = header.rpartition(":")
        if not host or port != str(self._port):
            return False
        bound = self._host.lower()
        if host.strip("[]") == bound.strip("[]"):
            return True
        if is_loopback(bound):
            return host in ("localhost", "127.0.0.1", "[::1]")
        if _is_wildcard(bound):
            # Reachable under any of the machine's addresses: accept IP literals and the
            # machine's own names, never another domain name (that is what rebinding uses).
            try:
                ipaddress.ip_address(host.strip("[]"))
                return True
            except ValueError:
                names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
                return host in names
        return False

    def token_matches(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    # -- the library --

    def require_session(self) -> LibrarySession:
        session = self.session
        if session is None:
            raise AppError("No Stash database is open yet: choose one first.")
        return session

    def open_database(self, path: str, settings: Settings | None = None) -> LibrarySession:
        """Open a database and make it the current one, with `settings` (default: current),
        which then become the settings, remembering the database. Nothing changes if the
        database cannot be opened."""
        path = os.path.abspath(os.path.expanduser(path.strip()))
        with self._lock:
            settings = settings or self.settings
            session = LibrarySession.open(path, settings, self.journal, self.dismissals)
            # The old session is left to the garbage collector: a request may still use it.
            self.session, self.open_error = session, None
            self.settings = settings.updated({"database": path})
            self._save_settings()
            return session

    def try_open(self, path: str | None) -> None:
        """Open at launch; a failure is kept to show on the welcome screen, not raised."""
        if not path:
            return
        try:
            self.open_database(path)
        except AppError as error:
            self.open_error = error.message

    def _save_settings(self) -> None:
        if self.remember:
            save_settings(self.settings)

    def update_settings(self, changes: dict[str, Any]) -> Settings:
        """Check and apply changed settings; a new database or new path mappings reopen it."""
        with self._lock:
            updated = self.settings.updated(changes)
            new_database = bool(updated.database) and updated.database != self.settings.database
            new_mappings = updated.path_mappings != self.settings.path_mappings
            if new_database or (new_mappings and self.session is not None):
                self.open_database(updated.database or self.require_session().path, updated)
                return self.settings
            if self.session is not None:
                self.session.configure(updated)
            self.settings = updated
            self._save_settings()
            return self.settings


# ---- JSON shapes ------------------------------------------------------------------------------


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
    }


def group_detail_json(session: LibrarySession, group: DuplicateGroup) -> dict[str, Any]:
    keeper = session.suggested_keeper(group)
    files = []
    for file in group.files:
        entry = file_json(file)
        entry["distance"] = session.distance_to(keeper, file)
        entry["copy_of_keeper"] = group.matches(keeper, file)
        picture = session.picture_size(file)
        entry["picture_width"], entry["picture_height"] = picture or (None, None)
        files.append(entry)
    return {
        **group_summary_json(group),
        "keeper_id": keeper.file_id,
        "distance_limit": group.distance_limit,
        "duration_tolerance": group.duration_tolerance,
        "files": files,
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
            }
            for resolution in preview.resolved
        ],
        "unresolved": [dataclasses.asdict(unresolved) for unresolved in preview.unresolved],
        "plan": preview.plan().to_json(),
    }


def job_json(job: Job) -> dict[str, Any]:
    data = dataclasses.asdict(job.progress())
    result = job.result if job.finished else None
    if isinstance(result, GroupComparison):
        data["result"] = comparison_json(result)
    elif isinstance(result, AutoPreview):
        data["result"] = auto_preview_json(result)
    else:
        data["result"] = result if _is_json(result) else None
    return data


def _backfill_summary(report: BackfillReport) -> dict[str, int]:
    return {"hashed": report.hashed, "failed": len(report.failed)}


def _is_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


# ---- parsing ------------------------------------------------------------------------------


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise AppError(f"{name} must be a whole number, not {quoted(value)}.") from None


def _duration(value: str | None, default: float | None) -> float | None:
    if value is None:
        return default
    if value.strip().lower() in ("", "any", "-1"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not is_duration_tolerance(seconds):
        raise AppError(
            f"The duration tolerance (duration) must be seconds from 0 to {MAX_DURATION_TOLERANCE}"
            f" or 'any', not {quoted(value)}."
        )
    return seconds


def filter_from_query(query: bottle.FormsDict, settings: Settings) -> GroupFilter:
    return GroupFilter(
        media=query.get("media") or VIDEO,
        distance=_int(query.get("distance"), "distance", settings.default_distance),
        duration_tolerance=_duration(query.get("duration"), settings.duration_tolerance),
        path=query.getunicode("path") or "",
        min_size=_int(query.get("min_size"), "min_size", 2),
        include_suspicious=query.get("suspicious", "") in ("1", "true", "yes"),
    ).checked()


def _optional_text(body: dict[str, Any], name: str, label: str) -> str | None:
    """One line of text (it may become an HTTP header), or None when not given."""
    value = body.get(name)
    return None if value is None else checked_text(value, name, label, line=True)


def _whole_number(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AppError(f"Give {name} as a whole number.")
    return value


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AppError(f"Give {name} as a number.")
    try:
        return float(value)
    except OverflowError:  # an int beyond 1e308
        raise AppError(f"{name} is out of range.") from None


def _job_progress(job: Job) -> Progress:
    """A domain progress callback that moves the job (and stops at pause or cancel)."""

    def progress(done: int, total: int, message: str) -> None:
        job.total, job.done, job.message = total, done, message
        job.checkpoint()

    return progress


def _body() -> dict[str, Any]:
    """The request's JSON object, {} when there is none. `_bounded_body` has refused a body
    over MAX_BODY_BYTES; JSON's own rules hold (Python's parser would take NaN and Infinity,
    and a 1e999 as infinity), and nesting is at most MAX_JSON_DEPTH deep."""
    request = bottle.request
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        return {}
    text = request.body.read(MAX_BODY_BYTES + 1)
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_constant=_not_a_number, parse_float=_finite_float)
    except RecursionError:
        data = None
    except ValueError as error:
        raise AppError(f"The request body is not valid JSON: {error}.") from None
    if data is None or _deeper_than(data, MAX_JSON_DEPTH):
        raise AppError(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")
    if not isinstance(data, dict):
        raise AppError("The request body must be a JSON object.")
    return data


def _not_a_number(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{quoted(literal)} is too large a number")
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _bounded_body() -> None:
    """Hook: refuse a body too large to read, before any route reads it."""
    request = bottle.request
    if request.chunked:
        raise bottle.HTTPError(411, "Send the request body with a Content-Length.")
    try:
        length = request.content_length
    except ValueError:
        raise bottle.HTTPError(400, "The Content-Length header is not a number.") from None
    if length > MAX_BODY_BYTES:
        # Unread data makes closing the connection a reset, which can cost the client the
        # answer: read what it sends (up to a bound) and drop it.
        if length <= MAX_DISCARDED_BYTES:
            stream = request.environ["wsgi.input"]
            while length > 0 and (chunk := stream.read(min(length, 1 << 16))):
                length -= len(chunk)
        raise bottle.HTTPError(413, f"The request body is over {MAX_BODY_BYTES} bytes.")


def _whole_number_filter(config: str) -> tuple[str, Callable[[str], int], Callable[..., str]]:
    """Bottle's `int` path filter, but an id with more digits than Python converts (4300)
    names nothing, as one beyond 64 bits does: a 404, not Bottle's 400."""

    def to_python(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise bottle.HTTPError(404, f"Nothing has the id {quoted(text)}.") from None

    return r"-?\d+", to_python, lambda value: str(int(value))


# ---- the app ------------------------------------------------------------------------------


def _app_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Plugin: an AppError from any route becomes JSON with its status code."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except AppError as error:
            bottle.response.status = error.http_status
            bottle.response.content_type = "application/json"
            return {"error": error.message}

    return wrapper


def _json_error(error: bottle.HTTPError) -> str:
    """Bottle's error pages (no route, wrong method, body too large, ...) as JSON."""
    bottle.response.content_type = "application/json"
    message = error.body if isinstance(error.body, str) and error.body else error.status_line
    return json.dumps({"error": message})


def create_app(state: AppState) -> bottle.Bottle:
    """The Bottle app with every route; wrap it with `guarded` before serving it.

    Without `catchall`, an unexpected exception is not Bottle's to print as an HTML page and a
    traceback on stderr, but goes on to the gate, which logs it."""
    app = bottle.Bottle()
    app.config["catchall"] = False
    app.uninstall(bottle.JSONPlugin)  # for one that never writes NaN or Infinity (not JSON)
    app.install(bottle.JSONPlugin(json_dumps=functools.partial(json.dumps, allow_nan=False)))
    app.install(_app_errors)
    app.default_error_handler = _json_error  # every status, not only those registered
    app.add_hook("before_request", _bounded_body)
    app.router.add_filter("int", _whole_number_filter)
    request = bottle.request

    # -- the page --

    @app.get("/")
    def index() -> Any:
        return bottle.static_file(
            "index.html", root=str(frontend_dir()), mimetype="text/html", charset="utf-8"
        )

    @app.get("/static/<filepath:path>")
    def static(filepath: str) -> Any:
        return bottle.static_file(filepath, root=str(frontend_dir()), charset="utf-8")

    # -- database --

    @app.get("/api/status")
    def status() -> dict[str, Any]:
        session = state.session
        return {
            "version": __version__,
            "database": session.status() if session else None,
            "open_error": state.open_error,
            "settings_database": state.settings.database,
            "recovered": len(state.reconciled),
        }

    @app.get("/api/databases/candidates")
    def candidates() -> dict[str, Any]:
        found = []
        for candidate in database_candidates():
            entry: dict[str, Any] = {
                "path": candidate.path,
                "source": candidate.source,
                "error": None,
                "schema_version": None,
            }
            try:
                with open_stash_database(candidate.path) as database:
                    entry["schema_version"] = database.schema_version
            except AppError as error:
                entry["error"] = error.message
            found.append(entry)
        return {"candidates": found}

    @app.post("/api/database")
    def open_database() -> dict[str, Any]:
        path = _body().get("path")
        if not isinstance(path, str) or not path.strip():
            raise AppError("Give the path of Stash's database file (stash-go.sqlite).")
        checked_text(path, "path", "The database's path")
        return {"database": state.open_database(path).status()}

    # -- settings --

    @app.get("/api/settings")
    def get_settings() -> dict[str, Any]:
        return {
            "settings": settings_for_page(state.settings),
            "keeper_rules": [{"name": rule.name, "label": rule.label} for rule in RULES.values()],
        }

    @app.put("/api/settings")
    def put_settings() -> dict[str, Any]:
        state.update_settings(changes_from_page(_body()))
        return get_settings()

    # -- review --

    @app.get("/api/summary")
    def summary() -> dict[str, Any]:
        session = state.require_session()
        return session.summary(filter_from_query(request.query, state.settings))

    @app.get("/api/groups")
    def groups() -> dict[str, Any]:
        session = state.require_session()
        group_filter = filter_from_query(request.query, state.settings)
        found = session.groups(group_filter)
        offset = max(0, _int(request.query.get("offset"), "offset", 0))
        limit = min(MAX_PAGE, max(1, _int(request.query.get("limit"), "limit", 200)))
        return {
            "total": len(found),
            "offset": offset,
            "reclaimable": sum(group.reclaimable for group in found),
            "items": [group_summary_json(group) for group in found[offset : offset + limit]],
        }

    @app.get("/api/groups/<group_id>")
    def group(group_id: str) -> dict[str, Any]:
        session = state.require_session()
        return group_detail_json(session, session.group(group_id))

    @app.post("/api/groups/<group_id>/dismiss")
    def dismiss_group(group_id: str) -> dict[str, Any]:
        dismissal = state.require_session().dismiss_group(group_id)
        return {"dismissal": dismissal_json(dismissal)}

    @app.post("/api/files/<file_id:int>/dismiss")
    def dismiss_file(file_id: int) -> dict[str, Any]:
        group_id = _body().get("group_id")
        if not isinstance(group_id, str):
            raise AppError("Say which group the file is not a duplicate in (group_id).")
        session = state.require_session()
        dismissal = session.dismiss_file(group_id, file_id)
        try:
            remaining: dict[str, Any] | None = group_detail_json(session, session.group(group_id))
        except NotFoundError:
            remaining = None
        return {"dismissal": dismissal_json(dismissal), "group": remaining}

    @app.get("/api/dismissals")
    def dismissals() -> dict[str, Any]:
        return {"dismissals": [dismissal_json(d) for d in state.dismissals.list_dismissals()]}

    @app.delete("/api/dismissals/<dismissal_id:int>")
    def undo_dismissal(dismissal_id: int) -> dict[str, Any]:
        session = state.session
        dismissal = (
            session.undo_dismissal(dismissal_id) if session else state.dismissals.undo(dismissal_id)
        )
        return {"dismissal": dismissal_json(dismissal)}

    # -- files --

    @app.get("/api/files/<file_id:int>/thumbnail")
    def thumbnail(file_id: int) -> Any:
        data = state.require_session().thumbnail(file_id)
        bottle.response.content_type = "image/jpeg"
        bottle.response.set_header("Cache-Control", "private, max-age=3600")
        return data

    @app.get("/api/files/<file_id:int>/media")
    def media(file_id: int) -> Any:
        path = state.require_session().readable_path(file_id)
        mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        folder, name = os.path.split(path)
        # Only a checked library path reaches static_file, which adds Range and caching.
        return bottle.static_file(name, root=folder, mimetype=mimetype)

    @app.get("/api/files/<first:int>/compare/<second:int>")
    def compare_images(first: int, second: int) -> dict[str, Any]:
        return {"score": state.require_session().compare_images(first, second)}

    @app.get("/api/files/<first:int>/difference/<second:int>")
    def image_difference(first: int, second: int) -> bytes:
        data = state.require_session().image_difference(first, second)
        bottle.response.content_type = "image/jpeg"
        return data

    # -- removal and history --

    @app.post("/api/remove")
    def remove() -> dict[str, Any]:
        body = _body()
        result = state.require_session().remove(
            body.get("plan"),
            mode=str(body.get("mode") or state.settings.removal_mode),
            trash_dir=body.get("trash_dir") or None,
            confirm_delete=body.get("confirm_delete") is True,
            dry_run=body.get("dry_run") is True,
        )
        return dataclasses.asdict(result)

    @app.get("/api/history")
    def history() -> dict[str, Any]:
        return {"batches": [dataclasses.asdict(batch) for batch in list_batches(state.journal)]}

    @app.get("/api/history.csv")
    def history_csv() -> str:
        output = io.StringIO()
        export_history_csv(state.journal, output)
        bottle.response.content_type = "text/csv; charset=utf-8"
        bottle.response.set_header(
            "Content-Disposition", 'attachment; filename="stash-dedupe-history.csv"'
        )
        return output.getvalue()

    @app.get("/api/history/<batch_id:int>")
    def history_batch(batch_id: int) -> dict[str, Any]:
        return {
            "batch": dataclasses.asdict(state.journal.batch(batch_id)),
            "actions": [dataclasses.asdict(a) for a in batch_actions(state.journal, batch_id)],
        }

    @app.post("/api/history/<batch_id:int>/undo")
    def undo(batch_id: int) -> dict[str, Any]:
        session = state.session
        result = session.undo_batch(batch_id) if session else undo_batch(state.journal, batch_id)
        return dataclasses.asdict(result)

    # -- long work: frame comparison, phash backfill --

    @app.get("/api/groups/<group_id>/frames")
    def frames(group_id: str) -> dict[str, Any]:
        session = state.require_session()
        group = session.group(group_id)
        if group.media != VIDEO:
            raise AppError("Frame comparison is for videos.")
        samples = state.settings.frame_samples
        job = state.jobs.start(
            Job("frames", lambda job: session.compare_frames(group_id, samples), total=1)
        )
        return {"job_id": job.job_id}

    def _strip(job_id: str, file_index: int, frame_index: int) -> bytes:
        result = state.jobs.get(job_id).result
        if not isinstance(result, GroupComparison):
            raise NotFoundError(f"Job {job_id} has no frames (yet).")
        try:
            sampled = result.files[file_index].frames
            if sampled is None:
                raise IndexError
            return sampled.strip[frame_index]
        except IndexError:
            raise NotFoundError(f"No frame {frame_index} of file {file_index}.") from None

    @app.get("/api/frames/<job_id>/<file_index:int>/<frame_index:int>.jpg")
    def frame(job_id: str, file_index: int, frame_index: int) -> bytes:
        data = _strip(job_id, file_index, frame_index)
        bottle.response.content_type = "image/jpeg"
        bottle.response.set_header("Cache-Control", "private, max-age=3600")
        return data

    @app.get("/api/frames/<job_id>/diff/<first:int>/<second:int>/<frame_index:int>.jpg")
    def frame_difference(job_id: str, first: int, second: int, frame_index: int) -> bytes:
        data = difference_heatmap(
            decode_jpeg(_strip(job_id, first, frame_index)),
            decode_jpeg(_strip(job_id, second, frame_index)),
        )
        bottle.response.content_type = "image/jpeg"
        bottle.response.set_header("Cache-Control", "private, max-age=3600")
        return data

    @app.post("/api/autoresolve")
    def autoresolve() -> dict[str, Any]:
        """Preview (as a job) which groups of the filter resolve by themselves."""
        session = state.require_session()
        group_filter = filter_from_query(request.query, state.settings)
        threshold = _number(_body(), "threshold", DEFAULT_MATCH_THRESHOLD)
        check_threshold(threshold)
        samples = state.settings.frame_samples

        def work(job: Job) -> AutoPreview:
            return preview_auto_resolve(
                session, group_filter, threshold, samples, _job_progress(job)
            )

        return job_json(state.jobs.start(Job("autoresolve", work)))

    @app.post("/api/backfill")
    def backfill() -> dict[str, Any]:
        session = state.require_session()
        media = str(_body().get("media") or "all")
        if media != "all" and media not in MEDIA_NAMES:
            raise AppError(f"Unknown media {media!r}: use videos, images or all.")

        def work(job: Job) -> dict[str, int]:
            return _backfill_summary(session.backfill(job, session.files_to_backfill(media)))

        job = state.jobs.running("backfill") or state.jobs.start(Job("backfill", work))
        return job_json(job)

    # -- Stash, over its GraphQL API (optional: nothing else needs it) --

    @app.post("/api/stash/test")
    def stash_test() -> dict[str, Any]:
        """Stash's version; the body may carry the form's unsaved URL and API key."""
        body = _body()
        connection = check_connection(
            state.settings,
            _optional_text(body, "stash_url", "The Stash URL"),
            _optional_text(body, "stash_api_key", "The Stash API key"),
        )
        return dataclasses.asdict(connection)

    @app.post("/api/stash/cleanup/preview")
    def stash_cleanup_preview() -> dict[str, Any]:
        plan = plan_cleanup(state.require_session(), _whole_number(_body(), "batch_id"))
        return {
            "batch_id": plan.batch_id,
            "removed": [dataclasses.asdict(file) for file in plan.removed],
            "operations": [operation.to_json() for operation in plan.operations],
        }

    @app.post("/api/stash/cleanup/apply")
    def stash_cleanup_apply() -> dict[str, Any]:
        """Plans again from the journal: operations sent back by the page are not trusted."""
        session = state.require_session()
        batch_id = _whole_number(_body(), "batch_id")
        client = connect(state.settings)
        plan_cleanup(session, batch_id)  # refuse at once, not in the job, if nothing to send

        def work(job: Job) -> dict[str, Any]:
            result = apply_cleanup(client, session, batch_id, _job_progress(job))
            return dataclasses.asdict(result)

        return job_json(state.jobs.start(Job("stash-cleanup", work)))

    def _merge_request() -> tuple[str, int]:
        body = _body()
        group_id = body.get("group_id")
        if not isinstance(group_id, str):
            raise AppError("Say which group's scenes to merge (group_id).")
        return group_id, _whole_number(body, "keeper_file_id")

    @app.post("/api/stash/merge/preview")
    def stash_merge_preview() -> dict[str, Any]:
        group_id, keeper_file_id = _merge_request()
        preview = preview_merge(
            connect(state.settings), state.require_session(), group_id, keeper_file_id
        )
        return dataclasses.asdict(preview)

    @app.post("/api/stash/merge/apply")
    def stash_merge_apply() -> dict[str, Any]:
        group_id, keeper_file_id = _merge_request()
        scene = merge_group_scenes(
            connect(state.settings), state.require_session(), group_id, keeper_file_id
        )
        return {"scene": dataclasses.asdict(scene)}

    @app.post("/api/stash/phashes")
    def stash_phashes() -> dict[str, Any]:
        """Send the backfilled phashes Stash lacks (a job)."""
        session = state.require_session()
        client = connect(state.settings)

        def work(job: Job) -> dict[str, Any]:
            return dataclasses.asdict(write_back_phashes(client, session, _job_progress(job)))

        job = state.jobs.running("stash-phashes") or state.jobs.start(Job("stash-phashes", work))
        return job_json(job)

    # -- jobs --

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str) -> dict[str, Any]:
        return job_json(state.jobs.get(job_id))

    @app.post("/api/jobs/<job_id>/<action:re:pause|resume|cancel>")
    def control_job(job_id: str, action: str) -> dict[str, Any]:
        job = state.jobs.get(job_id)
        getattr(job, action)()
        return job_json(job)

    @app.route("/api/<anything:path>", method=["GET", "POST", "PUT", "DELETE"])
    def unknown(anything: str) -> Any:
        raise NotFoundError(f"There is no API /api/{anything}.")

    return app


def guarded(app: Callable[..., Iterable[bytes]], state: AppState) -> Callable[..., Any]:
    """WSGI middleware: the Host check and the token check in front of every request, and
    the one catch-all for a bug: a JSON 500 naming an error id, the traceback in the log."""

    def answer(
        start_response: Callable[..., Any],
        status: str,
        content: dict[str, str],
        exc_info: Any = None,
    ) -> list[bytes]:
        body = json.dumps(content).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *_SECURITY_HEADERS,
            ],
            exc_info,
        )
        return [body]

    def refuse(start_response: Callable[..., Any], message: str) -> list[bytes]:
        return answer(start_response, "403 Forbidden", {"error": message})

    def gate(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not state.host_allowed(environ.get("HTTP_HOST", "")):
            return refuse(start_response, "Refused: this request names another host.")
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/"):
            token = environ.get("HTTP_X_TOKEN")
            if token is None:
                token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [None])[0]
            if not state.token_matches(token):
                return refuse(start_response, "Refused: missing or wrong access token.")

        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            headers = [*headers, *_SECURITY_HEADERS]
            if path.startswith("/api/"):
                if not any(name.lower() == "cache-control" for name, _ in headers):
                    headers.append(("Cache-Control", "no-store"))
            else:
                headers.append(("Content-Security-Policy", _PAGE_POLICY))
            return start_response(status, headers, exc_info)

        try:
            return app(environ, start_with_headers)
        except Exception as error:  # a bug; the query is left out of the log (it has the token)
            error_id = record_unexpected(error, f"{environ.get('REQUEST_METHOD')} {path}")
            message = f"Unexpected error (id {error_id}); details are in {log_path()}"
            content = {"error": message, "error_id": error_id}
            return answer(start_response, "500 Internal Server Error", content, sys.exc_info())

    return gate


# ---- serving ------------------------------------------------------------------------------


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref with a thread per request, so a slow request never stalls the others."""

    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser cancelling a video range request is normal; say nothing.
        error = sys.exc_info()[1]
        if error is None or isinstance(error, (ConnectionError, TimeoutError)):
            return
        record_unexpected(error, f"the HTTP server, serving {client_address}")


class QuietHandler(WSGIRequestHandler):
    """No request log (a windowed build has no stderr at all); what wsgiref reports as an
    error (one while a response is sent, after its headers) goes to the error log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def get_stderr(self) -> Any:
        return ErrorLogStream(f"{self.command} {self.path.partition('?')[0]}")


class _Server6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


def serve_in_thread(
    wsgi_app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0
) -> tuple[WSGIServer, threading.Thread]:
    """Bind (port 0: the OS picks a free one) and serve on a daemon thread."""
    server_class = _Server6 if ":" in host.strip("[]") else ThreadingWSGIServer
    try:
        server = make_server(
            host.strip("[]"), port, wsgi_app, server_class=server_class, handler_class=QuietHandler
        )
    except OSError as error:
        raise AppError(f"Cannot listen on {host}:{port} ({error.strerror}).") from error
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
    )
    thread.start()
    return server, thread


def start(state: AppState, host: str = "127.0.0.1", port: int = 0) -> tuple[WSGIServer, str]:
    """Serve the app for `state`; returns the server and the URL that carries the token."""
    server, _ = serve_in_thread(guarded(create_app(state), state), host, port)
    bound_port = server.server_address[1]
    state.bind(
        host.strip("[]") if ":" not in host.strip("[]") else f"[{host.strip('[]')}]", bound_port
    )
    shown = "127.0.0.1" if _is_wildcard(host) else host
    if ":" in shown.strip("[]"):
        shown = f"[{shown.strip('[]')}]"
    return server, f"http://{shown}:{bound_port}/?token={state.token}"

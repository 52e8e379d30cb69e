"""The Bottle app: every API route, grouped by topic, over the domain.

Routes parse input, call one domain function and return JSON; an `AppError` becomes
`{"error": message}` with its `http_status`. Files are served by Stash file id only: no
parameter is a path. Bottle's own errors (404, 405, 413, ...) are JSON too; anything else is
a bug, which goes on to the gate (`web.gate.guarded`) to be logged.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import mimetypes
import os
import webbrowser
from collections.abc import Callable
from typing import Any

import bottle

from stash_dedupe import __version__
from stash_dedupe.dedupe.autoresolve import AutoPreview, check_threshold, preview_auto_resolve
from stash_dedupe.dedupe.export import group_document, write_csv
from stash_dedupe.dedupe.identical import identical_groups
from stash_dedupe.dedupe.keeper import CODEC_FAMILIES, RULES
from stash_dedupe.dedupe.protections import losses_if_removed
from stash_dedupe.errors import AppError, NotFoundError
from stash_dedupe.jobs import Job
from stash_dedupe.library_paths import ProtectedFolders
from stash_dedupe.media.frame_results import GroupComparison
from stash_dedupe.media.similarity import decode_jpeg, difference_heatmap
from stash_dedupe.models import DEFAULT_MATCH_THRESHOLD, DEFAULT_MIN_OVERLAP, MEDIA_NAMES, VIDEO
from stash_dedupe.removal.journal import batch_actions, export_history_csv, list_batches
from stash_dedupe.removal.recovery import undo_batch
from stash_dedupe.settings import changes_from_page, checked_text, settings_for_page
from stash_dedupe.stash.config import DatabaseCandidate, database_candidates
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
from stash_dedupe.stash.url import checked_stash_page
from stash_dedupe.web.page import add_page_routes
from stash_dedupe.web.parsing import (
    bounded_body,
    file_id_list,
    filter_from_query,
    json_body,
    number,
    optional_text,
    path_mappings_from_body,
    query_int,
    whole_number,
    whole_number_filter,
)
from stash_dedupe.web.shapes import (
    GROUP_FILES_PAGE,
    backfill_summary_json,
    dismissal_json,
    group_detail_json,
    group_summary_json,
    identical_preview_json,
    job_json,
    overlap_json,
    protection_json,
)
from stash_dedupe.web.state import AppState

MAX_PAGE = 1000  # groups in one answer


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
    app.add_hook("before_request", bounded_body)
    app.router.add_filter("int", whole_number_filter)

    add_page_routes(app)
    _library_routes(app, state)
    _review_routes(app, state)
    _file_routes(app, state)
    _removal_routes(app, state)
    _frame_routes(app, state)
    _job_routes(app, state)
    _overlap_routes(app, state)
    _stash_routes(app, state)

    @app.route("/api/<anything:path>", method=["GET", "POST", "PUT", "DELETE"])
    def unknown(anything: str) -> Any:
        raise NotFoundError(f"There is no API /api/{anything}.")

    return app


def _app_errors(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Plugin: an AppError from any route becomes JSON with its status code."""

    @functools.wraps(callback)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except AppError as error:
            bottle.response.status = error.http_status
            bottle.response.content_type = "application/json"
            if error.field is not None:
                return {"error": error.message, "field": error.field}
            return {"error": error.message}

    return wrapper


def _json_error(error: bottle.HTTPError) -> str:
    """Bottle's error pages (no route, wrong method, body too large, ...) as JSON."""
    bottle.response.content_type = "application/json"
    message = error.body if isinstance(error.body, str) and error.body else error.status_line
    return json.dumps({"error": message})


def _jpeg(data: bytes, cached: bool = True) -> bytes:
    """Answer with a JPEG; one that never changes for its URL may be kept an hour."""
    bottle.response.content_type = "image/jpeg"
    if cached:
        bottle.response.set_header("Cache-Control", "private, max-age=3600")
    return data


# ---- the library and the settings ------------------------------------------------------------


def _library_routes(app: bottle.Bottle, state: AppState) -> None:
    @app.get("/api/status")
    def status() -> dict[str, Any]:
        session = state.session
        presence = state.presence_job
        return {
            "version": __version__,
            "database": session.status() if session else None,
            "presence_job": presence.job_id if presence and not presence.finished else None,
            "open_error": state.open_error,
            "settings_database": state.settings.database,
            "recovered": len(state.reconciled),
        }

    @app.get("/api/databases/candidates")
    def candidates() -> dict[str, Any]:
        return {"candidates": [_candidate_json(found) for found in database_candidates()]}

    @app.post("/api/database")
    def open_database() -> dict[str, Any]:
        path = json_body().get("path")
        if not isinstance(path, str) or not path.strip():
            raise AppError("Give the path of Stash's database file (stash-go.sqlite).")
        checked_text(path, "path", "The database's path")
        return {"database": state.open_database(path).status()}

    @app.get("/api/settings")
    def get_settings() -> dict[str, Any]:
        return {
            "settings": settings_for_page(state.settings),
            "keeper_rules": [{"name": rule.name, "label": rule.label} for rule in RULES.values()],
            "codecs": [
                {"name": name, "label": label} for name, (label, _) in CODEC_FAMILIES.items()
            ],
        }

    @app.put("/api/settings")
    def put_settings() -> dict[str, Any]:
        state.update_settings(changes_from_page(json_body()))
        return get_settings()

    @app.post("/api/path-mappings/preview")
    def path_mappings_preview() -> dict[str, Any]:
        """What the mappings as typed (not saved) would do: files mapped, files found."""
        mappings = path_mappings_from_body(json_body())
        previews = state.require_session().preview_mappings(mappings)
        return {"mappings": [dataclasses.asdict(preview) for preview in previews]}


def _candidate_json(candidate: DatabaseCandidate) -> dict[str, Any]:
    """A database found on this machine, with its schema version or why it cannot be read."""
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
    return entry


# ---- review: groups and dismissals -----------------------------------------------------------


def _review_routes(app: bottle.Bottle, state: AppState) -> None:
    request = bottle.request

    @app.get("/api/summary")
    def summary() -> dict[str, Any]:
        session = state.require_session()
        return session.summary(filter_from_query(request.query, state.settings))

    @app.get("/api/groups")
    def groups() -> dict[str, Any]:
        session = state.require_session()
        found = session.groups(filter_from_query(request.query, state.settings))
        offset = max(0, query_int(request.query.get("offset"), "offset", 0))
        limit = min(MAX_PAGE, max(1, query_int(request.query.get("limit"), "limit", 200)))
        shown = found[offset : offset + limit]
        session.build_files(shown)  # the page's files in a few queries, not a few per file
        return {
            "total": len(found),
            "offset": offset,
            "reclaimable": sum(group.reclaimable for group in found),
            "items": [group_summary_json(group) for group in shown],
        }

    @app.get("/api/groups/<group_id>")
    def group(group_id: str) -> dict[str, Any]:
        session = state.require_session()
        offset = max(0, query_int(request.query.get("offset"), "offset", 0))
        limit = query_int(request.query.get("limit"), "limit", GROUP_FILES_PAGE)
        limit = min(MAX_PAGE, max(1, limit))
        return group_detail_json(session, session.reviewed_group(group_id), offset, limit)

    @app.get("/api/export/groups.<extension:re:csv|json>")
    def export_groups(extension: str) -> str:
        """The filter's groups, one row per file with the suggestion's mark, to download."""
        session = state.require_session()
        found = session.groups(filter_from_query(request.query, state.settings))
        output = io.StringIO()
        shown = session.groups_with_files(found)  # files built many groups at a time
        if extension == "csv":
            write_csv(shown, output)
            bottle.response.content_type = "text/csv; charset=utf-8"
        else:
            json.dump({"groups": [group_document(group) for group in shown]}, output)
            bottle.response.content_type = "application/json"
        bottle.response.set_header(
            "Content-Disposition", f'attachment; filename="stash-dedupe-groups.{extension}"'
        )
        return output.getvalue()

    @app.post("/api/identical/preview")
    def identical_preview() -> dict[str, Any]:
        """The byte-identical groups of the filter and the plan accepting their suggestions
        (removal then goes through /api/remove, checked like any plan)."""
        session = state.require_session()
        found = session.groups(filter_from_query(request.query, state.settings))
        # Files with their fingerprints, built many groups at a time.
        return identical_preview_json(
            identical_groups(session.groups_with_files(found, full_details=True))
        )

    @app.post("/api/groups/<group_id>/losses")
    def losses(group_id: str) -> dict[str, Any]:
        """What removing each file not kept would lose in Stash (the confirm dialog's warning)."""
        session = state.require_session()
        keep = file_id_list(json_body(), "keep")
        protected = ProtectedFolders(session.protected_folders)
        found = losses_if_removed(session.group(group_id), keep, protected)
        return {"files": [protection_json(protection) for protection in found.values()]}

    @app.post("/api/groups/<group_id>/dismiss")
    def dismiss_group(group_id: str) -> dict[str, Any]:
        dismissal = state.require_session().dismiss_group(group_id)
        return {"dismissal": dismissal_json(dismissal)}

    @app.post("/api/files/<file_id:int>/dismiss")
    def dismiss_file(file_id: int) -> dict[str, Any]:
        group_id = json_body().get("group_id")
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


# ---- files, by Stash file id -----------------------------------------------------------------


def _file_routes(app: bottle.Bottle, state: AppState) -> None:
    @app.get("/api/files/<file_id:int>/thumbnail")
    def thumbnail(file_id: int) -> Any:
        return _jpeg(state.require_session().thumbnail(file_id))

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
        return _jpeg(state.require_session().image_difference(first, second), cached=False)


# ---- removal and its history -----------------------------------------------------------------


def _removal_routes(app: bottle.Bottle, state: AppState) -> None:
    @app.post("/api/remove")
    def remove() -> dict[str, Any]:
        body = json_body()
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


# ---- frame comparison and auto-resolve (jobs) ------------------------------------------------


def _frame_routes(app: bottle.Bottle, state: AppState) -> None:
    @app.post("/api/groups/<group_id>/frames")
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

    @app.get("/api/frames/<job_id>/<file_index:int>/<frame_index:int>.jpg")
    def frame(job_id: str, file_index: int, frame_index: int) -> bytes:
        return _jpeg(_frame(state, job_id, file_index, frame_index))

    @app.get("/api/frames/<job_id>/diff/<first:int>/<second:int>/<frame_index:int>.jpg")
    def frame_difference(job_id: str, first: int, second: int, frame_index: int) -> bytes:
        return _jpeg(
            difference_heatmap(
                decode_jpeg(_frame(state, job_id, first, frame_index)),
                decode_jpeg(_frame(state, job_id, second, frame_index)),
            )
        )

    @app.post("/api/autoresolve")
    def autoresolve() -> dict[str, Any]:
        """Preview (as a job) which groups of the filter resolve by themselves."""
        session = state.require_session()
        group_filter = filter_from_query(bottle.request.query, state.settings)
        threshold = number(json_body(), "threshold", DEFAULT_MATCH_THRESHOLD)
        check_threshold(threshold)
        samples = state.settings.frame_samples

        def work(job: Job) -> AutoPreview:
            return preview_auto_resolve(session, group_filter, threshold, samples, job.report)

        return job_json(state.jobs.start(Job("autoresolve", work)))


def _frame(state: AppState, job_id: str, file_index: int, frame_index: int) -> bytes:
    """One sampled frame (a JPEG) of a finished frame-comparison job."""
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


# ---- jobs: the phash backfill, progress, pause, resume, cancel --------------------------------


def _job_routes(app: bottle.Bottle, state: AppState) -> None:
    @app.post("/api/backfill")
    def backfill() -> dict[str, Any]:
        session = state.require_session()
        media = str(json_body().get("media") or "all")
        if media != "all" and media not in MEDIA_NAMES:
            raise AppError(f"Unknown media {media!r}: use videos, images or all.")

        def work(job: Job) -> dict[str, int]:
            return backfill_summary_json(session.backfill(job, session.files_to_backfill(media)))

        job = state.jobs.running("backfill") or state.jobs.start(Job("backfill", work))
        return job_json(job)

    @app.get("/api/jobs/<job_id>")
    def job(job_id: str) -> dict[str, Any]:
        return job_json(state.jobs.get(job_id))

    @app.post("/api/jobs/<job_id>/<action:re:pause|resume|cancel>")
    def control_job(job_id: str, action: str) -> dict[str, Any]:
        job = state.jobs.get(job_id)
        getattr(job, action)()
        return job_json(job)


# ---- overlaps: videos sharing footage, their fingerprints and frames --------------------------


def _overlap_routes(app: bottle.Bottle, state: AppState) -> None:
    request = bottle.request

    @app.get("/api/overlaps")
    def overlaps() -> dict[str, Any]:
        session = state.require_session()
        min_overlap = _min_overlap(request.query.get("min_overlap"))
        pairs = session.overlaps(min_overlap)
        offset = max(0, query_int(request.query.get("offset"), "offset", 0))
        limit = min(MAX_PAGE, max(1, query_int(request.query.get("limit"), "limit", 200)))
        missing = session.fingerprints_to_compute()
        failures = session.fingerprint_failures()
        running = state.jobs.running("fingerprints")
        return {
            "total": len(pairs),
            "offset": offset,
            "min_overlap": min_overlap,
            "fingerprints": {
                "videos": len(session.files(VIDEO)),
                "missing": sum(1 for task in missing if task.file_id not in failures),
                "failed": sum(1 for task in missing if task.file_id in failures),
                "job": job_json(running) if running else None,
            },
            "items": [overlap_json(pair) for pair in pairs[offset : offset + limit]],
        }

    @app.get("/api/overlaps/<group_id>")
    def overlap(group_id: str) -> dict[str, Any]:
        return overlap_json(state.require_session().overlap_pair(group_id), detail=True)

    @app.post("/api/overlaps/fingerprints")
    def fingerprints() -> dict[str, Any]:
        """Fingerprint the videos that have none yet (a job), or follow the one running."""
        session = state.require_session()

        def work(job: Job) -> dict[str, int]:
            report = session.compute_fingerprints(job, session.fingerprints_to_compute())
            return {"computed": report.computed, "failed": len(report.failed)}

        job = state.jobs.running("fingerprints") or state.jobs.start(Job("fingerprints", work))
        return job_json(job)

    @app.post("/api/overlaps/<group_id>/frames")
    def overlap_frames(group_id: str) -> dict[str, Any]:
        """Frames of both files at matching times of the common segment (a job); the frames
        are then served by the frame routes, like a group's."""
        session = state.require_session()
        samples = state.settings.frame_samples
        times = session.overlap_frame_times(group_id, samples)
        job = state.jobs.start(
            Job("frames", lambda job: session.compare_overlap_frames(group_id, samples), total=1)
        )
        return {"job_id": job.job_id, "times": [list(own) for own in times]}


def _min_overlap(value: str | None) -> float:
    """The shortest common segment to list, in seconds (a positive number)."""
    if value is None or value == "":
        return DEFAULT_MIN_OVERLAP
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise AppError(f"min_overlap must be a positive number of seconds, not {value!r}.")
    return seconds


# ---- Stash, over its GraphQL API (optional: nothing else needs it) ---------------------------


def _stash_routes(app: bottle.Bottle, state: AppState) -> None:
    @app.post("/api/stash/test")
    def stash_test() -> dict[str, Any]:
        """Stash's version; the body may carry the form's unsaved URL and API key."""
        body = json_body()
        connection = check_connection(
            state.settings,
            optional_text(body, "stash_url", "The Stash URL"),
            optional_text(body, "stash_api_key", "The Stash API key"),
        )
        return dataclasses.asdict(connection)

    @app.post("/api/open-url")
    def open_url() -> dict[str, Any]:
        """Open a page of the user's Stash in the system browser (the window's links can't);
        any other address is refused."""
        text = optional_text(json_body(), "url", "The address") or ""
        url = checked_stash_page(text, state.settings.stash_url)
        if not webbrowser.open(url, new=2):
            raise AppError(f"No web browser could be started to open {url}.")
        return {"opened": url}

    @app.post("/api/stash/cleanup/preview")
    def stash_cleanup_preview() -> dict[str, Any]:
        plan = plan_cleanup(state.require_session(), whole_number(json_body(), "batch_id"))
        return {
            "batch_id": plan.batch_id,
            "removed": [dataclasses.asdict(file) for file in plan.removed],
            "operations": [operation.to_json() for operation in plan.operations],
        }

    @app.post("/api/stash/cleanup/apply")
    def stash_cleanup_apply() -> dict[str, Any]:
        """Plans again from the journal: operations sent back by the page are not trusted."""
        session = state.require_session()
        batch_id = whole_number(json_body(), "batch_id")
        client = connect(state.settings)
        plan_cleanup(session, batch_id)  # refuse at once, not in the job, if nothing to send

        def work(job: Job) -> dict[str, Any]:
            return dataclasses.asdict(apply_cleanup(client, session, batch_id, job.report))

        return job_json(state.jobs.start(Job("stash-cleanup", work)))

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
            return dataclasses.asdict(write_back_phashes(client, session, job.report))

        job = state.jobs.running("stash-phashes") or state.jobs.start(Job("stash-phashes", work))
        return job_json(job)


def _merge_request() -> tuple[str, int]:
    """The group whose scenes to merge and the file whose scene is kept."""
    body = json_body()
    group_id = body.get("group_id")
    if not isinstance(group_id, str):
        raise AppError("Say which group's scenes to merge (group_id).")
    return group_id, whole_number(body, "keeper_file_id")

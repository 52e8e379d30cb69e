"""The `stash-dedupe` command: the window by default, and subcommands for scripts.

Every subcommand calls the same domain functions the web API calls. App errors and usage
errors become a one-line message on stderr and an exit status (2 for bad input), never a
traceback; any other exception is a bug: one line with an error id, the traceback in the log.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NoReturn

from stash_dedupe import __version__
from stash_dedupe.errors import AppError
from stash_dedupe.models import (
    DEFAULT_MATCH_THRESHOLD,
    DEFAULT_MIN_OVERLAP,
    IMAGE,
    MAX_DISTANCE,
    MEDIA_NAMES,
    VIDEO,
    ListedFile,
    MediaFile,
)
from stash_dedupe.stash.pathmap import PathMapping

MEDIA_CHOICES = ("images", "videos")  # models.MEDIA_NAMES maps them to the media


def _add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="path to Stash's stash-go.sqlite")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="STASH=LOCAL",
        help="path mapping from Stash's paths to this machine's (repeatable)",
    )


@contextlib.contextmanager
def _library_session(args: argparse.Namespace, settle_journal: bool = False) -> Iterator[Any]:
    """The library under review, as the window opens it: the same groups, dismissals,
    removals and checks. `--map` replaces the saved path mappings (which apply only to the
    database they were saved with). `settle_journal` first settles what a crash left."""
    from stash_dedupe.appdata import AppPaths
    from stash_dedupe.dedupe.dismissals import DismissalStore
    from stash_dedupe.dedupe.session import LibrarySession
    from stash_dedupe.removal.journal import Journal
    from stash_dedupe.removal.recovery import reconcile
    from stash_dedupe.settings import load_settings

    settings = load_settings()
    if args.map:
        mappings = [PathMapping.parse(text) for text in args.map]
    elif settings.database and os.path.abspath(args.db) == settings.database:
        mappings = settings.path_mappings
    else:
        mappings = []
    settings = settings.updated({"path_mappings": mappings})
    paths = AppPaths.for_this_run()
    with Journal.open(paths.journal) as journal, DismissalStore(paths.dismissals) as dismissals:
        if settle_journal:
            reconcile(journal)
        session = LibrarySession.open(args.db, settings, journal, dismissals, paths)
        try:
            for warning in session.database.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            yield session
        finally:
            session.close()


def file_as_json(file: MediaFile, media: str) -> dict:
    entry: dict = {
        "file_id": file.file_id,
        "path": file.path,
        "phash": file.phash,
        "size": file.size,
    }
    if media == VIDEO:
        entry["duration"] = file.duration
    entry["width"] = file.width
    entry["height"] = file.height
    entry["scene_ids" if media == VIDEO else "image_ids"] = file.item_ids
    return entry


def command_groups(args: argparse.Namespace) -> int:
    from stash_dedupe.dedupe.export import write_csv
    from stash_dedupe.dedupe.session import GroupFilter

    media = MEDIA_NAMES[args.media]
    group_filter = GroupFilter(
        media=media,
        distance=args.distance,
        duration_tolerance=args.duration_diff,
        duration_percent=_duration_percent(args),
        sort=args.sort,
        studio=args.studio,
        performer=args.performer,
        tag=args.tag,
        organized=args.organized,
        missing_only=args.missing_only,
    ).checked()
    with _library_session(args) as session:
        session.check_presence()  # reclaimable space counts files found at their paths
        groups = session.groups(group_filter)
        if args.csv:
            write_csv(session.groups_with_files(groups), sys.stdout)
            return 0
        if args.json:
            header = {
                "schema_version": session.database.schema_version,
                "media": args.media,
                "distance": args.distance,
                "duration_diff": group_filter.duration_tolerance,
            }
            if group_filter.duration_percent is not None:
                header["duration_diff_percent"] = group_filter.duration_percent
            listed = session.listed_files(groups)  # one scan, or a batch of groups at a time
            _write_json_stream(
                header, "groups", listed, lambda pair: group_json_text(pair[0], media, pair[1])
            )
            return 0
        total = sum(group.reclaimable for group in groups)
        print(
            f"{len(groups)} groups of {args.media} at distance {args.distance}, "
            f"{_human_bytes(total)} reclaimable"
        )
        for number, group in enumerate(session.groups_with_files(groups), 1):
            print(
                f"\n#{number}  {len(group.files)} files, max distance {group.max_distance}, "
                f"{_human_bytes(group.reclaimable)} reclaimable  (group {group.group_id})"
            )
            for file in group.files:
                size = _human_bytes(file.size)
                resolution = f"{file.width}x{file.height}" if file.width else "?"
                shown_hash = file.phash or "-" * 16
                print(f"  [{file.file_id}] {shown_hash}  {size:>9}  {resolution:>9}  {file.path}")
    return 0


def _duration_percent(args: argparse.Namespace) -> float | None:
    """--duration-diff-percent, which cannot be given with --duration-diff."""
    percent = getattr(args, "duration_diff_percent", None)
    if percent is not None and args.duration_diff is not None:
        raise AppError("Give the duration tolerance in seconds or in percent, not both.")
    return percent


def group_as_json(group: Any, media: str) -> dict:
    return {
        "group_id": group.group_id,
        "kind": group.kind,
        "max_distance": group.max_distance,
        "total_size": group.total_size,
        "reclaimable": group.reclaimable,
        "files": [file_as_json(file, media) for file in group.files],
    }


def group_json_text(
    group: Any, media: str, listed: Sequence[ListedFile | MediaFile] | None = None
) -> str:
    """`json.dumps(group_as_json(group, media), ensure_ascii=False)`, written straight out:
    at a million files, building and encoding the dicts cost more than grouping. `listed`:
    the group's files as a listing read them (default: the group's own)."""
    files = ", ".join(_file_json_text(file, media) for file in listed or group.files)
    return (
        f'{{"group_id": {_json_text(group.group_id)}, "kind": {_json_text(group.kind)}, '
        f'"max_distance": {group.max_distance}, "total_size": {group.total_size}, '
        f'"reclaimable": {group.reclaimable}, "files": [{files}]}}'
    )


def _file_json_text(file: ListedFile | MediaFile, media: str) -> str:
    phash = "null" if file.phash is None else _json_text(file.phash)
    items = ", ".join(str(item_id) for item_id in file.item_ids)
    if media == VIDEO:
        duration = "null" if file.duration is None else repr(file.duration)
        return (
            f'{{"file_id": {file.file_id}, "path": {_json_text(file.path)}, "phash": {phash}, '
            f'"size": {file.size}, "duration": {duration}, "width": {_json_int(file.width)}, '
            f'"height": {_json_int(file.height)}, "scene_ids": [{items}]}}'
        )
    return (
        f'{{"file_id": {file.file_id}, "path": {_json_text(file.path)}, "phash": {phash}, '
        f'"size": {file.size}, "width": {_json_int(file.width)}, '
        f'"height": {_json_int(file.height)}, "image_ids": [{items}]}}'
    )


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(value)


_json_text = json.encoder.encode_basestring  # a JSON string, as json.dumps(ensure_ascii=False)


def _write_json_stream(
    header: dict,
    key: str,
    items: Iterable[Any],
    encode: Callable[[Any], str] | None = None,
) -> None:
    """Print `{**header, key: [items...]}` as `json.dump` would, one item at a time (each as
    `encode` writes it), so a million groups never sit in memory as one document."""
    encode = encode or functools.partial(json.dumps, ensure_ascii=False)
    write = sys.stdout.write
    opening = json.dumps(header, ensure_ascii=False)
    write((opening[:-1] + ", " if header else "{") + json.dumps(key) + ": [")
    for number, item in enumerate(items):
        write((", " if number else "") + encode(item))
    write("]}\n")


def command_phash(args: argparse.Namespace) -> int:
    from stash_dedupe.media.phash import phash_file

    status = 0
    for path in args.files:
        try:
            print(f"{phash_file(path, exact=args.exact)}  {path}", flush=True)
        except AppError as error:
            print(f"error: {error.message}", file=sys.stderr, flush=True)
            status = 1
    return status


def command_hash(args: argparse.Namespace) -> int:
    """Backfill missing phashes into the app's cache, with a progress bar on stderr."""
    from stash_dedupe.jobs import Job

    with _library_session(args) as session:
        tasks = session.files_to_backfill(args.media, exact_images=args.exact_images)
        kinds = [VIDEO, IMAGE] if args.media == "all" else [MEDIA_NAMES[args.media]]
        count = sum(len(session.files(kind)) for kind in kinds)
        print(f"{count} files, {len(tasks)} without a phash to compute", file=sys.stderr)
        job = Job("hash", lambda job: session.backfill(job, tasks, args.workers))
        job.total = len(tasks)
        if not _ran_to_the_end(job):
            return 130
    report = job.result
    _print_failures(report.failed)
    print(f"hashed {report.hashed}, failed {len(report.failed)}", file=sys.stderr)
    return 1 if report.failed else 0


def command_overlaps(args: argparse.Namespace) -> int:
    """Fingerprint the videos that need it (progress on stderr, cached), then print the pairs
    that share footage: trims, added intros, parts, compilations."""
    from stash_dedupe.jobs import Job

    if not args.min_overlap > 0:
        raise AppError(
            f"--min-overlap must be a positive number of seconds, not {args.min_overlap}."
        )
    with _library_session(args) as session:
        files = session.files(VIDEO)
        tasks = session.fingerprints_to_compute()
        print(f"{len(files)} videos, {len(tasks)} to fingerprint", file=sys.stderr)
        job = Job("fingerprints", lambda job: session.compute_fingerprints(job, tasks))
        job.total = len(tasks)
        if not _ran_to_the_end(job):
            return 130
        for failure in job.result.failed:
            print(f"failed [{failure.file_id}] {failure.path}: {failure.reason}", file=sys.stderr)
        pairs = session.overlaps(args.min_overlap)
    overlaps = [pair.overlap for pair in pairs]
    if args.json:
        json.dump({"overlaps": [overlap.as_json() for overlap in overlaps]}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    paths = {file.file_id: file.path for file in files}
    print(f"{len(overlaps)} pairs of videos share at least {args.min_overlap:g} s")
    for overlap in overlaps:
        print(f"\n{overlap.kind}  {overlap.overlap_seconds:.1f} s")
        for segment in (overlap.a, overlap.b):
            print(f"  [{segment.file_id}] {segment.start:8.1f}-{segment.end:<8.1f} "
                  f"{paths.get(segment.file_id, '?')}")  # fmt: skip
    return 0


def _ran_to_the_end(job: Any) -> bool:
    """Run a job with a progress bar on stderr; False if Ctrl-C cancelled it (what was done
    is kept), AppError if it failed."""
    job.start()
    try:
        while not job.wait(0.5):
            _print_progress(job)
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
        print("\ncancelled; what was done is kept, run again to resume", file=sys.stderr)
        return False
    _print_progress(job)
    print(file=sys.stderr)
    if job.error:
        raise AppError(job.error)
    return True


def _print_failures(failures: Sequence[Any]) -> None:
    for failure in failures:
        print(f"failed [{failure.file_id}] {failure.path}: {failure.reason}", file=sys.stderr)


def _print_progress(job) -> None:
    progress = job.progress()
    width = 30
    filled = int(width * progress.done / progress.total) if progress.total else width
    eta = f"ETA {progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else ""
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.done}/"
        f"{progress.total} {progress.rate:.1f}/s {eta}   "
    )
    sys.stderr.flush()


def command_remove(args: argparse.Namespace) -> int:
    """Carry out a removal plan: 0 all done, 1 some files skipped, 2 plan refused.

    Each plan group must lie within one duplicate group found as `groups` finds them, at
    the distance and duration tolerance given here or recorded in the plan (as `groups
    --json` writes them), after the removals and dismissals made so far.
    """
    from stash_dedupe.dedupe.session import GroupFilter
    from stash_dedupe.removal.plan import RemovalPlan

    try:
        with open(args.plan, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as error:
        raise AppError(f"Cannot read the plan {args.plan}: {error.strerror}") from error
    except ValueError as error:
        raise AppError(f"The plan {args.plan} is not valid JSON: {error}") from error
    plan = RemovalPlan.from_json(document)
    distance = args.distance if args.distance is not None else document.get("distance", 0)
    tolerance = (
        args.duration_diff if args.duration_diff is not None else document.get("duration_diff")
    )
    if isinstance(distance, bool) or not isinstance(distance, int):
        raise AppError(f'The plan\'s "distance" must be a whole number, not {distance!r}.')
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
    ):
        raise AppError(f'The plan\'s "duration_diff" must be seconds, not {tolerance!r}.')
    percent = _duration_percent(args)
    if percent is None and args.duration_diff is None:
        percent = document.get("duration_diff_percent")
    if percent is not None and (isinstance(percent, bool) or not isinstance(percent, (int, float))):
        raise AppError(f'The plan\'s "duration_diff_percent" must be a number, not {percent!r}.')
    with _library_session(args, settle_journal=True) as session:
        library = session.library()
        for media in sorted({library[i].media for i in plan.removed_ids if i in library}):
            session.groups(
                GroupFilter(
                    media=media,
                    distance=distance,
                    duration_tolerance=tolerance,
                    duration_percent=percent,
                )
            )
        count = len(plan.removed_ids)
        size = sum(library[i].size for i in plan.removed_ids if i in library)
        if args.mode == "delete" and not args.dry_run and not args.yes:
            if not sys.stdin.isatty():
                raise AppError("Permanent delete needs --yes when not run from a terminal.")
            answer = input(
                f"Permanently delete {count} files ({_human_bytes(size)})? "
                "Type 'delete' to confirm: "
            )
            if answer.strip() != "delete":
                print("Nothing was deleted.")
                return 2
        result = session.remove(
            plan,
            mode=args.mode,
            trash_dir=args.trash_dir,
            confirm_delete=args.mode == "delete",
            dry_run=args.dry_run,
        )
    verb = "would remove" if result.dry_run else "removed"
    if args.mode == "hardlink":
        verb = "would link" if result.dry_run else "linked"
    for removed in result.done:
        where = f" -> {removed.destination}" if removed.destination else ""
        if args.mode == "hardlink":
            where = "" if result.dry_run else f" (original in {removed.destination})"
        print(f"{verb} [{removed.file_id}] {removed.path}{where}")
    for skipped in result.skipped:
        print(f"skipped [{skipped.file_id}] {skipped.path}: {skipped.reason}")
    batch = "" if result.batch_id is None else f" (batch {result.batch_id})"
    print(
        f"{len(result.done)} files, {_human_bytes(result.bytes_freed)} {verb} by {args.mode}"
        f"{batch}; {len(result.skipped)} skipped"
    )
    if result.done and not result.dry_run and args.mode != "hardlink":
        print("Stash still lists these files until its Clean task runs.")
    return 1 if result.skipped else 0


def command_undo(args: argparse.Namespace) -> int:
    from stash_dedupe.removal.journal import Journal
    from stash_dedupe.removal.recovery import reconcile, undo_batch

    with Journal.open() as journal:
        reconcile(journal)
        result = undo_batch(journal, args.batch_id)
    for restored in result.restored:
        print(f"restored [{restored.file_id}] {restored.path}")
    for skipped in result.skipped:
        print(f"not restored [{skipped.file_id}] {skipped.path}: {skipped.reason}")
    return 1 if result.skipped else 0


def command_history(args: argparse.Namespace) -> int:
    from stash_dedupe.removal.journal import (
        Journal,
        batch_actions,
        export_history_csv,
        list_batches,
    )

    with Journal.open() as journal:
        if args.csv:
            export_history_csv(journal, sys.stdout)
            return 0
        batches = list_batches(journal)
        if not batches:
            print("No removals yet.")
        for batch in batches:
            print(
                f"batch {batch.id}  {batch.started}  {batch.mode:<6} {batch.status:<11} "
                f"{batch.done_count}/{batch.action_count} files  "
                f"{_human_bytes(batch.done_bytes)}"
            )
            if args.files:
                for action in batch_actions(journal, batch.id):
                    where = f" -> {action.destination}" if action.destination else ""
                    print(f"    {action.state:<8} {action.original_path}{where}")
    return 0


def command_auto(args: argparse.Namespace) -> int:
    """Preview (and with --yes, carry out) auto-resolve by frame and image similarity."""
    from stash_dedupe.dedupe.autoresolve import check_threshold, preview_auto_resolve
    from stash_dedupe.dedupe.session import GroupFilter
    from stash_dedupe.settings import load_settings

    check_threshold(args.threshold)
    if not args.dry_run and not args.yes:
        action = "to move the files to the trash"
        if args.mode == "hardlink":
            action = "to replace the copies with hardlinks"
        raise AppError(f"Add --dry-run to preview, or --yes {action}.")
    group_filter = GroupFilter(
        media=args.media,
        distance=args.distance,
        duration_tolerance=args.duration_diff,
        duration_percent=_duration_percent(args),
    )
    with _library_session(args, settle_journal=True) as session:
        preview = preview_auto_resolve(
            session, group_filter, args.threshold, load_settings().frame_samples
        )
        for resolution in preview.resolved:
            print(
                f"group {resolution.group_id}: keep [{resolution.keeper.file_id}] "
                f"{resolution.keeper.path}"
            )
            for file in resolution.remove:
                print(
                    f"    remove [{file.file_id}] {file.path}  {_human_bytes(file.size)}  "
                    f"score {resolution.scores[file.file_id]:.3f}"
                )
            for protection in resolution.protected:
                print(f"    kept   [{protection.file.file_id}] {protection.file.path}: "
                      f"{protection.reason}")  # fmt: skip
        for unresolved in preview.unresolved:
            print(f"group {unresolved.group_id}: left for review ({unresolved.reason})")
        count = sum(len(resolution.remove) for resolution in preview.resolved)
        print(
            f"{len(preview.resolved)} groups resolved, {count} files, "
            f"{_human_bytes(preview.bytes)}; {len(preview.unresolved)} left for review"
        )
        if not preview.resolved:
            return 0
        plan = preview.plan()
        if args.mode == "hardlink":
            from stash_dedupe.removal.hardlink import identical_part

            plan, left_out = identical_part(plan, session.library())
            for file in left_out:
                print(f"not linked [{file.file_id}] {file.path}: not identical to its keeper")
            if not plan.groups:
                print("No copy is byte-identical to its keeper, so none can become a hardlink.")
                return 0
        if args.dry_run:
            return 0
        result = session.remove(plan, mode=args.mode)
    done = f"moved {len(result.done)} files to the trash"
    if args.mode == "hardlink":
        done = f"replaced {len(result.done)} files with hardlinks to their keepers"
    print(f"{done} (batch {result.batch_id}); {len(result.skipped)} skipped")
    return 1 if result.skipped else 0


def command_demo_library(args: argparse.Namespace) -> int:
    from stash_dedupe.demo import create_demo_library, write_demo_settings

    database = create_demo_library(args.directory)
    settings = write_demo_settings(args.directory, database)
    print(f"Demo library written; its Stash database is {database}")
    print(f"Its own app settings: {settings} (use STASH_DEDUPE_HOME={settings.parent})")
    return 0


def _human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


class _Parser(argparse.ArgumentParser):
    """A usage error is one line, as every other error is (argparse adds the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 0 to 65535, not {text!r}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stash-dedupe",
        description="Find and safely remove duplicate videos and images in a Stash library.",
    )
    parser.add_argument("--version", action="version", version=f"stash-dedupe {__version__}")
    parser.add_argument("--db", help="open this Stash database directly")
    parser.add_argument(
        "--serve", action="store_true", help="serve the UI in a browser instead of opening a window"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind with --serve")
    parser.add_argument("--port", type=_port, default=0, help="port to bind with --serve")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open a demo library, group it, hash a file, and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_finding_commands(commands)
    _add_removal_commands(commands)

    demo = commands.add_parser("demo-library", help="write a small demo library into DIR")
    demo.add_argument("directory", metavar="DIR")
    demo.set_defaults(handler=command_demo_library)

    return parser


def _add_finding_commands(commands: Any) -> None:
    """groups, phash, hash, overlaps: what finds duplicates and what they need."""

    groups = commands.add_parser("groups", help="print duplicate groups")
    _add_database_arguments(groups)
    groups.add_argument("--media", choices=MEDIA_CHOICES, default="videos")
    groups.add_argument(
        "--distance",
        type=int,
        default=0,
        help=f"largest Hamming distance between phashes (0 = exact, at most {MAX_DISTANCE})",
    )
    groups.add_argument(
        "--duration-diff",
        type=float,
        default=None,
        metavar="SECONDS",
        help="videos: largest difference in duration (default: no limit)",
    )
    groups.add_argument(
        "--duration-diff-percent",
        type=float,
        default=None,
        metavar="PERCENT",
        help="videos: largest difference in duration, in percent of the longer one "
        "(instead of --duration-diff; e.g. 2 for ± 2 %%)",
    )
    groups.add_argument(
        "--sort",
        default="reclaimable",
        help="order: reclaimable (default), files, distance, newest or path",
    )
    for name in ("studio", "performer", "tag"):
        groups.add_argument(
            f"--{name}", default="", help=f"only groups with a {name} whose name contains this"
        )
    groups.add_argument("--organized", choices=["yes", "no"], default="")
    groups.add_argument(
        "--missing-only",
        action="store_true",
        help="only groups with files not found at their paths",
    )
    output = groups.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one JSON object")
    output.add_argument(
        "--csv",
        action="store_true",
        help="print one CSV row per file: group, file id, path, size, distance to the "
        "suggested keeper, suggested mark, whether it is at its path",
    )
    groups.set_defaults(handler=command_groups)

    phash = commands.add_parser("phash", help="print Stash's phash of files")
    phash.add_argument("files", nargs="+", metavar="FILE")
    phash.add_argument(
        "--exact",
        action="store_true",
        help="images: the slower mode that matches Stash bit for bit",
    )
    phash.set_defaults(handler=command_phash)

    backfill = commands.add_parser("hash", help="compute missing phashes into the app's cache")
    _add_database_arguments(backfill)
    backfill.add_argument("--media", choices=["videos", "images", "all"], default="all")
    backfill.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: all cores)"
    )
    backfill.add_argument(
        "--exact-images",
        action="store_true",
        help="hash images exactly as Stash does (slower; the fast default is within a few bits)",
    )
    backfill.set_defaults(handler=command_hash)

    overlaps = commands.add_parser(
        "overlaps", help="print videos that share footage (trims, intros, parts, compilations)"
    )
    _add_database_arguments(overlaps)
    overlaps.add_argument(
        "--min-overlap",
        type=float,
        default=DEFAULT_MIN_OVERLAP,
        metavar="SECONDS",
        help=f"shortest common segment reported (default {DEFAULT_MIN_OVERLAP:g})",
    )
    overlaps.add_argument("--json", action="store_true", help="print one JSON object")
    overlaps.set_defaults(handler=command_overlaps)


def _add_removal_commands(commands: Any) -> None:
    """remove, undo, history, auto: what removes files, and how to take it back."""
    remove = commands.add_parser("remove", help="carry out a removal plan (JSON)")
    _add_database_arguments(remove)
    remove.add_argument(
        "--plan",
        required=True,
        metavar="PLAN.json",
        help='{"groups": [{"keep": [file_id, ...], "remove": [file_id, ...]}]}',
    )
    remove.add_argument(
        "--mode",
        choices=["trash", "move", "delete", "hardlink"],
        default="trash",
        help="OS trash (default), move to --trash-dir, delete permanently, or replace each"
        " byte-identical copy with a hardlink to its keeper (the original kept in the trash)",
    )
    remove.add_argument("--trash-dir", help="folder for --mode move")
    remove.add_argument(
        "--distance",
        type=int,
        default=None,
        help="the distance the groups were found at (default: the plan's, else 0)",
    )
    remove.add_argument(
        "--duration-diff",
        type=float,
        default=None,
        metavar="SECONDS",
        help="videos: the duration tolerance of the groups (default: the plan's, else any)",
    )
    remove.add_argument(
        "--duration-diff-percent",
        type=float,
        default=None,
        metavar="PERCENT",
        help="videos: largest difference in duration, in percent of the longer one "
        "(instead of --duration-diff; e.g. 2 for ± 2 %%)",
    )

    remove.add_argument("--dry-run", action="store_true", help="only print what would happen")
    remove.add_argument("--yes", action="store_true", help="confirm --mode delete")
    remove.set_defaults(handler=command_remove)

    undo = commands.add_parser("undo", help="move a removal batch's files back")
    undo.add_argument("batch_id", type=int, metavar="BATCH_ID")
    undo.set_defaults(handler=command_undo)

    history = commands.add_parser("history", help="list removal batches")
    history.add_argument("--files", action="store_true", help="list each batch's files")
    history.add_argument("--csv", action="store_true", help="print every action as CSV")
    history.set_defaults(handler=command_history)

    auto = commands.add_parser("auto", help="resolve groups whose copies match the keeper")
    _add_database_arguments(auto)
    auto.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_MATCH_THRESHOLD,
        help=f"similarity each copy needs (0-1, default {DEFAULT_MATCH_THRESHOLD})",
    )
    auto.add_argument("--media", choices=MEDIA_CHOICES, default="videos")
    auto.add_argument("--distance", type=int, default=0)
    auto.add_argument("--duration-diff", type=float, default=None, metavar="SECONDS")
    auto.add_argument(
        "--duration-diff-percent",
        type=float,
        default=None,
        metavar="PERCENT",
        help="videos: largest difference in duration, in percent of the longer one "
        "(instead of --duration-diff; e.g. 2 for ± 2 %%)",
    )
    auto.add_argument("--dry-run", action="store_true", help="only print the preview")
    auto.add_argument(
        "--mode",
        choices=["trash", "hardlink"],
        default="trash",
        help="OS trash (default), or a hardlink to the keeper for byte-identical copies",
    )
    auto.add_argument("--yes", action="store_true", help="carry out the removal")
    auto.set_defaults(handler=command_auto)


def main(argv: Sequence[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # worker processes of a frozen (PyInstaller) build
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = getattr(args, "handler", None)
        if handler is not None:
            return handler(args)
        if args.self_test:
            from stash_dedupe.selftest import self_test

            return self_test()
        from stash_dedupe.shell import run_app

        return run_app(args)
    except AppError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: the user gets one line, the log the traceback
        from stash_dedupe.errorlog import log_path, record_unexpected

        error_id = record_unexpected(error, f"stash-dedupe {args.command or '(window)'}")
        print(f"error: unexpected error (id {error_id}); details in {log_path()}", file=sys.stderr)
        return 1

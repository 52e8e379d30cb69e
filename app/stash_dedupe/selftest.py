"""`stash-dedupe --self-test`: check a build end to end without a screen.

Builds a demo library, opens it, groups it, hashes a file, serves the page and the API, and
loads the window toolkit; prints one line a check and OK or FAILED last. Meant for a fresh
build on a machine without a screen (CI, a user's bug report). Each check imports what it
needs itself, so a part missing from a build fails its own check and the others still run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stash_dedupe.errors import AppError
from stash_dedupe.models import MediaFile


@dataclass
class _Context:
    """What the checks found so far, for the checks after them."""

    root: Path
    database: Path | None = None
    videos: list[MediaFile] | None = None


def self_test() -> int:
    """Run every check; 0 when all passed, 1 otherwise."""
    with tempfile.TemporaryDirectory(prefix="stash-dedupe-self-test-") as temporary:
        context = _Context(Path(temporary))
        passed = [_check("frontend files", _frontend, context)]
        passed.append(_check("demo library", _demo_library, context))
        if context.database is not None:
            passed.append(_check("open the database", _open_database, context))
        if context.videos is not None:
            passed.append(_check("group duplicates", _group, context))
            passed.append(_check("phash a video", _phash, context))
            passed.append(_check("serve the page and the API", _serve, context))
        passed.append(_check("window toolkit", _window_toolkit, context))
    failures = passed.count(False)
    _say("OK" if failures == 0 else f"FAILED ({failures} checks)")
    return 0 if failures == 0 else 1


def _check(name: str, step: Callable[[_Context], str], context: _Context) -> bool:
    """Run one check and print its line: ok with a detail and the time, or FAIL and why."""
    started = time.monotonic()
    try:
        detail = step(context)
    except Exception as error:  # report every failure, then go on with the rest
        message = error.message if isinstance(error, AppError) else repr(error)
        _say(f"FAIL  {name}: {message}")
        if not isinstance(error, AppError):
            _say(traceback.format_exc().rstrip())
        return False
    _say(f"ok    {name} ({detail}, {time.monotonic() - started:.1f} s)")
    return True


def _say(line: str) -> None:
    if sys.stdout is not None:  # a windowed build has none
        print(line, flush=True)


def _frontend(context: _Context) -> str:
    from stash_dedupe.web.page import frontend_dir

    return str(frontend_dir())


def _demo_library(context: _Context) -> str:
    from stash_dedupe.demo import create_demo_library

    context.database = create_demo_library(context.root / "demo")
    return str(context.database)


def _open_database(context: _Context) -> str:
    from stash_dedupe.stash.reader import open_stash_database

    with open_stash_database(context.database) as database:
        context.videos = database.load_files("video")
        return f"schema {database.schema_version}, {len(context.videos)} videos"


def _group(context: _Context) -> str:
    from stash_dedupe.dedupe.grouping import find_groups

    groups = find_groups(context.videos or [], max_distance=8)
    if not groups:
        raise AppError("the demo library gave no duplicate group")
    return f"{len(groups)} groups at distance 8"


def _phash(context: _Context) -> str:
    from stash_dedupe.media.phash import phash_file

    return phash_file((context.videos or [])[0].path)


def _serve(context: _Context) -> str:
    """The real server on a free port: the group list over the API, then the page."""
    from stash_dedupe.dedupe.dismissals import DismissalStore
    from stash_dedupe.removal.journal import Journal
    from stash_dedupe.settings import Settings
    from stash_dedupe.web.server import start
    from stash_dedupe.web.state import AppState

    state = AppState(
        Settings(),
        Journal.open(context.root / "journal.sqlite3"),
        DismissalStore(context.root / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(context.database))
    server, url = start(state)
    try:
        base = url.split("/?", 1)[0]
        request = urllib.request.Request(
            f"{base}/api/groups?distance=8", headers={"X-Token": state.token}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            total = json.load(response)["total"]
        with urllib.request.urlopen(f"{base}/", timeout=60) as response:
            response.read()
    finally:
        server.shutdown()
    return f"page and API answer, {total} groups"


def _window_toolkit(context: _Context) -> str:
    from stash_dedupe.shell import load_window_toolkit

    return load_window_toolkit()

"""The frozen Linux app that ships (PyInstaller, onedir): it checks itself and opens its window.

The module builds it with build/build.sh unless the build in dist/ is newer than every file it
is made from. `pytest -m package` selects these tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stash_dedupe.shell import READY_FILE_VARIABLE

from .conftest import START_TIMEOUT, assert_screen_shows_something, wait_for_file
from .test_selftest import passed_self_test

REPO = Path(__file__).resolve().parents[1]
BUILD_COMMAND = ["bash", str(REPO / "build" / "build.sh"), "--onedir"]
EXECUTABLE = REPO / "dist" / "onedir" / "stash-dedupe" / "stash-dedupe"
BUILT_FROM = [
    REPO / "app",
    REPO / "frontend",
    REPO / "build" / "stash-dedupe.spec",
    REPO / "pyproject.toml",
]
BUILD_TIMEOUT = 1800

pytestmark = [
    pytest.mark.package,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="builds the Linux app"),
]


def newest_source_time() -> float:
    files = (
        path
        for source in BUILT_FROM
        for path in ([source] if source.is_file() else source.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    )
    return max(path.stat().st_mtime for path in files)


@pytest.fixture(scope="module")
def executable() -> Path:
    """The frozen app, built now unless dist/ holds one newer than its sources."""
    if EXECUTABLE.is_file() and EXECUTABLE.stat().st_mtime > newest_source_time():
        return EXECUTABLE
    started = time.monotonic()
    build = subprocess.run(
        BUILD_COMMAND, cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if build.returncode != 0:
        pytest.fail(f"the build failed:\n{build.stdout[-3000:]}\n{build.stderr[-6000:]}")
    print(f"built {EXECUTABLE} in {time.monotonic() - started:.0f} s")
    return EXECUTABLE


def test_frozen_app_passes_its_self_test(executable: Path) -> None:
    printed = passed_self_test([str(executable)])
    assert f"({REPO / 'frontend'}," not in printed, "the page must come from the bundle"


@pytest.mark.window
def test_frozen_app_opens_its_window_on_the_group_list(
    executable: Path,
    display: str,
    demo_library: Path,
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    ready = tmp_path / "ready.json"
    environment = {**os.environ, "DISPLAY": display, READY_FILE_VARIABLE: str(ready)}
    environment.pop("WAYLAND_DISPLAY", None)
    environment.pop("QT_QPA_PLATFORM", None)
    started = time.monotonic()
    app = subprocess.Popen(
        [str(executable), "--db", str(demo_library)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_file(ready, app, START_TIMEOUT)
        first_paint = time.monotonic() - started
        record_property("first_paint_seconds", round(first_paint, 2))
        print(f"first paint of the group list {first_paint:.2f} s after launch")
        report = json.loads(ready.read_text())
        assert report["view"] == "review"
        assert report["groups"] >= 1

        screenshot = tmp_path / "frozen-window.png"
        assert_screen_shows_something(display, screenshot)

        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=30)

"""The real window: `python -m stash_dedupe --db DEMO` under Xvfb shows the group list.

The app reports the page's first render through the window's js_api into the file named by
STASH_DEDUPE_READY_FILE; the test then screenshots the X screen and checks it is not blank.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stash_dedupe.shell import READY_FILE_VARIABLE, quiet_web_engine_logging

from .conftest import START_TIMEOUT, assert_screen_shows_something, wait_for_file

pytestmark = pytest.mark.window


def test_window_opens_on_the_demo_library_and_renders_the_group_list(
    display: str, demo_library: Path, tmp_path: Path
) -> None:
    ready = tmp_path / "ready.json"
    environment = {**os.environ, "DISPLAY": display, READY_FILE_VARIABLE: str(ready)}
    environment.pop("WAYLAND_DISPLAY", None)
    environment.pop("QT_QPA_PLATFORM", None)
    app = subprocess.Popen(
        [sys.executable, "-m", "stash_dedupe", "--db", str(demo_library)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_file(ready, app, START_TIMEOUT)
        report = json.loads(ready.read_text())
        assert report["view"] == "review"
        assert report["groups"] >= 1

        screenshot_dir = Path(os.environ.get("STASH_DEDUPE_SCREENSHOTS") or tmp_path)
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        screenshot = screenshot_dir / "window-xvfb.png"
        assert_screen_shows_something(display, screenshot)

        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=30)


def test_window_keeps_web_engine_chatter_off_the_terminal() -> None:
    environment = {"QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox"}
    quiet_web_engine_logging(environment)
    assert environment == {
        "QT_LOGGING_RULES": "default.warning=false",
        "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox --log-level=3",
    }


def test_window_leaves_web_engine_logging_the_user_asked_for() -> None:
    asked = {"QT_LOGGING_RULES": "qt.*=true", "QTWEBENGINE_CHROMIUM_FLAGS": "--log-level=0"}
    environment = dict(asked)
    quiet_web_engine_logging(environment)
    assert environment == asked

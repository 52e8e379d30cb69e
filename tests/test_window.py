"""The real window: `python -m stash_dedupe --db DEMO` under Xvfb shows the group list.

The app reports the page's first render through the window's js_api into the file named by
STASH_DEDUPE_READY_FILE; the test then screenshots the X screen and checks it is not blank.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from stash_dedupe.shell import READY_FILE_VARIABLE

pytestmark = pytest.mark.window

SCREEN = (1440, 900)
START_TIMEOUT = 120.0


def _missing_tools() -> list[str]:
    return [tool for tool in ("Xvfb", "import") if shutil.which(tool) is None]


@pytest.fixture
def display() -> Iterator[str]:
    """A private Xvfb server on a display number it picks itself (-displayfd)."""
    if _missing_tools():
        pytest.skip(f"missing {', '.join(_missing_tools())} (make system-deps)")
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{SCREEN[0]}x{SCREEN[1]}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as announced:
        number = announced.readline().strip()  # written once the server accepts clients
    if not number:
        xvfb.kill()
        pytest.fail("Xvfb did not start")
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(timeout=10)


def wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"the app exited with {process.returncode} before rendering:\n{output}")
        if time.monotonic() > deadline:
            pytest.fail(f"the page did not report its first render within {timeout:.0f} s")
        time.sleep(0.2)  # waiting for another process to write the file


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
        subprocess.run(
            ["import", "-window", "root", str(screenshot)],
            check=True,
            timeout=60,
            env={**os.environ, "DISPLAY": display},
        )
        with Image.open(screenshot) as image:
            pixels = image.convert("RGB")
            colours = pixels.getcolors(maxcolors=1 << 20) or []
            commonest = max(count for count, _ in colours)
            assert len(colours) > 200, "the screen looks blank"
            assert commonest < 0.8 * pixels.width * pixels.height, "the screen looks blank"

        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=30)

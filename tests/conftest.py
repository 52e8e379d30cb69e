"""Shared test fixtures: real-schema Stash databases, the demo library, an isolated app home."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from stash_dedupe.stash.library_writer import LibraryWriter

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
STASH_SCHEMAS = DATA / "stash-schemas"  # empty Stash databases, one per schema version
PHASH_VECTORS = DATA / "phash-vectors"  # media with the phashes Stash's own Go code gives them


@pytest.fixture(autouse=True)
def isolated_app_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Keep every test's settings, caches, journal and trash out of the real home."""
    home = tmp_path_factory.mktemp("app-home")
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    return home


def fixture_database(version: int) -> Path:
    return STASH_SCHEMAS / f"stash-go-schema-{version}.sqlite"


@pytest.fixture
def stash_database(tmp_path: Path) -> Callable[[int], tuple[Path, LibraryWriter]]:
    """Copy Stash's real empty schema of a version into tmp and return it with a writer."""

    def make(version: int = 75) -> tuple[Path, LibraryWriter]:
        target = tmp_path / f"stash-{version}" / "stash-go.sqlite"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixture_database(version), target)
        target.chmod(0o644)
        return target, LibraryWriter(target)

    return make


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library, built once per test session; returns its database path."""
    from stash_dedupe.demo import create_demo_library

    return create_demo_library(tmp_path_factory.mktemp("demo"))


# ---- a real X display for window tests ----------------------------------------------------

SCREEN = (1440, 900)
START_TIMEOUT = 120.0


def _missing_tools() -> list[str]:
    return [tool for tool in ("Xvfb", "import") if shutil.which(tool) is None]


@pytest.fixture
def display() -> Iterator[str]:
    """A private Xvfb server on a display number it picks itself (-displayfd)."""
    if _missing_tools():
        pytest.fail(f"missing {', '.join(_missing_tools())}: run `make system-deps`")
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


def assert_screen_shows_something(display: str, screenshot: Path) -> None:
    """Screenshot the whole X display and fail when it is blank (one colour, or nearly)."""
    subprocess.run(
        ["import", "-window", "root", str(screenshot)],
        check=True,
        timeout=60,
        env={**os.environ, "DISPLAY": display},
    )
    from PIL import Image

    with Image.open(screenshot) as image:
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
        commonest = max(count for count, _ in colours)
        assert len(colours) > 200, f"the screen looks blank: {screenshot}"
        assert commonest < 0.8 * pixels.width * pixels.height, (
            f"the screen looks blank: {screenshot}"
        )


# ---- Debian's Chromium, driven by Playwright ----------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run `make system-deps`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"

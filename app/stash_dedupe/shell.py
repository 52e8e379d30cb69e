"""The window shell: a pywebview window on the in-process server, or `--serve` for a browser.

The only module that imports pywebview. The server always runs in this process on a
threaded server; the window just shows its page. Linux uses the Qt backend (pywebview would
try GTK first); as root, Qt WebEngine's Chromium needs `--no-sandbox` to start at all.
`load_window_toolkit` is how the self-test (`selftest`) checks the toolkit of a build.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from stash_dedupe.errors import AppError
from stash_dedupe.web.gate import is_loopback
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

WINDOW_TITLE = "Stash Dedupe"
# Set by the window test: the page's first render is reported into this file.
READY_FILE_VARIABLE = "STASH_DEDUPE_READY_FILE"


def run_app(args: argparse.Namespace) -> int:
    """`stash-dedupe` without a subcommand: the window, or `--serve` for a browser."""
    serve = bool(getattr(args, "serve", False))
    if not serve and not display_available():
        print(
            "No display found (DISPLAY and WAYLAND_DISPLAY are unset): serving the app "
            "for a browser instead.",
            flush=True,
        )
        serve = True
    host = getattr(args, "host", None) or "127.0.0.1"
    port = int(getattr(args, "port", 0) or 0)
    if not serve:
        host, port = "127.0.0.1", 0
    state = AppState()
    state.try_open(getattr(args, "db", None) or state.settings.database)
    if state.open_error:
        _say(f"warning: {state.open_error}", error=True)
    if not is_loopback(host):
        _say(
            f"warning: listening on {host}, not only on this machine: anyone who can reach "
            "it and has the link (with its token) can review and remove your files.",
            error=True,
        )
    server, url = start(state, host, port)
    try:
        if serve:
            return _serve_until_stopped(url, remote=not is_loopback(host))
        return _open_window(state, url)
    finally:
        server.shutdown()


def display_available() -> bool:
    """Windows and macOS always have one; elsewhere X11 or Wayland must be announced."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _say(message: str, error: bool = False) -> None:
    stream = sys.stderr if error else sys.stdout
    if stream is not None:  # a windowed build has neither
        print(message, file=stream, flush=True)


def _serve_until_stopped(url: str, remote: bool = False) -> int:
    _say(f"Stash Dedupe is serving at {url}")
    if remote:
        _say("From another machine, put this machine's address in place of 127.0.0.1.")
    _say("Open that address in a browser (the token in it is your key). Ctrl-C stops it.")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


class WindowApi:
    """Called from the page as `window.pywebview.api.NAME()`; runs on pywebview's threads.

    Attributes are private: pywebview exposes every public attribute to the page.
    """

    def __init__(self, state: AppState) -> None:
        self._state = state
        self._window: Any = None

    def pick_database(self) -> str | None:
        """The native Open dialog, filtered to Stash databases."""
        import webview

        chosen = self._window.create_file_dialog(
            webview.FileDialog.OPEN,
            directory=str(Path.home() / ".stash"),
            file_types=("Stash database (*.sqlite;*.db)", "All files (*.*)"),
        )
        return str(chosen[0]) if chosen else None

    def pick_folder(self) -> str | None:
        import webview

        chosen = self._window.create_file_dialog(webview.FileDialog.FOLDER)
        return str(chosen[0]) if chosen else None

    def open_file(self, file_id: int) -> bool:
        """Open a library file in the system's default app (the window's web engine plays
        few codecs). Only ids the Stash database lists: the page cannot name a path."""
        session = self._state.require_session()
        open_with_system(session.readable_path(int(file_id)))
        return True

    def page_rendered(self, info: dict[str, Any] | None = None) -> bool:
        """The page reports its first full render (used by the window test)."""
        target = os.environ.get(READY_FILE_VARIABLE)
        if target:
            temporary = f"{target}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(info or {}, handle)
            os.replace(temporary, target)
        return True


def open_with_system(path: str) -> None:
    """Hand a file to the desktop's default application for it."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]
        return
    from stash_dedupe.media.ffmpeg_tools import system_subprocess_env

    command = ["open", path] if sys.platform == "darwin" else ["xdg-open", path]
    try:
        subprocess.Popen(
            command,
            env=system_subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as error:
        raise AppError(f"Cannot open {path}: {command[0]} failed ({error.strerror}).") from error


def _open_window(state: AppState, url: str) -> int:
    if sys.platform.startswith("linux"):
        quiet_web_engine_logging(os.environ)
        if os.geteuid() == 0:
            _add_chromium_flag(os.environ, "--no-sandbox")
    import webview

    webview.settings["ALLOW_DOWNLOADS"] = True  # the history CSV export is a download
    api = WindowApi(state)
    window = webview.create_window(
        WINDOW_TITLE,
        url,
        js_api=api,
        width=1280,
        height=800,
        min_size=(960, 600),
        background_color="#16181c",
    )
    api._window = window
    signal.signal(signal.SIGTERM, lambda *_: window.destroy())
    gui = "qt" if sys.platform.startswith("linux") else None
    webview.start(gui=gui)
    return 0


def load_window_toolkit() -> str:
    """Import the window's toolkit (Qt WebEngine on Linux) as a window would; says which."""
    import webview  # noqa: F401

    if sys.platform.startswith("linux"):
        from qtpy import QtWebEngineWidgets  # noqa: F401

        return "pywebview with Qt WebEngine"
    return "pywebview"


def quiet_web_engine_logging(environment: MutableMapping[str, str]) -> None:
    """Keep Qt WebEngine's GPU, Vulkan and D-Bus complaints off the terminal: the page renders
    anyway and no user can act on them. Setting QT_LOGGING_RULES, or a --log-level in
    QTWEBENGINE_CHROMIUM_FLAGS, brings them back."""
    environment.setdefault("QT_LOGGING_RULES", "default.warning=false")
    _add_chromium_flag(environment, "--log-level=3")  # Chromium's fatal errors only


def _add_chromium_flag(environment: MutableMapping[str, str], flag: str) -> None:
    """Add a flag for Qt WebEngine's Chromium unless the user's flags already set it."""
    flags = environment.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
    if flag.split("=")[0] not in flags:
        environment["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} {flag}".strip()

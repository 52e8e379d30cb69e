"""Where the app keeps its own data: settings, caches, the journal, the error log.

The platform's per-user data dir, or `$STASH_DEDUPE_HOME` when set (tests and portable use).
`AppPaths` names every file in it once; an entry point (the window, the CLI) resolves it at
launch and passes it down, so all the stores of one run live in one folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "stash-dedupe"


def app_data_dir() -> Path:
    """Return (and create) the directory for the app's own files."""
    override = os.environ.get("STASH_DEDUPE_HOME")
    if override:
        base = Path(override)
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / APP_NAME
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / APP_NAME
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        base = Path(xdg) / APP_NAME
    base.mkdir(parents=True, exist_ok=True)
    return base


@dataclass(frozen=True)
class AppPaths:
    """The app's own files, all inside `home`."""

    home: Path

    @classmethod
    def for_this_run(cls) -> AppPaths:
        """The folder as the environment gives it now (created if missing)."""
        return cls(app_data_dir())

    @property
    def settings(self) -> Path:
        return self.home / "settings.json"

    @property
    def journal(self) -> Path:
        return self.home / "journal.sqlite3"

    @property
    def dismissals(self) -> Path:
        return self.home / "dismissals.sqlite3"

    @property
    def phash_cache(self) -> Path:
        return self.home / "phash-cache.sqlite"

    @property
    def fingerprint_cache(self) -> Path:
        return self.home / "fingerprint-cache.sqlite"

    @property
    def frame_cache(self) -> Path:
        return self.home / "frames"

    @property
    def thumbnails(self) -> Path:
        return self.home / "thumbnails"

    @property
    def error_log(self) -> Path:
        return self.home / "logs" / "stash-dedupe.log"

"""Where the app keeps its own data: settings, caches, the journal.

The platform's per-user data dir, or `$STASH_DEDUPE_HOME` when set (tests and portable use).
"""

from __future__ import annotations

import os
import sys
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

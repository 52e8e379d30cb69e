"""The page: where its files are (a PyInstaller bundle, an installed wheel, a checkout) and
the two routes that serve them, with no token (the page holds no secret)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import bottle

from stash_dedupe.errors import AppError


def frontend_dir() -> Path:
    """The page's files: in a PyInstaller bundle, an installed wheel, or a checkout."""
    package = Path(__file__).resolve().parents[1]  # stash_dedupe/
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "frontend")
    candidates += [package / "frontend", package.parents[1] / "frontend"]
    for candidate in candidates:
        if (candidate / "index.html").is_file():
            return candidate
    raise AppError(
        "The app's page files are missing (looked in "
        + ", ".join(str(path) for path in candidates)
        + "); reinstall Stash Dedupe."
    )


def add_page_routes(app: bottle.Bottle) -> None:
    @app.get("/")
    def index() -> Any:
        return bottle.static_file(
            "index.html", root=str(frontend_dir()), mimetype="text/html", charset="utf-8"
        )

    @app.get("/static/<filepath:path>")
    def static(filepath: str) -> Any:
        return bottle.static_file(filepath, root=str(frontend_dir()), charset="utf-8")

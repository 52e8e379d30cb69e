"""The user's settings: a small JSON file in the app's data dir, readable only by the user."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from stash_dedupe.appdata import app_data_dir
from stash_dedupe.errors import AppError
from stash_dedupe.keeper import DEFAULT_RULES, check_rules
from stash_dedupe.pathmap import PathMapping
from stash_dedupe.stash_api import normalize_url

REMOVAL_MODES = ("trash", "move", "delete")
THEMES = ("dark", "light")


@dataclass
class Settings:
    database: str | None = None
    path_mappings: list[dict[str, str]] = field(default_factory=list)
    default_distance: int = 0
    duration_tolerance: float | None = 1.0
    removal_mode: str = "trash"
    trash_dir: str | None = None
    keeper_rules: list[str] = field(default_factory=lambda: list(DEFAULT_RULES))
    preferred_folders: list[str] = field(default_factory=list)
    theme: str = "dark"
    frame_samples: int = 9
    stash_url: str = "http://localhost:9999"
    stash_api_key: str = ""

    def mappings(self) -> list[PathMapping]:
        return [PathMapping(m["stash_prefix"], m["local_prefix"]) for m in self.path_mappings]

    def updated(self, changes: dict) -> Settings:
        """A copy with `changes` applied, after checking each value."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise AppError(f"Unknown setting(s): {', '.join(unknown)}")
        merged = Settings(**{**asdict(self), **changes})
        merged.validate()
        return merged

    def validate(self) -> None:
        if not isinstance(self.default_distance, int) or not 0 <= self.default_distance <= 16:
            raise AppError("The default distance must be a whole number from 0 to 16.")
        if self.duration_tolerance is not None and (
            not isinstance(self.duration_tolerance, (int, float)) or self.duration_tolerance < 0
        ):
            raise AppError("The duration tolerance must be empty (any) or seconds >= 0.")
        if self.removal_mode not in REMOVAL_MODES:
            raise AppError(f"The removal mode must be one of {', '.join(REMOVAL_MODES)}.")
        if self.removal_mode == "move" and not self.trash_dir:
            raise AppError("Moving to a trash folder needs the folder: set a trash folder.")
        if self.theme not in THEMES:
            raise AppError(f"The theme must be one of {', '.join(THEMES)}.")
        if not isinstance(self.frame_samples, int) or not 1 <= self.frame_samples <= 49:
            raise AppError("Frame samples must be a whole number from 1 to 49.")
        if not isinstance(self.stash_url, str) or not isinstance(self.stash_api_key, str):
            raise AppError("The Stash URL and API key must be text.")
        if self.stash_url.strip():
            try:
                normalize_url(self.stash_url)
            except AppError as error:  # a StashError (502): here it is the user's input
                raise AppError(error.message) from None
        check_rules(self.keeper_rules)
        for mapping in self.path_mappings:
            if (
                not isinstance(mapping, dict)
                or not mapping.get("stash_prefix")
                or not mapping.get("local_prefix")
            ):
                raise AppError("Each path mapping needs a Stash prefix and a local prefix.")


def settings_for_page(settings: Settings) -> dict:
    """The settings as the page may see them: never the Stash API key, only whether one is set."""
    data = asdict(settings)
    data["stash_api_key"] = ""
    data["stash_api_key_set"] = bool(settings.stash_api_key)
    return data


def changes_from_page(changes: dict) -> dict:
    """Changes as the page sends them: an empty API key keeps the saved one (the page never
    had it), null forgets it; `stash_api_key_set` comes back from `settings_for_page`."""
    changes = {key: value for key, value in changes.items() if key != "stash_api_key_set"}
    if "stash_api_key" in changes:
        key = changes.pop("stash_api_key")
        if key is None:
            changes["stash_api_key"] = ""
        elif not isinstance(key, str):
            raise AppError("The Stash API key must be text.")
        elif key.strip():
            changes["stash_api_key"] = key.strip()
    return changes


def settings_path() -> Path:
    return app_data_dir() / "settings.json"


def load_settings() -> Settings:
    path = settings_path()
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(Settings)}
        settings = Settings(**{k: v for k, v in data.items() if k in known})
        settings.validate()
        return settings
    except (ValueError, TypeError, AppError):
        # A damaged settings file must not lock the user out: start from defaults, keep a copy.
        path.replace(path.with_suffix(".damaged.json"))
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically with user-only permissions (the file may hold a Stash API key)."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(settings), handle, indent=2)
    os.replace(temporary, path)

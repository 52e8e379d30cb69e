"""The user's settings: a small JSON file in the app's data dir, readable only by the user.

Every value is checked for its type and range when it changes and when the file is read,
so a setting can never reach the domain (or a JSON response) as the wrong kind of value.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from stash_dedupe.appdata import AppPaths
from stash_dedupe.dedupe.keeper import (
    DEFAULT_CODEC_ORDER,
    DEFAULT_RULES,
    PREVIOUS_DEFAULT_RULES,
    check_codec_order,
    check_rules,
)
from stash_dedupe.errors import AppError
from stash_dedupe.models import DEFAULT_FRAME_COUNT
from stash_dedupe.removal.journal import REMOVAL_MODES
from stash_dedupe.stash.pathmap import PathMapping
from stash_dedupe.stash.url import normalize_url, stash_page_base

THEMES = ("dark", "light")
MAX_TEXT_LENGTH = 4096  # the longest path (Linux's PATH_MAX) or other text a setting holds
MAX_LIST_LENGTH = 200  # path mappings, preferred and protected folders, keeper rules
MAPPING_KEYS = ("stash_prefix", "local_prefix")
MAX_DURATION_TOLERANCE = 86400  # seconds; beyond a day, "any" says it better
# A fresh start opens at Medium (8): re-encodes, trims and letterboxed copies show, not only
# byte-exact phash twins (Exact 0 hides most of what a user comes for; High 4 misses a
# letterboxed copy of the demo). The page remembers the distance the user picks after that.
DEFAULT_DISTANCE = 8


@dataclass
class Settings:
    database: str | None = None
    path_mappings: list[PathMapping] = field(default_factory=list)
    default_distance: int = DEFAULT_DISTANCE
    duration_tolerance: float | None = 1.0
    removal_mode: str = "trash"
    trash_dir: str | None = None
    keeper_rules: list[str] = field(default_factory=lambda: list(DEFAULT_RULES))
    preferred_folders: list[str] = field(default_factory=list)
    codec_order: list[str] = field(default_factory=lambda: list(DEFAULT_CODEC_ORDER))
    # Files under these folders are never suggested for removal, and removal refuses them.
    protected_folders: list[str] = field(default_factory=list)
    theme: str = "dark"
    frame_samples: int = DEFAULT_FRAME_COUNT
    stash_url: str = ""  # empty: no Stash to reach (the page never asks one unprompted)
    stash_api_key: str = ""

    def __post_init__(self) -> None:
        # Mappings arrive as JSON objects (the page, the settings file): typed from here on.
        self.path_mappings = _parsed_path_mappings(self.path_mappings)

    def updated(self, changes: dict) -> Settings:
        """A copy with `changes` applied, after checking each value. A new path mapping must
        also point at a folder that exists (a saved one may be a share not mounted now)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise AppError(f"Unknown setting(s): {', '.join(quoted(name) for name in unknown)}")
        merged = Settings(**{**asdict(self), **changes})
        merged.validate()
        for number, mapping in enumerate(merged.path_mappings, 1):
            if mapping not in self.path_mappings:
                with _about(f"path_mappings.{number - 1}.local_prefix"):
                    _check_local_folder(mapping.local_prefix, number)
        return merged

    def validate(self) -> None:
        """Refuse any value of the wrong type or out of range, naming the setting."""
        if self.database not in (None, ""):
            checked_path(self.database, "database", "The Stash database")
        _check_path_mappings(self.path_mappings)
        _check_whole_number(self.default_distance, "default_distance", "The default distance", 16)
        if self.duration_tolerance is not None and not is_duration_tolerance(
            self.duration_tolerance
        ):
            raise AppError(
                "The duration tolerance (duration_tolerance) must be empty (any) or seconds"
                f" from 0 to {MAX_DURATION_TOLERANCE}.",
                field="duration_tolerance",
            )
        if not isinstance(self.removal_mode, str) or self.removal_mode not in REMOVAL_MODES:
            raise AppError(
                f"The removal mode (removal_mode) must be one of {', '.join(REMOVAL_MODES)}.",
                field="removal_mode",
            )
        if self.trash_dir not in (None, ""):
            checked_path(self.trash_dir, "trash_dir", "The trash folder")
        if self.removal_mode == "move" and not self.trash_dir:
            raise AppError(
                "Moving to a trash folder needs the folder: set the trash folder (trash_dir).",
                field="trash_dir",
            )
        for rule in _checked_list(self.keeper_rules, "keeper_rules", "The keeper rules"):
            checked_text(rule, "keeper_rules", "Each keeper rule")
        with _about("keeper_rules"):
            check_rules(self.keeper_rules)
        for index, folder in enumerate(
            _checked_list(self.preferred_folders, "preferred_folders", "The preferred folders")
        ):
            with _about(f"preferred_folders.{index}"):
                checked_path(folder, "preferred_folders", "Each preferred folder")
        with _about("codec_order"):
            for codec in _checked_list(self.codec_order, "codec_order", "The codec order"):
                checked_text(codec, "codec_order", "Each codec of the codec order")
            check_codec_order(self.codec_order)
        for index, folder in enumerate(
            _checked_list(self.protected_folders, "protected_folders", "The protected folders")
        ):
            with _about(f"protected_folders.{index}"):
                checked_path(folder, "protected_folders", "Each protected folder")
        if not isinstance(self.theme, str) or self.theme not in THEMES:
            raise AppError(f"The theme (theme) must be one of {', '.join(THEMES)}.", field="theme")
        _check_whole_number(self.frame_samples, "frame_samples", "Frame samples", 49, lowest=1)
        checked_text(self.stash_url, "stash_url", "The Stash URL", line=True)
        checked_text(self.stash_api_key, "stash_api_key", "The Stash API key", line=True)
        if self.stash_url.strip():
            try:
                normalize_url(self.stash_url)
            except AppError as error:  # a StashError (502): here it is the user's input
                raise AppError(error.message, field="stash_url") from None


# ---- checks, shared with the API's parsing of request bodies -----------------------------


@contextmanager
def _about(field: str) -> Iterator[None]:
    """Errors raised inside are about `field` (more precise than the name the check knows)."""
    try:
        yield
    except AppError as error:
        error.field = field
        raise


def quoted(value: object) -> str:
    """A value as a message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: object) -> bool:
    """An int or a finite float; a bool is not a number here (JSON's true is not 1)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def is_duration_tolerance(value: object) -> bool:
    """Whether `value` is a number of seconds two durations may differ by."""
    return _is_number(value) and 0 <= value <= MAX_DURATION_TOLERANCE  # type: ignore[operator]


def checked_text(value: object, name: str, label: str, line: bool = False) -> str:
    """`value` if it is text of at most MAX_TEXT_LENGTH characters that the OS can take:
    no NUL, no lone surrogate, and with `line` no control character (a header value)."""
    if not isinstance(value, str):
        raise AppError(f"{label} ({name}) must be text, not {quoted(value)}.", field=name)
    if len(value) > MAX_TEXT_LENGTH:
        raise AppError(f"{label} ({name}) is longer than {MAX_TEXT_LENGTH} characters.", field=name)
    if "\0" in value or (line and any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise AppError(f"{label} ({name}) must not contain control characters.", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AppError(
            f"{label} ({name}) is not valid text (a lone surrogate).", field=name
        ) from None
    return value


def checked_path(value: object, name: str, label: str) -> str:
    """`value` if it is text (see `checked_text`) naming an absolute path."""
    path = checked_text(value, name, label)
    if not os.path.isabs(path):
        raise AppError(
            f"{label} ({name}) must be an absolute path, not {quoted(path)}.", field=name
        )
    return path


def _check_whole_number(
    value: object, name: str, label: str, highest: int, lowest: int = 0
) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise AppError(
            f"{label} ({name}) must be a whole number from {lowest} to {highest}.", field=name
        )


def _checked_list(value: object, name: str, label: str) -> list:
    if not isinstance(value, list):
        raise AppError(f"{label} ({name}) must be a list, not {quoted(value)}.", field=name)
    if len(value) > MAX_LIST_LENGTH:
        raise AppError(f"{label} ({name}) may have at most {MAX_LIST_LENGTH} entries.", field=name)
    return value


def _parsed_path_mappings(mappings: object) -> list[PathMapping]:
    """Path mappings given as `PathMapping`s or as {"stash_prefix", "local_prefix"} objects."""
    listed = _checked_list(mappings, "path_mappings", "The path mappings")
    parsed = []
    for number, mapping in enumerate(listed, 1):
        if isinstance(mapping, PathMapping):
            parsed.append(mapping)
            continue
        if not isinstance(mapping, dict) or set(mapping) != set(MAPPING_KEYS):
            raise AppError(
                f"Each path mapping (path_mappings) needs a Stash prefix and a local prefix"
                f" (stash_prefix, local_prefix); number {number} is {quoted(mapping)}.",
                field=f"path_mappings.{number - 1}",
            )
        parsed.append(PathMapping(mapping["stash_prefix"], mapping["local_prefix"]))
    return parsed


def _check_path_mappings(mappings: list[PathMapping]) -> None:
    for number, mapping in enumerate(mappings, 1):
        label = f"Path mapping {number}'s"
        field = f"path_mappings.{number - 1}"
        with _about(f"{field}.stash_prefix"):
            checked_text(mapping.stash_prefix, "path_mappings", f"{label} Stash side")
        with _about(f"{field}.local_prefix"):
            checked_path(mapping.local_prefix, "path_mappings", f"{label} local side")
        if not mapping.stash_prefix or not mapping.local_prefix:
            empty = "stash_prefix" if not mapping.stash_prefix else "local_prefix"
            raise AppError(
                f"Each path mapping (path_mappings) needs a Stash prefix and a local prefix;"
                f" number {number} has an empty one.",
                field=f"{field}.{empty}",
            )


def _check_local_folder(local_prefix: str, number: int) -> None:
    label = f"Path mapping {number}'s local side (path_mappings) {local_prefix}"
    if os.path.isdir(local_prefix):
        return
    if os.path.lexists(local_prefix):
        raise AppError(f"{label} is a file, not a folder: map Stash's folder onto a folder.")
    raise AppError(f"{label} does not exist here: give the folder where this computer sees it.")


# ---- the page and the file ----------------------------------------------------------------


def settings_for_page(settings: Settings) -> dict:
    """The settings as the page may see them: never the Stash API key, only whether one is set."""
    data = asdict(settings)
    data["stash_api_key"] = ""
    data["stash_api_key_set"] = bool(settings.stash_api_key)
    data["stash_page_base"] = stash_page_base(settings.stash_url)  # for "Open in Stash" links
    return data


def changes_from_page(changes: dict) -> dict:
    """Changes as the page sends them: an empty API key keeps the saved one (the page never
    had it), null forgets it; `stash_api_key_set` and `stash_page_base` come back from
    `settings_for_page`."""
    derived = ("stash_api_key_set", "stash_page_base")
    changes = {key: value for key, value in changes.items() if key not in derived}
    if "stash_api_key" in changes:
        key = changes.pop("stash_api_key")
        if key is None:
            changes["stash_api_key"] = ""
        elif not isinstance(key, str):
            raise AppError("The Stash API key (stash_api_key) must be text.")
        elif key.strip():
            changes["stash_api_key"] = key.strip()
    return changes


def settings_path() -> Path:
    return AppPaths.for_this_run().settings


def load_settings() -> Settings:
    path = settings_path()
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        known = {f.name for f in fields(Settings)}
        if data.get("keeper_rules") == list(PREVIOUS_DEFAULT_RULES):
            data["keeper_rules"] = list(DEFAULT_RULES)  # the old default, never the user's pick
        settings = Settings(**{k: v for k, v in data.items() if k in known})
        settings.validate()
        return settings
    except (ValueError, TypeError, RecursionError, AppError):
        # A damaged settings file must not lock the user out: start from defaults, keep a copy.
        path.replace(path.with_suffix(".damaged.json"))
        return Settings()


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically with user-only permissions (the file may hold a Stash API key)."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(settings), handle, indent=2, allow_nan=False)
    os.replace(temporary, path)

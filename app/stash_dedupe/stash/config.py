"""Where Stash keeps things: its config.yml, its database, its generated folder.

Only the few top-level scalar keys the app needs are read from config.yml (a small line
parser: the app carries no YAML library). Paths in it are relative to the config's folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "config.yml"
DATABASE_NAME = "stash-go.sqlite"


def read_config(path: str | os.PathLike[str]) -> dict[str, str]:
    """Top-level `key: value` pairs of a Stash config.yml (nested blocks are skipped)."""
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        if not line or line[0] in " \t#-" or ":" not in line:
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if value.startswith(("'", '"')) and len(value) >= 2 and value[-1] == value[0]:
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if value:
            values[key.strip()] = value
    return values


def config_path_value(config_file: Path, value: str) -> Path:
    """A path from config.yml: relative ones are relative to the config's folder."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else config_file.parent / path


def config_files() -> list[Path]:
    """Config files Stash itself would look at: $STASH_CONFIG_FILE, the cwd, ~/.stash."""
    found = []
    override = os.environ.get("STASH_CONFIG_FILE")
    if override:
        found.append(Path(override))
    found += [Path.cwd() / CONFIG_NAME, Path.home() / ".stash" / CONFIG_NAME]
    return [path for path in found if path.is_file()]


def config_beside(database_path: str | os.PathLike[str]) -> dict[str, str] | None:
    """The config.yml next to a Stash database (Stash's default layout), if there is one."""
    config = Path(database_path).parent / CONFIG_NAME
    return read_config(config) if config.is_file() else None


def generated_dir(database_path: str | os.PathLike[str]) -> Path | None:
    """Stash's `generated` folder for this database, if it can be found on this machine."""
    config_file = Path(database_path).parent / CONFIG_NAME
    config = config_beside(database_path)
    if config and config.get("generated"):
        folder = config_path_value(config_file, config["generated"])
        if folder.is_dir():
            return folder
    default = Path(database_path).parent / "generated"
    return default if default.is_dir() else None


@dataclass(frozen=True)
class DatabaseCandidate:
    path: str
    source: str


def _platform_spots() -> list[tuple[Path, str]]:
    spots = [(Path.cwd() / "config" / DATABASE_NAME, "docker-compose ./config folder")]
    if sys.platform == "win32":
        profile = os.environ.get("USERPROFILE")
        if profile:
            spots.append((Path(profile) / ".stash" / DATABASE_NAME, "%USERPROFILE%\\.stash"))
    elif sys.platform != "darwin":
        spots.append((Path("/root/.stash") / DATABASE_NAME, "Stash's Docker home"))
    return spots


def database_candidates() -> list[DatabaseCandidate]:
    """Stash databases found in the usual places, each once, in the order worth trying."""
    spots: list[tuple[Path, str]] = [(Path.home() / ".stash" / DATABASE_NAME, "~/.stash")]
    for config_file in config_files():
        database = read_config(config_file).get("database")
        path = (
            config_path_value(config_file, database)
            if database
            else config_file.parent / DATABASE_NAME
        )
        spots.append((path, f"database in {config_file}"))
    spots.append((Path.cwd() / DATABASE_NAME, "working folder"))
    spots += _platform_spots()
    seen: set[str] = set()
    candidates = []
    for path, source in spots:
        try:
            if not path.is_file():
                continue
            real = os.path.realpath(path)
        except OSError:
            continue
        if real not in seen:
            seen.add(real)
            candidates.append(DatabaseCandidate(str(path), source))
    return candidates

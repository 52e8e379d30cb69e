"""Writes Stash-shaped library rows: for the demo library and for tests.

The app never writes to a user's Stash database; this module only fills databases the app
itself creates (the demo library) or copies of Stash's real empty schema (tests).
`DEMO_SCHEMA` is the subset of Stash's newest schema (75) that the app reads, written from
Stash's migrations; a test holds every table and column of it against the real fixture.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from stash_dedupe.models import phash_to_int64

DEMO_SCHEMA_VERSION = 75

DEMO_SCHEMA = """
CREATE TABLE schema_migrations (version uint64, dirty bool);
CREATE TABLE `folders` (
  `id` integer not null primary key autoincrement,
  `path` varchar(255) NOT NULL,
  `parent_folder_id` integer,
  `mod_time` datetime not null,
  `created_at` datetime not null,
  `updated_at` datetime not null,
  `zip_file_id` integer REFERENCES `files`(`id`)
);
CREATE TABLE `files` (
  `id` integer not null primary key autoincrement,
  `basename` varchar(255) NOT NULL,
  `zip_file_id` integer,
  `parent_folder_id` integer not null,
  `size` integer NOT NULL,
  `mod_time` datetime not null,
  `created_at` datetime not null,
  `updated_at` datetime not null
);
CREATE TABLE `files_fingerprints` (
  `file_id` integer NOT NULL,
  `type` varchar(255) NOT NULL,
  `fingerprint` blob NOT NULL,
  PRIMARY KEY (`file_id`, `type`, `fingerprint`)
);
CREATE TABLE `video_files` (
  `file_id` integer NOT NULL primary key,
  `duration` float NOT NULL,
  `video_codec` varchar(255) NOT NULL,
  `format` varchar(255) NOT NULL,
  `audio_codec` varchar(255) NOT NULL,
  `width` tinyint NOT NULL,
  `height` tinyint NOT NULL,
  `frame_rate` float NOT NULL,
  `bit_rate` integer NOT NULL,
  `interactive` boolean not null default '0',
  `interactive_speed` int
);
CREATE TABLE `image_files` (
  `file_id` integer NOT NULL primary key,
  `format` varchar(255) NOT NULL,
  `width` tinyint NOT NULL,
  `height` tinyint NOT NULL
);
CREATE TABLE `studios` (
  `id` INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  `name` VARCHAR(255) NOT NULL,
  `created_at` DATETIME NOT NULL,
  `updated_at` DATETIME NOT NULL
);
CREATE TABLE `scenes` (
  `id` integer not null primary key autoincrement,
  `title` varchar(255),
  `date` date,
  `rating` tinyint,
  `studio_id` integer,
  `organized` boolean not null default '0',
  `created_at` datetime not null,
  `updated_at` datetime not null
);
CREATE TABLE `scenes_files` (
  `scene_id` integer NOT NULL,
  `file_id` integer NOT NULL,
  `primary` boolean NOT NULL,
  PRIMARY KEY(`scene_id`, `file_id`)
);
CREATE TABLE `scenes_view_dates` (`scene_id` integer not null, `view_date` datetime not null);
CREATE TABLE `scenes_o_dates` (`scene_id` integer not null, `o_date` datetime not null);
CREATE TABLE `tags` (
  `id` integer not null primary key autoincrement,
  `name` varchar(255),
  `created_at` datetime not null,
  `updated_at` datetime not null
);
CREATE TABLE `scenes_tags` (
  `scene_id` integer, `tag_id` integer, PRIMARY KEY(`scene_id`, `tag_id`)
);
CREATE TABLE `performers` (
  `id` integer not null primary key autoincrement,
  `name` varchar(255) not null,
  `created_at` datetime not null,
  `updated_at` datetime not null
);
CREATE TABLE `performers_scenes` (
  `performer_id` integer, `scene_id` integer, PRIMARY KEY (`scene_id`, `performer_id`)
);
CREATE TABLE `scene_markers` (
  `id` INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  `title` VARCHAR(255) NOT NULL,
  `seconds` FLOAT NOT NULL,
  `primary_tag_id` INTEGER NOT NULL,
  `scene_id` INTEGER NOT NULL,
  `created_at` DATETIME NOT NULL,
  `updated_at` DATETIME NOT NULL
);
CREATE TABLE `scene_stash_ids` (
  `scene_id` integer NOT NULL,
  `endpoint` varchar(255) NOT NULL,
  `stash_id` varchar(36) NOT NULL,
  PRIMARY KEY(`scene_id`, `endpoint`)
);
CREATE TABLE `images` (
  `id` integer not null primary key autoincrement,
  `title` varchar(255),
  `rating` tinyint,
  `studio_id` integer,
  `o_counter` tinyint not null default 0,
  `organized` boolean not null default '0',
  `created_at` datetime not null,
  `updated_at` datetime not null,
  `date` date
);
CREATE TABLE `images_files` (
  `image_id` integer NOT NULL,
  `file_id` integer NOT NULL,
  `primary` boolean NOT NULL,
  PRIMARY KEY(`image_id`, `file_id`)
);
CREATE TABLE `images_tags` (
  `image_id` integer, `tag_id` integer, PRIMARY KEY(`image_id`, `tag_id`)
);
CREATE TABLE `performers_images` (
  `performer_id` integer, `image_id` integer, PRIMARY KEY(`image_id`, `performer_id`)
);
CREATE TABLE `galleries` (
  `id` integer not null primary key autoincrement,
  `title` varchar(255),
  `organized` boolean not null default '0',
  `created_at` datetime not null,
  `updated_at` datetime not null
);
CREATE TABLE `galleries_images` (
  `gallery_id` integer NOT NULL,
  `image_id` integer NOT NULL,
  PRIMARY KEY(`gallery_id`, `image_id`)
);
"""


def rfc3339(epoch: float) -> str:
    """Format a time as Stash stores it (RFC 3339, whole seconds, UTC)."""
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW = "2026-01-01T00:00:00Z"


class LibraryWriter:
    """Inserts folders, files, fingerprints, scenes and images the way Stash lays them out."""

    def __init__(self, database_path: str | os.PathLike[str], create: bool = False) -> None:
        self.connection = sqlite3.connect(os.fspath(database_path))
        if create:
            self.connection.executescript(DEMO_SCHEMA)
            self.connection.execute(
                "INSERT INTO schema_migrations VALUES (?, 0)", (DEMO_SCHEMA_VERSION,)
            )
        self._folders: dict[str, int] = {}
        self._scene_columns = self._columns("scenes")
        self._has_view_dates = bool(self._columns("scenes_view_dates"))

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.connection.execute(f"PRAGMA table_info(`{table}`)")}

    def _insert(self, table: str, values: dict[str, object]) -> int:
        """Insert a row; older schemas also require a `checksum` on some tables."""
        if "checksum" in self._columns(table) and "checksum" not in values:
            values = {**values, "checksum": hashlib.md5(repr(values).encode()).hexdigest()}
        names = ", ".join(f"`{name}`" for name in values)
        marks = ", ".join("?" for _ in values)
        cursor = self.connection.execute(
            f"INSERT INTO `{table}` ({names}) VALUES ({marks})", tuple(values.values())
        )
        return cursor.lastrowid

    def close(self) -> None:
        self.connection.commit()
        self.connection.close()

    def __enter__(self) -> LibraryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def folder(self, path: str) -> int:
        """The id of a folder, creating its parents up to a library root.

        A folder outside every root added so far becomes a library root itself.
        """
        if path in self._folders:
            return self._folders[path]
        parent = os.path.dirname(path)
        inside_a_root = any(path.startswith(root.rstrip("/\\") + os.sep) for root in self._folders)
        parent_id = self.folder(parent) if inside_a_root and parent != path else None
        cursor = self.connection.execute(
            "INSERT INTO folders (path, parent_folder_id, mod_time, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (path, parent_id, NOW, NOW, NOW),
        )
        self._folders[path] = cursor.lastrowid
        return cursor.lastrowid

    def library_root(self, path: str) -> int:
        """Mark `path` as a Stash library root (a folder with no parent)."""
        cursor = self.connection.execute(
            "INSERT INTO folders (path, parent_folder_id, mod_time, created_at, updated_at) "
            "VALUES (?, NULL, ?, ?, ?)",
            (path, NOW, NOW, NOW),
        )
        self._folders[path] = cursor.lastrowid
        return cursor.lastrowid

    def _file(self, path: str, size: int | None, mod_time: str | None) -> int:
        if size is None or mod_time is None:
            stat = os.stat(path)
            size = stat.st_size if size is None else size
            mod_time = rfc3339(stat.st_mtime) if mod_time is None else mod_time
        folder_id = self.folder(os.path.dirname(path))
        cursor = self.connection.execute(
            "INSERT INTO files (basename, parent_folder_id, size, mod_time, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (os.path.basename(path), folder_id, size, mod_time, NOW, NOW),
        )
        return cursor.lastrowid

    def fingerprint(self, file_id: int, kind: str, value: str | int) -> None:
        stored = phash_to_int64(value) if kind == "phash" and isinstance(value, str) else value
        self.connection.execute(
            "INSERT INTO files_fingerprints (file_id, type, fingerprint) VALUES (?, ?, ?)",
            (file_id, kind, stored),
        )

    def add_scene(
        self,
        title: str = "",
        *,
        studio: str | None = None,
        rating: int | None = None,
        date: str | None = None,
        organized: bool = False,
        tags: int = 0,
        performers: int = 0,
        markers: int = 0,
        stash_ids: int = 0,
        plays: int = 0,
        o_count: int = 0,
    ) -> int:
        studio_id = None
        if studio:
            studio_id = self._insert(
                "studios", {"name": studio, "created_at": NOW, "updated_at": NOW}
            )
        columns = {
            "title": title,
            "date": date,
            "rating": rating,
            "studio_id": studio_id,
            "organized": int(organized),
            "created_at": NOW,
            "updated_at": NOW,
        }
        if not self._has_view_dates and "o_counter" in self._scene_columns:
            columns["o_counter"] = o_count
        if not self._has_view_dates and "play_count" in self._scene_columns:
            columns["play_count"] = plays
        scene_id = self._insert("scenes", columns)
        for index in range(tags):
            tag_id = self._insert(
                "tags", {"name": f"tag {scene_id}.{index}", "created_at": NOW, "updated_at": NOW}
            )
            self.connection.execute("INSERT INTO scenes_tags VALUES (?, ?)", (scene_id, tag_id))
            if index < markers:
                self.connection.execute(
                    "INSERT INTO scene_markers (title, seconds, primary_tag_id, scene_id, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (f"marker {index}", float(index), tag_id, scene_id, NOW, NOW),
                )
        for index in range(performers):
            performer_id = self._insert(
                "performers",
                {"name": f"performer {scene_id}.{index}", "created_at": NOW, "updated_at": NOW},
            )
            self.connection.execute(
                "INSERT INTO performers_scenes (performer_id, scene_id) VALUES (?, ?)",
                (performer_id, scene_id),
            )
        for index in range(stash_ids):
            self.connection.execute(
                "INSERT INTO scene_stash_ids (scene_id, endpoint, stash_id) VALUES (?, ?, ?)",
                (scene_id, f"https://stashdb{index}.example/graphql", f"id-{scene_id}-{index}"),
            )
        if self._has_view_dates:
            for _ in range(plays):
                self.connection.execute(
                    "INSERT INTO scenes_view_dates VALUES (?, ?)", (scene_id, NOW)
                )
            for _ in range(o_count):
                self.connection.execute("INSERT INTO scenes_o_dates VALUES (?, ?)", (scene_id, NOW))
        return scene_id

    def add_video_file(
        self,
        path: str,
        *,
        scene_id: int | None = None,
        primary: bool = True,
        phash: str | None = None,
        duration: float = 0.0,
        width: int = 0,
        height: int = 0,
        video_codec: str = "h264",
        audio_codec: str = "",
        file_format: str = "mp4",
        frame_rate: float = 0.0,
        bit_rate: int = 0,
        size: int | None = None,
        mod_time: str | None = None,
        oshash: str | None = None,
        md5: str | None = None,
    ) -> int:
        """Add a video file (size and mod time read from disk unless given) to a scene."""
        file_id = self._file(path, size, mod_time)
        self.connection.execute(
            "INSERT INTO video_files (file_id, duration, video_codec, format, audio_codec, "
            "width, height, frame_rate, bit_rate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                file_id,
                duration,
                video_codec,
                file_format,
                audio_codec,
                width,
                height,
                frame_rate,
                bit_rate,
            ),
        )
        self.fingerprint(file_id, "oshash", oshash or _pseudo_hash(path, 16))
        if md5:
            self.fingerprint(file_id, "md5", md5)
        if phash:
            self.fingerprint(file_id, "phash", phash)
        if scene_id is not None:
            self.connection.execute(
                "INSERT INTO scenes_files (scene_id, file_id, `primary`) VALUES (?, ?, ?)",
                (scene_id, file_id, int(primary)),
            )
        return file_id

    def add_image(
        self,
        title: str = "",
        *,
        rating: int | None = None,
        o_count: int = 0,
        gallery: str | None = None,
    ) -> int:
        image_id = self._insert(
            "images",
            {
                "title": title,
                "rating": rating,
                "o_counter": o_count,
                "organized": 0,
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
        if gallery:
            gallery_id = self._insert(
                "galleries",
                {"title": gallery, "organized": 0, "created_at": NOW, "updated_at": NOW},
            )
            self.connection.execute(
                "INSERT INTO galleries_images (gallery_id, image_id) VALUES (?, ?)",
                (gallery_id, image_id),
            )
        return image_id

    def add_image_file(
        self,
        path: str,
        *,
        image_id: int | None = None,
        primary: bool = True,
        phash: str | None = None,
        width: int = 0,
        height: int = 0,
        file_format: str = "jpeg",
        size: int | None = None,
        mod_time: str | None = None,
        md5: str | None = None,
    ) -> int:
        file_id = self._file(path, size, mod_time)
        self.connection.execute(
            "INSERT INTO image_files (file_id, format, width, height) VALUES (?, ?, ?, ?)",
            (file_id, file_format, width, height),
        )
        self.fingerprint(file_id, "md5", md5 or _pseudo_hash(path, 32))
        if phash:
            self.fingerprint(file_id, "phash", phash)
        if image_id is not None:
            self.connection.execute(
                "INSERT INTO images_files (image_id, file_id, `primary`) VALUES (?, ?, ?)",
                (image_id, file_id, int(primary)),
            )
        return file_id


def _pseudo_hash(path: str, length: int) -> str:
    """A stable stand-in fingerprint when the caller does not care about its value."""
    return hashlib.sha1(Path(path).as_posix().encode()).hexdigest()[:length]

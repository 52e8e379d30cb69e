"""Reads a Stash library from its SQLite database. All SQL against Stash's database lives here.

The database is always opened read-only (`mode=ro`): Stash waits only 50 ms for a lock, so
the app must never hold a write lock on it, and it must keep working while Stash runs.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np

from stash_dedupe.errors import DatabaseError, DatabaseLockedError
from stash_dedupe.models import (
    IMAGE,
    VIDEO,
    FileColumns,
    FileListing,
    KeeperColumns,
    MediaFile,
    SceneInfo,
    phash_from_int64,
    phash_to_int64,
    positions_in,
)
from stash_dedupe.stash.pathmap import FolderMapper, PathMapping, to_local

OLDEST_SUPPORTED_SCHEMA = 36  # Stash 0.17: the files/folders refactor
NEWEST_KNOWN_SCHEMA = 75  # Stash 0.30
BUSY_TIMEOUT_SECONDS = 5.0
SQLITE_HEADER = b"SQLite format 3\x00"
# Rows fetched at a time from a scan of the whole library.
_ROWS_PER_BATCH = 50_000
_NO_IDS = np.zeros(0, dtype=np.int64)
# Ids per `IN (...)` list: under SQLite's oldest limit of 999 bound parameters.
_IDS_PER_QUERY = 900
# Looking files up by id costs about 5x reading them in a scan: past this share of the
# library (and past a few thousand ids), the files are read in one scan instead.
_SCAN_SHARE = 0.2
_LOOKUPS_UP_TO = 5000

# The tables (and their columns) the app reads; a newer schema must still have all of them.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "files": ("id", "basename", "zip_file_id", "parent_folder_id", "size", "mod_time"),
    "folders": ("id", "path", "parent_folder_id"),
    "files_fingerprints": ("file_id", "type", "fingerprint"),
    "video_files": (
        "file_id",
        "duration",
        "video_codec",
        "format",
        "audio_codec",
        "width",
        "height",
        "frame_rate",
        "bit_rate",
    ),
    "image_files": ("file_id", "format", "width", "height"),
    "scenes_files": ("scene_id", "file_id", "primary"),
    "images_files": ("image_id", "file_id", "primary"),
    "scenes": ("id", "title", "date", "rating", "studio_id", "organized"),
    "images": ("id", "title", "rating", "studio_id", "o_counter", "organized"),
    "studios": ("id", "name"),
    "scenes_tags": ("scene_id", "tag_id"),
    "performers_scenes": ("performer_id", "scene_id"),
    "scene_markers": ("id", "scene_id"),
    "scene_stash_ids": ("scene_id", "stash_id"),
    "images_tags": ("image_id", "tag_id"),
    "performers_images": ("performer_id", "image_id"),
    "galleries_images": ("gallery_id", "image_id"),
    "schema_migrations": ("version", "dirty"),
}


# File ids per query when reading details of a set of files (SQLite allows 999 parameters).
IDS_PER_QUERY = 500


@dataclass(frozen=True)
class ItemNames:
    """The performer and tag names of a file's Stash item(s): for filtering groups."""

    performers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass
class StashDatabase:
    """An open, validated, read-only Stash database."""

    path: str
    schema_version: int
    connection: sqlite3.Connection
    warnings: list[str] = field(default_factory=list)
    path_mappings: tuple[PathMapping, ...] = ()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> StashDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- queries -------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            return self.connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            raise _explain_operational_error(self.path, error) from error

    def _row_batches(self, sql: str, params: Sequence[object] = ()) -> Iterator[list[sqlite3.Row]]:
        """The rows of a query a batch at a time: a million rows never sit in memory at once."""
        try:
            cursor = self.connection.execute(sql, params)
            while batch := cursor.fetchmany(_ROWS_PER_BATCH):
                yield batch
        except sqlite3.OperationalError as error:
            raise _explain_operational_error(self.path, error) from error

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._rows(f"PRAGMA table_info(`{table}`)")}

    def _has_table(self, table: str) -> bool:
        return bool(
            self._rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,))
        )

    def _count_by(
        self, table: str, key: str, among: str = "", params: Sequence[object] = ()
    ) -> dict[int, int]:
        """Rows per `key` value, for the keys selected by the SQL `among` (all if empty)."""
        if not self._has_table(table):
            return {}
        where = f"WHERE `{key}` IN ({among})" if among else ""
        rows = self._rows(
            f"SELECT `{key}`, COUNT(*) FROM `{table}` {where} GROUP BY `{key}`", params
        )
        return {row[0]: row[1] for row in rows if row[0] is not None}

    def library_roots(self) -> list[str]:
        """Stash's library folders (those without a parent), as local paths."""
        rows = self._rows(
            "SELECT path FROM folders WHERE parent_folder_id IS NULL AND zip_file_id IS NULL"
            if "zip_file_id" in self._columns("folders")
            else "SELECT path FROM folders WHERE parent_folder_id IS NULL"
        )
        return sorted({to_local(row[0], self.path_mappings) for row in rows})

    def _fingerprints(
        self, file_ids: Sequence[int] | None, keep: set[int] | None = None
    ) -> dict[int, dict[str, str]]:
        found: dict[int, dict[str, str]] = defaultdict(dict)
        among, params = _among("file_id", file_ids)
        rows = self._rows(
            "SELECT file_id, type, fingerprint FROM files_fingerprints"
            f" WHERE type IN ('phash', 'oshash', 'md5') {among}"
            " ORDER BY file_id, type, fingerprint",
            params,
        )
        for file_id, kind, value in rows:
            if keep is not None and file_id not in keep:
                continue
            text = _fingerprint_text(kind, value)
            if text is not None:
                found[file_id][kind] = text
        return found

    def _scene_items(
        self, file_ids: Sequence[int] | None, keep: set[int] | None = None
    ) -> dict[int, list[SceneInfo]]:
        """Scene(s) of each video file, with the counts the review UI shows."""
        among, params = _among("sf.file_id", file_ids)
        scenes = (
            f"SELECT sf.scene_id FROM scenes_files sf WHERE 1 {among}"
            if file_ids is not None
            else ""
        )
        scene_columns = self._columns("scenes")
        tags = self._count_by("scenes_tags", "scene_id", scenes, params)
        performers = self._count_by("performers_scenes", "scene_id", scenes, params)
        markers = self._count_by("scene_markers", "scene_id", scenes, params)
        stash_ids = self._count_by("scene_stash_ids", "scene_id", scenes, params)
        files = self._count_by("scenes_files", "scene_id", scenes, params)
        if self._has_table("scenes_view_dates"):  # schema 55+: play history as rows
            plays = self._count_by("scenes_view_dates", "scene_id", scenes, params)
            play_column = "0"
        else:
            plays = {}
            play_column = "s.play_count" if "play_count" in scene_columns else "0"
        if self._has_table("scenes_o_dates"):
            o_counts = self._count_by("scenes_o_dates", "scene_id", scenes, params)
            o_column = "0"
        else:
            o_counts = {}
            o_column = "s.o_counter" if "o_counter" in scene_columns else "0"
        rows = self._rows(
            f"""SELECT sf.file_id, s.id, s.title, s.date, st.name, s.rating, s.organized,
                       {play_column}, {o_column}
                FROM scenes_files sf
                JOIN scenes s ON s.id = sf.scene_id
                LEFT JOIN studios st ON st.id = s.studio_id
                WHERE 1 {among}
                ORDER BY sf.file_id, s.id""",
            params,
        )
        items: dict[int, list[SceneInfo]] = defaultdict(list)
        for file_id, scene_id, title, date, studio, rating, organized, play, o_count in rows:
            if keep is not None and file_id not in keep:
                continue
            items[file_id].append(
                SceneInfo(
                    item_id=scene_id,
                    title=title or "",
                    date=date,
                    studio=studio,
                    rating=rating,
                    organized=bool(organized),
                    play_count=plays.get(scene_id, play or 0),
                    o_count=o_counts.get(scene_id, o_count or 0),
                    tag_count=tags.get(scene_id, 0),
                    performer_count=performers.get(scene_id, 0),
                    marker_count=markers.get(scene_id, 0),
                    stash_id_count=stash_ids.get(scene_id, 0),
                    file_count=files.get(scene_id, 1),
                )
            )
        return items

    def _image_items(
        self, file_ids: Sequence[int] | None, keep: set[int] | None = None
    ) -> dict[int, list[SceneInfo]]:
        """Image item(s) of each image file, with their galleries."""
        among, params = _among("imf.file_id", file_ids)
        images = (
            f"SELECT imf.image_id FROM images_files imf WHERE 1 {among}"
            if file_ids is not None
            else ""
        )
        tags = self._count_by("images_tags", "image_id", images, params)
        performers = self._count_by("performers_images", "image_id", images, params)
        files = self._count_by("images_files", "image_id", images, params)
        galleries: dict[int, list[int]] = defaultdict(list)
        gallery_rows = self._rows(
            "SELECT gallery_id, image_id FROM galleries_images"
            + (f" WHERE image_id IN ({images})" if images else ""),
            params,
        )
        for gallery_id, image_id in gallery_rows:
            galleries[image_id].append(gallery_id)
        date_column = "i.date" if "date" in self._columns("images") else "NULL"
        rows = self._rows(
            f"""SELECT imf.file_id, i.id, i.title, {date_column}, st.name, i.rating,
                       i.organized, i.o_counter
                FROM images_files imf
                JOIN images i ON i.id = imf.image_id
                LEFT JOIN studios st ON st.id = i.studio_id
                WHERE 1 {among}
                ORDER BY imf.file_id, i.id""",
            params,
        )
        items: dict[int, list[SceneInfo]] = defaultdict(list)
        for file_id, image_id, title, date, studio, rating, organized, o_count in rows:
            if keep is not None and file_id not in keep:
                continue
            items[file_id].append(
                SceneInfo(
                    item_id=image_id,
                    title=title or "",
                    date=date,
                    studio=studio,
                    rating=rating,
                    organized=bool(organized),
                    o_count=o_count or 0,
                    tag_count=tags.get(image_id, 0),
                    performer_count=performers.get(image_id, 0),
                    file_count=files.get(image_id, 1),
                    gallery_ids=tuple(sorted(galleries.get(image_id, []))),
                )
            )
        return items

    def item_names(self, media: str, file_ids: Sequence[int]) -> dict[int, ItemNames]:
        """Performer and tag names of the scenes (videos) or images of these files, by file
        id; files whose items have none are left out."""
        if media == VIDEO:
            link, item, performers, tags = (
                "scenes_files",
                "scene_id",
                "performers_scenes",
                "scenes_tags",
            )
        elif media == IMAGE:
            link, item, performers, tags = (
                "images_files",
                "image_id",
                "performers_images",
                "images_tags",
            )
        else:
            raise ValueError(f"unknown media {media!r}")
        found: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        queries = (
            ("performers", performers, "performer_id", "performers"),
            ("tags", tags, "tag_id", "tags"),
        )
        for start in range(0, len(file_ids), IDS_PER_QUERY):
            chunk = list(file_ids[start : start + IDS_PER_QUERY])
            marks = ",".join("?" * len(chunk))
            for kind, join_table, name_key, name_table in queries:
                rows = self._rows(
                    f"""SELECT l.file_id, n.name FROM {link} l
                        JOIN {join_table} j ON j.{item} = l.{item}
                        JOIN {name_table} n ON n.id = j.{name_key}
                        WHERE l.file_id IN ({marks})""",
                    chunk,
                )
                for file_id, name in rows:
                    if name:
                        found[file_id][kind].add(str(name))
        return {
            file_id: ItemNames(tuple(sorted(names["performers"])), tuple(sorted(names["tags"])))
            for file_id, names in found.items()
        }

    @staticmethod
    def _membership(media: str) -> str:
        """Which files are of a media: videos are files of scenes, plus video files that back
        no image; images are files of image items (some are backed by video files: clips,
        animations), plus image files that belong to no scene."""
        if media == VIDEO:
            return """(f.id IN (SELECT file_id FROM scenes_files)
                 OR (v.file_id IS NOT NULL AND f.id NOT IN (SELECT file_id FROM images_files)))"""
        if media == IMAGE:
            return """(f.id IN (SELECT file_id FROM images_files)
                 OR (i.file_id IS NOT NULL AND f.id NOT IN (SELECT file_id FROM scenes_files)))"""
        raise ValueError(f"unknown media {media!r}")

    def load_files(self, media: str, file_ids: Iterable[int] | None = None) -> list[MediaFile]:
        """Every video file (media='video') or image file (media='image') Stash lists, by
        ascending id; with `file_ids`, only those of them (a few queries per 900 ids)."""
        if file_ids is None:
            return self._media_files(media, None)
        wanted = sorted({int(file_id) for file_id in file_ids})
        if self._scan_pays(len(wanted)):
            return self._media_files(media, None, keep=set(wanted))
        result = []
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            result += self._media_files(media, wanted[start : start + _IDS_PER_QUERY])
        return result

    def _media_files(
        self, media: str, file_ids: Sequence[int] | None, keep: set[int] | None = None
    ) -> list[MediaFile]:
        """The files of `file_ids` (None: all), of those only the ones in `keep` (if given)."""
        membership = self._membership(media)
        fingerprints = self._fingerprints(file_ids, keep)
        items = (
            self._scene_items(file_ids, keep)
            if media == VIDEO
            else self._image_items(file_ids, keep)
        )
        among, params = _among("f.id", file_ids)
        rows = self._rows(
            f"""SELECT f.id, fo.path, f.basename, f.size, f.mod_time, f.zip_file_id,
                       v.duration, v.video_codec, v.audio_codec, v.frame_rate, v.bit_rate,
                       COALESCE(v.format, i.format), COALESCE(v.width, i.width),
                       COALESCE(v.height, i.height)
                FROM files f
                JOIN folders fo ON fo.id = f.parent_folder_id
                LEFT JOIN video_files v ON v.file_id = f.id
                LEFT JOIN image_files i ON i.file_id = f.id
                WHERE {membership} {among}
                ORDER BY f.id""",
            params,
        )
        result = []
        mapper = FolderMapper(self.path_mappings)
        for row in rows:
            if keep is not None and row[0] not in keep:
                continue
            (
                file_id,
                folder,
                basename,
                size,
                mod_time,
                zip_file_id,
                duration,
                video_codec,
                audio_codec,
                frame_rate,
                bit_rate,
                file_format,
                width,
                height,
            ) = row
            stash_path = join_stash_path(folder, basename)
            prints = fingerprints.get(file_id, {})
            result.append(
                MediaFile(
                    file_id=file_id,
                    media=media,
                    path=mapper.local(stash_path, basename),
                    stash_path=stash_path,
                    size=int(size or 0),
                    mod_time=mod_time,
                    mod_time_epoch=parse_stash_time(mod_time),
                    phash=prints.get("phash"),
                    oshash=prints.get("oshash"),
                    md5=prints.get("md5"),
                    duration=_positive_float(duration),
                    width=_positive_int(width),
                    height=_positive_int(height),
                    bit_rate=_positive_int(bit_rate),
                    video_codec=_known_text(video_codec),
                    audio_codec=_known_text(audio_codec),
                    frame_rate=_positive_float(frame_rate),
                    format=_known_text(file_format),
                    zip_file_id=zip_file_id,
                    items=tuple(items.get(file_id, ())),
                )
            )
        return result

    def file_columns(self, media: str) -> FileColumns:
        """What grouping needs of every file of one media (the files `load_files` lists), read
        straight into arrays: ids, phashes, sizes, durations, and the multi-file items."""
        parts: tuple[list[np.ndarray], ...] = ([], [], [])
        for rows in self._row_batches(
            f"""SELECT f.id, CAST(COALESCE(f.size, 0) AS INTEGER),
                       MAX(COALESCE(CAST(v.duration AS REAL), 0.0), 0.0)
                FROM files f
                JOIN folders fo ON fo.id = f.parent_folder_id
                LEFT JOIN video_files v ON v.file_id = f.id
                LEFT JOIN image_files i ON i.file_id = f.id
                WHERE {self._membership(media)}
                ORDER BY f.id"""
        ):
            for column, (part, dtype) in enumerate(
                zip(parts, (np.int64, np.int64, np.float64), strict=True)
            ):
                part.append(np.fromiter((row[column] for row in rows), dtype, len(rows)))
        file_ids, sizes, durations = (
            np.concatenate(part) if part else np.zeros(0, dtype)
            for part, dtype in zip(parts, (np.int64, np.int64, np.float64), strict=True)
        )
        columns = FileColumns(
            media=media,
            file_ids=file_ids,
            phashes=np.zeros(len(file_ids), dtype=np.uint64),
            has_phash=np.zeros(len(file_ids), dtype=bool),
            durations=durations,
            sizes=sizes,
            item_rows=np.zeros(0, dtype=np.int64),
            item_ids=np.zeros(0, dtype=np.int64),
        )
        hashed, phashes = self._phash_column()
        rows_found = columns.rows_of(hashed)
        known = rows_found >= 0
        columns.phashes[rows_found[known]] = phashes[known]
        columns.has_phash[rows_found[known]] = True
        item_file_ids, item_ids = self._shared_items(media)
        item_rows = columns.rows_of(item_file_ids)
        inside = item_rows >= 0
        return dataclasses.replace(columns, item_rows=item_rows[inside], item_ids=item_ids[inside])

    def _phash_column(self) -> tuple[np.ndarray, np.ndarray]:
        """(file ids, phashes as uint64) of every file with a phash; a file with several keeps
        the last, as `_fingerprints` does."""
        # `+type`: scan the (file_id, type, fingerprint) key, which holds every column needed
        # in this order, rather than look each row up from the (type, fingerprint) index.
        phashes = "FROM files_fingerprints WHERE +type = 'phash'"
        rows = self._rows(
            f"SELECT file_id, fingerprint {phashes} ORDER BY file_id, type, fingerprint"
        )
        others = self._rows(f"SELECT COUNT(*) {phashes} AND typeof(fingerprint) != 'integer'")
        if others[0][0]:  # text or blob phashes (old imports): read each as `load_files` does
            texts = ((file_id, _fingerprint_text("phash", value)) for file_id, value in rows)
            rows = [(file_id, phash_to_int64(text)) for file_id, text in texts if text]
        # Stash stores the phash as a signed integer: one conversion for all of them.
        pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
        del rows
        file_ids = pairs[:, 0]
        last = np.r_[file_ids[1:] != file_ids[:-1], True] if len(file_ids) else np.zeros(0, bool)
        return file_ids[last], pairs[:, 1][last].view(np.uint64)

    def file_stamps(self, file_ids: Iterable[int]) -> dict[int, tuple[str, int, str | None]]:
        """(local path, size, mod time) of each of these files: what a cached result is
        checked against, without loading the files' details."""
        wanted = sorted({int(file_id) for file_id in file_ids})
        stamps = {}
        query = """SELECT f.id, fo.path, f.basename, f.size, f.mod_time FROM files f
                   JOIN folders fo ON fo.id = f.parent_folder_id WHERE 1 {among}"""
        if self._scan_pays(len(wanted)):  # most of the library: one scan, not 900 at a time
            keep = set(wanted)
            batches: Iterable[list[sqlite3.Row]] = (
                [row for row in rows if row[0] in keep]
                for rows in self._row_batches(query.format(among=""))
            )
        else:
            batches = (
                self._rows(query.format(among=among), params)
                for among, params in (
                    _among("f.id", wanted[start : start + _IDS_PER_QUERY])
                    for start in range(0, len(wanted), _IDS_PER_QUERY)
                )
            )
        mapper = FolderMapper(self.path_mappings)
        for rows in batches:
            for file_id, folder, basename, size, mod_time in rows:
                path = mapper.local(join_stash_path(folder, basename), basename)
                stamps[file_id] = (path, int(size or 0), mod_time)
        return stamps

    def _scan_pays(self, wanted: int) -> bool:
        """Whether reading `wanted` files is cheaper in one scan of all files than by ids."""
        if wanted <= _LOOKUPS_UP_TO:
            return False
        return wanted > _SCAN_SHARE * self._rows("SELECT COUNT(*) FROM files")[0][0]

    def stash_paths(self) -> list[str]:
        """Stash's path of every video and image file it lists (what path mappings apply
        to), read in one scan without building the files."""
        return [
            join_stash_path(folder, basename)
            for rows in self._row_batches(
                f"""SELECT fo.path, f.basename FROM files f
                    JOIN folders fo ON fo.id = f.parent_folder_id
                    LEFT JOIN video_files v ON v.file_id = f.id
                    LEFT JOIN image_files i ON i.file_id = f.id
                    WHERE {self._membership(VIDEO)} OR {self._membership(IMAGE)}"""
            )
            for folder, basename in rows
        ]

    def listed_paths(self) -> Iterator[list[tuple[int, str]]]:
        """(file id, local path) of every video and image file Stash lists, a batch at a
        time as one scan reads them."""
        mapper = FolderMapper(self.path_mappings)
        for rows in self._row_batches(
            f"""SELECT f.id, fo.path, f.basename FROM files f
                JOIN folders fo ON fo.id = f.parent_folder_id
                LEFT JOIN video_files v ON v.file_id = f.id
                LEFT JOIN image_files i ON i.file_id = f.id
                WHERE {self._membership(VIDEO)} OR {self._membership(IMAGE)}"""
        ):
            yield [
                (file_id, mapper.local(join_stash_path(folder, basename), basename))
                for file_id, folder, basename in rows
            ]

    def file_listing(self, media: str, file_ids: np.ndarray) -> FileListing:
        """Path, Stash's path, width, height and item ids of these files (in this order),
        read in one scan: what a listing of many groups shows beside the columns, without
        the rest of each file's details. Arrays and one string or two per file: a million
        files listed in a few hundred MB."""
        wanted = np.asarray(file_ids, dtype=np.int64)
        order = np.argsort(wanted, kind="stable")
        ordered = wanted[order]

        def positions(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(which of `ids` are wanted, their positions in `file_ids`)."""
            at = positions_in(ordered, ids)
            found = at >= 0
            return found, order[at[found]]

        link, item, table = (
            ("scenes_files", "scene_id", "scenes")
            if media == VIDEO
            else ("images_files", "image_id", "images")
        )
        item_positions, item_values = [], []
        for rows in self._row_batches(
            f"""SELECT l.file_id, t.id FROM {link} l JOIN {table} t ON t.id = l.{item}
                ORDER BY l.file_id, t.id"""
        ):
            pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
            found, at = positions(pairs[:, 0])
            item_positions.append(at)
            item_values.append(pairs[found, 1])
        by_position = np.argsort(np.concatenate(item_positions or [_NO_IDS]), kind="stable")
        items = np.concatenate(item_values or [_NO_IDS])[by_position]
        item_starts = np.searchsorted(
            np.concatenate(item_positions or [_NO_IDS])[by_position], np.arange(len(wanted) + 1)
        )
        paths: list[str] = [""] * len(wanted)
        stash_paths: list[str] = [""] * len(wanted)
        widths = np.zeros(len(wanted), np.int64)
        heights = np.zeros(len(wanted), np.int64)
        mapper = FolderMapper(self.path_mappings)
        for rows in self._row_batches(
            f"""SELECT f.id, fo.path, f.basename,
                       MAX(CAST(COALESCE(v.width, i.width, 0) AS INTEGER), 0),
                       MAX(CAST(COALESCE(v.height, i.height, 0) AS INTEGER), 0)
                FROM files f
                JOIN folders fo ON fo.id = f.parent_folder_id
                LEFT JOIN video_files v ON v.file_id = f.id
                LEFT JOIN image_files i ON i.file_id = f.id
                WHERE {self._membership(media)}"""
        ):
            found, at = positions(np.fromiter((row[0] for row in rows), np.int64, len(rows)))
            kept = [row for row, wanted_row in zip(rows, found.tolist(), strict=True) if wanted_row]
            for position, (_id, folder, basename, width, height) in zip(
                at.tolist(), kept, strict=True
            ):
                stash_path = join_stash_path(folder, basename)
                stash_paths[position] = stash_path
                paths[position] = mapper.local(stash_path, basename)
                widths[position] = width
                heights[position] = height
        return FileListing(paths, stash_paths, widths, heights, items, item_starts)

    def keeper_columns(self, media: str) -> KeeperColumns:
        """What the keeper rules and protections read of every file of one media (the files
        `load_files` lists, the same values its `MediaFile`s hold), as arrays: a scan of
        the files and one of their items, no Python object per file."""
        codec_names: dict[str, int] = {}
        parts: tuple[list[np.ndarray], ...] = ([], [], [], [], [], [])
        dtypes = (np.int64, np.int64, np.int64, np.int64, np.float64, np.int32)
        for rows in self._row_batches(
            f"""SELECT f.id, MAX(CAST(COALESCE(v.width, i.width, 0) AS INTEGER), 0),
                       MAX(CAST(COALESCE(v.height, i.height, 0) AS INTEGER), 0),
                       MAX(CAST(COALESCE(v.bit_rate, 0) AS INTEGER), 0),
                       MAX(CAST(COALESCE(v.frame_rate, 0) AS REAL), 0.0),
                       NULLIF(NULLIF(CAST(v.video_codec AS TEXT), ''), 'unset')
                FROM files f
                JOIN folders fo ON fo.id = f.parent_folder_id
                LEFT JOIN video_files v ON v.file_id = f.id
                LEFT JOIN image_files i ON i.file_id = f.id
                WHERE {self._membership(media)}
                ORDER BY f.id"""
        ):
            for column in range(5):
                values = (row[column] for row in rows)
                parts[column].append(np.fromiter(values, dtypes[column], len(rows)))
            codes = (
                -1 if row[5] is None else codec_names.setdefault(row[5], len(codec_names))
                for row in rows
            )
            parts[5].append(np.fromiter(codes, np.int32, len(rows)))
        file_ids, widths, heights, bit_rates, frame_rates, codecs = (
            np.concatenate(part) if part else np.zeros(0, dtype)
            for part, dtype in zip(parts, dtypes, strict=True)
        )
        items = _ItemColumns(file_ids)
        if media == VIDEO:
            self._scene_item_columns(items)
        else:
            self._image_item_columns(items)
        return KeeperColumns(
            file_ids=file_ids,
            pixels=widths * heights,
            bit_rate=bit_rates,
            frame_rate=frame_rates,
            codec=codecs,
            codec_names=tuple(codec_names),
            **items.fields(),
        )

    def _scene_item_columns(self, items: _ItemColumns) -> None:
        scene_columns = self._columns("scenes")
        counts = {}
        for name, table in (
            ("tags", "scenes_tags"),
            ("performers", "performers_scenes"),
            ("markers", "scene_markers"),
            ("stash_ids", "scene_stash_ids"),
        ):
            counts[name] = self._counts("scene_id", table)
        if self._has_table("scenes_view_dates"):  # schema 55+: play history as rows
            counts["plays"] = self._counts("scene_id", "scenes_view_dates")
            play_column = "0"
        else:
            play_column = "s.play_count" if "play_count" in scene_columns else "0"
        if self._has_table("scenes_o_dates"):
            counts["o_count"] = self._counts("scene_id", "scenes_o_dates")
            o_column = "0"
        else:
            o_column = "s.o_counter" if "o_counter" in scene_columns else "0"
        table = self._int_table(
            f"""SELECT sf.file_id, s.id, CAST(COALESCE(s.rating, 0) AS INTEGER),
                       CAST(COALESCE(s.organized, 0) AS INTEGER),
                       CAST(COALESCE({play_column}, 0) AS INTEGER),
                       CAST(COALESCE({o_column}, 0) AS INTEGER)
                FROM scenes_files sf JOIN scenes s ON s.id = sf.scene_id""",
            6,
        )
        items.add(table, counts, ("rating", "organized", "plays", "o_count"))

    def _image_item_columns(self, items: _ItemColumns) -> None:
        counts = {
            "tags": self._counts("image_id", "images_tags"),
            "performers": self._counts("image_id", "performers_images"),
        }
        table = self._int_table(
            """SELECT imf.file_id, i.id, CAST(COALESCE(i.rating, 0) AS INTEGER),
                      CAST(COALESCE(i.organized, 0) AS INTEGER),
                      CAST(COALESCE(i.o_counter, 0) AS INTEGER)
               FROM images_files imf JOIN images i ON i.id = imf.image_id""",
            5,
        )
        items.add(table, counts, ("rating", "organized", "o_count"))
        galleries = self._int_table(
            """SELECT DISTINCT imf.file_id, g.gallery_id
               FROM images_files imf
               JOIN images i ON i.id = imf.image_id
               JOIN galleries_images g ON g.image_id = i.id""",
            2,
        )
        items.add_galleries(galleries)

    def _counts(self, key: str, table: str) -> tuple[np.ndarray, np.ndarray]:
        """(keys ascending, rows per key) of a link table; empty when the schema lacks it."""
        if not self._has_table(table):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pairs = self._int_table(
            f"SELECT `{key}`, COUNT(*) FROM `{table}` WHERE `{key}` IS NOT NULL"
            f" GROUP BY `{key}` ORDER BY `{key}`",
            2,
        )
        return pairs[:, 0], pairs[:, 1]

    def _int_table(self, sql: str, width: int) -> np.ndarray:
        """A query's rows of `width` integers as one array, read a batch at a time (a
        million rows never sit in memory as Python tuples)."""
        parts = [
            np.array(rows, dtype=np.int64).reshape(-1, width) for rows in self._row_batches(sql)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, width), np.int64)

    def _shared_items(self, media: str) -> tuple[np.ndarray, np.ndarray]:
        """(file id, item id) for every file of an item (scene or image) with 2+ files."""
        link, item, table = (
            ("scenes_files", "scene_id", "scenes")
            if media == VIDEO
            else ("images_files", "image_id", "images")
        )
        rows = self._rows(
            f"""SELECT l.file_id, l.{item} FROM {link} l JOIN {table} t ON t.id = l.{item}
                WHERE l.{item} IN (SELECT {item} FROM {link} GROUP BY {item} HAVING COUNT(*) > 1)
                ORDER BY l.file_id, l.{item}"""
        )
        pairs = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1]


class _ItemColumns:
    """Per-file aggregates of Stash items (scenes or images) for `KeeperColumns`, filled
    from item tables: `add` takes rows (file id, item id, value columns...) in any order."""

    _BEST = ("rating", "o_count", "stash_ids", "plays", "performers", "tags", "markers")

    def __init__(self, file_ids: np.ndarray) -> None:
        self.file_ids = file_ids
        count = len(file_ids)
        self.values = {name: np.zeros(count, np.int64) for name in self._BEST}
        self.organized = np.zeros(count, bool)
        self.richness = np.zeros(count, np.int64)
        self.item_count = np.zeros(count, np.int64)
        self.item_id = np.zeros(count, np.int64)
        self.gallery_rows = np.zeros(0, np.int64)
        self.gallery_ids = np.zeros(0, np.int64)

    def add(
        self,
        table: np.ndarray,
        counts: dict[str, tuple[np.ndarray, np.ndarray]],
        value_names: Sequence[str],
    ) -> None:
        rows = positions_in(self.file_ids, table[:, 0])
        table, rows = table[rows >= 0], rows[rows >= 0]
        item_ids = table[:, 1]
        per_item = {name: table[:, 2 + index] for index, name in enumerate(value_names)}
        for name, (keys, numbers) in counts.items():
            at = positions_in(keys, item_ids)
            counted = numbers[at] if len(keys) else np.zeros_like(item_ids)
            per_item[name] = np.where(at >= 0, counted, 0)
        organized = per_item.pop("organized") != 0
        np.logical_or.at(self.organized, rows, organized)
        richness = organized.astype(np.int64)
        for name, values in per_item.items():
            np.maximum.at(self.values[name], rows, values)
            if name != "rating":
                richness = richness + values
        np.add.at(self.richness, rows, richness)
        np.add.at(self.item_count, rows, 1)
        lowest = np.full(len(self.file_ids), np.iinfo(np.int64).max)
        np.minimum.at(lowest, rows, item_ids)
        self.item_id = np.where(self.item_count > 0, lowest, 0)

    def add_galleries(self, pairs: np.ndarray) -> None:
        rows = positions_in(self.file_ids, pairs[:, 0])
        kept = rows >= 0
        order = np.lexsort((pairs[kept, 1], rows[kept]))
        self.gallery_rows = rows[kept][order]
        self.gallery_ids = pairs[kept, 1][order]

    def fields(self) -> dict[str, object]:
        return {
            **self.values,
            "organized": self.organized,
            "richness": self.richness,
            "item_count": self.item_count,
            "item_id": self.item_id,
            "gallery_rows": self.gallery_rows,
            "gallery_ids": self.gallery_ids,
        }


# ---- opening and validating ---------------------------------------------------------------


def open_stash_database(
    path: str | os.PathLike[str], path_mappings: Iterable[PathMapping] = ()
) -> StashDatabase:
    """Open a Stash database read-only after checking it is one the app can read.

    Each way a file can be wrong gets its own message saying what was found and what to do.
    """
    path = os.fspath(path)
    file = Path(path)
    try:
        exists = file.exists()
    except OSError as error:  # a name too long for the file system, say
        raise DatabaseError(f"{path}: cannot be opened ({error.strerror}).") from error
    if not exists:
        raise DatabaseError(f"{path}: no such file. Choose Stash's stash-go.sqlite.")
    if file.is_dir():
        raise DatabaseError(f"{path} is a folder. Choose the stash-go.sqlite file inside it.")
    try:
        with open(file, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise DatabaseError(f"{path}: cannot be read ({error.strerror}).") from error
    if not header:
        raise DatabaseError(
            f"{path} is an empty file, not a Stash database. Choose Stash's stash-go.sqlite."
        )
    if header != SQLITE_HEADER:
        raise DatabaseError(
            f"{path} is not an SQLite database. Choose Stash's stash-go.sqlite "
            "(by default in ~/.stash/)."
        )
    connection, warnings = _connect_read_only(file)
    database = StashDatabase(
        path, 0, connection, warnings=warnings, path_mappings=tuple(path_mappings)
    )
    try:
        database.schema_version = _check_schema(database)
    except BaseException:
        connection.close()
        raise
    return database


def _connect_read_only(file: Path) -> tuple[sqlite3.Connection, list[str]]:
    """A read-only connection, and warnings about what it cannot see."""
    warnings: list[str] = []
    uri = "file:" + quote(str(file.resolve()), safe="/:\\") + "?mode=ro"
    try:
        connection = sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
        )
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as error:
        if "unable to open" in str(error) and not os.access(file.parent, os.W_OK):
            # A WAL database in a read-only folder cannot create its -shm file; nothing can
            # be writing to it then, so reading it as immutable is safe.
            connection = sqlite3.connect(
                uri + "&immutable=1",
                uri=True,
                timeout=BUSY_TIMEOUT_SECONDS,
                check_same_thread=False,
            )
            warning = _unread_log_warning(file)
            if warning:
                warnings.append(warning)
        else:
            raise _explain_operational_error(str(file), error) from error
    except sqlite3.DatabaseError as error:
        raise DatabaseError(
            f"{file} is damaged or not an SQLite database ({error}). "
            "Choose Stash's stash-go.sqlite."
        ) from error
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    connection.execute("PRAGMA query_only = ON")
    return connection, warnings


def _unread_log_warning(file: Path) -> str | None:
    """Read as immutable, SQLite ignores the write-ahead log: say so when one holds data."""
    log = file.with_name(file.name + "-wal")
    try:
        size = log.stat().st_size
    except OSError:
        return None
    if size == 0:
        return None
    return (
        f"Changes Stash made since its last checkpoint are not visible: {log.name} "
        f"({size:,} bytes) can only be read from a writable folder, and {file.parent} is "
        "read-only for this app. Groups may list files Stash already removed and miss new "
        "ones. Make the folder writable for this app, or stop Stash cleanly (it then "
        "checkpoints), and open the database again."
    )


def _check_schema(database: StashDatabase) -> int:
    path = database.path
    try:
        has_migrations = database._has_table("schema_migrations")
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"{path} is damaged or not an SQLite database ({error}).") from error
    if not has_migrations:
        raise DatabaseError(
            f"{path} is an SQLite database but not Stash's (no schema_migrations table). "
            "Choose Stash's stash-go.sqlite."
        )
    rows = database._rows("SELECT version, dirty FROM schema_migrations")
    if not rows:
        raise DatabaseError(
            f"{path} has an empty schema_migrations table: Stash never finished creating it. "
            "Start Stash once on it, then try again."
        )
    version, dirty = int(rows[0][0]), bool(rows[0][1])
    if dirty:
        raise DatabaseError(
            f"{path} is marked dirty at schema version {version}: a Stash migration failed. "
            "Restore Stash's backup or let Stash repair it first."
        )
    if version < OLDEST_SUPPORTED_SCHEMA:
        raise DatabaseError(
            f"{path} has schema version {version}, from a Stash older than 0.17; "
            f"this app reads {OLDEST_SUPPORTED_SCHEMA} to {NEWEST_KNOWN_SCHEMA}. "
            "Upgrade Stash and let it migrate the database first."
        )
    missing = _missing_columns(database)
    if version > NEWEST_KNOWN_SCHEMA:
        if missing:
            raise DatabaseError(
                f"{path} has schema version {version}, newer than this app knows "
                f"({NEWEST_KNOWN_SCHEMA}), and lacks {', '.join(missing[:3])}. "
                "Update Stash Dedupe."
            )
        database.warnings.append(
            f"Schema version {version} is newer than this app knows ({NEWEST_KNOWN_SCHEMA}); "
            "the tables it reads are all there, so it goes on. Update Stash Dedupe if "
            "something looks wrong."
        )
    elif missing:
        raise DatabaseError(
            f"{path} claims schema version {version} but lacks {', '.join(missing[:3])}: "
            "it is not a complete Stash database."
        )
    return version


def _missing_columns(database: StashDatabase) -> list[str]:
    missing = []
    for table, columns in REQUIRED_COLUMNS.items():
        present = database._columns(table)
        if not present:
            missing.append(f"table {table}")
            continue
        missing.extend(f"{table}.{column}" for column in columns if column not in present)
    return missing


def _explain_operational_error(path: str, error: sqlite3.OperationalError) -> DatabaseError:
    text = str(error)
    if "locked" in text or "busy" in text:
        return DatabaseLockedError(
            f"{path} stayed locked for {BUSY_TIMEOUT_SECONDS:g} s (Stash may be migrating or "
            "running a big task). Wait for it to finish, then try again."
        )
    if "unable to open" in text:
        return DatabaseError(
            f"{path} cannot be opened ({text}); check that the file and its folder are readable."
        )
    return DatabaseError(f"{path}: {text}")


# ---- small conversions ----------------------------------------------------------------------


def join_stash_path(folder: str, basename: str) -> str:
    """Full path as Stash builds it: folder + the Stash host's separator + basename."""
    separator = "\\" if "\\" in folder and "/" not in folder else "/"
    return folder.rstrip(separator) + separator + basename


def parse_stash_time(text: str | None) -> float | None:
    """Stash's RFC 3339 timestamps (as text) to epoch seconds; None when unreadable."""
    if not text:
        return None
    value = str(text).strip().replace(" ", "T", 1)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:  # Python 3.10 accepts at most 6 fractional digits
        head, _, tail = value.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        value = head + "." + digits[:6].ljust(6, "0") + tail[len(digits) :]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        from datetime import timezone

        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _among(column: str, file_ids: Sequence[int] | None) -> tuple[str, tuple[int, ...]]:
    """`AND column IN (?, ...)` and its parameters, or nothing when `file_ids` is None."""
    if file_ids is None:
        return "", ()
    marks = ", ".join("?" * len(file_ids)) or "NULL"
    return f"AND {column} IN ({marks})", tuple(file_ids)


def _fingerprint_text(kind: str, value: object) -> str | None:
    if value is None:
        return None
    if kind == "phash":
        if isinstance(value, int):
            return phash_from_int64(value)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        text = str(value).strip().lower()
        try:
            return phash_from_int64(int(text, 16))
        except ValueError:
            return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).lower()


def _positive_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _positive_int(value: object) -> int | None:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _known_text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return None if text in ("", "unset") else text

"""Thumbnails for the review cards: Stash's own generated ones when found, else our own.

Stash's generated folder (from the config.yml beside the database) already holds a
640 px thumbnail per image (named by md5) and a sprite of frames per video (named by
oshash, or md5 with `video_file_naming_algorithm: MD5`); using them costs nothing. Other
files get a frame or a downscaled image made by `sampling.frame_thumbnail`, cached in the
app's data dir under a key that changes when the file's path, size or mod time does.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
from pathlib import Path

from stash_dedupe.appdata import AppPaths
from stash_dedupe.errors import MediaError
from stash_dedupe.models import IMAGE, MediaFile
from stash_dedupe.stash.config import config_beside, generated_dir

MAX_SIDE = 320
# Making a thumbnail decodes video: at most two at once, so a page of cards cannot
# starve the rest of the app of CPU.
_making = threading.BoundedSemaphore(2)
_XYWH = re.compile(r"#xywh=(\d+),(\d+),(\d+),(\d+)")


class Thumbnails:
    """Thumbnail source for one Stash database."""

    def __init__(
        self, database_path: str | os.PathLike[str], cache_dir: Path | None = None
    ) -> None:
        self.generated = generated_dir(database_path)
        config = config_beside(database_path) or {}
        self.video_hash = (
            "md5" if config.get("video_file_naming_algorithm", "").upper() == "MD5" else "oshash"
        )
        self._cache_dir = cache_dir

    @property
    def cache_dir(self) -> Path:
        """Looked up when needed, so STASH_DEDUPE_HOME set after opening still applies."""
        return self._cache_dir or AppPaths.for_this_run().thumbnails

    def thumbnail(self, file: MediaFile) -> bytes:
        """JPEG bytes of a small picture of the file (MediaError if none can be made)."""
        generated = self._from_stash(file)
        if generated is not None:
            return generated
        cached = self.cache_dir / f"{_cache_key(file)}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        from stash_dedupe.media.sampling import frame_thumbnail

        with _making:
            data = frame_thumbnail(file.path, max_side=MAX_SIDE)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, cached)
        return data

    def _from_stash(self, file: MediaFile) -> bytes | None:
        if self.generated is None:
            return None
        if file.media == IMAGE and file.md5:
            md5 = file.md5
            path = self.generated / "thumbnails" / md5[:2] / md5[2:4] / f"{md5}_640.jpg"
            return _read(path)
        checksum = file.md5 if self.video_hash == "md5" else file.oshash
        if not checksum:
            return None
        screenshot = _read(self.generated / "screenshots" / f"{checksum}.jpg")  # Stash < 0.20
        if screenshot is not None:
            return screenshot
        return _sprite_tile(
            self.generated / "vtt" / f"{checksum}_sprite.jpg",
            self.generated / "vtt" / f"{checksum}_thumbs.vtt",
        )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _sprite_tile(sprite: Path, vtt: Path) -> bytes | None:
    """The middle frame of Stash's scrubber sprite (its first is often a black intro)."""
    if not sprite.is_file():
        return None
    try:
        tiles = [
            tuple(int(n) for n in match.groups())
            for match in _XYWH.finditer(vtt.read_text(encoding="utf-8", errors="replace"))
        ]
    except OSError:
        tiles = []
    from PIL import Image

    try:
        with Image.open(sprite) as image:
            if tiles:
                x, y, width, height = tiles[len(tiles) // 2]
                image = image.crop((x, y, x + width, y + height))
            output = io.BytesIO()
            image.convert("RGB").save(output, "JPEG", quality=85)
            return output.getvalue()
    except OSError as error:
        raise MediaError(f"Stash's sprite {sprite} cannot be read ({error}).") from error


def _cache_key(file: MediaFile) -> str:
    identity = f"{file.path}|{file.size}|{file.mod_time}|{MAX_SIDE}"
    return hashlib.sha1(identity.encode("utf-8", "surrogatepass")).hexdigest()[:24]

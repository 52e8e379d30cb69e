"""JPEGs with an EXIF thumbnail as cameras and phones write them (Pillow cannot write IFD1)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image

EXIF_HEADER = b"Exif\x00\x00"
SHORT, LONG = 3, 4


def exif_with_thumbnail(thumbnail_jpeg: bytes) -> bytes:
    """An APP1 EXIF payload: IFD0 (orientation 1) linking to IFD1, which points at the JPEG."""
    ifd0_offset = 8
    ifd0_size = 2 + 12 + 4
    ifd1_offset = ifd0_offset + ifd0_size
    ifd1_size = 2 + 3 * 12 + 4
    thumbnail_offset = ifd1_offset + ifd1_size

    def ifd(entries: list[tuple[int, int, int]], next_offset: int) -> bytes:
        data = struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            if kind == SHORT:
                data += struct.pack("<HHIHH", tag, kind, 1, value, 0)
            else:
                data += struct.pack("<HHII", tag, kind, 1, value)
        return data + struct.pack("<I", next_offset)

    tiff = b"II*\x00" + struct.pack("<I", ifd0_offset)
    tiff += ifd([(0x0112, SHORT, 1)], ifd1_offset)
    tiff += ifd(
        [(0x0103, SHORT, 6), (0x0201, LONG, thumbnail_offset), (0x0202, LONG, len(thumbnail_jpeg))],
        0,
    )
    return EXIF_HEADER + tiff + thumbnail_jpeg


def camera_thumbnail(picture: Image.Image, width: int = 160) -> bytes:
    """A thumbnail of the whole picture, 160 px wide, as a camera makes one."""
    height = round(width * picture.height / picture.width)
    buffer = io.BytesIO()
    picture.convert("RGB").resize((width, height), Image.LANCZOS).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def save_jpeg(
    picture: Image.Image, target: Path, thumbnail: bytes | None = None, quality: int = 90
) -> Path:
    """Save `picture` as a JPEG, with `thumbnail` (JPEG bytes) in its EXIF when given."""
    extra = {"exif": exif_with_thumbnail(thumbnail)} if thumbnail is not None else {}
    picture.convert("RGB").save(target, "JPEG", quality=quality, **extra)
    return target

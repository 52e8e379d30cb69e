"""Image files decoded into the pixel layout of the Go image type Stash's decoders return.

goimagehash reads pixels through Go's `image` types, each with its own `RGBA()` arithmetic, so
the hash depends on which type a decoder returns (a JPEG is Y'CbCr, a paletted GIF is
Paletted, a 16-bit PNG is RGBA64...). `decode_image` returns the same type and pixel values.
Fast mode trades a few bits for speed: JPEGs decoded at a reduced size, or from the EXIF
thumbnail a camera wrote when it shows the whole photo, and lossy WebP without ffmpeg.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from stash_dedupe.errors import MediaError
from stash_dedupe.media.ffmpeg_tools import find_ffmpeg, last_line, run_tool

# Fast mode lets libjpeg scale JPEGs down to no less than this. A 64 px floor saves ~15% on
# 2-4 MP photos (12 MP ones reach libjpeg's 1/8 limit either way) but doubles the distance to
# the exact hash.
FAST_JPEG_SIZE = 256
# Fast mode hashes the JPEG thumbnail that cameras and phones write into EXIF (160x120 and up)
# when the photo is large and the thumbnail has its shape: 0-4 bits from the exact hash on
# photos, for the cost of a 10 KB decode instead of entropy-decoding megabytes (no reduced
# decode can skip that). A thumbnail of another shape (bars around a 16:9 photo, or one left
# behind by a crop) is not used. Exact mode never uses it.
FAST_THUMBNAIL_FROM_PIXELS = 2_000_000
FAST_THUMBNAIL_MIN_SIDE = 64  # the hash resizes to 64x64: never enlarge
FAST_THUMBNAIL_ASPECT_TOLERANCE = 0.02
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


@dataclass(frozen=True)
class GoImage:
    """Pixels (height, width, channels) laid out as one of Go's image types.

    kind is the Go type: RGBA (RGB, opaque), NRGBA (RGBA, straight alpha), YCbCr (full-size
    Y, Cb, Cr with chroma repeated as Go's YCbCrAt does; for JPEGs libjpeg's interpolated
    chroma stands in, which moves the luminance hardly at all), Gray, Gray16, RGBA64 (RGB, 16-bit),
    NRGBA64 (RGBA, 16-bit), or Generic: the 16-bit premultiplied RGB that `At().RGBA()` gives
    for the types nfnt/resize has no fast path for (Paletted, CMYK, NYCbCrA).
    """

    kind: str
    pixels: np.ndarray


EIGHT_BIT_KINDS = frozenset({"RGBA", "NRGBA", "YCbCr", "Gray"})
_LEVELS = np.arange(256, dtype=np.int64)
# color.CMYK.RGBA() of one ink level (first index) under a black level (second index).
_CMYK_RGBA16 = ((0xFFFF - _LEVELS[:, None] * 0x101) * (0xFFFF - _LEVELS * 0x101) // 0xFFFF).astype(
    np.uint16
)


def decode_image(path: str | os.PathLike[str], fast: bool) -> GoImage:
    try:
        with open(path, "rb") as file:
            header = file.read(64)
        with Image.open(path) as image:
            if image.format == "JPEG":
                return _from_jpeg(image, fast, path)
            if image.format == "PNG" and header[24] == 16 and header[25] in (2, 4, 6):
                return _from_png_16bit_colour(path, header[25])
            if image.format == "WEBP":
                return _from_webp(image, header, os.fspath(path), fast)
            if image.format == "GIF":
                return _from_gif(image)
            return _from_pillow(image, paletted=image.format == "BMP")
    except UnidentifiedImageError:
        raise MediaError(f"Not an image format Stash reads: {os.fspath(path)}") from None
    except DECODE_ERRORS as error:
        raise MediaError(f"Cannot decode image {os.fspath(path)}: {last_line(error)}") from None


def _from_jpeg(image: Image.Image, fast: bool, path: str | os.PathLike[str]) -> GoImage:
    reduced = (FAST_JPEG_SIZE, FAST_JPEG_SIZE) if fast else None
    if image.mode == "L":
        image.draft("L", reduced)
        return GoImage("Gray", np.asarray(image)[..., None])
    if image.mode == "CMYK":
        image.draft("CMYK", reduced)
        # Pillow undoes Adobe's inverted CMYK, as Go's decoder does; then color.CMYK.RGBA().
        cmyk = np.asarray(image)
        return GoImage("Generic", _CMYK_RGBA16[cmyk[..., :3], cmyk[..., 3:]])
    if image.info.get("adobe_transform") == 0 and "jfif" not in image.info:
        return GoImage("RGBA", np.asarray(image.convert("RGB")))  # an RGB (not YCbCr) JPEG
    big = image.width * image.height >= FAST_THUMBNAIL_FROM_PIXELS
    if fast and big and _ends_with_eoi(path):  # a truncated photo must fail, not pass as whole
        thumbnail = _exif_thumbnail(image)
        if thumbnail is not None:
            image = thumbnail
    # Go keeps JPEG pixels as Y'CbCr: ask libjpeg for them, skipping its RGB conversion.
    image.draft("YCbCr", reduced)
    return GoImage("YCbCr", np.asarray(image if image.mode == "YCbCr" else image.convert("YCbCr")))


def _ends_with_eoi(path: str | os.PathLike[str]) -> bool:
    """Whether a JPEG file ends with its end-of-image marker (data appended by some phones
    after it also answers no: the photo is then decoded, which is only slower)."""
    with open(path, "rb") as file:
        file.seek(-2, os.SEEK_END)
        return file.read(2) == b"\xff\xd9"


def _exif_thumbnail(image: Image.Image) -> Image.Image | None:
    """The Y'CbCr JPEG thumbnail in EXIF IFD1 if it shows the whole photo at a usable size."""
    exif = image.info.get("exif")
    if not exif:
        return None
    try:
        ifd1 = image.getexif().get_ifd(ExifTags.IFD.IFD1)
        offset, length = int(ifd1.get(0x0201, 0)), int(ifd1.get(0x0202, 0))
        tiff = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        if offset <= 0 or length <= 0 or offset + length > len(tiff):
            return None
        thumbnail = Image.open(io.BytesIO(tiff[offset : offset + length]))
        width, height = thumbnail.size
        shape = (width / height) / (image.width / image.height)
        if (
            thumbnail.format != "JPEG"
            or thumbnail.mode != "RGB"
            or thumbnail.info.get("adobe_transform") == 0
            or min(width, height) < FAST_THUMBNAIL_MIN_SIDE
            or abs(shape - 1) > FAST_THUMBNAIL_ASPECT_TOLERANCE
        ):
            return None
        thumbnail.draft("YCbCr", None)
        thumbnail.load()  # a broken thumbnail fails here, and the photo itself is used
        return thumbnail
    except DECODE_ERRORS + (UnidentifiedImageError, KeyError, TypeError, ZeroDivisionError):
        return None


def _from_png_16bit_colour(path: str | os.PathLike[str], colour_type: int) -> GoImage:
    """16-bit RGB, RGBA and grey+alpha PNGs, which Pillow reads as 8-bit; OpenCV keeps 16."""
    import cv2

    data = np.fromfile(os.fspath(path), dtype=np.uint8)
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16:
        raise MediaError(f"Cannot decode image {os.fspath(path)}: unreadable 16-bit PNG")
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] in (1, 2):  # grey (+ alpha): repeat grey into R, G and B
        pixels = np.concatenate([pixels[..., :1]] * 3 + [pixels[..., 1:]], axis=2)
    else:
        pixels = pixels[..., [2, 1, 0, *range(3, pixels.shape[2])]]  # OpenCV's BGR(A) -> RGB(A)
    if colour_type == 2:
        return GoImage("RGBA64", pixels[..., :3])
    return GoImage("NRGBA64", pixels)


def _from_webp(image: Image.Image, header: bytes, path: str, fast: bool) -> GoImage:
    """Lossless WebP decodes to Go's NRGBA; lossy to YCbCr (or NYCbCrA with alpha)."""
    chunk = header[12:16]
    lossless = chunk == b"VP8L" or (chunk == b"VP8X" and b"VP8L" in _riff_chunk_names(path))
    if lossless:
        return GoImage("NRGBA", np.asarray(image.convert("RGBA")))
    has_alpha = image.mode == "RGBA"
    planes = None if fast else _webp_yuv_planes(path, has_alpha)
    if planes is None:  # convert libwebp's RGB back to Y'CbCr: within a bit or two
        ycbcr = np.asarray(image.convert("RGB").convert("YCbCr"))
        alpha = np.asarray(image)[..., 3:] if has_alpha else None
    else:
        ycbcr, alpha = planes
    if alpha is None:
        return GoImage("YCbCr", ycbcr)
    return GoImage("Generic", _nycbcra_rgba16(ycbcr, alpha))


def _riff_chunk_names(path: str) -> set[bytes]:
    with open(path, "rb") as file:
        data = file.read(1 << 16)
    names, offset = set(), 12
    while offset + 8 <= len(data):
        names.add(data[offset : offset + 4])
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        offset += 8 + size + (size & 1)
    return names


def _webp_yuv_planes(path: str, has_alpha: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The VP8 decoder's own 4:2:0 planes via ffmpeg (VP8 decoding is bit-exact everywhere).

    Pillow only offers libwebp's RGB, made with smoothed chroma; Go hashes the raw planes.
    """
    ffmpeg, _ = find_ffmpeg()
    if ffmpeg is None:
        return None
    with Image.open(path) as image:
        width, height = image.size
    pixel_format = "yuva420p" if has_alpha else "yuv420p"
    command = [ffmpeg, "-v", "error", "-i", os.path.abspath(path), "-frames:v", "1",
               "-f", "rawvideo", "-pix_fmt", pixel_format, "-"]  # fmt: skip
    try:
        data = run_tool(command, time.monotonic() + 60, f"ffmpeg cannot decode {path}")
    except MediaError:
        return None  # e.g. an animated WebP: fall back to Pillow's first frame
    chroma_width, chroma_height = (width + 1) // 2, (height + 1) // 2
    luma, chroma = width * height, chroma_width * chroma_height
    if len(data) < luma + 2 * chroma + (luma if has_alpha else 0):
        return None
    y = np.frombuffer(data, np.uint8, luma).reshape(height, width)
    cb, cr = (
        np.frombuffer(data, np.uint8, chroma, luma + i * chroma)
        .reshape(chroma_height, chroma_width)
        .repeat(2, axis=0)
        .repeat(2, axis=1)[:height, :width]
        for i in (0, 1)
    )
    alpha = None
    if has_alpha:
        alpha = np.frombuffer(data, np.uint8, luma, luma + 2 * chroma).reshape(height, width, 1)
    return np.stack([y, cb, cr], axis=2), alpha


def _from_gif(image: Image.Image) -> GoImage:
    """Go hashes the first frame alone, at the frame's own size (not the logical screen)."""
    image.seek(0)
    image.load()
    extent = getattr(image, "dispose_extent", None)
    if extent and tuple(extent) != (0, 0, *image.size):
        image = image.crop(extent)
    return _from_pillow(image, paletted=True)


def _from_pillow(image: Image.Image, paletted: bool) -> GoImage:
    """Map Pillow's modes onto the Go types that image/png, image/gif and x/image/bmp return."""
    mode, info = image.mode, image.info
    if mode == "P" or (paletted and mode in ("L", "1")):
        return GoImage("Generic", _paletted_rgba16(image))
    if mode == "1":
        return GoImage("Gray", np.asarray(image.convert("L"))[..., None])
    if mode == "L" and "transparency" not in info:
        return GoImage("Gray", np.asarray(image)[..., None])
    if mode.startswith("I;16") or mode == "I":
        return GoImage("Gray16", np.asarray(image).astype(np.uint16)[..., None])
    if mode == "RGB" and "transparency" not in info:
        return GoImage("RGBA", np.asarray(image))
    if mode in ("L", "RGB"):  # a tRNS colour key makes Go decode to NRGBA
        rgb = np.asarray(image.convert("RGB"))
        key = info["transparency"]
        key = (key, key, key) if isinstance(key, int) else tuple(key)
        alpha = np.where((rgb == np.array(key, np.uint8)).all(axis=2), 0, 255).astype(np.uint8)
        return GoImage("NRGBA", np.dstack([rgb, alpha]))
    return GoImage("NRGBA", np.asarray(image.convert("RGBA")))


def _paletted_rgba16(image: Image.Image) -> np.ndarray:
    """color.RGBA / color.NRGBA palette entries through `RGBA()`, indexed by each pixel."""
    if image.mode != "P":
        image = image.convert("L")
        palette = np.repeat(np.arange(256, dtype=np.int64)[:, None], 3, axis=1)
    else:
        palette = np.array(image.getpalette("RGB") or [], dtype=np.int64).reshape(-1, 3)
    colours = np.zeros((256, 3), dtype=np.int64)
    colours[: min(len(palette), 256)] = palette[:256]
    alpha = np.full(256, 255, dtype=np.int64)
    transparency = image.info.get("transparency")
    if isinstance(transparency, int) and 0 <= transparency < 256:
        alpha[transparency] = 0
    elif isinstance(transparency, bytes):
        alpha[: len(transparency)] = np.frombuffer(transparency[:256], np.uint8)
    rgba16 = colours * 0x101 * (alpha[:, None] * 0x101) // 0xFFFF
    return rgba16.astype(np.uint16)[np.asarray(image)]


def _nycbcra_rgba16(ycbcr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """color.NYCbCrA.RGBA(): Go's 16-bit Y'CbCr conversion, then straight alpha applied."""
    alpha16 = alpha.astype(np.int64) * 0x101
    return (_ycbcr_rgba16(ycbcr) * alpha16 // 0xFFFF).astype(np.uint16)


# ---------------------------------------------------------------------------------------------
# What Go's RGBA() returns for each type


def rgba16(image: GoImage) -> np.ndarray:
    """What each Go colour type's `RGBA()` returns for R, G and B (premultiplied, 16-bit)."""
    pixels = image.pixels.astype(np.int64)
    if image.kind == "RGBA":
        return pixels * 0x101
    if image.kind == "NRGBA":
        return pixels[..., :3] * 0x101 * (pixels[..., 3:] * 0x101) // 0xFFFF
    if image.kind == "YCbCr":
        return _ycbcr_rgba16(image.pixels)
    if image.kind == "Gray":
        return np.repeat(pixels * 0x101, 3, axis=2)
    if image.kind == "Gray16":
        return np.repeat(pixels, 3, axis=2)
    if image.kind == "NRGBA64":
        return pixels[..., :3] * pixels[..., 3:] // 0xFFFF
    return pixels[..., :3]  # RGBA64 and Generic already hold RGBA() values


def _ycbcr_rgba16(ycbcr: np.ndarray) -> np.ndarray:
    """color.YCbCr.RGBA(): 16-bit output straight from Y'CbCr, not via 8-bit RGB."""
    y, cb, cr = np.moveaxis(ycbcr.astype(np.int64), 2, 0)
    y, cb, cr = y * 0x10101, cb - 128, cr - 128
    rgb = np.stack([y + 91881 * cr, y - 22554 * cb - 46802 * cr, y + 116130 * cb], axis=2)
    return np.clip(rgb >> 8, 0, 0xFFFF)

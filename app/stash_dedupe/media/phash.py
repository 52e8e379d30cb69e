"""Perceptual hashes computed the way Stash computes them, so ours compare with its own.

Stash hashes with goimagehash's `PerceptionHash` (v1.1.0): nfnt/resize `Bilinear` to 64x64,
a luminance formula on Go's 16-bit colours, goimagehash's own DCT, and a median over the
top-left 8x8 coefficients. Every step below copies Go's integer and floating-point arithmetic,
because a single flipped bit makes a hash differ from the one in Stash's database.

Videos follow Stash's `pkg/hash/videophash`: 25 ffmpeg screenshots, 160 px wide, pasted into a
5x5 sprite that is then hashed like an image. A phash is 16 lowercase hex digits everywhere.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from stash_dedupe.errors import MediaError

VIDEO_EXTENSIONS = frozenset({
    ".3gp", ".asf", ".avi", ".divx", ".f4v", ".flv", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4",
    ".mpeg", ".mpg", ".mts", ".ogv", ".rm", ".rmvb", ".ts", ".vob", ".webm", ".wmv",
})  # fmt: skip

HASH_SIZE = 64  # goimagehash resizes every image to 64x64 before its DCT
SPRITE_COLUMNS = SPRITE_ROWS = 5
SCREENSHOT_WIDTH = 160
# ffmpeg processes in flight per video. Each decodes on one thread (`-threads 1`, bit-identical
# frames): seeking decodes from the previous keyframe, where ffmpeg's own frame threads add
# start-up latency and oversubscribe the cores; one single-threaded process per core is faster.
SCREENSHOT_WORKERS = max(2, os.cpu_count() or 2)
# One ffmpeg process takes several screenshots, each from its own `-ss T -i FILE` input, so each
# frame comes out exactly as from Stash's one-screenshot command while start-up (most of the
# cost on short videos) is paid once. Every input keeps its decoder's buffers until the process
# ends (measured: ~26 MB per 1080p H.264 input), so a process gets at most this many input
# pixels: 4 inputs at 1080p (~120 MB), 1 at 4K, all 25 at 480p.
SCREENSHOT_PIXELS_PER_PROCESS = 8_000_000
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
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class FfmpegSlots(Protocol):
    """What is used of a (multiprocessing) semaphore."""

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool: ...

    def release(self) -> None: ...


# Set in worker processes that hash videos side by side (see share_ffmpeg_slots).
_ffmpeg_slots: FfmpegSlots | None = None


@dataclass(frozen=True)
class VideoPhash:
    """A video's phash, whether it is Stash's exact value, and the duration it was taken over."""

    phash: str
    exact: bool
    duration: float


# ---------------------------------------------------------------------------------------------
# Public entry points


def phash_file(path: str | os.PathLike[str], exact: bool = False) -> str:
    """The phash of a video or image file, chosen by its extension (as Stash does)."""
    if Path(path).suffix.lower() in VIDEO_EXTENSIONS:
        return video_phash(path).phash
    return image_phash(path, exact=exact)


def image_phash(path: str | os.PathLike[str], exact: bool = False) -> str:
    """Stash's phash of an image file.

    exact=True decodes at full size and reproduces goimagehash bit for bit (JPEGs may still
    differ by a bit or two: Go's JPEG decoder rounds differently from libjpeg; lossy WebP is
    exact only with ffmpeg on PATH). The default hashes a large JPEG's EXIF thumbnail when it
    has the photo's shape, else lets libjpeg decode the JPEG at 1/2 to 1/8 scale, and skips
    ffmpeg for lossy WebP: it stays within a few bits of the exact value, at a fraction of the
    cost. Other formats are hashed the same way in both modes.
    """
    _check_readable(path)
    return _perception_hash(_decode_image(path, fast=not exact))


def video_phash(
    path: str | os.PathLike[str],
    ffmpeg: str | None = None,
    ffprobe: str | None = None,
    timeout: float = 120,
) -> VideoPhash:
    """Stash's phash of a video: exact with ffmpeg and ffprobe, else approximated with OpenCV.

    `timeout` bounds the whole computation in seconds; each ffmpeg call gets what is left.
    """
    _check_readable(path)
    ffmpeg, ffprobe = _resolve_tools(ffmpeg, ffprobe)
    deadline = time.monotonic() + timeout
    path = os.path.abspath(path)  # a name starting with "-" must not read as an option
    if ffmpeg and ffprobe:
        return _video_phash_ffmpeg(path, ffmpeg, ffprobe, deadline)
    return _video_phash_opencv(path, deadline)


def share_ffmpeg_slots(slots: FfmpegSlots | None) -> None:
    """Cap the screenshot processes of several hashing processes together.

    Each video starts up to SCREENSHOT_WORKERS ffmpeg processes, so a pool of one hashing
    process per core would otherwise run cores x cores of them, each holding its decoders'
    memory. With a shared semaphore of one slot per core, a lone video still uses every core.
    """
    global _ffmpeg_slots
    _ffmpeg_slots = slots


def find_ffmpeg(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> tuple[str | None, str | None]:
    """(ffmpeg, ffprobe) executables, looked for in `extra_dirs` first and then on PATH."""
    return _find_tool("ffmpeg", extra_dirs), _find_tool("ffprobe", extra_dirs)


def system_subprocess_env() -> dict[str, str] | None:
    """The environment for system programs such as ffmpeg (None: inherit ours unchanged).

    A PyInstaller bundle points LD_LIBRARY_PATH at its own libraries; a system ffmpeg must
    see the original value (PyInstaller keeps it in LD_LIBRARY_PATH_ORIG) or it may fail to load.
    """
    if not getattr(sys, "frozen", False):
        return None
    env = dict(os.environ)
    original = env.get("LD_LIBRARY_PATH_ORIG")
    if original is not None:
        env["LD_LIBRARY_PATH"] = original
    else:
        env.pop("LD_LIBRARY_PATH", None)
    return env


# ---------------------------------------------------------------------------------------------
# Decoding into the pixel layout of the Go image type Stash's decoder returns


@dataclass(frozen=True)
class _GoImage:
    """Pixels (height, width, channels) laid out as one of Go's image types.

    kind is the Go type: RGBA (RGB, opaque), NRGBA (RGBA, straight alpha), YCbCr (full-size
    Y, Cb, Cr with chroma repeated as Go's YCbCrAt does; for JPEGs libjpeg's interpolated
    chroma stands in, which moves the luminance hardly at all), Gray, Gray16, RGBA64 (RGB, 16-bit),
    NRGBA64 (RGBA, 16-bit), or Generic: the 16-bit premultiplied RGB that `At().RGBA()` gives
    for the types nfnt/resize has no fast path for (Paletted, CMYK, NYCbCrA).
    """

    kind: str
    pixels: np.ndarray


_EIGHT_BIT_KINDS = frozenset({"RGBA", "NRGBA", "YCbCr", "Gray"})
_LEVELS = np.arange(256, dtype=np.int64)
# color.CMYK.RGBA() of one ink level (first index) under a black level (second index).
_CMYK_RGBA16 = ((0xFFFF - _LEVELS[:, None] * 0x101) * (0xFFFF - _LEVELS * 0x101) // 0xFFFF).astype(
    np.uint16
)


def _check_readable(path: str | os.PathLike[str]) -> None:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise MediaError(f"File not found: {os.fspath(path)}") from None
    except OSError as error:
        raise MediaError(f"Cannot read {os.fspath(path)}: {error.strerror}") from None
    if not Path(path).is_file():
        raise MediaError(f"Not a file: {os.fspath(path)}")
    if size == 0:
        raise MediaError(f"Empty file (0 bytes): {os.fspath(path)}")


def _decode_image(path: str | os.PathLike[str], fast: bool) -> _GoImage:
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
    except _DECODE_ERRORS as error:
        raise MediaError(f"Cannot decode image {os.fspath(path)}: {_one_line(error)}") from None


def _from_jpeg(image: Image.Image, fast: bool, path: str | os.PathLike[str]) -> _GoImage:
    reduced = (FAST_JPEG_SIZE, FAST_JPEG_SIZE) if fast else None
    if image.mode == "L":
        image.draft("L", reduced)
        return _GoImage("Gray", np.asarray(image)[..., None])
    if image.mode == "CMYK":
        image.draft("CMYK", reduced)
        # Pillow undoes Adobe's inverted CMYK, as Go's decoder does; then color.CMYK.RGBA().
        cmyk = np.asarray(image)
        return _GoImage("Generic", _CMYK_RGBA16[cmyk[..., :3], cmyk[..., 3:]])
    if image.info.get("adobe_transform") == 0 and "jfif" not in image.info:
        return _GoImage("RGBA", np.asarray(image.convert("RGB")))  # an RGB (not YCbCr) JPEG
    big = image.width * image.height >= FAST_THUMBNAIL_FROM_PIXELS
    if fast and big and _ends_with_eoi(path):  # a truncated photo must fail, not pass as whole
        thumbnail = _exif_thumbnail(image)
        if thumbnail is not None:
            image = thumbnail
    # Go keeps JPEG pixels as Y'CbCr: ask libjpeg for them, skipping its RGB conversion.
    image.draft("YCbCr", reduced)
    return _GoImage("YCbCr", np.asarray(image if image.mode == "YCbCr" else image.convert("YCbCr")))


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
    except _DECODE_ERRORS + (UnidentifiedImageError, KeyError, TypeError, ZeroDivisionError):
        return None


def _from_png_16bit_colour(path: str | os.PathLike[str], colour_type: int) -> _GoImage:
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
        return _GoImage("RGBA64", pixels[..., :3])
    return _GoImage("NRGBA64", pixels)


def _from_webp(image: Image.Image, header: bytes, path: str, fast: bool) -> _GoImage:
    """Lossless WebP decodes to Go's NRGBA; lossy to YCbCr (or NYCbCrA with alpha)."""
    chunk = header[12:16]
    lossless = chunk == b"VP8L" or (chunk == b"VP8X" and b"VP8L" in _riff_chunk_names(path))
    if lossless:
        return _GoImage("NRGBA", np.asarray(image.convert("RGBA")))
    has_alpha = image.mode == "RGBA"
    planes = None if fast else _webp_yuv_planes(path, has_alpha)
    if planes is None:  # convert libwebp's RGB back to Y'CbCr: within a bit or two
        ycbcr = np.asarray(image.convert("RGB").convert("YCbCr"))
        alpha = np.asarray(image)[..., 3:] if has_alpha else None
    else:
        ycbcr, alpha = planes
    if alpha is None:
        return _GoImage("YCbCr", ycbcr)
    return _GoImage("Generic", _nycbcra_rgba16(ycbcr, alpha))


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
        data = _run(command, time.monotonic() + 60, f"ffmpeg cannot decode {path}")
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


def _from_gif(image: Image.Image) -> _GoImage:
    """Go hashes the first frame alone, at the frame's own size (not the logical screen)."""
    image.seek(0)
    image.load()
    extent = getattr(image, "dispose_extent", None)
    if extent and tuple(extent) != (0, 0, *image.size):
        image = image.crop(extent)
    return _from_pillow(image, paletted=True)


def _from_pillow(image: Image.Image, paletted: bool) -> _GoImage:
    """Map Pillow's modes onto the Go types that image/png, image/gif and x/image/bmp return."""
    mode, info = image.mode, image.info
    if mode == "P" or (paletted and mode in ("L", "1")):
        return _GoImage("Generic", _paletted_rgba16(image))
    if mode == "1":
        return _GoImage("Gray", np.asarray(image.convert("L"))[..., None])
    if mode == "L" and "transparency" not in info:
        return _GoImage("Gray", np.asarray(image)[..., None])
    if mode.startswith("I;16") or mode == "I":
        return _GoImage("Gray16", np.asarray(image).astype(np.uint16)[..., None])
    if mode == "RGB" and "transparency" not in info:
        return _GoImage("RGBA", np.asarray(image))
    if mode in ("L", "RGB"):  # a tRNS colour key makes Go decode to NRGBA
        rgb = np.asarray(image.convert("RGB"))
        key = info["transparency"]
        key = (key, key, key) if isinstance(key, int) else tuple(key)
        alpha = np.where((rgb == np.array(key, np.uint8)).all(axis=2), 0, 255).astype(np.uint8)
        return _GoImage("NRGBA", np.dstack([rgb, alpha]))
    return _GoImage("NRGBA", np.asarray(image.convert("RGBA")))


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
# goimagehash PerceptionHash


def _perception_hash(image: _GoImage) -> str:
    height, width = image.pixels.shape[:2]
    if height == 0 or width == 0:
        raise MediaError("Image has no pixels")
    if (width, height) != (HASH_SIZE, HASH_SIZE):  # nfnt/resize returns a 64x64 image untouched
        image = _resize(image)
    coefficients = _dct_2d(_luminance(image))
    low_frequencies = coefficients[:8, :8].ravel()
    median = _go_median(low_frequencies.tolist())
    bits = 0
    for value in low_frequencies.tolist():  # row-major, the DC term as the most significant bit
        bits = (bits << 1) | (value > median)
    return f"{bits:016x}"


def _luminance(image: _GoImage) -> np.ndarray:
    """goimagehash's pixel2Gray on Go's 16-bit `RGBA()` values (note blue divides by 256)."""
    red, green, blue = np.moveaxis(_rgba16(image), 2, 0)
    return 0.299 * (red // 257) + 0.587 * (green // 257) + 0.114 * (blue // 256)


def _rgba16(image: _GoImage) -> np.ndarray:
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


# nfnt/resize Bilinear ------------------------------------------------------------------------


def _resize(image: _GoImage) -> _GoImage:
    """nfnt/resize.Resize(64, 64, image, Bilinear): a horizontal pass rounded to the output
    type, then a vertical pass, each with fixed-point weights truncated toward zero."""
    kind, pixels = image.kind, image.pixels
    if kind == "NRGBA":  # premultiplied per pixel with 8-bit integer arithmetic (resizeNRGBA)
        pixels = (pixels[..., :3].astype(np.uint16) * pixels[..., 3:] // 0xFF).astype(np.uint8)
        kind = "RGBA"
    elif kind == "NRGBA64":
        pixels = (pixels[..., :3].astype(np.uint32) * pixels[..., 3:] // 0xFFFF).astype(np.uint16)
        kind = "RGBA64"
    elif kind == "Generic":
        kind = "RGBA64"
    unit = 256 if kind in _EIGHT_BIT_KINDS else 65536
    height, width = pixels.shape[:2]
    rows = _filter_along_width(pixels, *_filter_weights(width, HASH_SIZE, unit), unit)
    # The first pass stores its result transposed; the same filter then runs down the columns.
    columns = _filter_along_width(
        rows.transpose(1, 0, 2), *_filter_weights(height, HASH_SIZE, unit), unit
    )
    return _GoImage(kind, columns.transpose(1, 0, 2))


def _filter_weights(in_size: int, out_size: int, unit: int) -> tuple[np.ndarray, ...]:
    """createWeights8/16 with the triangle kernel: for each output pixel, the first of its
    input pixels (which may lie before 0), its (out, taps) weights, and their sums.

    The filter widens with the scale factor (2 taps per output pixel per unit of scale), taps
    beyond the edges land on the edge pixel, and each weight is truncated to a multiple of
    1/unit just as Go converts `kernel(x) * 256` to int16 (or `* 65536` to int32).
    """
    scale = in_size / out_size
    taps = 2 * max(math.ceil(scale), 1)
    factor = min(1.0 / scale, 1.0)
    centres = scale * (np.arange(out_size, dtype=np.float64) + 0.5) - 0.5
    starts = np.trunc(centres).astype(np.int64) - taps // 2 + 1
    distances = np.abs(((centres - starts)[:, None] - np.arange(taps)) * factor)
    weights = np.trunc(np.where(distances <= 1, 1 - distances, 0.0) * unit)
    return starts, weights, weights.sum(axis=1).astype(np.int64)


def _filter_along_width(
    pixels: np.ndarray, starts: np.ndarray, weights: np.ndarray, sums: np.ndarray, unit: int
) -> np.ndarray:
    """Filter each row to len(sums) pixels and divide by the weight sum as Go does (truncating).

    Each output pixel is one matrix-vector product over its own taps, so the work grows with
    the taps, not with the width. The products are small integers, so floats compute them
    exactly (float32 while every sum stays below 2**24, else float64). Rows are edge-padded
    (Go clamps taps to the edges) and go in chunks to bound memory on large photos.
    """
    rows, width, channels = pixels.shape
    out_size, taps = weights.shape
    largest = int(sums.max()) * (255 if unit == 256 else 65535)
    dtype = np.float32 if largest < 2**24 else np.float64
    weights = weights.astype(dtype)
    pad = taps  # the first tap lies at most taps/2 before the start, the last as far past the end
    out = np.empty((rows, out_size, channels), dtype=pixels.dtype)
    chunk = max(1, (1 << 22) // max(1, (width + 2 * pad) * channels))
    for start in range(0, rows, chunk):
        block = pixels[start : start + chunk].transpose(0, 2, 1).reshape(-1, width)
        padded = np.empty((block.shape[0], width + 2 * pad), dtype)
        padded[:, pad : pad + width] = block
        padded[:, :pad] = block[:, :1]
        padded[:, pad + width :] = block[:, -1:]
        sums_of_products = np.empty((block.shape[0], out_size), dtype)
        for index, first in enumerate((starts + pad).tolist()):
            sums_of_products[:, index] = padded[:, first : first + taps] @ weights[index]
        filtered = sums_of_products.astype(np.int64) // sums
        out[start : start + chunk] = filtered.reshape(-1, channels, out_size).transpose(0, 2, 1)
    return out


# goimagehash's DCT ---------------------------------------------------------------------------


_GO_SIN = (
    1.58962301576546568060e-10, -2.50507477628578072866e-8, 2.75573136213857245213e-6,
    -1.98412698295895385996e-4, 8.33333333332211858878e-3, -1.66666666666666307295e-1,
)  # fmt: skip
_GO_COS = (
    -1.13585365213876817300e-11, 2.08757008419747316778e-9, -2.75573141792967388112e-7,
    2.48015872888517045348e-5, -1.38888888888730564116e-3, 4.16666666666665929218e-2,
)  # fmt: skip


def _go_cos(x: float) -> float:
    """Go's math.Cos, a Cephes port. It differs from the C library's cos in the last bit for
    some entries of goimagehash's DCT tables, and the hash inherits those bits."""

    def polynomial(coefficients: tuple[float, ...], zz: float) -> float:
        value = coefficients[0]
        for coefficient in coefficients[1:]:  # ((c0*zz + c1)*zz + c2)... in Go's order
            value = value * zz + coefficient
        return value

    x = abs(x)
    octant = int(x * (4 / math.pi))
    y = float(octant)
    if octant & 1:
        octant, y = octant + 1, y + 1
    octant &= 7
    # Pi/4 split in three parts: extended-precision reduction to [-Pi/4, Pi/4].
    z = ((x - y * 7.85398125648498535156e-1) - y * 3.77489470793079817668e-8) - (
        y * 2.69515142907905952645e-15
    )
    negative = False
    if octant > 3:
        octant, negative = octant - 4, True
    if octant > 1:
        negative = not negative
    zz = z * z
    if octant in (1, 2):
        y = z + z * zz * polynomial(_GO_SIN, zz)
    else:
        y = 1.0 - 0.5 * zz + zz * zz * polynomial(_GO_COS, zz)
    return -y if negative else y


# dct64 ... dct2 of goimagehash's transforms/static.go: 2*cos((i + 0.5) * pi / n).
_DCT_TABLES = {
    n: np.array([_go_cos((i + 0.5) * math.pi / n) * 2 for i in range(n // 2)])
    for n in (64, 32, 16, 8, 4, 2)
}


def _dct_1d(values: np.ndarray) -> np.ndarray:
    """DCT1DFast64 (Byeong Gi Lee's recursive DCT-II) along the last axis, in Go's order.

    Go recurses into the sums and the differences one after the other; stacking them lets one
    call do both with the same float operations (so the same bits), in a few array operations.
    """
    n = values.shape[-1]
    if n == 1:
        return values
    half = n // 2
    front, back = values[..., :half], values[..., : half - 1 : -1]  # input[i], input[n-1-i]
    sums, differences = _dct_1d(np.stack([front + back, (front - back) / _DCT_TABLES[n]]))
    out = np.empty_like(values)
    out[..., 0 : n - 2 : 2] = sums[..., : half - 1]
    out[..., 1 : n - 2 : 2] = differences[..., : half - 1] + differences[..., 1:half]
    out[..., n - 2] = sums[..., half - 1]
    out[..., n - 1] = differences[..., half - 1]
    return out


def _dct_2d(pixels: np.ndarray) -> np.ndarray:
    """DCT2DFast64: every row first, then every column."""
    return _dct_1d(_dct_1d(pixels).T).T


def _go_median(values: list[float]) -> float:
    """etcs.MedianOfPixelsFast64 exactly: Go's quickselect, then s[31]/2 + s[32]/2 of the
    partially ordered array (s[31] is whatever the partitioning left there)."""
    sequence, k = list(values), len(values) // 2
    low, high = 0, len(sequence) - 1
    while low < high:
        pivot = low // 2 + high // 2
        pivot_value = sequence[pivot]
        store = low
        sequence[pivot], sequence[high] = sequence[high], sequence[pivot]
        for i in range(low, high):
            if sequence[i] < pivot_value:
                sequence[store], sequence[i] = sequence[i], sequence[store]
                store += 1
        sequence[high], sequence[store] = sequence[store], sequence[high]
        if k <= store:
            high = store
        else:
            low = store + 1
    return sequence[k - 1] / 2 + sequence[k] / 2


# ---------------------------------------------------------------------------------------------
# Videos


def _video_phash_ffmpeg(path: str, ffmpeg: str, ffprobe: str, deadline: float) -> VideoPhash:
    duration, pixels = _probe(path, ffprobe, deadline)
    times = _screenshot_times(duration)
    if pixels:
        per_process = max(1, SCREENSHOT_PIXELS_PER_PROCESS // pixels)
        workers = min(SCREENSHOT_WORKERS, len(times))
        # A whole number of batches per worker, or the last one runs alone at the end.
        rounds = math.ceil(len(times) / per_process / workers)
        batches = min(len(times), rounds * workers)
    else:
        batches = len(times)  # one input per process: ffmpeg picks the stream as for Stash
    # Interleaved, so every batch seeks across the whole video and they finish together.
    order = [index for first in range(batches) for index in range(first, len(times), batches)]
    # ffmpeg runs outside the GIL, so threads keep one process per core busy.
    pool = ThreadPoolExecutor(max_workers=SCREENSHOT_WORKERS)
    try:
        shots = pool.map(lambda b: _screenshots(path, ffmpeg, times[b::batches], deadline),
                         range(batches))  # fmt: skip
        taken = [frame for batch in shots for frame in batch]
    finally:
        pool.shutdown(cancel_futures=True)  # after a failure, start no further screenshots
    frames = [np.empty(0)] * len(times)
    for index, frame in zip(order, taken, strict=True):
        frames[index] = frame
    return VideoPhash(_perception_hash(_sprite(frames)), exact=True, duration=duration)


def _probe(path: str, ffprobe: str, deadline: float) -> tuple[float, int]:
    """The *format* duration, rounded to 1/100 s as Go's math.Round does (half away from 0),
    and width x height of the only video stream (0 when there are several, say cover art,
    or its size is unknown: then ffmpeg's own choice of stream cannot be named safely)."""
    command = [ffprobe, "-v", "error", "-print_format", "json", "-show_format",
               "-show_streams", path]  # fmt: skip
    output = _run(command, deadline, f"ffprobe cannot read {path}")
    try:
        probed = json.loads(output)
    except ValueError:
        probed = {}
    probed = probed if isinstance(probed, dict) else {}
    try:
        duration = float(probed.get("format", {}).get("duration", ""))
    except (ValueError, TypeError, AttributeError):
        duration = 0.0  # Stash ignores the parse error and hashes with a zero duration
    if not math.isfinite(duration):
        duration = 0.0
    sizes = []
    for stream in probed.get("streams") or []:
        if isinstance(stream, dict) and stream.get("codec_type") == "video":
            try:
                sizes.append(int(stream.get("width") or 0) * int(stream.get("height") or 0))
            except (ValueError, TypeError):
                sizes.append(0)
    pixels = sizes[0] if len(sizes) == 1 else 0
    return _go_round(duration * 100) / 100, pixels


def _go_round(value: float) -> float:
    """Go's math.Round: to the nearest integer, halves away from zero."""
    whole = math.floor(abs(value))
    if abs(value) - whole >= 0.5:
        whole += 1
    return math.copysign(whole, value)


def _screenshot_times(duration: float) -> list[float]:
    """25 moments from 5% to 95% of the duration, computed with Stash's float operations."""
    offset = 0.05 * duration
    step = (0.9 * duration) / float(SPRITE_COLUMNS * SPRITE_ROWS)
    return [offset + float(i) * step for i in range(SPRITE_COLUMNS * SPRITE_ROWS)]


def _go_float_text(value: float) -> str:
    """fmt.Sprint(float64), which Stash uses for `-ss`: shortest digits, "12" not "12.0",
    and %e form for exponents below -4 or from 6 up (1e+06), as strconv's 'g' does."""
    if value == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    point = len(digit_tuple) + int(exponent)  # digits before the decimal point
    text = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{text}{mantissa}e{'-' if point - 1 < 0 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{text}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return text + digits + "0" * (point - len(digits))
    return f"{text}{digits[:point]}.{digits[point:]}"


# Stash's ScreenshotTime command is `ffmpeg -v error -y` + input + output, as below.
_FFMPEG_QUIET = ("-v", "error", "-y")


def _screenshot_input(path: str, seconds: float) -> list[str]:
    return ["-threads", "1", "-ss", _go_float_text(seconds), "-i", path]


def _screenshot_output(output: str) -> list[str]:
    """One 160 px wide frame as a BMP."""
    return ["-frames:v", "1", "-vf", f"scale={SCREENSHOT_WIDTH}:-2",
            "-c:v", "bmp", "-f", "rawvideo", output]  # fmt: skip


def _screenshot(path: str, ffmpeg: str, seconds: float, deadline: float) -> np.ndarray:
    """One frame as RGB from its own ffmpeg process, exactly as Stash takes it."""
    command = [ffmpeg, *_FFMPEG_QUIET, *_screenshot_input(path, seconds), *_screenshot_output("-")]
    data = _run(command, deadline, f"ffmpeg cannot take a screenshot of {path}")
    return _bitmap_frame(data, path, seconds)


def _screenshots(path: str, ffmpeg: str, times: list[float], deadline: float) -> list[np.ndarray]:
    """Several frames from one ffmpeg process: Stash's screenshot arguments once per moment,
    each input seeking on its own, each output written to its own BMP file."""
    with tempfile.TemporaryDirectory(prefix="stash-dedupe-shots-") as folder:
        outputs = [os.path.join(folder, f"{index:02d}.bmp") for index in range(len(times))]
        command = [ffmpeg, *_FFMPEG_QUIET]
        for seconds in times:
            command += _screenshot_input(path, seconds)
        for index, output in enumerate(outputs):
            if len(times) > 1:  # with one input ffmpeg picks the stream, exactly as for Stash
                command += ["-map", f"{index}:v:0"]
            command += _screenshot_output(output)
        failure = f"ffmpeg cannot take a screenshot of {path}"
        with _ffmpeg_slot(deadline, failure):
            _run(command, deadline, failure)
        frames = []
        for seconds, output in zip(times, outputs, strict=True):
            try:
                data = Path(output).read_bytes()
            except OSError:
                data = b""
            frames.append(_bitmap_frame(data, path, seconds))
        return frames


@contextmanager
def _ffmpeg_slot(deadline: float, failure: str) -> Iterator[None]:
    """Wait for a shared slot to run ffmpeg in, when slots are shared (else go at once)."""
    slots = _ffmpeg_slots
    if slots is None:
        yield
        return
    if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise MediaError(f"Timed out: {failure}")
    try:
        yield
    finally:
        slots.release()


def _bitmap_frame(data: bytes, path: str, seconds: float) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as bitmap:
            return np.asarray(bitmap.convert("RGB"))
    except _DECODE_ERRORS + (UnidentifiedImageError,):
        raise MediaError(f"ffmpeg gave no frame at {_go_float_text(seconds)} s of {path}") from None


def _sprite(frames: list[np.ndarray]) -> _GoImage:
    """combineImages: a transparent NRGBA canvas sized from the first frame, 5x5 row-major."""
    height, width = frames[0].shape[:2]
    canvas = np.zeros((height * SPRITE_ROWS, width * SPRITE_COLUMNS, 4), dtype=np.uint8)
    for index, frame in enumerate(frames):
        top, left = height * (index // SPRITE_COLUMNS), width * (index % SPRITE_COLUMNS)
        patch = frame[: canvas.shape[0] - top, : canvas.shape[1] - left]
        canvas[top : top + patch.shape[0], left : left + patch.shape[1], :3] = patch
        canvas[top : top + patch.shape[0], left : left + patch.shape[1], 3] = 255
    return _GoImage("NRGBA", canvas)


def _video_phash_opencv(path: str, deadline: float) -> VideoPhash:
    """Without ffmpeg: the same sprite from OpenCV's decoder, close to but not Stash's value."""
    import cv2

    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise MediaError(f"Cannot open video {path}")
        fps = capture.get(cv2.CAP_PROP_FPS)
        frame_count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        if not (fps > 0 and frame_count > 0):
            raise MediaError(f"Cannot find the duration of video {path}")
        duration = _go_round(frame_count / fps * 100) / 100
        frames = []
        for seconds in _screenshot_times(duration):
            if time.monotonic() > deadline:
                raise MediaError(f"Timed out hashing video {path}")
            capture.set(cv2.CAP_PROP_POS_MSEC, seconds * 1000)
            ok, frame = capture.read()
            if not ok:
                raise MediaError(f"Cannot decode a frame at {seconds:.2f} s of {path}")
            height = max(2, round(SCREENSHOT_WIDTH * frame.shape[0] / frame.shape[1] / 2) * 2)
            frame = cv2.resize(frame, (SCREENSHOT_WIDTH, height), interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return VideoPhash(_perception_hash(_sprite(frames)), exact=False, duration=duration)


# ---------------------------------------------------------------------------------------------
# Running ffmpeg


def _find_tool(name: str, extra_dirs: Iterable[str | os.PathLike[str]]) -> str | None:
    executable = name + (".exe" if os.name == "nt" else "")
    for directory in extra_dirs:
        candidate = Path(directory) / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def _resolve_tools(ffmpeg: str | None, ffprobe: str | None) -> tuple[str | None, str | None]:
    """Given paths first, then a tool beside the other given one, then PATH."""
    beside = [str(Path(tool).parent) for tool in (ffmpeg, ffprobe) if tool]
    found_ffmpeg, found_ffprobe = find_ffmpeg(beside)
    ffmpeg = ffmpeg if ffmpeg and Path(ffmpeg).is_file() else found_ffmpeg
    ffprobe = ffprobe if ffprobe and Path(ffprobe).is_file() else found_ffprobe
    return ffmpeg, ffprobe


def _run(command: list[str], deadline: float, failure: str) -> bytes:
    """Run a system program and return its stdout, or raise MediaError with a short reason."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise MediaError(f"Timed out: {failure}")
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=remaining,
            env=system_subprocess_env(),
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
    except subprocess.TimeoutExpired:
        raise MediaError(f"Timed out: {failure}") from None
    except OSError as error:
        raise MediaError(f"{failure}: {error.strerror or error}") from None
    if result.returncode != 0:
        reason = _one_line(result.stderr.decode("utf-8", "replace")) or f"exit {result.returncode}"
        for argument in command[1:]:  # ffmpeg starts its messages with the input's name
            reason = reason.removeprefix(f"{argument}: ")
        raise MediaError(f"{failure}: {reason}")
    return result.stdout


def _one_line(error: object) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__

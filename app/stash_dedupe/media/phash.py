"""Perceptual hashes computed the way Stash computes them, so ours compare with its own.

Stash hashes with goimagehash's `PerceptionHash` (v1.1.0): nfnt/resize `Bilinear` to 64x64,
a luminance formula on Go's 16-bit colours, goimagehash's own DCT, and a median over the
top-left 8x8 coefficients. Every step below copies Go's integer and floating-point arithmetic,
because a single flipped bit makes a hash differ from the one in Stash's database.

Images are first decoded into the pixels of the Go image type Stash's decoder returns
(go_image.py). Videos follow Stash's `pkg/hash/videophash`: 25 ffmpeg screenshots, 160 px wide,
pasted into a 5x5 sprite (video_sprite.py) that is then hashed like an image. A phash is 16
lowercase hex digits everywhere.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stash_dedupe.errors import MediaError
from stash_dedupe.media.ffmpeg_tools import resolve_tools
from stash_dedupe.media.go_image import EIGHT_BIT_KINDS, GoImage, decode_image, rgba16
from stash_dedupe.media.video_sprite import ffmpeg_sprite, opencv_sprite

VIDEO_EXTENSIONS = frozenset({
    ".3gp", ".asf", ".avi", ".divx", ".f4v", ".flv", ".m2ts", ".m4v", ".mkv", ".mov", ".mp4",
    ".mpeg", ".mpg", ".mts", ".ogv", ".rm", ".rmvb", ".ts", ".vob", ".webm", ".wmv",
})  # fmt: skip
HASH_SIZE = 64  # goimagehash resizes every image to 64x64 before its DCT


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
    return _perception_hash(decode_image(path, fast=not exact))


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
    ffmpeg, ffprobe = resolve_tools(ffmpeg, ffprobe)
    deadline = time.monotonic() + timeout
    path = os.path.abspath(path)  # a name starting with "-" must not read as an option
    if ffmpeg and ffprobe:
        sprite = ffmpeg_sprite(path, ffmpeg, ffprobe, deadline)
        return VideoPhash(_perception_hash(sprite.image), exact=True, duration=sprite.duration)
    sprite = opencv_sprite(path, deadline)
    return VideoPhash(_perception_hash(sprite.image), exact=False, duration=sprite.duration)


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


# ---------------------------------------------------------------------------------------------
# goimagehash PerceptionHash


def _perception_hash(image: GoImage) -> str:
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


def _luminance(image: GoImage) -> np.ndarray:
    """goimagehash's pixel2Gray on Go's 16-bit `RGBA()` values (note blue divides by 256)."""
    red, green, blue = np.moveaxis(rgba16(image), 2, 0)
    return 0.299 * (red // 257) + 0.587 * (green // 257) + 0.114 * (blue // 256)


# nfnt/resize Bilinear ------------------------------------------------------------------------


def _resize(image: GoImage) -> GoImage:
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
    unit = 256 if kind in EIGHT_BIT_KINDS else 65536
    height, width = pixels.shape[:2]
    rows = _filter_along_width(pixels, *_filter_weights(width, HASH_SIZE, unit), unit)
    # The first pass stores its result transposed; the same filter then runs down the columns.
    columns = _filter_along_width(
        rows.transpose(1, 0, 2), *_filter_weights(height, HASH_SIZE, unit), unit
    )
    return GoImage(kind, columns.transpose(1, 0, 2))


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

"""How alike two pictures are: SSIM, letterbox crops, images compared, heat maps of differences.

Pictures are compared in grayscale at 160x90 with SSIM (Wang et al. 2004: 11x11 Gaussian
window, sigma 1.5, K1 = 0.01, K2 = 0.03, mean over the region where the window fits). SSIM
rather than a pixel difference because re-encoding, rescaling and brightness shifts change
pixels but keep structure, while different content with the same look (studio, set, palette)
does not keep it. Black letterbox/pillarbox bars are found (`detect_crop`) and cropped first.
Images get the same SSIM after scaling both to a common size. JPEG encoding and decoding for
the UI lives here too: strips and heat maps are JPEGs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from stash_dedupe.media.decoding import load_image

COMPARE_SIZE = (160, 90)  # width, height of the grayscale pictures SSIM compares
JPEG_QUALITY = 82

# Where a score becomes "the same video": models.DEFAULT_MATCH_THRESHOLD says how it was set.

# Letterbox detection: a line is a bar when fewer than BAR_BRIGHT_FRACTION of its pixels are
# brighter than DARK_LEVEL (video black is luma 16, decoded to about 0; noise and ringing stay
# well under 32). Bars thinner than MIN_BAR_FRACTION of the side are encoder edge noise.
DARK_LEVEL = 32
BAR_BRIGHT_FRACTION = 0.02
MIN_BAR_FRACTION = 0.01

# Difference maps: a small change must show, re-encoding noise must not. The signed difference
# is blurred first (DIFFERENCE_BLUR pixels wide): noise, different at each pixel, averages out,
# a changed region does not. Then |a - b| times DIFFERENCE_GAIN goes through the colour map, so
# 255 / 16 = 16 grey levels (about 6 % of the brightness range) is already the map's brightest
# colour; the page's legend (frontend/js/images.js) says so.
DIFFERENCE_GAIN = 16.0
DIFFERENCE_BLUR = 5
DIFFERENCE_COLOUR_MAP = cv2.COLORMAP_INFERNO  # black (the same), purple, orange, pale yellow


@dataclass(frozen=True)
class Crop:
    """The picture inside black bars, in decoded pixels (after rotation metadata is applied)."""

    x: int
    y: int
    width: int
    height: int


def ssim(image_a: np.ndarray, image_b: np.ndarray) -> float:
    """Mean SSIM of two same-size grayscale images (Wang et al. 2004, Gaussian window).

    11x11 Gaussian window with sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, averaged over
    the pixels where the whole window fits (the 'valid' region of the reference code).
    """
    if image_a.shape != image_b.shape:
        raise ValueError(f"SSIM needs equal shapes, got {image_a.shape} and {image_b.shape}")
    a = image_a.astype(np.float64)
    b = image_b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(values: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(values, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mean_a, mean_b = blur(a), blur(b)
    variance_a = blur(a * a) - mean_a * mean_a
    variance_b = blur(b * b) - mean_b * mean_b
    covariance = blur(a * b) - mean_a * mean_b
    ssim_map = ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)) / (
        (mean_a * mean_a + mean_b * mean_b + c1) * (variance_a + variance_b + c2)
    )
    if min(ssim_map.shape) > 10:
        ssim_map = ssim_map[5:-5, 5:-5]
    return float(ssim_map.mean())


def detect_crop(frames: Sequence[np.ndarray]) -> Crop:
    """The picture area inside near-black bars that are present in every informative frame.

    All-black frames (fades, night scenes) say nothing about bars and are ignored; taking the
    smallest bar over the rest means a dark scene edge in one frame is not cut from all of them.
    """
    height, width = frames[0].shape[:2]
    bars: list[tuple[int, int, int, int]] = []
    for frame in frames:
        bright = _as_gray(frame) > DARK_LEVEL
        if bright.mean() < BAR_BRIGHT_FRACTION:
            continue
        content_rows = np.flatnonzero(bright.mean(axis=1) >= BAR_BRIGHT_FRACTION)
        content_columns = np.flatnonzero(bright.mean(axis=0) >= BAR_BRIGHT_FRACTION)
        bars.append(
            (
                int(content_rows[0]),
                height - 1 - int(content_rows[-1]),
                int(content_columns[0]),
                width - 1 - int(content_columns[-1]),
            )
        )
    if not bars:
        return Crop(0, 0, width, height)
    top, bottom, left, right = (min(sides) for sides in zip(*bars, strict=True))
    top, bottom = (bar if bar >= MIN_BAR_FRACTION * height else 0 for bar in (top, bottom))
    left, right = (bar if bar >= MIN_BAR_FRACTION * width else 0 for bar in (left, right))
    return Crop(left, top, width - left - right, height - top - bottom)


def compare_images(path_a: str, path_b: str) -> float:
    """SSIM of two images after scaling both to one common size, in grayscale."""
    load_side = 2 * COMPARE_SIZE[0]  # detail enough to shrink well; JPEGs decode at 1/4-1/8
    image_a, image_b = load_image(path_a, load_side), load_image(path_b, load_side)
    size = _common_image_size(image_a, image_b)
    return ssim(to_compare_gray(image_a, size), to_compare_gray(image_b, size))


def image_difference_heatmap(path_a: str, path_b: str, max_side: int = 320) -> bytes:
    """Where two images differ, as a colour-mapped JPEG the size of `path_a`'s preview."""
    return difference_heatmap(load_image(path_a, max_side), load_image(path_b, max_side))


def difference_heatmap(frame_a: np.ndarray, frame_b: np.ndarray) -> bytes:
    """JPEG of |a - b| in grayscale, amplified and colour-mapped (black = the same).

    `frame_b` is scaled to `frame_a`'s size. See DIFFERENCE_GAIN: a 5 % brightness change
    shows clearly while re-encoding noise stays near black. Works on strip frames
    (`decode_jpeg`) or on the 160x90 grayscale pictures SSIM saw (`SampledFrames.gray[i]`).
    """
    gray_a, gray_b = _as_gray(frame_a), _as_gray(frame_b)
    if gray_b.shape != gray_a.shape:
        gray_b = cv2.resize(
            gray_b, (gray_a.shape[1], gray_a.shape[0]), interpolation=cv2.INTER_AREA
        )
    signed = gray_a.astype(np.float32) - gray_b.astype(np.float32)
    blurred = cv2.GaussianBlur(signed, (DIFFERENCE_BLUR, DIFFERENCE_BLUR), 0)
    difference = cv2.convertScaleAbs(blurred, alpha=DIFFERENCE_GAIN)  # |x| * gain, to 0..255
    return encode_jpeg(cv2.applyColorMap(difference, DIFFERENCE_COLOUR_MAP))


def encode_jpeg(frame: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR or grayscale frame, for the UI."""
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("OpenCV could not encode the frame as JPEG")
    return data.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """A BGR frame back from `encode_jpeg` (e.g. a strip frame, for a heat map)."""
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError("not a JPEG OpenCV can decode")
    return frame


# ---------------------------------------------------------------------------------------------
# Pixels


def apply_crop(frame: np.ndarray, crop: Crop) -> np.ndarray:
    return frame[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width]


def frame_size(frame: np.ndarray) -> tuple[int, int]:
    return frame.shape[1], frame.shape[0]


def rescale_crop(crop: Crop, from_size: tuple[int, int], to_size: tuple[int, int]) -> Crop:
    """The same crop in the pixels of a frame of another size (decoded vs shrunk)."""
    scale_x, scale_y = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return Crop(
        round(crop.x * scale_x),
        round(crop.y * scale_y),
        max(1, round(crop.width * scale_x)),
        max(1, round(crop.height * scale_y)),
    )


def _as_gray(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def to_compare_gray(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(_as_gray(picture), size, interpolation=cv2.INTER_AREA)


def _common_image_size(image_a: np.ndarray, image_b: np.ndarray) -> tuple[int, int]:
    """COMPARE_SIZE's width, and the mean aspect of both images (so the score is symmetric)."""
    aspect = (image_a.shape[0] / image_a.shape[1] + image_b.shape[0] / image_b.shape[1]) / 2
    width = COMPARE_SIZE[0]
    return width, min(4 * width, max(16, round(width * aspect)))

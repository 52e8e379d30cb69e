"""The sprite Stash hashes for a video: 25 screenshots, 160 px wide, pasted into a 5x5 grid.

This follows Stash's `pkg/hash/videophash`: the *format* duration from ffprobe, 25 moments from
5% to 95% of it, and one `ffmpeg -ss T -i FILE` screenshot per moment, with Stash's own
arguments (down to how Go prints the seconds), so the sprite and its hash are Stash's. Several
screenshots share one ffmpeg process, run side by side within the shared ffmpeg slots. Without
ffmpeg, OpenCV makes a close sprite (`opencv_sprite`), whose hash is not Stash's exact value.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from stash_dedupe.errors import MediaError
from stash_dedupe.media.ffmpeg_tools import ffmpeg_slot, run_tool
from stash_dedupe.media.go_image import DECODE_ERRORS, GoImage

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


@dataclass(frozen=True)
class VideoSprite:
    """The picture Stash hashes for a video, and the duration (s) its moments were taken from."""

    image: GoImage
    duration: float


def ffmpeg_sprite(path: str, ffmpeg: str, ffprobe: str, deadline: float) -> VideoSprite:
    """Stash's sprite, from screenshots taken by ffmpeg processes running side by side."""
    duration, pixels = probe(path, ffprobe, deadline)
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
    return VideoSprite(_sprite(frames), duration)


def probe(path: str, ffprobe: str, deadline: float) -> tuple[float, int]:
    """The *format* duration, rounded to 1/100 s as Go's math.Round does (half away from 0),
    and width x height of the only video stream (0 when there are several, say cover art,
    or its size is unknown: then ffmpeg's own choice of stream cannot be named safely)."""
    command = [ffprobe, "-v", "error", "-print_format", "json", "-show_format",
               "-show_streams", path]  # fmt: skip
    output = run_tool(command, deadline, f"ffprobe cannot read {path}")
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
    data = run_tool(command, deadline, f"ffmpeg cannot take a screenshot of {path}")
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
        with ffmpeg_slot(deadline, failure):
            run_tool(command, deadline, failure)
        frames = []
        for seconds, output in zip(times, outputs, strict=True):
            try:
                data = Path(output).read_bytes()
            except OSError:
                data = b""
            frames.append(_bitmap_frame(data, path, seconds))
        return frames


def _bitmap_frame(data: bytes, path: str, seconds: float) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as bitmap:
            return np.asarray(bitmap.convert("RGB"))
    except DECODE_ERRORS + (UnidentifiedImageError,):
        raise MediaError(f"ffmpeg gave no frame at {_go_float_text(seconds)} s of {path}") from None


def _sprite(frames: list[np.ndarray]) -> GoImage:
    """combineImages: a transparent NRGBA canvas sized from the first frame, 5x5 row-major."""
    height, width = frames[0].shape[:2]
    canvas = np.zeros((height * SPRITE_ROWS, width * SPRITE_COLUMNS, 4), dtype=np.uint8)
    for index, frame in enumerate(frames):
        top, left = height * (index // SPRITE_COLUMNS), width * (index % SPRITE_COLUMNS)
        patch = frame[: canvas.shape[0] - top, : canvas.shape[1] - left]
        canvas[top : top + patch.shape[0], left : left + patch.shape[1], :3] = patch
        canvas[top : top + patch.shape[0], left : left + patch.shape[1], 3] = 255
    return GoImage("NRGBA", canvas)


def opencv_sprite(path: str, deadline: float) -> VideoSprite:
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
    return VideoSprite(_sprite(frames), duration)

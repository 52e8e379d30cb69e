"""Getting pictures out of media files without hanging the app.

Videos are decoded with OpenCV's FFmpeg backend: seek, then read; frames whose seek fails are
found by one sequential scan. Every decode runs in a worker thread with a deadline: a file that
hangs FFmpeg produces a `MediaError`, never a hung app. Broken media (missing, empty, truncated,
not a video) produces a `MediaError` with a message for the user. Images are decoded with
Pillow, upright and with transparency laid on white.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from PIL import Image, ImageOps

from stash_dedupe.errors import MediaError

T = TypeVar("T")

WORK_MAX_SIDE = 640  # decoded frames are shrunk to this at once: memory, and bars need no more
SEEK_NUDGE_SECONDS = 1.0  # see sample_time; capped at SEEK_NUDGE_FRACTION of short videos
SEEK_NUDGE_FRACTION = 0.02
DEFAULT_TIMEOUT = 60.0  # seconds per decode job; a 10-min 1080p file needs a few


@dataclass(frozen=True)
class FileStamp:
    """One version of a file, as the frame cache knows it: a new size or mtime is a new file."""

    path: str
    size: int
    mtime_ns: int


def file_stamp(path: str) -> FileStamp:
    """Size and mtime of a media file, or a MediaError saying why it cannot be read."""
    name = Path(path).name or path
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise MediaError(f"{name}: the file does not exist ({path}).") from None
    except OSError as error:
        raise MediaError(f"{name}: cannot read the file ({error.strerror}).") from None
    if not Path(path).is_file():
        raise MediaError(f"{name}: not a regular file ({path}).")
    if status.st_size == 0:
        raise MediaError(f"{name}: the file is empty (0 bytes).")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{name}: no permission to read the file.")
    return FileStamp(str(path), status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class VideoInfo:
    """What OpenCV tells of a video stream: length in seconds, frame rate, decoded frame size."""

    duration: float
    fps: float
    width: int
    height: int


def sample_time(position: float, duration: float) -> float:
    """Seconds into a video for a relative position, nudged a little later.

    OpenCV seeks to the keyframe before (target - 16 frames) and decodes forward. A target
    exactly on a keyframe (10% of a file whose length is a multiple of the GOP, which is common)
    would decode the whole previous GOP; SEEK_NUDGE_SECONDS later it decodes a few frames.
    """
    return position * duration + min(SEEK_NUDGE_SECONDS, SEEK_NUDGE_FRACTION * duration)


# ---------------------------------------------------------------------------------------------
# Videos


def decode_video(
    path: str,
    *,
    positions: Sequence[float] | None = None,
    times: Sequence[float] | None = None,
    timeout: float,
    cancelled: threading.Event,
    max_side: int = WORK_MAX_SIDE,
) -> tuple[VideoInfo, list[np.ndarray]]:
    """Decode frames at relative positions or absolute times, shrunk to `max_side`.

    Seeks first; frames whose seek fails or lands far from the target are read again by one
    sequential scan, which also tells a truncated file (the scan ends early) from a bad index.
    """
    name = Path(path).name
    capture = open_capture(path, timeout)
    try:
        info = _video_info(capture, name)
        if times is None:
            times = [sample_time(position, info.duration) for position in positions or ()]
        targets = list(times)
        tolerance = max(0.5, 2.0 / info.fps)
        frames: list[np.ndarray | None] = []
        for target in targets:
            if cancelled.is_set():
                raise MediaError(f"{name}: decoding was abandoned after the deadline.")
            capture.set(cv2.CAP_PROP_POS_MSEC, target * 1000.0)
            ok, frame = capture.read()
            landed = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            frames.append(frame if ok and abs(landed - target) <= tolerance else None)
    except cv2.error as error:
        raise MediaError(f"{name}: OpenCV failed while decoding ({error.err}).") from None
    finally:
        capture.release()

    missing = [index for index, frame in enumerate(frames) if frame is None]
    if missing:
        found = _read_sequentially(path, [targets[i] for i in missing], timeout, cancelled)
        for index, frame in zip(missing, found, strict=True):
            if frame is None:
                raise MediaError(
                    f"{name}: cannot decode the frame at {targets[index]:.1f} s of "
                    f"{info.duration:.1f} s; the file looks truncated or damaged."
                )
            frames[index] = frame
    return info, [shrink(frame, max_side) for frame in frames if frame is not None]


def _read_sequentially(
    path: str, targets: Sequence[float], timeout: float, cancelled: threading.Event
) -> list[np.ndarray | None]:
    """Fallback for files that do not seek: grab every frame from the start up to each target."""
    name = Path(path).name
    capture = open_capture(path, timeout)
    found: dict[float, np.ndarray] = {}
    try:
        pending = sorted(targets)
        while pending and capture.grab():
            if cancelled.is_set():
                raise MediaError(f"{name}: decoding was abandoned after the deadline.")
            now = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if now + 1e-3 >= pending[0]:
                ok, frame = capture.retrieve()
                while ok and pending and now + 1e-3 >= pending[0]:
                    found[pending.pop(0)] = frame
    except cv2.error as error:
        raise MediaError(f"{name}: OpenCV failed while decoding ({error.err}).") from None
    finally:
        capture.release()
    return [found.get(target) for target in targets]


def open_capture(path: str, timeout: float) -> cv2.VideoCapture:
    """Open with FFmpeg's own I/O timeouts as well, so a stalled drive also aborts inside FFmpeg."""
    milliseconds = int(timeout * 1000)
    capture = cv2.VideoCapture(
        path,
        cv2.CAP_FFMPEG,
        [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            milliseconds,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            milliseconds,
            # One decoding thread per capture: the pool already runs one capture per core,
            # and FFmpeg's frame threads only add latency to each seek (measured ~20% slower).
            cv2.CAP_PROP_N_THREADS,
            1,
        ],
    )
    if not capture.isOpened():
        raise MediaError(
            f"{Path(path).name}: cannot open it as a video (unknown format or codec, no video "
            "stream, or a damaged file)."
        )
    return capture


def _video_info(capture: cv2.VideoCapture, name: str) -> VideoInfo:
    fps = capture.get(cv2.CAP_PROP_FPS)
    frame_count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise MediaError(f"{name}: the video stream has no picture size.")
    if not (fps > 0 and frame_count > 0 and math.isfinite(fps) and math.isfinite(frame_count)):
        raise MediaError(f"{name}: cannot tell how long the video is (no frame rate or length).")
    return VideoInfo(frame_count / fps, fps, width, height)


# ---------------------------------------------------------------------------------------------
# Deadlines and parallel runs


def call_with_deadline(work: Callable[[threading.Event], T], timeout: float, name: str) -> T:
    """Run `work` in a daemon thread and give up after `timeout` seconds.

    A decoder stuck inside FFmpeg cannot be interrupted from Python, so the thread is abandoned:
    it is a daemon (never delays the app's exit) and is told to stop before its next frame.
    """
    cancelled = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(cancelled)
        except BaseException as error:  # re-raised in the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name=f"decode {name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        cancelled.set()
        raise MediaError(
            f"{name}: gave up after {timeout:g} s of decoding (the file may be damaged or on a "
            "drive that stopped answering)."
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_parallel(
    works: Sequence[Callable[..., T]], names: Sequence[str], timeout: float, workers: int
) -> list[T | MediaError]:
    """Run decode jobs on a thread pool (OpenCV releases the GIL); MediaErrors become results.

    Pool threads only wait on deadline threads, so the pool itself can never hang.
    """
    if not works:
        return []

    def run(work: Callable[..., T], name: str) -> T | MediaError:
        try:
            return call_with_deadline(lambda cancelled: work(cancelled=cancelled), timeout, name)
        except MediaError as error:
            return error

    with ThreadPoolExecutor(max_workers=min(workers, len(works))) as pool:
        return list(pool.map(run, works, names))


def split_runs(items: tuple[float, ...], parts: int) -> list[tuple[float, ...]]:
    """Split into at most `parts` contiguous runs, so each worker seeks forward only."""
    parts = max(1, min(parts, len(items)))
    bounds = [round(index * len(items) / parts) for index in range(parts + 1)]
    return [items[bounds[index] : bounds[index + 1]] for index in range(parts)]


# ---------------------------------------------------------------------------------------------
# Images and sizes


def load_image(path: str, max_side: int) -> np.ndarray:
    """A BGR preview of an image no larger than `max_side`, upright, transparency on white."""
    file_stamp(path)
    name = Path(path).name
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # decode at 1/2..1/8 scale: much faster
            image = ImageOps.exif_transpose(image)
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            rgb = _to_rgb(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise MediaError(f"{name}: cannot read it as an image ({error}).") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _to_rgb(image: Image.Image) -> np.ndarray:
    """8-bit RGB from any Pillow mode; 16-bit gray keeps its range, alpha is laid on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.uint32)
        if image.mode == "I" and values.max(initial=0) <= 255:
            gray = values.astype(np.uint8)
        else:
            gray = (values >> 8).astype(np.uint8)
        return np.dstack([gray] * 3)
    if image.mode == "F":
        gray = np.clip(np.asarray(image), 0, 255).astype(np.uint8)
        return np.dstack([gray] * 3)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def shrink(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longest side is at most `max_side` (never enlarge)."""
    height, width = frame.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return frame
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)

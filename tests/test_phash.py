"""Phashes equal Stash's own, checked against hashes made by Stash's Go code (tests/data)."""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from stash_dedupe.errors import MediaError
from stash_dedupe.media import ffmpeg_tools, go_image, phash, video_sprite
from stash_dedupe.media.ffmpeg_tools import find_ffmpeg
from stash_dedupe.media.phash import VideoPhash, image_phash, phash_file, video_phash

from .conftest import PHASH_VECTORS as VECTORS
from .exif_thumbnail import camera_thumbnail, save_jpeg

EXPECTED = json.loads((VECTORS / "expected.json").read_text())
IMAGES = sorted(name for name, entry in EXPECTED.items() if entry["kind"] == "image")
JPEGS = [name for name in IMAGES if name.endswith(".jpg")]
NOT_JPEGS = [name for name in IMAGES if not name.endswith(".jpg")]
VIDEOS = sorted(name for name, entry in EXPECTED.items() if entry["kind"] == "video")
needs_ffmpeg = pytest.mark.skipif(None in find_ffmpeg(), reason="ffmpeg and ffprobe not installed")


def distance(first: str, second: str) -> int:
    return bin(int(first, 16) ^ int(second, 16)).count("1")


def stash_phash(name: str) -> str:
    """The x86-64 value: Stash's arm64 builds fuse multiply-adds and differ on a few images."""
    return EXPECTED[name]["phash"]


# Images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [  # lossy WebP is exact only with the VP8 decoder's own planes, read through ffmpeg
        pytest.param(name, marks=needs_ffmpeg) if EXPECTED[name]["go_type"].startswith("YCbCr")
        else name
        for name in NOT_JPEGS
    ],
)  # fmt: skip
def test_every_non_jpeg_image_hashes_exactly_as_stash(name: str) -> None:
    assert image_phash(VECTORS / name, exact=True) == stash_phash(name)


def test_jpegs_agree_with_stash_except_where_go_decodes_differently() -> None:
    # Go's JPEG decoder rounds its IDCT differently from libjpeg, by a level or two per pixel.
    hashes = {name: image_phash(VECTORS / name, exact=True) for name in JPEGS}
    matches = [name for name in JPEGS if hashes[name] == stash_phash(name)]
    print(f"\nJPEG agreement in exact mode: {len(matches)} of {len(JPEGS)}")
    assert len(matches) >= len(JPEGS) - 1  # the miss is t02, an 8x8 JPEG
    assert all(distance(hashes[name], stash_phash(name)) <= 8 for name in JPEGS)


def test_fast_mode_is_exact_on_most_vectors_and_close_on_the_rest() -> None:
    distances = [distance(image_phash(VECTORS / name), stash_phash(name)) for name in IMAGES]
    print(f"\nfast mode vs Stash, count by distance: {np.bincount(distances).tolist()}")
    assert sum(d == 0 for d in distances) >= len(IMAGES) - 4
    assert max(distances) <= 6  # t02, the 8x8 JPEG, is the one far case in either mode


def test_fast_mode_hashes_a_reduced_jpeg_within_a_few_bits(tmp_path: Path) -> None:
    large = tmp_path / "large.jpg"
    with Image.open(VECTORS / "p13_dandelion_big_2400.jpg") as photo:
        photo.resize((4800, 2700), Image.BICUBIC).save(large, quality=90)
    assert distance(image_phash(large), image_phash(large, exact=True)) <= 4


@pytest.fixture(scope="module")
def big_photo() -> Image.Image:
    """A 4800x2700 photo, as large as a camera's."""
    with Image.open(VECTORS / "p13_dandelion_big_2400.jpg") as photo:
        return photo.convert("RGB").resize((4800, 2700), Image.BICUBIC)


def test_fast_mode_hashes_a_cameras_exif_thumbnail(tmp_path: Path, big_photo) -> None:
    thumbnail = camera_thumbnail(big_photo)
    with_thumbnail = save_jpeg(big_photo, tmp_path / "camera.jpg", thumbnail)
    without = save_jpeg(big_photo, tmp_path / "stripped.jpg")
    (tmp_path / "thumbnail.jpg").write_bytes(thumbnail)
    fast = image_phash(with_thumbnail)
    assert fast == image_phash(tmp_path / "thumbnail.jpg", exact=True)  # the thumbnail's hash
    exact = image_phash(with_thumbnail, exact=True)
    assert exact == image_phash(without, exact=True)  # exact mode never looks at it
    assert distance(fast, exact) <= 4
    # The thumbnail is trusted when it has the photo's shape: a mirrored one shows it is read.
    mirrored = camera_thumbnail(big_photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    stale = save_jpeg(big_photo, tmp_path / "stale.jpg", mirrored)
    assert distance(image_phash(stale), image_phash(without)) > 8


def test_a_thumbnail_of_another_shape_a_broken_one_or_a_small_photo_is_not_used(
    tmp_path: Path, big_photo
) -> None:
    reduced_decode = image_phash(save_jpeg(big_photo, tmp_path / "stripped.jpg"))
    # A 4:3 thumbnail with bars around the 16:9 photo, or left behind by a crop.
    boxed = Image.new("RGB", (160, 120))
    boxed.paste(big_photo.resize((160, 90)), (0, 15))
    buffer = io.BytesIO()
    boxed.save(buffer, "JPEG")
    odd_shape = save_jpeg(big_photo, tmp_path / "boxed.jpg", buffer.getvalue())
    broken = save_jpeg(big_photo, tmp_path / "broken.jpg", b"\xff\xd8 not really a JPEG")
    assert image_phash(odd_shape) == reduced_decode
    assert image_phash(broken) == reduced_decode
    small = big_photo.resize((1600, 900))
    assert image_phash(save_jpeg(small, tmp_path / "small.jpg", camera_thumbnail(small))) == (
        image_phash(save_jpeg(small, tmp_path / "small-stripped.jpg"))
    )


def test_a_truncated_photo_with_a_good_thumbnail_is_still_an_error(tmp_path: Path, big_photo):
    whole = save_jpeg(big_photo, tmp_path / "whole.jpg", camera_thumbnail(big_photo))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(MediaError, match="Cannot decode"):
        image_phash(truncated)


def test_exif_orientation_is_ignored_like_go_does() -> None:
    name = "p10_dandelion_exif6.jpg"
    assert image_phash(VECTORS / name, exact=True) == stash_phash(name)


def test_animated_gif_is_hashed_from_its_first_frame() -> None:
    assert image_phash(VECTORS / "f02_anim_2frames.gif") == stash_phash("g01_bird_rgb.png")


def test_phash_file_tells_videos_from_images_by_extension(monkeypatch) -> None:
    assert phash_file(VECTORS / "g01_bird_rgb.png") == stash_phash("g01_bird_rgb.png")
    monkeypatch.setattr(phash, "video_phash", lambda path: VideoPhash(Path(path).name, True, 1.0))
    assert phash_file(VECTORS / "Clip.MKV") == "Clip.MKV"


# The resize, against a line-by-line port of nfnt/resize -----------------------------------------


def nfnt_resize_pass(pixels: np.ndarray, out_size: int, unit: int) -> np.ndarray:
    """One pass of nfnt/resize Bilinear along the width, output transposed (as Go's temp)."""
    rows, width, channels = pixels.shape
    scale = width / out_size
    taps = 2 * max(math.ceil(scale), 1)
    factor = min(1.0 / scale, 1.0)
    out = np.zeros((out_size, rows, channels), dtype=np.int64)
    for y in range(out_size):
        centre = scale * (y + 0.5) - 0.5
        start = int(centre) - taps // 2 + 1
        centre -= start
        weights = []
        for i in range(taps):
            x = abs((centre - i) * factor)
            weights.append(int((1 - x if x <= 1 else 0) * unit))
        for row in range(rows):
            total = [0] * channels
            for i, weight in enumerate(weights):
                source = pixels[row, min(max(start + i, 0), width - 1)]
                for c in range(channels):
                    total[c] += weight * int(source[c])
            out[y, row] = [value // sum(weights) for value in total]
    return out


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 160),
    height=st.integers(1, 160),
    sixteen_bit=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_resize_equals_a_direct_port_of_nfnt_resize(width, height, sixteen_bit, seed) -> None:
    if (width, height) == (64, 64):
        return
    rng = np.random.default_rng(seed)
    maximum, unit = (65535, 65536) if sixteen_bit else (255, 256)
    pixels = rng.integers(0, maximum + 1, size=(height, width, 3))
    pixels = pixels.astype(np.uint16 if sixteen_bit else np.uint8)
    kind = "RGBA64" if sixteen_bit else "RGBA"
    expected = nfnt_resize_pass(nfnt_resize_pass(pixels, 64, unit), 64, unit)
    resized = phash._resize(go_image.GoImage(kind, pixels))
    assert resized.kind == kind
    np.testing.assert_array_equal(resized.pixels, expected)


def nfnt_weight_matrix(in_size: int, out_size: int, unit: int) -> np.ndarray:
    """The (out, in) matrix of nfnt/resize's truncated weights, edge taps added to the edge."""
    scale = in_size / out_size
    taps = 2 * max(math.ceil(scale), 1)
    matrix = np.zeros((out_size, in_size), dtype=np.int64)
    for y in range(out_size):
        centre = scale * (y + 0.5) - 0.5
        start = int(centre) - taps // 2 + 1
        for i in range(taps):
            x = abs((centre - start - i) * min(1.0 / scale, 1.0))
            matrix[y, min(max(start + i, 0), in_size - 1)] += int((1 - x if x <= 1 else 0) * unit)
    return matrix


@pytest.mark.parametrize("sixteen_bit", [False, True])
def test_resize_of_a_photo_sized_image_equals_nfnt_resize(sixteen_bit: bool) -> None:
    # Large enough that rows are filtered in several chunks, with 126 taps per output pixel.
    rng = np.random.default_rng(11)
    maximum, unit = (65535, 65536) if sixteen_bit else (255, 256)
    pixels = rng.integers(0, maximum + 1, size=(700, 4000, 3), dtype=np.int64)
    across = nfnt_weight_matrix(4000, 64, unit)
    down = nfnt_weight_matrix(700, 64, unit)
    rows = (pixels.transpose(0, 2, 1) @ across.T) // across.sum(axis=1)  # (700, 3, 64)
    expected = (rows.transpose(2, 1, 0) @ down.T) // down.sum(axis=1)  # (64, 3, 64): x, c, y
    kind, dtype = ("RGBA64", np.uint16) if sixteen_bit else ("RGBA", np.uint8)
    resized = phash._resize(go_image.GoImage(kind, pixels.astype(dtype)))
    np.testing.assert_array_equal(resized.pixels, expected.transpose(2, 0, 1))


# Videos ----------------------------------------------------------------------------------------


@needs_ffmpeg
@pytest.mark.parametrize("name", VIDEOS)
def test_every_video_hashes_exactly_as_stash(name: str) -> None:
    result = video_phash(VECTORS / name)
    assert result == VideoPhash(stash_phash(name), True, EXPECTED[name]["stash_duration"])


def stash_style_video_phash(path: Path) -> str:
    """Stash's generator as it runs: one ffmpeg process per screenshot, one after another."""
    ffmpeg, ffprobe = find_ffmpeg()
    deadline = time.monotonic() + 120
    duration, _ = video_sprite.probe(str(path), ffprobe, deadline)
    frames = [video_sprite._screenshot(str(path), ffmpeg, seconds, deadline)
              for seconds in video_sprite._screenshot_times(duration)]  # fmt: skip
    return phash._perception_hash(video_sprite._sprite(frames))


def make_video(target: Path, *extra: str, keyframes: int = 240) -> Path:
    """An 8 s 320x240 H.264 video with B-frames; one keyframe per `keyframes` frames."""
    ffmpeg, _ = find_ffmpeg()
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=s=320x240:r=30:d=8", *extra, "-c:v", "libx264", "-preset",
                    "veryfast", "-g", str(keyframes), "-pix_fmt", "yuv420p", str(target)],
                   check=True, timeout=120)  # fmt: skip
    return target


def count_ffmpeg_processes(monkeypatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real_run = video_sprite.run_tool

    def counting_run(command, deadline, failure):
        if "ffprobe" not in Path(command[0]).name:
            calls.append(command)
        return real_run(command, deadline, failure)

    monkeypatch.setattr(video_sprite, "run_tool", counting_run)
    return calls


@needs_ffmpeg
@pytest.mark.parametrize(("pixel_budget", "processes"), [
    (10**9, 2),  # every input fits: one process per worker
    (320 * 240 * 4, 8),  # four inputs per process: 7 batches, rounded up to 4 per worker
    (1, 25),  # one input per process, as Stash runs them
])  # fmt: skip
def test_screenshots_batched_in_one_ffmpeg_equal_one_process_each(
    tmp_path, monkeypatch, pixel_budget: int, processes: int
) -> None:
    # A single keyframe: every screenshot decodes from the start, the case where seeking
    # inputs sharing a process would show any interference.
    video = make_video(tmp_path / "one keyframe.mp4")
    expected = stash_style_video_phash(video)
    monkeypatch.setattr(video_sprite, "SCREENSHOT_WORKERS", 2)
    monkeypatch.setattr(video_sprite, "SCREENSHOT_PIXELS_PER_PROCESS", pixel_budget)
    calls = count_ffmpeg_processes(monkeypatch)
    assert video_phash(video).phash == expected
    assert len(calls) == processes
    assert sum(command.count("-ss") for command in calls) == 25


@needs_ffmpeg
def test_shared_ffmpeg_slots_cap_the_processes_of_videos_hashed_side_by_side(
    tmp_path, monkeypatch
) -> None:
    video = make_video(tmp_path / "one keyframe.mp4")
    expected = stash_style_video_phash(video)
    monkeypatch.setattr(video_sprite, "SCREENSHOT_WORKERS", 4)
    pixel_budget = 320 * 240 * 2  # two inputs per process: 16 processes
    monkeypatch.setattr(video_sprite, "SCREENSHOT_PIXELS_PER_PROCESS", pixel_budget)
    running, most, lock = 0, 0, threading.Lock()
    real_run = video_sprite.run_tool

    def counting_run(command, deadline, failure):
        nonlocal running, most
        if "ffprobe" in Path(command[0]).name:
            return real_run(command, deadline, failure)
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real_run(command, deadline, failure)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(video_sprite, "run_tool", counting_run)
    ffmpeg_tools.share_ffmpeg_slots(multiprocessing.get_context("spawn").BoundedSemaphore(2))
    try:
        with ThreadPoolExecutor(2) as pool:  # two videos at once, as two pool workers would
            hashes = list(pool.map(lambda _: video_phash(video).phash, range(2)))
    finally:
        ffmpeg_tools.share_ffmpeg_slots(None)
    assert hashes == [expected, expected]
    assert most == 2  # without the slots: up to 8


@needs_ffmpeg
def test_waiting_too_long_for_an_ffmpeg_slot_is_a_timeout(tmp_path) -> None:
    slots = threading.BoundedSemaphore(1)
    slots.acquire()  # another worker holds the only slot
    ffmpeg_tools.share_ffmpeg_slots(slots)
    try:
        with pytest.raises(MediaError, match="Timed out"):
            video_phash(VECTORS / VIDEOS[0], timeout=1)
    finally:
        ffmpeg_tools.share_ffmpeg_slots(None)


@needs_ffmpeg
def test_a_video_with_cover_art_leaves_the_choice_of_stream_to_ffmpeg(
    tmp_path, monkeypatch
) -> None:
    ffmpeg, _ = find_ffmpeg()
    plain = make_video(tmp_path / "plain.mp4", keyframes=60)
    cover = tmp_path / "cover.jpg"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(cover)
    video = tmp_path / "with cover.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(plain), "-i", str(cover), "-map", "0",
                    "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic", str(video)],
                   check=True, timeout=60)  # fmt: skip
    expected = stash_style_video_phash(video)
    assert expected == stash_style_video_phash(plain)  # ffmpeg takes the film, not the cover
    calls = count_ffmpeg_processes(monkeypatch)
    assert video_phash(video).phash == expected
    assert len(calls) == 25 and all("-map" not in command for command in calls)


def test_without_ffmpeg_opencv_gives_a_close_hash_marked_inexact(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to find on PATH
    name = "v01_slideshow_640x360.mp4"
    result = video_phash(VECTORS / name)
    assert result.exact is False
    assert result.duration == pytest.approx(12.0, abs=0.1)
    assert distance(result.phash, stash_phash(name)) <= 6


def test_screenshot_times_are_printed_as_go_prints_floats() -> None:
    assert video_sprite._go_float_text(12.0) == "12"
    assert video_sprite._go_float_text(0.6) == "0.6"
    assert video_sprite._go_float_text(0.389) == "0.389"
    assert video_sprite._go_float_text(0.00001) == "1e-05"
    assert video_sprite._go_float_text(1234567.0) == "1.234567e+06"
    assert [video_sprite._go_float_text(t) for t in video_sprite._screenshot_times(12.0)[:3]] == [
        "0.6000000000000001", "1.032", "1.4640000000000002",
    ]  # fmt: skip


def test_durations_round_half_away_from_zero_as_go_does() -> None:
    assert video_sprite._go_round(777.5) == 778  # ffprobe's 7.775 s becomes 7.78 s
    assert video_sprite._go_round(2.5) == 3  # where Python's round() gives 2
    assert video_sprite._go_round(1.49999) == 1


def test_find_ffmpeg_prefers_the_given_folders(tmp_path: Path) -> None:
    for tool in ("ffmpeg", "ffprobe"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    assert find_ffmpeg([tmp_path]) == (str(tmp_path / "ffmpeg"), str(tmp_path / "ffprobe"))


# Errors ----------------------------------------------------------------------------------------


def test_a_missing_file_is_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="File not found"):
        image_phash(tmp_path / "gone.jpg")
    with pytest.raises(MediaError, match="File not found"):
        video_phash(tmp_path / "gone.mp4")


def test_a_zero_byte_file_is_a_media_error(tmp_path: Path) -> None:
    for name in ("empty.jpg", "empty.mp4"):
        (tmp_path / name).touch()
        with pytest.raises(MediaError, match="Empty file"):
            phash_file(tmp_path / name)


def test_a_text_file_named_jpg_is_a_media_error(tmp_path: Path) -> None:
    fake = tmp_path / "notes.jpg"
    fake.write_text("shopping list: milk, eggs\n")
    with pytest.raises(MediaError, match="Not an image") as raised:
        image_phash(fake, exact=True)
    assert "\n" not in raised.value.message


def test_a_truncated_image_is_a_media_error(tmp_path: Path) -> None:
    truncated = tmp_path / "half.jpg"
    data = (VECTORS / "p01_mountain.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="Cannot decode"):
        image_phash(truncated, exact=True)


@needs_ffmpeg
def test_a_truncated_video_is_a_media_error(tmp_path: Path) -> None:
    truncated = tmp_path / "half.mp4"
    data = (VECTORS / "v01_slideshow_640x360.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError) as raised:
        video_phash(truncated)
    assert "half.mp4" in raised.value.message and "\n" not in raised.value.message


def test_a_truncated_video_is_a_media_error_without_ffmpeg_too(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    truncated = tmp_path / "half.mp4"
    truncated.write_bytes((VECTORS / "v01_slideshow_640x360.mp4").read_bytes()[:20000])
    with pytest.raises(MediaError):
        video_phash(truncated)


@needs_ffmpeg
def test_a_video_that_runs_out_of_time_is_a_media_error() -> None:
    with pytest.raises(MediaError, match="Timed out"):
        video_phash(VECTORS / VIDEOS[0], timeout=0.001)


def test_paths_with_spaces_and_non_ascii_letters_work(tmp_path: Path) -> None:
    folder = tmp_path / "Fotos de Año Nuevo ✓"
    folder.mkdir()
    picture = folder / "pájaro rojo 1.png"
    shutil.copy(VECTORS / "g01_bird_rgb.png", picture)
    assert image_phash(picture, exact=True) == stash_phash("g01_bird_rgb.png")
    if None not in find_ffmpeg():
        name = "v02_slideshow_320x180_crf38.mp4"
        video = folder / "vídeo – copia.mp4"
        shutil.copy(VECTORS / name, video)
        assert video_phash(video).phash == stash_phash(name)

"""Frame comparison on real media: clips drawn with OpenCV, variants made with ffmpeg, and the
phash test vectors. Scores are printed (`pytest -s`) so the match threshold can be checked."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stash_dedupe.errors import MediaError
from stash_dedupe.media import decoding, sampling
from stash_dedupe.media.frame_cache import FrameCache, app_frame_cache
from stash_dedupe.media.sampling import (
    compare_group,
    compare_videos,
    frame_thumbnail,
    known_picture,
    sample_frames,
    sample_positions,
)
from stash_dedupe.media.similarity import (
    Crop,
    compare_images,
    decode_jpeg,
    detect_crop,
    difference_heatmap,
    image_difference_heatmap,
    ssim,
)
from stash_dedupe.models import DEFAULT_MATCH_THRESHOLD

from .conftest import PHASH_VECTORS as VECTORS

SIZE = (480, 270)
FPS = 25
SECONDS = 12
SCENE_SECONDS = 3
FADE_IN_FRAMES = 10

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


# ---------------------------------------------------------------------------------------------
# Media the tests make


def write_pattern_video(path: Path, seed: int, backdrop_seed: int | None = None) -> Path:
    """A 12 s clip in one 'house style': four 3 s scenes, each a smooth seeded backdrop with
    coloured shapes moving across it, after a short fade in from black. Another seed gives a
    look-alike: same style, palette and motion, different pictures. `backdrop_seed` keeps the
    backdrops of another clip (same set, different action)."""
    rng = np.random.default_rng(seed)
    backdrop_rng = np.random.default_rng(seed if backdrop_seed is None else backdrop_seed)
    width, height = SIZE
    scenes = []
    for _ in range(SECONDS // SCENE_SECONDS):
        coarse = backdrop_rng.integers(40, 200, size=(9, 16, 3), dtype=np.uint8)
        texture = cv2.resize(coarse, SIZE, interpolation=cv2.INTER_CUBIC)
        detail = backdrop_rng.integers(0, 60, size=(height // 6, width // 6, 1), dtype=np.uint8)
        detail = cv2.resize(detail, SIZE, interpolation=cv2.INTER_LINEAR)
        texture = np.clip(texture.astype(np.int16) + detail[..., None], 0, 255).astype(np.uint8)
        shapes = [
            (
                rng.uniform(0, width),
                rng.uniform(0, height),
                rng.uniform(-60, 60),
                rng.uniform(-40, 40),
                int(rng.integers(12, 40)),
                tuple(int(c) for c in rng.integers(0, 256, 3)),
            )
            for _ in range(6)
        ]
        scenes.append((texture, shapes))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    assert writer.isOpened()
    for index in range(SECONDS * FPS):
        seconds = index / FPS
        texture, shapes = scenes[int(seconds // SCENE_SECONDS)]
        frame = texture.copy()
        for x, y, speed_x, speed_y, radius, colour in shapes:
            center = (int(x + speed_x * seconds) % width, int(y + speed_y * seconds) % height)
            cv2.circle(frame, center, radius, colour, thickness=-1)
            cv2.rectangle(frame, center, (center[0] + radius, center[1] + radius), (0, 0, 0), 2)
        if index < FADE_IN_FRAMES:
            frame = (frame * (index / FADE_IN_FRAMES)).astype(np.uint8)
        writer.write(frame)
    writer.release()
    return path


def ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *arguments], check=True)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    source = write_pattern_video(folder / "source.mp4", seed=1)
    made = {"source": source}
    made["look_alike"] = write_pattern_video(folder / "look_alike.mp4", seed=2)
    made["look_alike_2"] = write_pattern_video(folder / "look_alike_2.mp4", seed=3)
    made["same_set"] = write_pattern_video(folder / "same_set.mp4", seed=4, backdrop_seed=1)
    x264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    made["reencoded"] = folder / "reencoded_240x136_crf36.mp4"
    ffmpeg("-i", str(source), "-vf", "scale=240:136", *x264, "-crf", "36", str(made["reencoded"]))
    made["letterboxed"] = folder / "letterboxed_480x360.mp4"
    pad = "pad=480:360:0:45:black"
    ffmpeg("-i", str(source), "-vf", pad, *x264, "-crf", "23", str(made["letterboxed"]))
    made["trimmed"] = folder / "trimmed_first_2s.mp4"
    ffmpeg("-ss", "2", "-i", str(source), *x264, "-crf", "23", str(made["trimmed"]))

    faststart = folder / "faststart.mp4"
    ffmpeg("-i", str(made["reencoded"]), "-c", "copy", "-movflags", "+faststart", str(faststart))
    data = faststart.read_bytes()
    made["truncated"] = folder / "truncated.mp4"
    made["truncated"].write_bytes(data[: len(data) // 2])
    made["truncated_no_index"] = folder / "truncated_no_index.mp4"
    made["truncated_no_index"].write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    made["empty"] = folder / "empty.mp4"
    made["empty"].write_bytes(b"")
    made["text"] = folder / "notes.mp4"
    made["text"].write_text("this is a text file with a video name\n")
    made["audio_only"] = folder / "audio_only.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(made["audio_only"]))
    return made


@pytest.fixture
def cache(tmp_path: Path) -> FrameCache:
    return FrameCache(tmp_path / "frames")


NO_CACHE = FrameCache(None)


# ---------------------------------------------------------------------------------------------
# Sampling and scoring


def test_positions_skip_the_first_and_last_five_percent() -> None:
    assert sample_positions(9) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert all(0.05 < p < 0.95 for p in sample_positions(25))


def test_ssim_is_one_for_the_same_picture_and_low_for_unrelated_noise() -> None:
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    assert ssim(picture, picture) == pytest.approx(1.0)
    assert ssim(picture, rng.integers(0, 256, (90, 160), dtype=np.uint8)) < 0.1


def test_sampled_frames_are_cropped_gray_pictures_and_colour_jpeg_strip(media) -> None:
    sampled = sample_frames(str(media["source"]), k=5, cache=NO_CACHE)
    assert sampled.duration == pytest.approx(SECONDS, abs=0.05)
    assert sampled.gray.shape == (5, 90, 160)
    assert len(sampled.strip) == 5
    assert decode_jpeg(sampled.strip[0]).shape == (135, 240, 3)
    assert not sampled.has_bars


def test_reencoded_copy_at_lower_resolution_scores_as_a_duplicate(media) -> None:
    pair = compare_videos(str(media["source"]), str(media["reencoded"]), cache=NO_CACHE)
    print(f"\nre-encode 240x136 crf36: {pair.score:.3f} {fmt(pair.column_scores)}")
    assert pair.score > DEFAULT_MATCH_THRESHOLD
    assert pair.offset_seconds is None


def test_letterbox_bars_are_detected_and_cropped_before_comparing(media) -> None:
    sampled = sample_frames(str(media["letterboxed"]), cache=NO_CACHE)
    assert sampled.has_bars
    assert sampled.crop.x == 0 and sampled.crop.width == 480
    assert sampled.crop.y == pytest.approx(45, abs=2)
    assert sampled.crop.height == pytest.approx(270, abs=4)
    pair = compare_videos(str(media["source"]), str(media["letterboxed"]), cache=NO_CACHE)
    print(f"\nletterboxed: {pair.score:.3f} {fmt(pair.column_scores)}")
    assert pair.score > DEFAULT_MATCH_THRESHOLD


def test_trimmed_copy_is_found_by_shifting_and_its_offset_reported(media) -> None:
    pair = compare_videos(str(media["source"]), str(media["trimmed"]), cache=NO_CACHE)
    relative = float(np.median(pair.column_scores))
    print(
        f"\ntrimmed 2 s: relative {relative:.3f}, shifted {pair.score:.3f} at "
        f"{pair.offset_seconds} s"
    )
    assert pair.offset_seconds == pytest.approx(2.0, abs=0.2)
    assert pair.score > DEFAULT_MATCH_THRESHOLD
    assert pair.score > relative + 0.05


def test_look_alikes_with_other_content_score_below_the_threshold(media) -> None:
    scores = {
        name: compare_videos(str(media["source"]), str(media[name]), cache=NO_CACHE).score
        for name in ("look_alike", "look_alike_2", "same_set")
    }
    scores["look-alike vs look-alike"] = compare_videos(
        str(media["look_alike"]), str(media["look_alike_2"]), cache=NO_CACHE
    ).score
    print("\nlook-alikes:", {name: round(score, 3) for name, score in scores.items()})
    assert max(scores.values()) < DEFAULT_MATCH_THRESHOLD


def test_compare_group_gives_strips_scores_and_per_file_status(media) -> None:
    paths = [str(media[name]) for name in ("source", "reencoded", "empty", "look_alike")]
    group = compare_group(paths, keeper_index=0, k=5, cache=NO_CACHE)
    keeper, reencoded, empty, look_alike = group.files
    assert [f.status for f in group.files] == ["ok", "ok", "error", "ok"]
    assert keeper.score == 1.0 and keeper.column_scores == (1.0,) * 5
    assert reencoded.score > DEFAULT_MATCH_THRESHOLD > look_alike.score
    assert len(reencoded.column_scores) == 5
    assert "empty" in empty.error and empty.frames is None
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in reencoded.frames.strip)
    assert group.positions == sample_positions(5)


def test_a_broken_keeper_leaves_the_others_with_frames_but_no_scores(media) -> None:
    paths = [str(media["text"]), str(media["source"])]
    group = compare_group(paths, keeper_index=0, k=3, cache=NO_CACHE)
    assert group.files[0].status == "error"
    assert group.files[1].status == "ok" and group.files[1].frames is not None
    assert group.files[1].score is None


class CaptureThatCannotSeek:
    """A VideoCapture whose seeks do nothing, like files with a broken index."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self.capture = capture

    def set(self, *_: object) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self.capture, name)


def test_files_that_cannot_seek_are_read_sequentially(media, monkeypatch) -> None:
    seeking = sample_frames(str(media["source"]), k=3, cache=NO_CACHE)
    open_capture = decoding.open_capture
    monkeypatch.setattr(
        decoding, "open_capture", lambda *args: CaptureThatCannotSeek(open_capture(*args))
    )
    scanning = sample_frames(str(media["source"]), k=3, cache=NO_CACHE)
    scores = [ssim(a, b) for a, b in zip(seeking.gray, scanning.gray, strict=True)]
    assert scores == pytest.approx([1.0] * 3)


def test_parallel_and_sequential_sampling_give_the_same_frames(media) -> None:
    one = sample_frames(str(media["letterboxed"]), k=5, cache=NO_CACHE, workers=1)
    three = sample_frames(str(media["letterboxed"]), k=5, cache=NO_CACHE, workers=3)
    assert np.array_equal(one.gray, three.gray)
    assert one.crop == three.crop


# ---------------------------------------------------------------------------------------------
# Letterbox detection on plain arrays


def picture_with_bars(top: int, bottom: int, left: int, right: int, seed: int) -> np.ndarray:
    frame = np.zeros((270, 480, 3), np.uint8)
    content = np.random.default_rng(seed).integers(
        60, 255, (270 - top - bottom, 480 - left - right, 3)
    )
    frame[top : 270 - bottom, left : 480 - right] = content
    return frame


def test_pillarbox_bars_are_found_on_both_sides() -> None:
    frames_ = [picture_with_bars(0, 0, 60, 60, seed) for seed in range(3)]
    assert detect_crop(frames_) == Crop(60, 0, 360, 270)


def test_all_black_frames_do_not_vote_on_bars() -> None:
    frames_ = [picture_with_bars(30, 30, 0, 0, 1), np.zeros((270, 480, 3), np.uint8)]
    assert detect_crop(frames_) == Crop(0, 30, 480, 210)


def test_a_bar_must_be_dark_in_every_frame_to_be_cropped() -> None:
    dark_edge_once = picture_with_bars(40, 0, 0, 0, 1)
    assert detect_crop([dark_edge_once, picture_with_bars(0, 0, 0, 0, 2)]) == Crop(0, 0, 480, 270)


# ---------------------------------------------------------------------------------------------
# Broken media


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty", "empty"),
        ("text", "cannot open it as a video"),
        ("truncated", "truncated or damaged"),
        ("truncated_no_index", "cannot open it as a video"),
        ("audio_only", "cannot open it as a video"),
        ("missing", "does not exist"),
        ("folder", "not a regular file"),
    ],
)
def test_broken_media_gives_a_readable_media_error(media, name: str, words: str) -> None:
    path = {
        "missing": str(media["source"].with_name("gone.mp4")),
        "folder": str(media["source"].parent),
    }.get(name) or str(media[name])
    with pytest.raises(MediaError) as caught:
        sample_frames(path, cache=NO_CACHE)
    print(f"\n{name}: {caught.value.message}")
    assert words in caught.value.message
    with pytest.raises(MediaError):
        compare_videos(str(media["source"]), path, cache=NO_CACHE)


def test_a_decode_that_hangs_gives_up_at_the_deadline(media, monkeypatch) -> None:
    released = threading.Event()

    def hang(path, *, cancelled, **_):
        cancelled.wait(30)
        released.set()
        raise MediaError("stopped")

    monkeypatch.setattr(sampling, "decode_video", hang)
    started = time.monotonic()
    with pytest.raises(MediaError, match="gave up after 0.5 s"):
        sample_frames(str(media["source"]), timeout=0.5, cache=NO_CACHE)
    assert time.monotonic() - started < 3
    assert released.wait(5), "the abandoned decode was told to stop"


# ---------------------------------------------------------------------------------------------
# Cache


def count_decodes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = sampling.decode_video

    def counting(path, **arguments):
        calls.append(path)
        return real(path, **arguments)

    monkeypatch.setattr(sampling, "decode_video", counting)
    return calls


def test_second_compare_is_served_from_the_cache(media, cache, monkeypatch) -> None:
    keeper, other = str(media["source"]), str(media["trimmed"])
    first = compare_videos(keeper, other, cache=cache)
    calls = count_decodes(monkeypatch)
    assert compare_videos(keeper, other, cache=cache) == first
    group = compare_group([keeper, other], 0, cache=cache)
    assert calls == []
    assert group.files[1].score == first.score
    assert group.files[1].offset_seconds == first.offset_seconds


def test_touching_a_file_invalidates_its_cached_frames(media, cache, tmp_path, monkeypatch) -> None:
    keeper, other = str(media["source"]), str(tmp_path / "copy.mp4")
    shutil.copy(media["reencoded"], other)
    compare_videos(keeper, other, cache=cache)
    calls = count_decodes(monkeypatch)
    stat = os.stat(other)
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    compare_videos(keeper, other, cache=cache)
    assert set(calls) == {other}


def test_the_app_cache_is_in_the_app_data_dir_of_each_call(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(tmp_path / "first"))
    first = app_frame_cache()
    assert first.database == tmp_path / "first" / "frames" / FrameCache.FILE_NAME
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(tmp_path / "second"))
    assert app_frame_cache().database == tmp_path / "second" / "frames" / FrameCache.FILE_NAME
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(tmp_path / "first"))
    assert app_frame_cache() is first


def test_frames_sampled_without_a_cache_go_to_the_current_app_data_dir(
    media, tmp_path, monkeypatch
) -> None:
    path = str(media["letterboxed"])
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(tmp_path / "first"))
    sampled = sample_frames(path, k=3)
    picture = (sampled.width, sampled.height, sampled.crop)
    assert known_picture(path) == picture
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(tmp_path / "second"))
    assert known_picture(path) is None
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(tmp_path / "first"))
    assert known_picture(path) == picture


# ---------------------------------------------------------------------------------------------
# Heat maps and thumbnails


def test_difference_heatmap_is_a_colour_jpeg_the_size_of_the_first_frame(media) -> None:
    keeper = sample_frames(str(media["source"]), k=3, cache=NO_CACHE)
    other = sample_frames(str(media["look_alike"]), k=3, cache=NO_CACHE)
    heatmap = decode_jpeg(difference_heatmap(decode_jpeg(keeper.strip[1]), other.gray[1]))
    assert heatmap.shape == (135, 240, 3)
    same = decode_jpeg(difference_heatmap(keeper.gray[1], keeper.gray[1]))
    assert same.mean() < heatmap.mean()


def test_a_five_percent_brightness_change_shows_clearly_in_the_difference_map() -> None:
    picture = decoding.load_image(str(VECTORS / "p01_mountain.jpg"), 320)
    brighter = np.clip(picture.astype(np.float32) * 1.05, 0, 255).astype(np.uint8)
    changed = decode_jpeg(difference_heatmap(picture, brighter))
    same = decode_jpeg(difference_heatmap(picture, picture.copy()))
    zero_colour = cv2.applyColorMap(np.zeros((1, 1), np.uint8), cv2.COLORMAP_INFERNO)[0, 0]
    assert np.abs(same.astype(int) - zero_colour.astype(int)).max() <= 3  # JPEG rounding only
    assert changed.mean() > 60, changed.mean()  # far from near-black: the map's purple-red
    assert changed.mean() > 20 * max(1.0, same.mean())


def test_re_encoding_noise_stays_darker_than_a_small_real_change() -> None:
    picture = decoding.load_image(str(VECTORS / "p01_mountain.jpg"), 320)
    _, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 35])
    re_encoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    brighter = np.clip(picture.astype(np.float32) * 1.05, 0, 255).astype(np.uint8)
    noise = decode_jpeg(difference_heatmap(picture, re_encoded))
    changed = decode_jpeg(difference_heatmap(picture, brighter))
    assert noise.mean() < changed.mean() / 2, (noise.mean(), changed.mean())


def test_video_thumbnail_is_not_the_black_first_frame(media) -> None:
    capture = cv2.VideoCapture(str(media["source"]))
    _, first = capture.read()
    capture.release()
    thumbnail = decode_jpeg(frame_thumbnail(str(media["source"]), max_side=200))
    assert first.mean() < 5
    assert thumbnail.shape == (112, 200, 3)
    assert thumbnail.mean() > 40


def test_image_thumbnail_is_a_downscaled_upright_jpeg() -> None:
    thumbnail = decode_jpeg(frame_thumbnail(str(VECTORS / "p13_dandelion_big_2400.jpg")))
    assert max(thumbnail.shape[:2]) == 320
    rotated = decode_jpeg(frame_thumbnail(str(VECTORS / "p10_dandelion_exif6.jpg")))
    assert rotated.shape[1] > rotated.shape[0]  # stored sideways; EXIF orientation 6 applied


def test_broken_image_gives_a_media_error(tmp_path) -> None:
    not_an_image = tmp_path / "photo.jpg"
    not_an_image.write_text("not a picture")
    with pytest.raises(MediaError, match="cannot read it as an image"):
        compare_images(str(VECTORS / "p01_mountain.jpg"), str(not_an_image))


# ---------------------------------------------------------------------------------------------
# Images and the phash vectors


IMAGE_DUPLICATES = [
    ("p01_mountain.jpg", "n01_mountain_q30.jpg"),
    ("p01_mountain.jpg", "n02_mountain_400px.jpg"),
    ("p01_mountain.jpg", "n04_mountain_watermark.jpg"),
    ("p02_sunset.jpg", "n05_sunset_q20_444.jpg"),
    ("p02_sunset.jpg", "n06_sunset_480.png"),
    ("p04_bird_444.jpg", "n08_bird_bright.jpg"),
    ("p06_bridge.jpg", "n10_bridge_small.webp"),
]
IMAGE_EDITS = [  # cropped or mirrored: printed, not asserted
    ("p01_mountain.jpg", "n03_mountain_crop5.jpg"),
    ("p03_leaves_progressive.jpg", "n07_leaves_crop_wm.jpg"),
    ("p04_bird_444.jpg", "n09_bird_mirror.jpg"),
]
IMAGE_DIFFERENT = [
    ("p01_mountain.jpg", "p06_bridge.jpg"),
    ("p02_sunset.jpg", "p03_leaves_progressive.jpg"),
    ("p04_bird_444.jpg", "p08_stream_gray.jpg"),
    ("p06_bridge.jpg", "p07_picos_odd_999x749.jpg"),
    ("p11_wood_lossy.webp", "p12_painting_lossless.webp"),
    ("p01_mountain.jpg", "p07_picos_odd_999x749.jpg"),
]


def test_image_duplicates_score_above_and_different_photos_below_the_threshold() -> None:
    def score(pair: tuple[str, str]) -> float:
        return compare_images(str(VECTORS / pair[0]), str(VECTORS / pair[1]))

    duplicates = {pair: score(pair) for pair in IMAGE_DUPLICATES}
    edits = {pair: score(pair) for pair in IMAGE_EDITS}
    different = {pair: score(pair) for pair in IMAGE_DIFFERENT}
    for title, scores in (("duplicates", duplicates), ("edits", edits), ("different", different)):
        print(f"\nimage {title}:")
        for (a, b), value in scores.items():
            print(f"  {a:28} {b:28} {value:.3f}")
    assert min(duplicates.values()) > DEFAULT_MATCH_THRESHOLD > max(different.values())


def test_image_heatmap_is_dark_where_the_images_agree() -> None:
    same = decode_jpeg(
        image_difference_heatmap(
            str(VECTORS / "p01_mountain.jpg"), str(VECTORS / "n01_mountain_q30.jpg")
        )
    )
    other = decode_jpeg(
        image_difference_heatmap(str(VECTORS / "p01_mountain.jpg"), str(VECTORS / "p06_bridge.jpg"))
    )
    assert same.mean() < other.mean()


VIDEO_VECTORS = sorted(VECTORS.glob("v0*"))
SAME_SLIDESHOW = {"v01", "v02", "v03", "v04", "v05"}  # v05 holds only the first 7.8 s


def test_phash_vector_videos_of_the_same_slideshow_match_and_others_do_not(cache) -> None:
    rows = []
    for keeper, other in itertools.combinations(VIDEO_VECTORS, 2):
        pair = compare_videos(str(keeper), str(other), cache=cache)
        same = {keeper.name[:3], other.name[:3]} <= SAME_SLIDESHOW
        rows.append((keeper.name[:3], other.name[:3], same, pair))
    print("\nphash vectors (relative-position median, best score, offset):")
    for keeper, other, same, pair in rows:
        print(
            f"  {keeper} {other} {'dup ' if same else 'diff'} "
            f"{np.median(pair.column_scores):.3f} {pair.score:.3f} {pair.offset_seconds}"
        )
    for keeper, other, same, pair in rows:
        if same:
            assert pair.score > DEFAULT_MATCH_THRESHOLD, (keeper, other)
        elif "v07" not in (keeper, other):  # v07 is v01 rotated 90 degrees: not detected
            assert pair.score < DEFAULT_MATCH_THRESHOLD, (keeper, other)


def fmt(scores: tuple[float, ...]) -> str:
    return "[" + " ".join(f"{score:.2f}" for score in scores) + "]"

"""A small but real demo library: a Stash database plus real media made on the spot.

It holds what a real library holds: exact copies, re-encodes at other sizes and bit rates,
trimmed and letterboxed copies, look-alikes that are NOT duplicates, scenes with several
files, and unicode and space-laden names. `make run` opens it; the tests use it too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from stash_dedupe.media.ffmpeg_tools import system_subprocess_env
from stash_dedupe.stash.library_writer import LibraryWriter

VIDEO_SIZE = (640, 360)
FPS = 24
SECONDS_PER_SLIDE = 1.0
SLIDES = 6


def picture(seed: int, size: tuple[int, int], family: int | None = None) -> np.ndarray:
    """A photo-like BGR picture: smooth colour fields and shapes, determined by `seed`.

    Pictures of one `family` share their palette and layout style, so they look alike
    without being the same picture (the look-alike non-duplicates).
    """
    width, height = size
    palette_rng = np.random.default_rng(1000 + (family if family is not None else seed))
    rng = np.random.default_rng(seed)
    base = palette_rng.integers(40, 220, size=(3, 3, 3)).astype(np.uint8)
    field = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    detail = rng.integers(0, 255, size=(6, 8, 3)).astype(np.uint8)
    detail = cv2.resize(detail, (width, height), interpolation=cv2.INTER_CUBIC)
    canvas = cv2.addWeighted(field, 0.55, detail, 0.45, 0)
    for _ in range(7):
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            radius = int(rng.integers(height // 12, height // 4))
            cv2.circle(canvas, center, radius, color, -1, lineType=cv2.LINE_AA)
        else:
            corner = (
                center[0] + int(rng.integers(20, width // 3)),
                center[1] + int(rng.integers(20, height // 3)),
            )
            cv2.rectangle(canvas, center, corner, color, -1, lineType=cv2.LINE_AA)
    texture = rng.normal(0, 6, size=canvas.shape)
    return np.clip(canvas.astype(np.float32) + texture, 0, 255).astype(np.uint8)


def write_slideshow(
    path: Path, seeds: list[int], size: tuple[int, int] = VIDEO_SIZE, family: int | None = None
) -> None:
    """Encode a short slideshow video (mp4v via OpenCV) with a slow zoom on each slide."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    frames_per_slide = int(FPS * SECONDS_PER_SLIDE)
    width, height = size
    for seed in seeds:
        slide = picture(seed, (int(width * 1.1), int(height * 1.1)), family)
        for index in range(frames_per_slide):
            shift = int(index * 0.1 * width / frames_per_slide / 2)
            frame = slide[shift : shift + height, shift : shift + width]
            writer.write(np.ascontiguousarray(frame))
    writer.release()


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def transcode(
    source: Path, target: Path, video_filter: str, crf: int = 28, start: float = 0.0
) -> str:
    """Re-encode with ffmpeg (H.264) when it is installed, else with OpenCV; return the codec."""
    target.parent.mkdir(parents=True, exist_ok=True)
    ffmpeg = _ffmpeg()
    if ffmpeg:
        command = [ffmpeg, "-v", "error", "-y"]
        if start:
            command += ["-ss", str(start)]
        command += [
            "-i",
            str(source),
            "-vf",
            video_filter,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            str(crf),
            "-pix_fmt",
            "yuv420p",
            "-an",
            str(target),
        ]
        subprocess.run(
            command, check=True, timeout=120, capture_output=True, env=system_subprocess_env()
        )
        return "h264"
    _transcode_with_opencv(source, target, video_filter, start)
    return "mpeg4"


def _transcode_with_opencv(source: Path, target: Path, video_filter: str, start: float) -> None:
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    capture.release()
    frames = frames[int(start * fps) :]
    width, height = _filter_size(video_filter, frames[0].shape[1], frames[0].shape[0])
    pad = "pad=" in video_filter
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        if pad:
            scaled_height = frame.shape[0] * width // frame.shape[1]
            scaled = cv2.resize(frame, (width, scaled_height), interpolation=cv2.INTER_AREA)
            top = (height - scaled_height) // 2
            frame = cv2.copyMakeBorder(
                scaled,
                top,
                height - scaled_height - top,
                0,
                0,
                cv2.BORDER_CONSTANT,
                value=(0, 0, 0),
            )
        else:
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        writer.write(frame)
    writer.release()


def _filter_size(video_filter: str, width: int, height: int) -> tuple[int, int]:
    if video_filter.startswith("pad="):
        size = video_filter.split("=", 1)[1].split(":")
        return int(size[0]), int(size[1])
    if video_filter.startswith("scale="):
        new_width = int(video_filter.split("=", 1)[1].split(":")[0])
        return new_width, height * new_width // width // 2 * 2
    return width, height


@dataclass(frozen=True)
class VideoFacts:
    duration: float
    width: int
    height: int
    frame_rate: float
    bit_rate: int


def probe_video(path: Path) -> VideoFacts:
    capture = cv2.VideoCapture(str(path))
    frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    duration = round(frames / fps, 2) if frames > 0 else 0.0
    bit_rate = int(path.stat().st_size * 8 / duration) if duration else 0
    return VideoFacts(duration, width, height, round(fps, 3), bit_rate)


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def oshash(path: Path) -> str:
    """OpenSubtitles hash, as Stash computes it: size plus the first and last 64 KiB."""
    size = path.stat().st_size
    chunk = 64 * 1024
    total = size
    with open(path, "rb") as handle:
        head = handle.read(chunk)
        handle.seek(max(0, size - chunk))
        tail = handle.read(chunk)
    for block in (head, tail):
        block = block[: len(block) - len(block) % 8]
        total += int(np.frombuffer(block, dtype="<u8").sum(dtype=np.uint64))
    return f"{total & 0xFFFFFFFFFFFFFFFF:016x}"


DEMO_APP_HOME = "app-home"  # `make run` points STASH_DEDUPE_HOME here


def write_demo_settings(directory: str | os.PathLike[str], database: Path) -> Path:
    """Settings for the demo's own app home, so trying the demo leaves the user's settings,
    journal and caches alone. The demo opens at distance 8, where its near duplicates
    (re-encodes, a trim, a letterboxed copy) show, as a fresh start does."""
    from stash_dedupe.settings import Settings, save_settings

    path = Path(directory).resolve() / DEMO_APP_HOME / "settings.json"
    save_settings(Settings(database=str(database), default_distance=8), path)
    return path


def create_demo_library(directory: str | os.PathLike[str]) -> Path:
    """Write the demo library into `directory` and return the path of its database."""
    from stash_dedupe.media.phash import image_phash

    root = Path(directory).resolve()
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    database = root / "stash-go.sqlite"
    if database.exists():
        database.unlink()
    videos = _write_demo_videos(media)
    with LibraryWriter(database, create=True) as writer:
        writer.library_root(str(media))
        _add_demo_videos(writer, videos)
        _add_demo_images(writer, media / "pictures", image_phash)
    return database


def _write_demo_videos(media: Path) -> dict[str, tuple[Path, str]]:
    """Make the demo's videos: originals, copies, re-encodes, a trim, a letterboxed copy and a
    look-alike; each by name, with the codec it was written in."""
    videos = media / "videos"
    made = {
        "beach": videos / "Beach sunset.mp4",
        "city": videos / "City lights 2019.mp4",
        "forest": videos / "Forest walk.mp4",
        "forest lookalike": videos / "Forest walk (another day).mp4",
    }
    write_slideshow(made["beach"], [11, 12, 13, 14, 15, 16])
    write_slideshow(made["city"], [21, 22, 23, 24, 25, 26])
    write_slideshow(made["forest"], [31, 32, 33, 34, 35, 36], family=3)
    write_slideshow(made["forest lookalike"], [41, 42, 43, 44, 45, 46], family=3)
    found = {name: (path, "mpeg4") for name, path in made.items()}
    beach_copy = media / "backup" / "Beach sunset (copy).mp4"
    beach_copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(made["beach"], beach_copy)
    found["beach copy"] = (beach_copy, "mpeg4")
    letterbox = "pad=640:480:0:60:black" if _ffmpeg() else "pad=640:480"
    for name, source, target, video_filter, options in (
        ("beach small", "beach", media / "phone export" / "beach_sunset_480p.mp4",
         "scale=480:-2", {"crf": 30}),
        ("beach trimmed", "beach", media / "phone export" / "beach sunset – trimmed.mp4",
         "scale=640:-2", {"crf": 23, "start": 0.5}),
        ("city low", "city", videos / "Ciudad de noche — baja calidad ñ.mp4",
         "scale=320:-2", {"crf": 38}),
        ("city letterbox", "city", videos / "City lights 2019 (4x3 letterbox).mp4",
         letterbox, {}),
    ):  # fmt: skip
        found[name] = (target, transcode(made[source], target, video_filter, **options))
    return found


def _add_demo_videos(writer: LibraryWriter, videos: dict[str, tuple[Path, str]]) -> None:
    """Describe the demo's videos as Stash would, in scenes with metadata worth comparing."""
    from stash_dedupe.media.phash import video_phash

    def add_video(name: str, scene_id: int, primary: bool = True) -> None:
        path, codec = videos[name]
        facts = probe_video(path)
        writer.add_video_file(
            str(path),
            scene_id=scene_id,
            primary=primary,
            phash=video_phash(str(path)).phash,
            duration=facts.duration,
            width=facts.width,
            height=facts.height,
            video_codec=codec,
            frame_rate=facts.frame_rate,
            bit_rate=facts.bit_rate,
            oshash=oshash(path),
            md5=file_md5(path),
        )

    beach_scene = writer.add_scene(
        "Beach sunset",
        studio="Coastline Films",
        rating=80,
        date="2021-06-01",
        tags=4,
        performers=2,
        markers=2,
        stash_ids=1,
        plays=3,
        o_count=1,
        organized=True,
    )
    add_video("beach", beach_scene)
    add_video("beach copy", beach_scene, primary=False)
    add_video("beach small", writer.add_scene("beach_sunset_480p", plays=1))
    add_video("beach trimmed", writer.add_scene("Beach sunset (trimmed)", tags=1))
    city_scene = writer.add_scene(
        "City lights", studio="Night Owl", rating=60, date="2019-11-23", tags=2, performers=1
    )
    add_video("city", city_scene)
    add_video("city low", writer.add_scene("Ciudad de noche", tags=5, plays=7))
    add_video("city letterbox", writer.add_scene("City lights 4:3"))
    add_video("forest", writer.add_scene("Forest walk", rating=40))
    add_video("forest lookalike", writer.add_scene("Forest walk (another day)"))


def _add_demo_images(writer: LibraryWriter, folder: Path, image_phash) -> None:
    folder.mkdir(parents=True, exist_ok=True)

    def save(array: np.ndarray, path: Path, **options) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(cv2.cvtColor(array, cv2.COLOR_BGR2RGB)).save(path, **options)
        return path

    def add(path: Path, image_id: int, primary: bool = True) -> None:
        with Image.open(path) as image:
            width, height = image.size
            file_format = (image.format or "").lower()
        writer.add_image_file(
            str(path),
            image_id=image_id,
            primary=primary,
            phash=image_phash(str(path)),
            width=width,
            height=height,
            file_format=file_format,
            md5=file_md5(path),
        )

    mountain = picture(101, (1600, 1067))
    lake = picture(102, (1200, 1600))
    flowers = picture(103, (1400, 1000), family=7)
    flowers_other = picture(104, (1400, 1000), family=7)

    original = save(mountain, folder / "2020" / "mountain.jpg", quality=92)
    mountain_id = writer.add_image("Mountain", rating=100, o_count=2, gallery="Holiday 2020")
    add(original, mountain_id)
    copy = folder / "inbox" / "mountain.jpg"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(original, copy)
    add(copy, mountain_id, primary=False)
    small = cv2.resize(mountain, (800, 533), interpolation=cv2.INTER_AREA)
    add(
        save(small, folder / "shared" / "mountain small.jpg", quality=70),
        writer.add_image("mountain small"),
    )
    add(
        save(mountain, folder / "shared" / "mountain lossless.png"),
        writer.add_image("mountain png"),
    )

    add(save(lake, folder / "2021" / "lac gelé ❄.jpg", quality=90), writer.add_image("Lake"))
    add(save(lake, folder / "export" / "lake_q35.jpg", quality=35), writer.add_image("lake"))

    add(save(flowers, folder / "2022" / "flowers.jpg", quality=90), writer.add_image("Flowers"))
    add(
        save(flowers_other, folder / "2022" / "flowers, another bed.jpg", quality=90),
        writer.add_image("Flowers 2"),
    )

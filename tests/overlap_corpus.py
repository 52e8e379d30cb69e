"""A corpus of copies phash cannot see, made with ffmpeg, with the truth about every pair.

Source scenes are camera moves (zoom, pan) over the test photos; each corpus video is a list
of pieces of sources (a trim, an intro then the scene, parts of three scenes...) with a look
applied (a re-encode at another size, letterbox bars, a crop scaled back). Two videos truly
overlap where pieces of the same source cover the same stretch of it; the studio intro is a
source too, so two scenes sharing only it overlap by its 4 s, below any sensible minimum.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

PHOTOS = Path(__file__).resolve().parent / "data" / "phash-vectors"
PHOTO_NAMES = [
    "p01_mountain.jpg", "p02_sunset.jpg", "p03_leaves_progressive.jpg", "p04_bird_444.jpg",
    "p05_wine_portrait_422.jpg", "p06_bridge.jpg", "p07_picos_odd_999x749.jpg",
    "p08_stream_gray.jpg", "p09_dogs_cmyk.jpg", "p10_dandelion_exif6.jpg", "p11_wood_lossy.webp",
    "p12_painting_lossless.webp",
]  # fmt: skip
SIZE = (320, 180)
FPS = 15
SHOT_SECONDS = 20
SCENE_SECONDS = 2 * SHOT_SECONDS
INTRO_SECONDS = 4
MIN_OVERLAP = 8.0  # the minimum the tests match at: above the 4 s studio intro


@dataclass(frozen=True)
class Piece:
    source: str
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class CorpusVideo:
    name: str
    pieces: tuple[Piece, ...]
    look: str = ""  # an ffmpeg filter applied after the pieces are joined
    crf: int = 26

    @property
    def duration(self) -> float:
        return sum(piece.length for piece in self.pieces)


@dataclass(frozen=True)
class TrueOverlap:
    a: str
    b: str
    a_start: float
    a_end: float
    b_start: float
    b_end: float

    @property
    def seconds(self) -> float:
        return self.a_end - self.a_start


def scene(source: str, start: float = 0.0, end: float = SCENE_SECONDS) -> Piece:
    return Piece(source, start, end)


INTRO = Piece("intro", 0, INTRO_SECONDS)
OUTRO = Piece("outro", 0, INTRO_SECONDS)
LETTERBOX = "scale=320:180,pad=320:240:0:30:black"
CROP_4_PERCENT = "crop=iw*0.92:ih*0.92,scale=320:180"

CORPUS: tuple[CorpusVideo, ...] = (
    CorpusVideo("s0", (scene("s0"),)),
    CorpusVideo("s0_trim_start", (scene("s0", 5),)),
    CorpusVideo("s0_trim_end", (scene("s0", 0, 31.5),)),
    CorpusVideo("s0_trim_both_480", (scene("s0", 10.5, 28.5),), "scale=480:270"),
    CorpusVideo("s1", (scene("s1"),)),
    CorpusVideo("s1_intro_outro", (INTRO, scene("s1"), OUTRO)),
    CorpusVideo("s1_240_crf34", (scene("s1"),), "scale=240:136", crf=34),
    CorpusVideo("s2", (scene("s2"),)),
    CorpusVideo("s2_part1", (scene("s2", 0, 18),)),
    CorpusVideo("s2_part2", (scene("s2", 18),)),
    CorpusVideo("s3", (scene("s3"),)),
    CorpusVideo("s3_letterbox", (scene("s3"),), LETTERBOX),
    CorpusVideo("s3_crop", (scene("s3"),), CROP_4_PERCENT),
    CorpusVideo("s4", (scene("s4"),)),
    CorpusVideo("s4_intro", (INTRO, scene("s4"))),
    CorpusVideo("s5", (scene("s5"),)),
    CorpusVideo("compilation", (scene("s0", 12, 26), scene("s2", 22, 34), scene("s5", 20.5, 35))),
    CorpusVideo("lookalike_s0", (scene("l0"),)),
    CorpusVideo("lookalike_s3", (scene("l3"),), "scale=480:270"),
)


def true_overlaps(
    videos: Sequence[CorpusVideo], min_overlap: float = MIN_OVERLAP
) -> dict[tuple[str, str], TrueOverlap]:
    """The longest common stretch of every pair of videos that share at least `min_overlap`
    seconds of one source, keyed by their names in corpus order."""
    found: dict[tuple[str, str], TrueOverlap] = {}
    for i, first in enumerate(videos):
        for second in videos[i + 1 :]:
            best: TrueOverlap | None = None
            first_at = 0.0
            for piece_a in first.pieces:
                second_at = 0.0
                for piece_b in second.pieces:
                    start = max(piece_a.start, piece_b.start)
                    end = min(piece_a.end, piece_b.end)
                    if piece_a.source == piece_b.source and end - start >= min_overlap:
                        a_start = first_at + start - piece_a.start
                        b_start = second_at + start - piece_b.start
                        candidate = TrueOverlap(
                            first.name, second.name, a_start, a_start + end - start,
                            b_start, b_start + end - start,
                        )  # fmt: skip
                        if best is None or candidate.seconds > best.seconds:
                            best = candidate
                    second_at += piece_b.length
                first_at += piece_a.length
            if best is not None:
                found[(first.name, second.name)] = best
    return found


# ---------------------------------------------------------------------------------------------
# Making the media


def ffmpeg(*arguments: str) -> None:
    result = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *arguments], capture_output=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(arguments)} failed: {result.stderr.decode()}")


def _photo(name: str, directory: Path, flipped: bool) -> Path:
    """A test photo as a 1280x720 PNG (cropped to 16:9), mirrored both ways for look-alikes:
    the same colours in another picture."""
    target = directory / f"{Path(name).stem}{'_flipped' if flipped else ''}.png"
    with Image.open(PHOTOS / name) as image:
        picture = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), (1280, 720))
    if flipped:
        picture = ImageOps.flip(ImageOps.mirror(picture))
    picture.save(target)
    return target


# Camera moves over one 20 s shot (on = output frame number; 300 frames at 15 fps).
_MOVES = (
    ("1+0.0015*on", "iw/2-iw/zoom/2", "ih/2-ih/zoom/2"),  # slow zoom into the middle
    ("1.35", "(iw-iw/zoom)*on/300", "(ih-ih/zoom)*0.4"),  # pan left to right
    ("1.5-0.0015*on", "(iw-iw/zoom)*0.3", "(ih-ih/zoom)*on/300"),  # zoom out, tilting down
)


def _render_scene(target: Path, photos: Sequence[Path], first_move: int) -> None:
    inputs: list[str] = []
    chains = []
    for index, photo in enumerate(photos):
        inputs += ["-i", str(photo)]
        zoom, x, y = _MOVES[(first_move + index) % len(_MOVES)]
        # One picture in, SHOT_SECONDS of frames out (d = frames per input picture).
        chains.append(
            f"[{index}:v]zoompan=z='{zoom}':x='{x}':y='{y}':d={SHOT_SECONDS * FPS}"
            f":s={SIZE[0]}x{SIZE[1]}:fps={FPS},setsar=1[v{index}]"
        )
    joined = "".join(f"[v{index}]" for index in range(len(photos)))
    graph = ";".join(chains) + f";{joined}concat=n={len(photos)}:v=1,format=yuv420p[out]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset",
           "ultrafast", "-crf", "16", "-r", str(FPS), str(target))  # fmt: skip


def _render_lavfi(target: Path, source: str) -> None:
    ffmpeg("-f", "lavfi", "-i", f"{source}=size={SIZE[0]}x{SIZE[1]}:rate={FPS}", "-t",
           str(INTRO_SECONDS), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
           "-crf", "16", str(target))  # fmt: skip


def make_sources(directory: Path, scenes: int = 6) -> dict[str, Path]:
    """Source scenes s0..s{scenes-1} from two photos each, look-alikes l0 and l3 from s0's and
    s3's photos mirrored, a studio intro and an outro; rendered in parallel."""
    directory.mkdir(parents=True, exist_ok=True)
    jobs = {}
    for number in range(scenes):
        names = [PHOTO_NAMES[(2 * number + k) % len(PHOTO_NAMES)] for k in range(2)]
        jobs[f"s{number}"] = ([_photo(name, directory, False) for name in names], number)
        if number in (0, 3):
            jobs[f"l{number}"] = ([_photo(name, directory, True) for name in names], number)
    made = {name: directory / f"source_{name}.mp4" for name in [*jobs, "intro", "outro"]}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_render_scene, made[name], photos, move)
            for name, (photos, move) in jobs.items()
        ]
        futures.append(pool.submit(_render_lavfi, made["intro"], "mandelbrot"))
        futures.append(pool.submit(_render_lavfi, made["outro"], "testsrc2"))
        for future in futures:
            future.result()
    return made


def render_video(video: CorpusVideo, sources: dict[str, Path], target: Path) -> Path:
    """Join the video's pieces of the sources, apply its look, encode it as a release would."""
    inputs: list[str] = []
    chains = []
    for index, piece in enumerate(video.pieces):
        inputs += ["-i", str(sources[piece.source])]
        chains.append(
            f"[{index}:v]trim=start={piece.start}:end={piece.end},setpts=PTS-STARTPTS[p{index}]"
        )
    joined = "".join(f"[p{index}]" for index in range(len(video.pieces)))
    look = f",{video.look}" if video.look else ""
    graph = (
        ";".join(chains) + f";{joined}concat=n={len(video.pieces)}:v=1{look},format=yuv420p[out]"
    )
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset",
           "veryfast", "-crf", str(video.crf), "-r", str(FPS), str(target))  # fmt: skip
    return target


def make_corpus(directory: Path, videos: Sequence[CorpusVideo] = CORPUS) -> dict[str, Path]:
    """Every corpus video, by name, as an .mp4 in `directory`."""
    sources = make_sources(directory / "sources")
    paths = {video.name: directory / f"{video.name}.mp4" for video in videos}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda video: render_video(video, sources, paths[video.name]), videos))
    return paths

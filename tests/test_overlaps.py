"""Overlaps on a corpus made with ffmpeg: trims, intros and outros, parts, a compilation,
re-encodes, letterbox bars, a crop scaled back, look-alikes and a studio intro shared by two
different scenes. Fingerprints come from sampling the videos, or from Stash-style sprites."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stash_dedupe.dedupe.overlaps import (
    CANDIDATE_DISTANCE,
    CONTAINED,
    EDGE_TOLERANCE,
    SAME,
    SHARED,
    Fingerprint,
    MatchWork,
    Overlap,
    find_overlaps,
)
from stash_dedupe.errors import MediaError
from stash_dedupe.jobs import Job
from stash_dedupe.media import fingerprints as fingerprints_module
from stash_dedupe.media.fingerprints import (
    SAMPLED,
    SPRITE,
    FingerprintCache,
    FingerprintTask,
    fingerprint_one,
    fingerprint_tasks,
    run_fingerprints,
    sampled_fingerprint,
    sprite_fingerprint,
)
from stash_dedupe.models import VIDEO, MediaFile

from .overlap_corpus import (
    CORPUS,
    MIN_OVERLAP,
    CorpusVideo,
    TrueOverlap,
    make_corpus,
    render_video,
    scene,
    true_overlaps,
)
from .test_demo_and_cli import run_cli

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

NAMES = [video.name for video in CORPUS]
BOUNDARY_SECONDS = 2.0
SPRITE_CELLS = 81  # as Stash makes them


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_corpus(tmp_path_factory.mktemp("overlap-corpus"))


@pytest.fixture(scope="module")
def sampled(corpus: dict[str, Path]) -> list[Fingerprint]:
    return [sampled_fingerprint(index, str(corpus[name])) for index, name in enumerate(NAMES)]


def make_stash_sprite(video: Path, target_dir: Path, checksum: str) -> tuple[Path, Path]:
    """A scrubber sprite and its map laid out as Stash writes them: 81 frames 160 px wide at
    i * step (step = duration / 81), pasted row-major into a 9x9 grid, and a VTT cue per cell."""
    duration = float(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(video),
            ],
            capture_output=True,
            check=True,
            text=True,
        ).stdout  # fmt: skip
    )
    step = duration / SPRITE_CELLS
    grid = 9
    sprite = target_dir / f"{checksum}_sprite.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vf",
         f"fps={1 / step:.6f}:round=up,scale=160:-2,tile={grid}x{grid}", "-frames:v", "1",
         "-q:v", "4", str(sprite)], check=True,
    )  # fmt: skip
    from PIL import Image

    with Image.open(sprite) as image:
        width, height = image.width // grid, image.height // grid

    def vtt_time(seconds: float) -> str:
        hours, rest = divmod(seconds, 3600)
        minutes, rest = divmod(rest, 60)
        return f"{int(hours):02d}:{int(minutes):02d}:{rest:06.3f}"

    lines = ["WEBVTT", ""]
    for index in range(SPRITE_CELLS):
        x, y = width * (index % grid), height * (index // grid)
        lines += [
            f"{vtt_time(index * step)} --> {vtt_time((index + 1) * step)}",
            f"{sprite.name}#xywh={x},{y},{width},{height}",
            "",
        ]
    vtt = target_dir / f"{checksum}_thumbs.vtt"
    vtt.write_text("\n".join(lines))
    return sprite, vtt


@pytest.fixture(scope="module")
def sprites(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("generated") / "vtt"
    folder.mkdir()
    return {
        name: make_stash_sprite(corpus[name], folder, f"{index:016x}")
        for index, name in enumerate(NAMES)
    }


def by_names(found: list[Overlap]) -> dict[tuple[str, str], Overlap]:
    """Found overlaps keyed by corpus names in corpus order (as the truth is)."""
    result = {}
    for overlap in found:
        first, second = sorted((overlap.a.file_id, overlap.b.file_id))
        result[(NAMES[first], NAMES[second])] = overlap
    return result


def expected_kind(truth: TrueOverlap) -> str:
    """The kind the truth calls for, by the rule the matching uses."""
    durations = {video.name: video.duration for video in CORPUS}
    shorter, longer = sorted((truth.a, truth.b), key=lambda name: durations[name])
    short_missing = durations[shorter] - truth.seconds
    long_missing = durations[longer] - truth.seconds
    if short_missing <= EDGE_TOLERANCE and long_missing <= EDGE_TOLERANCE:
        return SAME
    return CONTAINED if short_missing <= EDGE_TOLERANCE else SHARED


def boundary_error(overlap: Overlap, truth: TrueOverlap) -> float:
    """The largest distance between found and true segment ends, in seconds."""
    segments = {NAMES[overlap.a.file_id]: overlap.a, NAMES[overlap.b.file_id]: overlap.b}
    first, second = segments[truth.a], segments[truth.b]
    return max(
        abs(first.start - truth.a_start),
        abs(first.end - truth.a_end),
        abs(second.start - truth.b_start),
        abs(second.end - truth.b_end),
    )


def check_against_truth(found: list[Overlap]) -> None:
    truth = true_overlaps(CORPUS, MIN_OVERLAP)
    got = by_names(found)
    false_pairs = sorted(set(got) - set(truth))
    assert not false_pairs, f"false pairs: {false_pairs}"
    recalled = [pair for pair in truth if pair in got]
    assert len(recalled) >= 0.95 * len(truth), f"missed {sorted(set(truth) - set(got))}"
    for pair in recalled:
        overlap = got[pair]
        assert boundary_error(overlap, truth[pair]) <= BOUNDARY_SECONDS, (pair, overlap)
        assert overlap.kind == expected_kind(truth[pair]), (pair, overlap)


# ---------------------------------------------------------------------------------------------
# Matching sampled frames


def test_the_corpus_truth_has_every_kind_of_copy() -> None:
    truth = true_overlaps(CORPUS, MIN_OVERLAP)
    kinds = {expected_kind(overlap) for overlap in truth.values()}
    assert kinds == {SAME, CONTAINED, SHARED}
    assert ("s1_intro_outro", "s4_intro") not in truth  # only the 4 s studio intro in common
    assert len(truth) >= 20


def test_sampled_fingerprints_find_the_true_pairs_with_their_segments(sampled) -> None:
    check_against_truth(find_overlaps(sampled, MIN_OVERLAP))


def test_a_trim_is_contained_with_the_shorter_file_as_a(sampled) -> None:
    got = by_names(find_overlaps(sampled, MIN_OVERLAP))
    trim = got[("s0", "s0_trim_start")]
    assert trim.kind == CONTAINED
    assert NAMES[trim.a.file_id] == "s0_trim_start"
    assert (trim.a.start, trim.a.end) == pytest.approx((0.0, 35.0), abs=1.0)
    assert (trim.b.start, trim.b.end) == pytest.approx((5.0, 40.0), abs=1.0)
    assert trim.offset == pytest.approx(5.0, abs=1.0)


def test_the_scene_inside_an_intro_and_outro_is_contained_at_the_intro_length(sampled) -> None:
    overlap = by_names(find_overlaps(sampled, MIN_OVERLAP))[("s1", "s1_intro_outro")]
    assert overlap.kind == CONTAINED
    assert overlap.b.start == pytest.approx(4.0, abs=1.0)


def test_a_studio_intro_shared_by_two_scenes_makes_no_pair(sampled) -> None:
    got = by_names(find_overlaps(sampled, MIN_OVERLAP))
    assert ("s1_intro_outro", "s4_intro") not in got
    assert ("s1", "s4") not in got


def test_look_alikes_in_the_same_colours_make_no_pair(sampled) -> None:
    found = find_overlaps(sampled, MIN_OVERLAP)
    lookalikes = {NAMES.index("lookalike_s0"), NAMES.index("lookalike_s3")}
    assert not [o for o in found if {o.a.file_id, o.b.file_id} & lookalikes]


def test_a_minimum_longer_than_a_compilation_segment_drops_it(sampled) -> None:
    got = by_names(find_overlaps(sampled, 20.0))
    assert ("s0", "compilation") not in got
    assert ("s0", "s0_trim_start") in got


def test_a_frame_found_in_many_videos_is_no_evidence() -> None:
    """Twenty videos that share one 30 s stretch of the same frames but nothing else: that
    stretch is common (a logo loop, black with a watermark), so no pair is made of it."""
    rng = np.random.default_rng(7)
    shared = rng.integers(0, 2**63, 30, dtype=np.uint64)
    fingerprints = []
    for file_id in range(20):
        own = rng.integers(0, 2**63, 30, dtype=np.uint64)
        hashes = np.r_[shared, own]
        times = np.arange(60, dtype=np.float64)
        fingerprints.append(Fingerprint(file_id, 60.0, 1.0, times, hashes, SAMPLED))
    work = MatchWork()
    assert find_overlaps(fingerprints, 10.0, work=work) == []
    assert work.common_hashes == 30


def test_matching_work_grows_with_the_copies_not_with_the_library() -> None:
    """1000 unrelated videos and 10 trimmed copies: the frame pairs and video pairs looked at
    are those of the copies (and a few chance matches), not of every pair of videos."""
    rng = np.random.default_rng(11)
    fingerprints = [
        Fingerprint(
            i,
            81.0,
            1.0,
            np.arange(81, dtype=np.float64),
            rng.integers(0, 2**63, 81, dtype=np.uint64) | np.uint64(1 << 63),
            SPRITE,
        )  # fmt: skip
        for i in range(1000)
    ]
    for copy in range(10):
        original = fingerprints[copy]
        fingerprints.append(
            Fingerprint(1000 + copy, 71.0, 1.0, original.times[:71], original.hashes[10:], SPRITE)
        )
    work = MatchWork()
    found = find_overlaps(fingerprints, 30.0, work=work)
    assert {(o.a.file_id - 1000, o.b.file_id) for o in found} == {(c, c) for c in range(10)}
    assert all(o.kind == CONTAINED for o in found)
    assert work.frames == 1000 * 81 + 10 * 71
    # Chance: frames within CANDIDATE_DISTANCE bits of each other among n random hashes (63
    # free bits); they stay scattered over pairs of videos, too few in any one to be checked.
    n = work.frames
    chance = n * n / 2 * sum(math.comb(63, k) for k in range(CANDIDATE_DISTANCE + 1)) / 2**63
    assert work.frame_pairs <= 10 * 71 + 3 * chance + 10
    assert work.video_pairs <= 20


# ---------------------------------------------------------------------------------------------
# Stash's sprites


def test_sprite_cells_are_read_with_their_times_from_the_vtt(sprites, corpus) -> None:
    sprite, vtt = sprites["s0"]
    fingerprint = sprite_fingerprint(0, sprite, vtt)
    assert fingerprint.source == SPRITE
    assert fingerprint.step == pytest.approx(40.0 / SPRITE_CELLS, abs=0.01)
    assert fingerprint.duration == pytest.approx(40.0, abs=0.1)
    assert len(fingerprint.hashes) >= 0.9 * SPRITE_CELLS


def test_sprites_give_the_same_matches_without_decoding_any_video(
    sprites, corpus, monkeypatch
) -> None:
    def no_decoding(*_: object, **__: object) -> None:
        raise AssertionError("a video was decoded")

    monkeypatch.setattr(fingerprints_module, "sampled_fingerprint", no_decoding)
    tasks = [
        FingerprintTask(index, str(corpus[name]), 0, None, *map(str, sprites[name]))
        for index, name in enumerate(NAMES)
    ]
    fingerprints = [fingerprint_one(task) for task in tasks]
    assert {fingerprint.source for fingerprint in fingerprints} == {SPRITE}
    check_against_truth(find_overlaps(fingerprints, MIN_OVERLAP))


def test_sprite_and_sampled_fingerprints_match_each_other(sprites, sampled) -> None:
    """A library where some files have sprites and others not still finds the pairs."""
    mixed = [
        sprite_fingerprint(index, *sprites[name]) if index % 2 else sampled[index]
        for index, name in enumerate(NAMES)
    ]
    check_against_truth(find_overlaps(mixed, MIN_OVERLAP))


def test_a_long_trimmed_copy_is_contained_from_sparse_sprites_and_from_mixed_sources(
    corpus, tmp_path
) -> None:
    """Four minutes of the scenes and a copy missing 17.3 s at the start and 8.9 s at the end,
    re-encoded larger: sprite cells 3 s apart (not lined up between the two), and a stretch of
    a striped texture whose hashes are unstable, still give one contained segment."""
    sources = {path.stem.removeprefix("source_"): path for path in corpus["s0"].parent.glob(
        "sources/source_*.mp4")}  # fmt: skip
    whole = CorpusVideo("long", tuple(scene(f"s{number}") for number in range(6)))
    trimmed = CorpusVideo(
        "long_trim",
        (scene("s0", 17.3), *(scene(f"s{number}") for number in range(1, 5)), scene("s5", 0, 31.1)),
        "scale=480:270",
    )
    paths = {video.name: render_video(video, sources, tmp_path / f"{video.name}.mp4")
             for video in (whole, trimmed)}  # fmt: skip
    sprite_of = {
        name: sprite_fingerprint(
            number, *make_stash_sprite(paths[name], tmp_path, f"{number:016x}")
        )
        for number, name in enumerate(paths)
    }
    sampled_trim = sampled_fingerprint(1, str(paths["long_trim"]))
    for pair in ([sprite_of["long"], sprite_of["long_trim"]], [sprite_of["long"], sampled_trim]):
        (overlap,) = find_overlaps(pair, 30.0)
        assert overlap.kind == CONTAINED
        assert overlap.a.file_id == 1
        assert (overlap.a.start, overlap.a.end) == pytest.approx((0.0, 213.8), abs=BOUNDARY_SECONDS)
        assert overlap.b.start == pytest.approx(17.3, abs=BOUNDARY_SECONDS)


def test_a_broken_sprite_falls_back_to_sampling(corpus, tmp_path) -> None:
    sprite, vtt = tmp_path / "x_sprite.jpg", tmp_path / "x_thumbs.vtt"
    sprite.write_bytes(b"not a jpeg")
    vtt.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nx_sprite.jpg#xywh=0,0,160,90\n\n"
                   "00:00:01.000 --> 00:00:02.000\nx_sprite.jpg#xywh=160,0,160,90\n")  # fmt: skip
    task = FingerprintTask(3, str(corpus["s1"]), 0, None, str(sprite), str(vtt))
    assert fingerprint_one(task).source == SAMPLED


# ---------------------------------------------------------------------------------------------
# Broken files, the cache and the job


@pytest.mark.parametrize(
    ("content", "words"), [(b"", "no duration"), (b"just some text\n" * 50, "ffprobe")]
)
def test_a_file_that_is_not_a_video_gives_a_media_error(tmp_path, content, words) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError) as raised:
        sampled_fingerprint(1, str(path))
    assert words in raised.value.message or "cannot" in raised.value.message


def test_a_missing_file_gives_a_media_error(tmp_path) -> None:
    with pytest.raises(MediaError, match="missing"):
        sampled_fingerprint(1, str(tmp_path / "gone.mp4"))


def media_file(file_id: int, path: Path) -> MediaFile:
    status = path.stat()
    return MediaFile(
        file_id, VIDEO, str(path), str(path), status.st_size, str(status.st_mtime), None
    )


def test_the_job_fills_the_cache_and_a_changed_file_is_fingerprinted_again(
    corpus, tmp_path
) -> None:
    files = [media_file(1, corpus["s2_part1"]), media_file(2, corpus["s2_part2"])]
    cache_path = tmp_path / "fingerprints.sqlite"
    cache = FingerprintCache(cache_path)
    tasks = fingerprint_tasks(files, "library", cache)
    assert [task.file_id for task in tasks] == [1, 2]
    job = Job("fingerprints", lambda job: run_fingerprints(job, tasks, "library", 1, cache_path))
    job.start()
    assert job.wait(120)
    assert job.result.computed == 2 and job.progress().done == 2
    cached = cache.lookup("library", files)
    assert sorted(cached) == [1, 2]
    assert np.array_equal(cached[1].hashes, sampled_fingerprint(1, files[0].path).hashes)
    assert fingerprint_tasks(files, "library", cache) == []
    grown = files[0].__class__(**{**files[0].__dict__, "size": files[0].size + 1})
    assert [task.file_id for task in fingerprint_tasks([grown, files[1]], "library", cache)] == [1]
    cache.close()


def test_a_failure_is_recorded_and_the_rest_go_on(corpus, tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    tasks = [
        FingerprintTask(1, str(broken), 1000, None),
        FingerprintTask(2, str(corpus["s4"]), 1, None),
    ]
    cache_path = tmp_path / "fingerprints.sqlite"
    job = Job("fingerprints", lambda job: run_fingerprints(job, tasks, "library", 2, cache_path))
    job.start()
    assert job.wait(120)
    report = job.result
    assert report.computed == 1 and [failure.file_id for failure in report.failed] == [1]
    cache = FingerprintCache(cache_path)
    assert [failure.file_id for failure in cache.failures("library")] == [1]
    cache.close()


def test_cancelling_the_job_stops_it_and_keeps_what_was_done(corpus, tmp_path) -> None:
    tasks = [FingerprintTask(i, str(corpus[name]), i, None) for i, name in enumerate(NAMES)]
    cache_path = tmp_path / "fingerprints.sqlite"
    job = Job("fingerprints", lambda job: run_fingerprints(job, tasks, "library", 1, cache_path))
    job.start()
    job.pause()
    job.cancel()
    assert job.wait(120)
    assert job.state == "cancelled"
    assert job.progress().done < len(tasks)


# ---------------------------------------------------------------------------------------------
# The command line


@pytest.fixture
def corpus_library(corpus, stash_database) -> tuple[Path, dict[str, int]]:
    """A real-schema Stash database listing five corpus videos, one scene each."""
    database, writer = stash_database(75)
    ids = {}
    with writer:
        for name in ("s0", "s0_trim_start", "s1_intro_outro", "s4_intro", "lookalike_s0"):
            scene_id = writer.add_scene(name)
            duration = next(video.duration for video in CORPUS if video.name == name)
            ids[name] = writer.add_video_file(
                str(corpus[name]), scene_id=scene_id, duration=duration, width=320, height=180
            )
    return database, ids


def test_cli_prints_overlaps_as_json_and_caches_the_fingerprints(corpus_library) -> None:
    database, ids = corpus_library
    result = run_cli("overlaps", "--db", str(database), "--min-overlap", "8", "--json")
    assert result.returncode == 0, result.stderr
    assert "5 to fingerprint" in result.stderr
    document = json.loads(result.stdout)
    assert len(document["overlaps"]) == 1
    overlap = document["overlaps"][0]
    assert overlap["kind"] == "contained"
    assert overlap["a"]["file_id"] == ids["s0_trim_start"]
    assert overlap["b"]["file_id"] == ids["s0"]
    assert set(overlap["a"]) == {"file_id", "start", "end"}
    assert overlap["a"]["start"] == pytest.approx(0.0, abs=1) and overlap["a"]["end"] == (
        pytest.approx(35.0, abs=1)
    )
    assert overlap["b"]["start"] == pytest.approx(5.0, abs=1)
    assert overlap["overlap_seconds"] == pytest.approx(35.0, abs=1)
    again = run_cli("overlaps", "--db", str(database), "--min-overlap", "8", "--json")
    assert "0 to fingerprint" in again.stderr
    assert json.loads(again.stdout) == document


def test_cli_reads_stash_sprites_from_the_generated_folder(corpus_library, monkeypatch) -> None:
    """Videos with a Stash sprite in the generated folder beside the database are
    fingerprinted from it (the cache says so), the others by sampling; the pair is found."""
    database, ids = corpus_library
    folder = database.parent / "generated" / "vtt"
    folder.mkdir(parents=True)
    from stash_dedupe.stash.reader import open_stash_database

    stash = open_stash_database(database, [])
    files = {file.file_id: file for file in stash.load_files(VIDEO)}
    stash.close()
    for name in ("s0", "s0_trim_start"):
        file = files[ids[name]]
        make_stash_sprite(Path(file.path), folder, file.oshash)
    result = run_cli("overlaps", "--db", str(database), "--min-overlap", "8", "--json")
    assert result.returncode == 0, result.stderr
    pairs = {(o["a"]["file_id"], o["b"]["file_id"]) for o in json.loads(result.stdout)["overlaps"]}
    assert pairs == {(ids["s0_trim_start"], ids["s0"])}
    cache = FingerprintCache()
    sources = {
        file_id: fingerprint.source
        for file_id, fingerprint in cache.lookup(str(database.resolve()), files.values()).items()
    }
    cache.close()
    assert sources == {
        file_id: SPRITE if file_id in (ids["s0"], ids["s0_trim_start"]) else SAMPLED
        for file_id in ids.values()
    }


def test_cli_on_a_bad_database_is_one_line_and_exit_status_2(tmp_path) -> None:
    bad = tmp_path / "not-a-database.sqlite"
    bad.write_text("hello")
    result = run_cli("overlaps", "--db", str(bad), "--json")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_refuses_a_minimum_overlap_that_is_not_positive(corpus_library) -> None:
    database, _ = corpus_library
    result = run_cli("overlaps", "--db", str(database), "--min-overlap", "0")
    assert result.returncode == 2
    assert "--min-overlap" in result.stderr and len(result.stderr.strip().splitlines()) == 1

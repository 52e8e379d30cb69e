"""A small Stash library of corpus videos (tests/overlap_corpus.py) for the Overlaps view's
API and browser tests: a trimmed copy inside its original (`contained`), a re-encode at
another size (`same`) and an unrelated look-alike, rendered once per test session and copied
into each test's own library, so removals never touch another test's files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stash_dedupe.stash.library_writer import LibraryWriter

from .conftest import fixture_database
from .overlap_corpus import CORPUS, make_sources, render_video

LIBRARY_VIDEOS = ("s0", "s0_trim_start", "s1", "s1_240_crf34", "lookalike_s0")
SIZES = {"s1_240_crf34": (240, 136)}


@pytest.fixture(scope="session")
def overlap_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The library's videos, by corpus name, rendered once (two source scenes only)."""
    directory = tmp_path_factory.mktemp("overlap-media")
    sources = make_sources(directory / "sources", scenes=2)
    videos = {video.name: video for video in CORPUS}
    return {
        name: render_video(videos[name], sources, directory / f"{name}.mp4")
        for name in LIBRARY_VIDEOS
    }


def build_overlap_library(media: dict[str, Path], root: Path) -> tuple[Path, dict[str, int]]:
    """A real-schema Stash database in `root` listing a private copy of the videos, one scene
    each; returns the database and each video's file id by corpus name."""
    library = root / "library"
    library.mkdir(parents=True)
    database = root / "stash-go.sqlite"
    shutil.copyfile(fixture_database(75), database)
    database.chmod(0o644)
    durations = {video.name: video.duration for video in CORPUS}
    ids = {}
    with LibraryWriter(database) as writer:
        for name, source in media.items():
            copy = library / source.name
            shutil.copyfile(source, copy)
            width, height = SIZES.get(name, (320, 180))
            scene_id = writer.add_scene(name)
            ids[name] = writer.add_video_file(
                str(copy), scene_id=scene_id, duration=durations[name], width=width, height=height
            )
    return database, ids

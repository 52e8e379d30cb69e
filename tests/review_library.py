"""A small library for the review tests, built on Stash's real schema, with some media missing.

Videos (every scene 60 s unless said):
- "a": a1 (9000 B, studio Acme, organized, a performer and a tag), a2 (5000 B), a3 (7000 B,
  not on disk) - one phash;
- "b": b1 (4000 B), b2 (4000 B, not on disk) - fewer than two present: cannot be resolved;
- "c": c1, c2 (3000 B each, one md5) - byte-identical copies, studio Zeta;
- "d": d1 (100 s), d2 (98.5 s), d3 (90 s), each 2000 B - durations for percent tolerances.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from stash_dedupe.stash.library_writer import LibraryWriter

SCHEMA_75 = Path(__file__).resolve().parent / "data" / "stash-schemas" / "stash-go-schema-75.sqlite"

PHASH = {
    "a": "c3a1f0e0d0c0b000",
    "b": "0f0f0f0f12345678",
    "c": "77aa55cc33ee1100",
    "d": "abcdef0123456789",
}
MISSING = ("a3", "b2")


@dataclass(frozen=True)
class ReviewLibrary:
    database: Path
    media: Path
    ids: dict[str, int]  # file name (a1, b2, ...) -> Stash file id
    scenes: dict[str, int]  # file name -> scene id
    sizes: dict[str, int]

    def path(self, name: str) -> Path:
        return self.media / f"{name}.mp4"


def build_review_library(folder: Path) -> ReviewLibrary:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "stash-go.sqlite"
    shutil.copyfile(SCHEMA_75, database)
    database.chmod(0o644)
    media = folder / "media"
    media.mkdir()
    files = {
        "a1": (9000, 60.0, {"studio": "Acme", "organized": True, "performers": 1, "tags": 1}),
        "a2": (5000, 60.0, {}),
        "a3": (7000, 60.0, {}),
        "b1": (4000, 60.0, {}),
        "b2": (4000, 60.0, {}),
        "c1": (3000, 60.0, {"studio": "Zeta"}),
        "c2": (3000, 60.0, {}),
        "d1": (2000, 100.0, {}),
        "d2": (2000, 98.5, {}),
        "d3": (2000, 90.0, {}),
    }
    ids: dict[str, int] = {}
    scenes: dict[str, int] = {}
    with LibraryWriter(database) as writer:
        writer.library_root(str(media))
        for name, (size, duration, scene) in files.items():
            path = media / f"{name}.mp4"
            content = (
                (b"same bytes" * size)[:size] if name[0] == "c" else name.encode() * (size // 2)
            )
            path.write_bytes(content)
            scenes[name] = writer.add_scene(name, **scene)
            ids[name] = writer.add_video_file(
                str(path),
                scene_id=scenes[name],
                phash=PHASH[name[0]],
                duration=duration,
                size=size,
                md5="c0ffee" if name[0] == "c" else None,
            )
        writer.connection.commit()
    for name in MISSING:
        (media / f"{name}.mp4").unlink()
    return ReviewLibrary(database, media, ids, scenes, {name: files[name][0] for name in files})

"""Thumbnails come from Stash's generated folder when config.yml points to it, else are made."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from PIL import Image

from stash_dedupe.media.thumbnails import Thumbnails
from stash_dedupe.models import IMAGE, VIDEO, MediaFile
from stash_dedupe.stash.config import generated_dir, read_config


def jpeg(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, colour).save(output, "JPEG")
    return output.getvalue()


def media_file(media: str, path: Path, **fields: object) -> MediaFile:
    base = MediaFile(
        file_id=7,
        media=media,
        path=str(path),
        stash_path=str(path),
        size=path.stat().st_size if path.exists() else 0,
        mod_time="2024-01-01",
        mod_time_epoch=0.0,
    )
    return replace(base, **fields)


def test_config_values_are_read_with_quotes_and_comments(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        'generated: "/data/generated"  \ndatabase: db.sqlite # moved\n'
        "plugins:\n  nested: ignored\nvideo_file_naming_algorithm: MD5\n"
    )
    assert read_config(config) == {
        "generated": "/data/generated",
        "database": "db.sqlite",
        "video_file_naming_algorithm": "MD5",
    }


def test_generated_folder_is_found_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "cache" / "gen").mkdir(parents=True)
    (tmp_path / "config.yml").write_text("generated: cache/gen\n")
    assert generated_dir(tmp_path / "stash-go.sqlite") == tmp_path / "cache" / "gen"


def test_image_thumbnail_is_stash_own_640(tmp_path: Path) -> None:
    generated = tmp_path / "generated"
    md5 = "0123456789abcdef0123456789abcdef"
    own = generated / "thumbnails" / "01" / "23" / f"{md5}_640.jpg"
    own.parent.mkdir(parents=True)
    own.write_bytes(jpeg((64, 48), (200, 10, 10)))
    (tmp_path / "config.yml").write_text(f"generated: {generated}\n")
    picture = tmp_path / "missing.jpg"  # never decoded: Stash's thumbnail is used
    thumbnails = Thumbnails(tmp_path / "stash-go.sqlite", cache_dir=tmp_path / "cache")
    assert thumbnails.thumbnail(media_file(IMAGE, picture, md5=md5)) == own.read_bytes()


def test_video_thumbnail_is_the_middle_tile_of_stash_sprite(tmp_path: Path) -> None:
    vtt = tmp_path / "generated" / "vtt"
    vtt.mkdir(parents=True)
    oshash = "00aa11bb22cc33dd"
    sprite = Image.new("RGB", (300, 100), (0, 0, 0))
    sprite.paste((0, 250, 0), (100, 0, 200, 100))  # the middle of three tiles is green
    sprite.save(vtt / f"{oshash}_sprite.jpg")
    cues = [
        f"00:00:0{i}.000 --> 00:00:0{i + 1}.000\n{oshash}_sprite.jpg#xywh={i * 100},0,100,100\n"
        for i in range(3)
    ]
    (vtt / f"{oshash}_thumbs.vtt").write_text("WEBVTT\n\n" + "\n".join(cues))
    thumbnails = Thumbnails(tmp_path / "stash-go.sqlite", cache_dir=tmp_path / "cache")
    data = thumbnails.thumbnail(media_file(VIDEO, tmp_path / "gone.mp4", oshash=oshash))
    with Image.open(io.BytesIO(data)) as tile:
        assert tile.size == (100, 100)
        red, green, blue = tile.convert("RGB").getpixel((50, 50))
        assert green > 200 and red < 50


def test_without_stash_files_the_app_makes_and_caches_one(tmp_path: Path) -> None:
    picture = tmp_path / "photo.png"
    Image.new("RGB", (800, 400), (10, 20, 250)).save(picture)
    cache = tmp_path / "cache"
    thumbnails = Thumbnails(tmp_path / "stash-go.sqlite", cache_dir=cache)
    file = media_file(IMAGE, picture, md5="ffff")
    data = thumbnails.thumbnail(file)
    with Image.open(io.BytesIO(data)) as made:
        assert max(made.size) <= 320
    assert [path.read_bytes() for path in cache.iterdir()] == [data]
    picture.unlink()  # the cached copy is used from now on
    assert thumbnails.thumbnail(file) == data

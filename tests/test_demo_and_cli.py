"""The demo library is a real Stash-shaped library, and the CLI's JSON contract holds on it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stash_dedupe.demo import DEMO_APP_HOME, write_demo_settings
from stash_dedupe.media.phash import image_phash
from stash_dedupe.models import IMAGE, VIDEO
from stash_dedupe.settings import load_settings
from stash_dedupe.stash.reader import open_stash_database


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stash_dedupe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def groups_json(database: Path, *args: str) -> dict:
    result = run_cli("groups", "--db", str(database), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def paths_of(document: dict) -> list[set[str]]:
    return [{Path(file["path"]).name for file in group["files"]} for group in document["groups"]]


def test_demo_files_exist_with_what_the_database_says(demo_library: Path) -> None:
    with open_stash_database(demo_library) as database:
        files = database.load_files(VIDEO) + database.load_files(IMAGE)
    assert len(files) >= 15
    for file in files:
        assert Path(file.path).stat().st_size == file.size
        assert file.phash and len(file.phash) == 16
    names = {Path(file.path).name for file in files}
    assert any(not name.isascii() for name in names)
    assert any(" " in name for name in names)


def test_the_demo_runs_with_its_own_settings_at_distance_8(tmp_path: Path, monkeypatch) -> None:
    database = tmp_path / "stash-go.sqlite"
    written = write_demo_settings(tmp_path, database)
    assert written.parent == tmp_path / DEMO_APP_HOME
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(written.parent))
    settings = load_settings()
    assert (settings.database, settings.default_distance) == (str(database), 8)
    # make run opens the demo with that app home, not the user's own
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    run_recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert f'STASH_DEDUPE_HOME="$(abspath $(DEMO))/{DEMO_APP_HOME}"' in run_recipe


def test_demo_image_phashes_are_real(demo_library: Path) -> None:
    with open_stash_database(demo_library) as database:
        image = database.load_files(IMAGE)[0]
    assert image.phash == image_phash(image.path)


def test_exact_video_groups_on_the_demo(demo_library: Path) -> None:
    document = groups_json(demo_library)
    assert document["schema_version"] == 75
    assert document["media"] == "videos" and document["distance"] == 0
    groups = paths_of(document)
    assert {"Beach sunset.mp4", "Beach sunset (copy).mp4", "beach_sunset_480p.mp4"} in groups
    first = document["groups"][0]
    assert first["reclaimable"] == first["total_size"] - max(f["size"] for f in first["files"])
    file = first["files"][0]
    assert set(file) >= {
        "file_id",
        "path",
        "phash",
        "size",
        "duration",
        "width",
        "height",
        "scene_ids",
    }


def test_near_video_groups_join_reencodes_and_keep_lookalikes_apart(demo_library: Path) -> None:
    groups = paths_of(groups_json(demo_library, "--distance", "8", "--duration-diff", "1"))
    city = next(group for group in groups if "City lights 2019.mp4" in group)
    assert "Ciudad de noche — baja calidad ñ.mp4" in city
    assert not any("Forest walk.mp4" in group for group in groups)


def test_image_groups_use_image_ids(demo_library: Path) -> None:
    document = groups_json(demo_library, "--media", "images", "--distance", "4")
    groups = paths_of(document)
    assert {"mountain.jpg", "mountain small.jpg", "mountain lossless.png"} <= groups[0]
    assert "image_ids" in document["groups"][0]["files"][0]
    assert "duration" not in document["groups"][0]["files"][0]
    assert not any("flowers.jpg" in group for group in groups)


def test_text_output_lists_groups(demo_library: Path) -> None:
    result = run_cli("groups", "--db", str(demo_library), "--distance", "4")
    assert result.returncode == 0
    assert "groups of videos at distance 4" in result.stdout


@pytest.mark.parametrize("distance", ["-1", "99"])
def test_bad_distance_is_refused(demo_library: Path, distance: str) -> None:
    result = run_cli("groups", "--db", str(demo_library), "--distance", distance)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_phash_command_prints_hash_and_path(demo_library: Path, tmp_path: Path) -> None:
    with open_stash_database(demo_library) as database:
        image = database.load_files(IMAGE)[0]
    broken = tmp_path / "broken file.jpg"
    broken.write_text("not an image")
    result = run_cli("phash", image.path, str(broken))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{image.phash}  {image.path}"]
    assert "broken file.jpg" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("media", ["video", "image"])
def test_groups_json_text_is_what_json_dumps_writes(media: str) -> None:
    from stash_dedupe import cli
    from stash_dedupe.dedupe.grouping import find_groups
    from stash_dedupe.models import MediaFile, SceneInfo

    def file(file_id: int, path: str, **details: Any) -> MediaFile:
        return MediaFile(file_id, media, path, path, 10 * file_id, None, None, **details)

    files = [
        file(1, '/m/"quoted" ñ\\ \t tab.mp4', phash="c3a1f0e0d0c0b0a0", duration=61.25),
        file(2, "/m/😀.mp4", phash="c3a1f0e0d0c0b0a1", width=1920, height=1080),
        file(3, "/m/no phash.mp4", items=(SceneInfo(7), SceneInfo(9))),
        file(4, "/m/sibling.mp4", items=(SceneInfo(7),), duration=1e-7),
    ]
    groups = find_groups(files, max_distance=1)
    assert len(groups) == 2
    for group in groups:
        expected = json.dumps(cli.group_as_json(group, media), ensure_ascii=False)
        assert cli.group_json_text(group, media) == expected


def test_groups_json_is_streamed_byte_for_byte_as_one_document() -> None:
    """`groups --json` writes group by group; the bytes are those json.dump would write."""
    import io
    import json as json_module

    from stash_dedupe import cli

    header = {"schema_version": 75, "media": "videos", "distance": 8, "duration_diff": None}
    groups = [{"group_id": "a1", "files": [{"path": "/m/ñ é.mp4"}]}, {"group_id": "b2"}]
    for items in (groups, []):
        expected = json_module.dumps({**header, "groups": items}, ensure_ascii=False) + "\n"
        streamed = io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stdout", streamed)
            cli._write_json_stream(header, "groups", iter(items))
        assert streamed.getvalue() == expected

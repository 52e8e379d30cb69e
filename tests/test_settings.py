"""Settings persist in the app's data dir, validated, readable only by the user."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stash_dedupe.errors import AppError
from stash_dedupe.settings import Settings, load_settings, save_settings, settings_path
from stash_dedupe.stash.pathmap import PathMapping


def test_defaults_when_nothing_saved() -> None:
    settings = load_settings()
    assert settings.database is None and settings.removal_mode == "trash"
    assert settings.theme == "dark"


def test_round_trip_with_user_only_permissions() -> None:
    settings = Settings().updated(
        {"database": "/x/stash-go.sqlite", "default_distance": 8, "stash_api_key": "secret"}
    )
    save_settings(settings)
    assert load_settings() == settings
    assert stat.S_IMODE(settings_path().stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"default_distance": 40}, "distance"),
        ({"removal_mode": "shred"}, "removal mode"),
        ({"removal_mode": "move"}, "trash folder"),
        ({"keeper_rules": ["nope"]}, "keeper rule"),
        ({"colour": "blue"}, "Unknown setting"),
        ({"path_mappings": [{"stash_prefix": "/data"}]}, "path mapping"),
    ],
)
def test_bad_values_are_refused_with_a_message(changes: dict, message: str) -> None:
    with pytest.raises(AppError, match=message):
        Settings().updated(changes)


def test_damaged_settings_file_falls_back_to_defaults() -> None:
    settings_path().write_text("{not json")
    assert load_settings() == Settings()
    assert settings_path().with_suffix(".damaged.json").exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"keeper_rules": 5}, "keeper_rules"),
        ({"keeper_rules": [5]}, "keeper_rules"),
        ({"preferred_folders": 5}, "preferred_folders"),
        ({"preferred_folders": ["relative/folder"]}, "preferred_folders"),
        ({"database": 5}, "database"),
        ({"database": "stash-go.sqlite"}, "database"),
        ({"database": "/x/\0/stash-go.sqlite"}, "database"),
        ({"database": "/" + "x" * 5000}, "database"),
        ({"trash_dir": 5}, "trash_dir"),
        ({"trash_dir": "trash"}, "trash_dir"),
        ({"frame_samples": True}, "frame_samples"),
        ({"frame_samples": 9.0}, "frame_samples"),
        ({"default_distance": False}, "default_distance"),
        ({"duration_tolerance": float("inf")}, "duration_tolerance"),
        ({"duration_tolerance": float("nan")}, "duration_tolerance"),
        ({"duration_tolerance": True}, "duration_tolerance"),
        ({"duration_tolerance": "1"}, "duration_tolerance"),
        ({"duration_tolerance": 10**400}, "duration_tolerance"),
        ({"removal_mode": 5}, "removal_mode"),
        ({"theme": ["dark"]}, "theme"),
        ({"stash_url": 5}, "stash_url"),
        ({"stash_api_key": "key\r\nX-Injected: 1"}, "stash_api_key"),
        ({"path_mappings": 5}, "path_mappings"),
        ({"path_mappings": [{"stash_prefix": 1, "local_prefix": 2}]}, "path_mappings"),
        ({"path_mappings": [{"stash_prefix": "/data", "local_prefix": 2}]}, "path_mappings"),
        ({"path_mappings": [{"stash_prefix": "/data", "local_prefix": "mnt"}]}, "path_mappings"),
        ({"path_mappings": [["/data", "/mnt"]]}, "path_mappings"),
        ({"codec_order": 5}, "codec_order"),
        ({"codec_order": [5]}, "codec_order"),
        ({"codec_order": ["h266"]}, "codec_order"),
        ({"codec_order": ["av1", "av1"]}, "codec_order"),
        ({"protected_folders": 5}, "protected_folders"),
        ({"protected_folders": ["relative/folder"]}, "protected_folders"),
        ({"protected_folders": ["/x/\0"]}, "protected_folders"),
    ],
)
def test_wrong_types_and_values_are_refused_naming_the_setting(changes: dict, field: str) -> None:
    with pytest.raises(AppError, match=f"\\({field}\\)"):
        Settings().updated(changes)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"default_distance": 40}, "default_distance"),
        ({"removal_mode": "move", "trash_dir": None}, "trash_dir"),
        ({"keeper_rules": ["nope"]}, "keeper_rules"),
        ({"stash_url": "ftp://nas"}, "stash_url"),
        ({"preferred_folders": ["/media/best", "relative"]}, "preferred_folders.1"),
        (
            {
                "path_mappings": [
                    {"stash_prefix": "/data", "local_prefix": "/tmp"},
                    {"stash_prefix": "/nas", "local_prefix": "mnt"},
                ]
            },
            "path_mappings.1.local_prefix",
        ),
        (
            {"path_mappings": [{"stash_prefix": "", "local_prefix": "/tmp"}]},
            "path_mappings.0.stash_prefix",
        ),
        (
            {"path_mappings": [{"stash_prefix": "/data", "local_prefix": "/no/such/folder"}]},
            "path_mappings.0.local_prefix",
        ),
        ({"path_mappings": [["/data", "/mnt"]]}, "path_mappings.0"),
    ],
)
def test_a_refused_setting_names_the_field_a_form_should_mark(changes: dict, field: str) -> None:
    with pytest.raises(AppError) as refused:
        Settings().updated(changes)
    assert refused.value.field == field


def test_a_whole_number_of_seconds_is_a_duration_tolerance() -> None:
    assert Settings().updated({"duration_tolerance": 2}).duration_tolerance == 2
    assert Settings().updated({"duration_tolerance": None}).duration_tolerance is None


def test_a_new_path_mapping_must_point_at_an_existing_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "movie.mp4"
    a_file.write_bytes(b"not a folder")
    with pytest.raises(AppError, match="is a file, not a folder"):
        Settings().updated(
            {"path_mappings": [{"stash_prefix": "/data", "local_prefix": str(a_file)}]}
        )
    with pytest.raises(AppError, match="does not exist"):
        Settings().updated(
            {"path_mappings": [{"stash_prefix": "/data", "local_prefix": str(tmp_path / "no")}]}
        )
    mapping = {"stash_prefix": "/data", "local_prefix": str(tmp_path)}
    assert Settings().updated({"path_mappings": [mapping]}).path_mappings == [
        PathMapping("/data", str(tmp_path))
    ]


def test_a_saved_mapping_to_a_folder_not_mounted_now_is_kept(tmp_path: Path) -> None:
    unmounted = {"stash_prefix": "/data", "local_prefix": str(tmp_path / "nas-share")}
    save_settings(Settings(path_mappings=[unmounted]))
    loaded = load_settings()
    expected = [PathMapping("/data", str(tmp_path / "nas-share"))]
    assert loaded.path_mappings == expected
    changed = loaded.updated({"theme": "light", "path_mappings": [unmounted]})
    assert changed.theme == "light" and changed.path_mappings == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"trash_dir": 5}',
        '{"duration_tolerance": Infinity}',
        '{"duration_tolerance": 1e999}',
        '{"frame_samples": true}',
        '["not", "an", "object"]',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_a_settings_file_with_wrong_values_falls_back_to_defaults(text: str) -> None:
    settings_path().write_text(text)
    assert load_settings() == Settings()
    assert settings_path().with_suffix(".damaged.json").exists()


def test_checking_the_stash_url_does_not_load_the_graphql_client() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, stash_dedupe.settings; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "stash_dedupe.stash.url" in loaded
    assert "stash_dedupe.stash.api" not in loaded

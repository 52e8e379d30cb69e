"""Settings persist in the app's data dir, validated, readable only by the user."""

from __future__ import annotations

import stat

import pytest

from stash_dedupe.errors import AppError
from stash_dedupe.settings import Settings, load_settings, save_settings, settings_path


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

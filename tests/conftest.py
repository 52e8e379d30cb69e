"""Shared test fixtures: real-schema Stash databases, the demo library, an isolated app home."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from stash_dedupe.library_writer import LibraryWriter

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
PHASH_VECTORS = SHARED / "phash-vectors"


@pytest.fixture(autouse=True)
def isolated_app_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                      ) -> Path:
    """Keep every test's settings, caches, journal and trash out of the real home."""
    home = tmp_path_factory.mktemp("app-home")
    monkeypatch.setenv("STASH_DEDUPE_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    return home


def fixture_database(version: int) -> Path:
    path = FIXTURES / f"stash-go-schema-{version}.sqlite"
    if not path.exists():
        pytest.fail(f"missing real-schema fixture {path}: shared/ must sit beside the repo")
    return path


@pytest.fixture
def stash_database(tmp_path: Path) -> Callable[[int], tuple[Path, LibraryWriter]]:
    """Copy Stash's real empty schema of a version into tmp and return it with a writer."""

    def make(version: int = 75) -> tuple[Path, LibraryWriter]:
        target = tmp_path / f"stash-{version}" / "stash-go.sqlite"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixture_database(version), target)
        target.chmod(0o644)
        return target, LibraryWriter(target)

    return make


@pytest.fixture(scope="session")
def demo_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo library, built once per test session; returns its database path."""
    from stash_dedupe.demo import create_demo_library

    return create_demo_library(tmp_path_factory.mktemp("demo"))

"""Auto-resolve previews groups whose copies all match the keeper; nothing moves until asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from stash_dedupe.dedupe.autoresolve import check_threshold, preview_auto_resolve
from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.errors import AppError
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings

from .test_demo_and_cli import run_cli


@pytest.fixture
def session(demo_library: Path):
    with Journal.open() as journal:
        opened = LibrarySession.open(demo_library, Settings(), journal, DismissalStore())
        yield opened
        opened.close()


def test_true_duplicates_resolve_with_scores_above_threshold(session) -> None:
    preview = preview_auto_resolve(session, GroupFilter(media="videos", distance=8), 0.8)
    assert len(preview.resolved) == 2 and not preview.unresolved
    for resolution in preview.resolved:
        assert resolution.keeper not in resolution.remove
        assert all(score >= 0.8 for score in resolution.scores.values())
    plan = preview.plan()
    assert all(group.keep and group.group_id for group in plan.groups)
    assert preview.bytes == sum(r.bytes for r in preview.resolved)


def test_auto_resolve_keeps_the_copy_without_black_bars(session) -> None:
    # The 640x480 letterboxed copy holds a 640x360 picture: by picture, the tie goes to the
    # clean copy's higher bit rate instead of to the bars.
    preview = preview_auto_resolve(session, GroupFilter(media="videos", distance=8), 0.8)
    city = next(resolution for resolution in preview.resolved
                if any("letterbox" in file.path for file in resolution.remove))  # fmt: skip
    assert Path(city.keeper.path).name == "City lights 2019.mp4"


def test_a_copy_below_threshold_leaves_the_group_for_review(session) -> None:
    preview = preview_auto_resolve(session, GroupFilter(media="videos", distance=8), 0.99)
    assert any("below 0.99" in item.reason for item in preview.unresolved)


def test_images_resolve_by_image_similarity(session) -> None:
    preview = preview_auto_resolve(session, GroupFilter(media="images", distance=4), 0.8)
    names = {Path(file.path).name for r in preview.resolved for file in (r.keeper, *r.remove)}
    assert {"mountain.jpg", "lake_q35.jpg"} <= names
    assert "flowers.jpg" not in names


def test_preview_moves_nothing(session) -> None:
    preview = preview_auto_resolve(session, GroupFilter(media="videos", distance=8), 0.8)
    assert all(Path(file.path).exists() for r in preview.resolved for file in r.remove)


@pytest.mark.parametrize("threshold", [0.0, 1.5])
def test_threshold_must_be_a_fraction(threshold: float) -> None:
    with pytest.raises(AppError, match="threshold"):
        check_threshold(threshold)


def test_cli_dry_run_prints_the_preview(demo_library: Path) -> None:
    result = run_cli("auto", "--db", str(demo_library), "--distance", "8", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "2 groups resolved" in result.stdout and "score" in result.stdout
    refused = run_cli("auto", "--db", str(demo_library))
    assert refused.returncode == 2 and "--dry-run" in refused.stderr

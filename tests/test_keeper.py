"""Keeper rules pick the file a Stash user would keep, in the order the user sets."""

from __future__ import annotations

import pytest

from stash_dedupe.dedupe.keeper import DEFAULT_RULES, check_rules, suggest_keeper
from stash_dedupe.errors import AppError
from stash_dedupe.models import VIDEO, MediaFile, SceneInfo


def video(file_id: int, path: str = "", **fields) -> MediaFile:
    defaults = {"size": 100, "mod_time": None, "mod_time_epoch": 1000.0}
    defaults.update(fields)
    return MediaFile(
        file_id=file_id,
        media=VIDEO,
        path=path or f"/m/{file_id}.mp4",
        stash_path=path or f"/m/{file_id}.mp4",
        **defaults,
    )


def test_highest_resolution_wins_by_default() -> None:
    small = video(1, width=1280, height=720, size=900)
    large = video(2, width=1920, height=1080, size=500)
    assert suggest_keeper([small, large]).file_id == 2


def test_ties_fall_through_to_the_next_rule() -> None:
    low = video(1, width=1920, height=1080, bit_rate=4_000_000)
    high = video(2, width=1920, height=1080, bit_rate=8_000_000)
    assert suggest_keeper([low, high]).file_id == 2


def test_user_order_changes_the_keeper() -> None:
    sharp = video(1, width=1920, height=1080, size=100)
    big = video(2, width=1280, height=720, size=900)
    assert suggest_keeper([sharp, big], ["largest_file", "highest_resolution"]).file_id == 2


def test_preferred_folders_rank_in_order() -> None:
    a = video(1, "/media/inbox/a.mp4")
    b = video(2, "/media/library/a.mp4")
    c = video(3, "/media/archive/a.mp4")
    keeper = suggest_keeper([a, b, c], ["preferred_folders"], ["/media/library", "/media/archive"])
    assert keeper.file_id == 2


def test_oldest_and_metadata_rules() -> None:
    old = video(1, mod_time_epoch=10.0)
    new = video(2, mod_time_epoch=20.0, items=(SceneInfo(5, tag_count=3, play_count=2),))
    assert suggest_keeper([old, new], ["oldest"]).file_id == 1
    assert suggest_keeper([old, new], ["richest_metadata"]).file_id == 2


def test_black_bars_do_not_count_once_the_picture_is_known() -> None:
    # A 16:9 film padded to 4:3 has more pixels than the clean copy, but no more picture.
    letterboxed = video(1, width=1920, height=1440, bit_rate=4_000_000)
    clean = video(2, width=1920, height=1080, bit_rate=8_000_000)
    assert suggest_keeper([letterboxed, clean]).file_id == 1
    pictures = {1: 1920 * 1081}  # bar edges found a pixel off: still the same resolution
    assert suggest_keeper([letterboxed, clean], picture_pixels=pictures).file_id == 2
    pillarboxed = {1: 1440 * 1080}
    assert suggest_keeper([letterboxed, clean], ["highest_resolution", "oldest"],
                          picture_pixels=pillarboxed).file_id == 2  # fmt: skip


def test_padded_coded_heights_count_as_the_same_resolution() -> None:
    padded = video(1, width=1920, height=1088, bit_rate=2_000_000)
    sharper = video(2, width=1920, height=1080, bit_rate=9_000_000)
    assert suggest_keeper([padded, sharper]).file_id == 2
    assert (
        suggest_keeper(
            [video(3, width=1920, height=1080), video(4, width=1280, height=720, size=10**9)]
        ).file_id
        == 3
    )


def test_full_tie_picks_lowest_id_for_a_stable_answer() -> None:
    assert suggest_keeper([video(7), video(3), video(5)], DEFAULT_RULES).file_id == 3


def test_unknown_rule_is_a_readable_error() -> None:
    with pytest.raises(AppError, match="Unknown keeper rule"):
        check_rules(["biggest"])

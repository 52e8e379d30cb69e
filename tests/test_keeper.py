"""Keeper rules pick the file a Stash user would keep, in the order the user sets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.keeper import (
    CODEC_FAMILIES,
    DEFAULT_CODEC_ORDER,
    DEFAULT_RULES,
    PREVIOUS_DEFAULT_RULES,
    RULES,
    check_codec_order,
    check_rules,
    codec_family,
    suggest_keeper,
)
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.demo import _add_demo_images
from stash_dedupe.errors import AppError
from stash_dedupe.media.phash import image_phash
from stash_dedupe.models import IMAGE, VIDEO, MediaFile, SceneInfo
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings, load_settings, settings_path
from stash_dedupe.stash.library_writer import LibraryWriter

from .conftest import fixture_database


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


# ---- rules that read Stash's metadata ------------------------------------------------------


def scene(item_id: int, **fields) -> tuple[SceneInfo, ...]:
    return (SceneInfo(item_id, **fields),)


@pytest.mark.parametrize(
    ("rule", "richer"),
    [
        ("highest_rating", {"rating": 80}),
        ("most_o_count", {"o_count": 2}),
        ("most_plays", {"play_count": 3}),
        ("organized", {"organized": True}),
        ("has_stash_id", {"stash_id_count": 1}),
        ("most_tags", {"tag_count": 4}),
        ("most_performers", {"performer_count": 2}),
        ("most_markers", {"marker_count": 1}),
        ("most_galleries", {"gallery_ids": (7, 9)}),
    ],
)
def test_each_metadata_rule_prefers_the_file_whose_item_has_more(rule: str, richer: dict) -> None:
    bare = video(1, items=scene(10))
    rich = video(2, items=scene(20, **richer))
    assert suggest_keeper([bare, rich], [rule]).file_id == 2
    assert suggest_keeper([rich, bare], [rule]).file_id == 2


def test_a_file_in_several_items_counts_its_best_item() -> None:
    both = video(1, items=(SceneInfo(10), SceneInfo(11, rating=100)))
    one = video(2, items=scene(20, rating=60))
    assert suggest_keeper([both, one], ["highest_rating"]).file_id == 1


def test_galleries_count_distinct_galleries_across_items() -> None:
    twice = video(1, items=(SceneInfo(10, gallery_ids=(5,)), SceneInfo(11, gallery_ids=(5,))))
    two = video(2, items=scene(20, gallery_ids=(5, 6)))
    assert suggest_keeper([twice, two], ["most_galleries"]).file_id == 2


def test_bits_per_pixel_is_bit_rate_over_pixels_and_frames() -> None:
    # 4 Mbps over 1280x720 at 25 fps is 0.174 bits per pixel; 6 Mbps over 1920x1080 at 30
    # fps is 0.096: the smaller copy got more bits for each pixel it shows.
    dense = video(1, width=1280, height=720, frame_rate=25.0, bit_rate=4_000_000)
    sparse = video(2, width=1920, height=1080, frame_rate=30.0, bit_rate=6_000_000)
    unknown = video(3, width=1920, height=1080, bit_rate=9_000_000)  # no frame rate
    assert suggest_keeper([dense, sparse, unknown], ["highest_bits_per_pixel"]).file_id == 1


def test_highest_frame_rate_rule() -> None:
    slow = video(1, frame_rate=24.0)
    smooth = video(2, frame_rate=60.0)
    assert suggest_keeper([slow, smooth], ["highest_frame_rate"]).file_id == 2


def test_bit_rates_within_ten_percent_tie() -> None:
    remux = video(1, bit_rate=7_500_000)
    original = video(2, bit_rate=8_000_000)
    better = video(3, bit_rate=9_000_000)
    assert suggest_keeper([remux, original], ["highest_bit_rate", "oldest"]).file_id == 1
    assert suggest_keeper([remux, original, better], ["highest_bit_rate"]).file_id == 3


# ---- codecs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stash_name", "family"),
    [("av1", "av1"), ("hevc", "hevc"), ("h265", "hevc"), ("HEVC", "hevc"), ("vp9", "vp9"),
     ("h264", "h264"), ("mpeg4", "mpeg4"), ("wmv3", "vc1"), ("mpeg2video", "mpeg2"),
     ("prores", None), ("", None), (None, None)],
)  # fmt: skip
def test_stash_codec_names_map_to_families(stash_name: str | None, family: str | None) -> None:
    assert codec_family(stash_name) == family


def test_default_codec_order_is_av1_hevc_vp9_h264_then_older() -> None:
    assert DEFAULT_CODEC_ORDER == ("av1", "hevc", "vp9", "h264")
    files = [
        video(1, video_codec="mpeg4"),
        video(2, video_codec="h264"),
        video(3, video_codec="vp9"),
        video(4, video_codec="h265"),
        video(5, video_codec="av1"),
    ]
    order = []
    while files:
        keeper = suggest_keeper(files, ["preferred_codec"])
        order.append(keeper.file_id)
        files.remove(keeper)
    assert order == [5, 4, 3, 2, 1]


def test_the_user_codec_order_decides_and_unlisted_codecs_rank_last() -> None:
    h264 = video(1, video_codec="h264")
    hevc = video(2, video_codec="hevc")
    xvid = video(3, video_codec="mpeg4")
    assert suggest_keeper([h264, hevc, xvid], ["preferred_codec"]).file_id == 2
    assert (
        suggest_keeper([h264, hevc, xvid], ["preferred_codec"], codec_order=["h264"]).file_id == 1
    )
    assert suggest_keeper([hevc, xvid], ["preferred_codec"], codec_order=["mpeg4"]).file_id == 3


@pytest.mark.parametrize(
    ("order", "message"),
    [(["h266"], "Unknown codec"), (["hevc", "h264", "hevc"], "more than once")],
)
def test_a_bad_codec_order_is_a_readable_error(order: list[str], message: str) -> None:
    with pytest.raises(AppError, match=message):
        check_codec_order(order)
    with pytest.raises(AppError, match=message):
        Settings().updated({"codec_order": order})


def test_every_codec_family_can_be_ordered() -> None:
    assert check_codec_order(list(CODEC_FAMILIES)) == list(CODEC_FAMILIES)
    assert Settings().updated({"codec_order": ["vp8", "av1"]}).codec_order == ["vp8", "av1"]


# ---- the default order ---------------------------------------------------------------------


def test_every_default_rule_exists_and_none_repeats() -> None:
    assert set(DEFAULT_RULES) <= set(RULES)
    assert len(set(DEFAULT_RULES)) == len(DEFAULT_RULES)


def test_default_keeps_the_rated_organized_copy_when_quality_ties() -> None:
    bare = video(1, width=1920, height=1080, bit_rate=8_000_000, size=900, mod_time_epoch=5.0)
    rated = video(
        2, width=1920, height=1080, bit_rate=7_600_000, size=800, mod_time_epoch=9.0,
        items=scene(20, rating=80, organized=True),
    )  # fmt: skip
    assert suggest_keeper([bare, rated]).file_id == 2
    assert suggest_keeper([bare, rated], PREVIOUS_DEFAULT_RULES).file_id == 1  # what it was


@pytest.mark.parametrize(
    "metadata",
    [{"rating": 20}, {"organized": True}, {"o_count": 1}, {"stash_id_count": 1},
     {"play_count": 1}, {"gallery_ids": (3,)}, {"performer_count": 1}, {"tag_count": 1},
     {"marker_count": 1}],
)  # fmt: skip
def test_default_never_prefers_a_bare_file_of_equal_quality(metadata: dict) -> None:
    bare = video(1, width=1280, height=720, bit_rate=3_000_000, size=5000, video_codec="av1")
    rich = video(
        2, width=1280, height=720, bit_rate=2_900_000, size=100, video_codec="h264",
        items=scene(20, **metadata),
    )  # fmt: skip
    assert suggest_keeper([bare, rich]).file_id == 2


def test_default_still_keeps_the_better_picture_over_metadata() -> None:
    sharp = video(1, width=1920, height=1080, bit_rate=8_000_000)
    rated_small = video(2, width=1280, height=720, bit_rate=8_000_000, items=scene(5, rating=100))
    rated_starved = video(
        3, width=1920, height=1080, bit_rate=2_000_000, items=scene(6, rating=100)
    )
    assert suggest_keeper([sharp, rated_small]).file_id == 1
    assert suggest_keeper([sharp, rated_starved]).file_id == 1


def test_default_metadata_ranks_rating_before_organized_before_o_count() -> None:
    rated = video(1, items=scene(10, rating=60))
    organized = video(2, items=scene(20, organized=True, o_count=5))
    finished = video(3, items=scene(30, o_count=5))
    assert suggest_keeper([rated, organized, finished]).file_id == 1
    assert suggest_keeper([organized, finished]).file_id == 2


# ---- the demo's mountain: a bare PNG beside two rated JPEGs ----------------------------------


def test_demo_image_group_keeps_a_rated_mountain_jpg(tmp_path: Path) -> None:
    database = tmp_path / "stash-go.sqlite"
    shutil.copyfile(fixture_database(75), database)
    pictures = tmp_path / "media" / "pictures"
    with LibraryWriter(database) as writer:
        writer.library_root(str(tmp_path / "media"))
        _add_demo_images(writer, pictures, image_phash)
        writer.connection.commit()
    with (
        Journal.open(tmp_path / "journal.sqlite3") as journal,
        DismissalStore(tmp_path / "dismissals.sqlite3") as dismissals,
    ):
        session = LibrarySession.open(database, Settings(), journal, dismissals)
        (group,) = [
            group
            for group in session.groups(GroupFilter(media=IMAGE, distance=8))
            if any(file.path.endswith("mountain lossless.png") for file in group.files)
        ]
        keeper = session.suggested_keeper(group)
        removed = session.suggested_removals(group, keeper)
        session.close()
    assert keeper.path.endswith("mountain.jpg")
    assert keeper.items[0].rating == 100 and keeper.items[0].o_count == 2
    assert keeper.items[0].gallery_ids
    # Nothing the user gave the mountain goes: the other mountain.jpg is a second file of
    # the same Stash image, and the PNG and the small copy carry nothing.
    removed_names = sorted(str(Path(file.path).relative_to(pictures)) for file in removed)
    other_jpg = (
        "inbox/mountain.jpg" if keeper.path.endswith("2020/mountain.jpg") else "2020/mountain.jpg"
    )
    assert removed_names == sorted(
        [other_jpg, "shared/mountain lossless.png", "shared/mountain small.jpg"]
    )


# ---- settings saved with the old default ----------------------------------------------------


def write_saved_settings(data: dict) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_saved_old_default_moves_to_the_new_default() -> None:
    write_saved_settings({"keeper_rules": list(PREVIOUS_DEFAULT_RULES), "theme": "light"})
    settings = load_settings()
    assert settings.keeper_rules == list(DEFAULT_RULES)
    assert settings.theme == "light"


def test_a_rule_list_the_user_edited_is_kept() -> None:
    edited = ["largest_file", "highest_resolution", "oldest"]
    write_saved_settings({"keeper_rules": edited})
    assert load_settings().keeper_rules == edited
    reordered = [*PREVIOUS_DEFAULT_RULES[1:], PREVIOUS_DEFAULT_RULES[0]]
    write_saved_settings({"keeper_rules": reordered})
    assert load_settings().keeper_rules == reordered

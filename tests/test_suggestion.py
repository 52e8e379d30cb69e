"""The suggestion for all groups at once, from columns (dedupe/suggestion.py), gives the same
keeper, protected files and removals as the per-group code it stands in for, and the
reader's columns hold the same values as the files `load_files` builds."""

from __future__ import annotations

import dataclasses
import random
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.grouping import DuplicateGroup, find_groups
from stash_dedupe.dedupe.keeper import DEFAULT_RULES, RULES, suggest_keeper
from stash_dedupe.dedupe.protections import group_protections
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.dedupe.suggestion import SuggestionRules, suggest_for_groups
from stash_dedupe.library_paths import ProtectedFolders
from stash_dedupe.models import IMAGE, VIDEO, FileColumns, KeeperColumns, MediaFile, SceneInfo
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.stash.library_writer import LibraryWriter, rfc3339
from stash_dedupe.stash.reader import open_stash_database

from .conftest import fixture_database
from .review_library import build_review_library

CODECS = (None, "h264", "hevc", "H265", "av1", "vp9", "mpeg4", "prores")


def random_library(rng: random.Random, count: int, media: str) -> list[MediaFile]:
    """Files in families of near copies, with few distinct values so rules tie often,
    items shared by some files (scenes with two files, a few files in two scenes)."""
    files = []
    item_ids = list(range(1, count + 1))
    for file_id in range(1, count + 1):
        family = rng.randrange(max(count // 4, 1))
        phash = (family * 0x9E3779B97F4A7C15) & (2**64 - 1)
        for _ in range(rng.choice((0, 0, 1, 2, 5, 9))):
            phash ^= 1 << rng.randrange(64)
        item_count = rng.choice((0, 1, 1, 1, 1, 1, 2)) if media == VIDEO else rng.choice((0, 1))
        items = tuple(
            SceneInfo(
                item_id=rng.choice(item_ids[: count // 2]) if rng.random() < 0.3 else file_id,
                rating=rng.choice((None, None, 0, 20, 60, 100)),
                organized=rng.random() < 0.2,
                play_count=rng.choice((0, 0, 1, 3)),
                o_count=rng.choice((0, 0, 0, 2)),
                tag_count=rng.choice((0, 0, 1, 4)),
                performer_count=rng.choice((0, 1, 2)),
                marker_count=rng.choice((0, 0, 1)),
                stash_id_count=rng.choice((0, 0, 1)),
                gallery_ids=tuple(sorted(rng.sample(range(1, 6), rng.choice((0, 0, 1, 2))))),
            )
            for _ in range(item_count)
        )
        # One file per item id: duplicates of an id within a file would be Stash's own bug.
        items = tuple({item.item_id: item for item in items}.values())
        width = rng.choice((0, 640, 1280, 1920))
        files.append(
            MediaFile(
                file_id=file_id,
                media=media,
                path=f"/lib/{rng.choice(('a', 'b', 'keep', 'keep/sub', 'archive'))}/f{file_id}",
                stash_path=f"/lib/f{file_id}",
                size=rng.choice((1000, 2000, 2050, 5000)),
                mod_time=None,
                mod_time_epoch=rng.choice((None, 0.0, 1.5e9, 1.6e9, 1.6e9 + 0.25)),
                phash=None if rng.random() < 0.05 else f"{phash:016x}",
                duration=rng.choice((None, 60.0, 60.5, 62.0, 120.0)) if media == VIDEO else None,
                width=width or None,
                height=(width * 9 // 16) or None,
                bit_rate=rng.choice((None, 1_000_000, 1_050_000, 4_000_000)),
                video_codec=rng.choice(CODECS) if media == VIDEO else None,
                frame_rate=rng.choice((None, 25.0, 29.97, 60.0)),
                items=items,
            )
        )
    return files


def per_group_answer(
    group: DuplicateGroup,
    rules: SuggestionRules,
    missing: frozenset[int],
    pictures: dict[int, int],
) -> tuple[int, frozenset[int], frozenset[int], tuple[int, ...]]:
    """What `LibrarySession` worked out group by group before: the reference."""
    group_missing = frozenset(f.file_id for f in group.files if f.file_id in missing)
    group = dataclasses.replace(group, missing_ids=group_missing)
    present = [f for f in group.files if f.file_id not in group_missing]
    keeper = suggest_keeper(
        present or group.files,
        rules.keeper_rules,
        rules.preferred_folders,
        pictures,
        rules.codec_order,
    )
    protected = frozenset(group_protections(group, keeper, rules.protected))
    removed = tuple(f.file_id for f in group.copies_of(keeper) if f.file_id not in protected)
    return keeper.file_id, group_missing, protected, removed


def texts_of(files: Sequence[MediaFile]):
    by_id = {file.file_id: (file.path, file.mod_time_epoch) for file in files}
    asked: list[int] = []

    def file_texts(file_ids: Sequence[int]) -> dict[int, tuple[str, float | None]]:
        asked.extend(file_ids)
        return {file_id: by_id[file_id] for file_id in file_ids}

    return file_texts, asked


@pytest.mark.parametrize("seed", range(12))
def test_the_columns_suggest_what_each_group_would(seed: int) -> None:
    rng = random.Random(seed)
    media = VIDEO if seed % 3 else IMAGE
    files = random_library(rng, rng.choice((60, 200, 400)), media)
    names = list(RULES)
    rule_names = (
        DEFAULT_RULES if seed % 4 == 0 else tuple(rng.sample(names, rng.randrange(1, len(names))))
    )
    rules = SuggestionRules(
        keeper_rules=rule_names,
        preferred_folders=rng.choice(((), ("/lib/keep",), ("/lib/b", "/lib/keep/"))),
        codec_order=tuple(rng.sample(["av1", "hevc", "vp9", "h264", "mpeg4"], rng.randrange(5))),
        protected=ProtectedFolders(rng.choice(((), ("/lib/archive",)))),
    )
    missing = frozenset(rng.sample(range(1, len(files) + 1), len(files) // 10))
    pictures = {
        file_id: rng.choice((0, 300_000, 921_600))
        for file_id in rng.sample(range(1, len(files) + 1), len(files) // 8)
    }
    tolerance = rng.choice((None, 1.0)) if media == VIDEO else None
    groups = find_groups(files, max_distance=rng.choice((0, 4, 8)), max_duration_diff=tolerance)
    assert groups, "the library makes groups"
    file_texts, _ = texts_of(files)
    answers = suggest_for_groups(
        groups,
        FileColumns.of_files(media, files),
        KeeperColumns.of_files(files),
        rules,
        file_texts,
        missing,
        pictures,
    )
    answered = 0
    for group, answer in zip(groups, answers, strict=True):
        several_items = any(len(file.items) > 1 for file in group.files)
        if answer is None:
            assert several_items
            continue
        answered += 1
        expected = per_group_answer(group, rules, missing, pictures)
        got = (
            answer.keeper_id,
            answer.missing_ids,
            answer.protected_ids,
            answer.suggested.file_ids,
        )
        assert got == expected, group.group_id
        size_of = {file.file_id: file.size for file in group.files}
        assert answer.suggested.size == sum(size_of[file_id] for file_id in expected[3])
    assert answered >= len(groups) // 2


def test_path_and_time_rules_read_only_files_still_tied() -> None:
    rng = random.Random(5)
    files = random_library(rng, 300, VIDEO)
    groups = find_groups(files, max_distance=8)
    file_texts, asked = texts_of(files)
    rules = SuggestionRules(keeper_rules=("largest_file", "oldest"))
    suggest_for_groups(
        groups, FileColumns.of_files(VIDEO, files), KeeperColumns.of_files(files), rules, file_texts
    )
    tied = set()
    for group in groups:
        largest = max(group.sizes)
        if group.sizes.count(largest) > 1:
            tied |= {f.file_id for f in group.files if f.size == largest}
    assert set(asked) == tied


def test_oldest_among_files_without_a_mod_time_keeps_them_all_as_candidates() -> None:
    files = [
        MediaFile(file_id, VIDEO, f"/lib/{file_id}", f"/lib/{file_id}", 10, None, None, "ab" * 8)
        for file_id in (3, 1, 2)
    ]
    assert suggest_keeper(files, ("oldest", "largest_file")).file_id == 1


# ---- the reader's columns ---------------------------------------------------------------------


def metadata_library(root: Path, version: int) -> Path:
    """Videos and images with every kind of metadata the keeper reads, some files in two
    scenes, some scenes with two files, images in galleries."""
    database = root / "stash-go.sqlite"
    shutil.copyfile(fixture_database(version), database)
    rng = random.Random(version)
    with LibraryWriter(database) as writer:
        writer.library_root(str(root / "lib"))
        scenes = [
            writer.add_scene(
                f"scene {index}",
                rating=rng.choice((None, 40, 100)),
                organized=rng.random() < 0.3,
                tags=rng.choice((0, 2)),
                performers=rng.choice((0, 1, 3)),
                markers=rng.choice((0, 1)),
                stash_ids=rng.choice((0, 1)),
                plays=rng.choice((0, 2)),
                o_count=rng.choice((0, 1)),
            )
            for index in range(12)
        ]
        for index in range(20):
            file_id = writer.add_video_file(
                str(root / "lib" / f"v{index}.mp4"),
                scene_id=scenes[index % 12],
                primary=index < 12,
                phash=f"{index:016x}",
                duration=60.0 + index,
                width=rng.choice((0, 1280, 1920)),
                height=rng.choice((0, 720, 1080)),
                video_codec=rng.choice(("h264", "hevc", "", "unset")),
                frame_rate=rng.choice((0.0, 25.0)),
                bit_rate=rng.choice((0, 3_000_000)),
                size=1000 + index,
                mod_time=rfc3339(1.6e9 + index),
            )
            if index in (3, 7):  # a file in a second scene
                writer.connection.execute(
                    "INSERT INTO scenes_files (scene_id, file_id, `primary`) VALUES (?, ?, 0)",
                    (scenes[(index + 5) % 12], file_id),
                )
        for index in range(10):
            image = writer.add_image(
                f"image {index}",
                rating=rng.choice((None, 80)),
                o_count=rng.choice((0, 3)),
                gallery=rng.choice((None, f"gallery {index % 3}")),
            )
            for copy in range(2):
                writer.add_image_file(
                    str(root / "lib" / f"i{index}-{copy}.jpg"),
                    image_id=image if copy == 0 else None,
                    width=800,
                    height=600,
                    size=500 + index,
                    mod_time=rfc3339(1.6e9),
                )
    return database


def assert_same_columns(got: KeeperColumns, expected: KeeperColumns) -> None:
    for name in expected.__dataclass_fields__:
        if name in ("codec", "codec_names"):
            continue
        assert np.array_equal(getattr(got, name), getattr(expected, name)), name
    names = [None, *got.codec_names]
    expected_names = [None, *expected.codec_names]
    assert [names[code + 1] for code in got.codec.tolist()] == [
        expected_names[code + 1] for code in expected.codec.tolist()
    ]


@pytest.mark.parametrize("version", [36, 75])
def test_reader_columns_hold_what_the_built_files_hold(tmp_path: Path, version: int) -> None:
    database = metadata_library(tmp_path, version)
    with open_stash_database(database) as stash:
        for media in (VIDEO, IMAGE):
            files = stash.load_files(media)
            columns = stash.keeper_columns(media)
            assert len(columns) == len(files) > 0
            assert_same_columns(columns, KeeperColumns.of_files(files))
        videos = stash.keeper_columns(VIDEO)
        assert videos.item_count.max() == 2 and videos.rating.max() == 100
        assert stash.keeper_columns(IMAGE).gallery_rows.size > 0


# ---- regrouping after decisions ---------------------------------------------------------------


def test_after_each_decision_the_lists_are_what_a_fresh_session_finds(tmp_path: Path) -> None:
    """Removals, undos, dismissals and files going missing or coming back settle only the
    groups holding those files again: each list then equals a fresh session's."""
    library = build_review_library(tmp_path / "library")
    journal = Journal.open(tmp_path / "journal.sqlite3")
    dismissals = DismissalStore(tmp_path / "dismissals.sqlite3")
    settings = Settings(duration_tolerance=None)
    filters = [
        GroupFilter(media=VIDEO, distance=0),
        GroupFilter(media=VIDEO, distance=8, duration_percent=2.0),
        GroupFilter(media=VIDEO, distance=0, sort="files"),
    ]

    def lists(session: LibrarySession) -> list[list[tuple[object, ...]]]:
        return [
            [
                (g.group_id, g.file_ids, g.keeper_id, g.missing_ids, g.protected_ids, g.reclaimable)
                for g in session.groups(group_filter)
            ]
            for group_filter in filters
        ]

    def fresh() -> list[list[tuple[object, ...]]]:
        other = LibrarySession.open(library.database, settings, journal, dismissals)
        other.check_presence()
        try:
            return lists(other)
        finally:
            other.close()

    session = LibrarySession.open(library.database, settings, journal, dismissals)
    before = lists(session)  # every filter kept, to be regrouped by each decision
    session.check_presence()
    assert lists(session) == fresh() != before
    ids = library.ids
    (tmp_path / "trash").mkdir()
    result = session.remove(
        {"groups": [{"keep": [ids["a1"]], "remove": [ids["a2"]]}]},
        mode="move",
        trash_dir=str(tmp_path / "trash"),
    )
    assert lists(session) == fresh()
    (c_group,) = [g for g in session.groups(filters[0]) if ids["c1"] in g.file_ids]
    dismissal = session.dismiss_file(c_group.group_id, ids["c2"])
    assert lists(session) == fresh()
    library.path("b2").write_bytes(b"back")
    library.path("d3").unlink()
    session.check_presence()
    assert lists(session) == fresh()
    session.undo_dismissal(dismissal.id)
    assert result.batch_id is not None
    session.undo_batch(result.batch_id)
    after = lists(session)
    assert after == fresh()
    assert any(ids["a2"] in files for files in (row[1] for row in after[0]))
    session.close()


def test_odd_values_in_stash_columns_are_read_as_numbers(tmp_path: Path) -> None:
    """SQLite keeps what it is given: a rating stored as text, a count as a real number.
    The columns read them as Stash means them, and a garbled one as nothing, not an error."""
    database = metadata_library(tmp_path, 75)
    connection = sqlite3.connect(database)
    with connection:
        scene_ids = [row[0] for row in connection.execute("SELECT id FROM scenes ORDER BY id")]
        connection.execute("UPDATE scenes SET rating = '80' WHERE id = ?", (scene_ids[0],))
        connection.execute("UPDATE scenes SET rating = 'none' WHERE id = ?", (scene_ids[1],))
        connection.execute("UPDATE scenes SET organized = 1.0 WHERE id = ?", (scene_ids[2],))
    connection.close()
    with open_stash_database(database) as stash:
        columns = stash.keeper_columns(VIDEO)
        by_file = {f.file_id: f for f in stash.load_files(VIDEO)}
    rows = {file_id: row for row, file_id in enumerate(columns.file_ids.tolist())}
    for file_id, file in by_file.items():
        scenes = {item.item_id for item in file.items}
        if scenes == {scene_ids[0]}:
            assert columns.rating[rows[file_id]] == 80
        if scenes == {scene_ids[1]}:
            assert columns.rating[rows[file_id]] == 0
        if scenes == {scene_ids[2]}:
            assert columns.organized[rows[file_id]]


def test_galleries_with_huge_ids_are_compared_as_ids() -> None:
    """Gallery ids are whatever the database holds: ids near 2^63 must not wrap around."""
    big = 2**62
    files = [
        MediaFile(
            file_id,
            IMAGE,
            f"/lib/{file_id}.jpg",
            f"/lib/{file_id}.jpg",
            size,
            None,
            None,
            "ab" * 8,
            width=1000,
            height=1000,
            items=(SceneInfo(file_id, gallery_ids=galleries),),
        )
        for file_id, size, galleries in (
            (1, 900, (big,)),
            (2, 800, (big + 1,)),
            (3, 700, (big,)),
            (4, 600, (big - 5, big + 7)),
            (5, 500, ()),
        )
    ]
    groups = find_groups(files)
    rules = SuggestionRules(keeper_rules=("largest_file",))
    file_texts, _ = texts_of(files)
    (answer,) = suggest_for_groups(
        groups, FileColumns.of_files(IMAGE, files), KeeperColumns.of_files(files), rules, file_texts
    )
    assert answer is not None
    assert (answer.keeper_id, answer.protected_ids, answer.suggested.file_ids) == (
        1,
        frozenset({2, 4}),
        (3, 5),
    )
    assert per_group_answer(groups[0], rules, frozenset(), {})[2] == frozenset({2, 4})

"""'Not a duplicate' decisions: what they hide, what shows again, and that they persist."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stash_dedupe.dedupe.dismissals import DismissalStore, file_key
from stash_dedupe.errors import AppError, NotFoundError
from stash_dedupe.models import VIDEO, MediaFile


def video(file_id: int, oshash: str | None = None) -> MediaFile:
    return MediaFile(
        file_id=file_id,
        media=VIDEO,
        path=f"/media/v{file_id}.mp4",
        stash_path=f"/media/v{file_id}.mp4",
        size=1000 + file_id,
        mod_time=None,
        mod_time_epoch=None,
        phash="8000000000000001",
        oshash=oshash or f"{file_id:016x}",
    )


A, B, C, D = (video(n) for n in (1, 2, 3, 4))


@pytest.fixture
def store(tmp_path: Path) -> DismissalStore:
    return DismissalStore(tmp_path / "dismissals.sqlite3")


def test_nothing_dismissed_shows_every_file(store: DismissalStore) -> None:
    assert store.rules().visible_files([A, B, C]) == [A, B, C]


def test_a_dismissed_group_stays_hidden_when_found_again(store: DismissalStore) -> None:
    store.dismiss_group(VIDEO, [A, B, C])
    rules = store.rules()
    assert rules.visible_files([A, B, C]) == []
    assert rules.visible_files([C, A]) == []  # a smaller group of the same files


def test_a_dismissed_group_shows_again_when_a_new_file_joins(store: DismissalStore) -> None:
    store.dismiss_group(VIDEO, [A, B])
    assert store.rules().visible_files([A, B, D]) == [A, B, D]


def test_a_dismissed_file_leaves_the_group_of_those_files(store: DismissalStore) -> None:
    store.dismiss_file(VIDEO, C, [A, B, C])
    rules = store.rules()
    assert rules.visible_files([A, B, C]) == [A, B]
    assert rules.visible_files([A, C]) == []  # nothing left to compare C with
    assert rules.visible_files([C, D]) == [C, D]  # D was never ruled out


def test_a_decision_does_not_carry_over_to_other_content_with_the_same_id(
    store: DismissalStore,
) -> None:
    store.dismiss_group(VIDEO, [A, B])
    replaced = replace(B, oshash="ffffffffffffffff")
    assert store.rules().visible_files([A, replaced]) == [A, replaced]


def test_fingerprint_falls_back_to_md5_phash_then_size() -> None:
    bare = replace(A, oshash=None, md5=None, phash=None)
    assert file_key(replace(A, oshash=None, md5="abc")) == (1, "abc")
    assert file_key(replace(A, oshash=None, md5=None)) == (1, A.phash)
    assert file_key(bare) == (1, f"size:{A.size}")


def test_dismissals_persist_and_undo_forgets_them(store: DismissalStore, tmp_path: Path) -> None:
    group = store.dismiss_group(VIDEO, [A, B])
    one = store.dismiss_file(VIDEO, C, [A, C])
    reopened = DismissalStore(tmp_path / "dismissals.sqlite3")
    listed = reopened.list_dismissals()
    assert [d.id for d in listed] == [one.id, group.id]  # newest first
    assert listed[0].file is not None and listed[0].file.path == C.path
    assert [m.path for m in listed[0].members] == [A.path]
    reopened.undo(group.id)
    assert reopened.rules().visible_files([A, B]) == [A, B]
    with pytest.raises(NotFoundError):
        reopened.undo(group.id)


def test_a_group_of_one_cannot_be_dismissed(store: DismissalStore) -> None:
    with pytest.raises(AppError):
        store.dismiss_group(VIDEO, [A])
    with pytest.raises(AppError):
        store.dismiss_file(VIDEO, A, [A])


@pytest.mark.parametrize("dismissal_id", [2**63, -(2**63) - 1, 10**30])
def test_an_id_beyond_64_bits_is_not_found(store: DismissalStore, dismissal_id: int) -> None:
    store.dismiss_group(VIDEO, [A, B])
    with pytest.raises(NotFoundError):
        store.get(dismissal_id)
    with pytest.raises(NotFoundError):
        store.undo(dismissal_id)

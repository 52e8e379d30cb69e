"""Protections: a file carrying Stash metadata the keeper lacks, or lying in a protected
folder, is never suggested for removal; the removal code refuses protected folders."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import pytest

from stash_dedupe.dedupe.autoresolve import preview_auto_resolve
from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.protections import (
    metadata_losses,
    suggested_removals,
)
from stash_dedupe.dedupe.session import GroupFilter, LibrarySession
from stash_dedupe.demo import picture
from stash_dedupe.errors import RefusedError
from stash_dedupe.library_paths import ProtectedFolders, protected_folder_of
from stash_dedupe.media.phash import image_phash
from stash_dedupe.models import IMAGE, VIDEO, MediaFile, SceneInfo
from stash_dedupe.removal.journal import Journal, list_batches
from stash_dedupe.settings import Settings, save_settings
from stash_dedupe.stash.library_writer import LibraryWriter
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .conftest import fixture_database
from .test_demo_and_cli import run_cli
from .test_server import Client

IMAGES = GroupFilter(media=IMAGE, distance=10)

# ---- a library: one mountain photo in four copies -------------------------------------------


@dataclass
class ProtectedLibrary:
    database: Path
    media: Path
    archive: Path  # the protected folder
    ids: dict[str, int]  # "big", "rated", "medium", "archived" -> file id
    paths: dict[str, Path]


def protected_library(root: Path) -> ProtectedLibrary:
    """A bare 1600 px original (the keeper by resolution), a rated, O-counted 800 px copy in
    a gallery, a bare 1200 px copy, and a bare 1000 px copy in the protected folder."""
    database = root / "stash-go.sqlite"
    shutil.copyfile(fixture_database(75), database)
    media = root / "library"
    archive = media / "archive"
    mountain = picture(101, (1600, 1067))
    copies = {
        "big": (media / "pics" / "mountain.jpg", 1600),
        "rated": (media / "pics" / "mountain rated.jpg", 800),
        "medium": (media / "pics" / "mountain medium.jpg", 1200),
        "archived": (archive / "mountain archived.jpg", 1000),
    }
    ids = {}
    with LibraryWriter(database) as writer:
        writer.library_root(str(media))
        for name, (path, width) in copies.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            height = round(width * 1067 / 1600)
            resized = cv2.resize(mountain, (width, height), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(path), resized, [cv2.IMWRITE_JPEG_QUALITY, 90])
            item = (
                writer.add_image(name, rating=100, o_count=2, gallery="Holiday")
                if name == "rated"
                else writer.add_image(name)
            )
            ids[name] = writer.add_image_file(
                str(path), image_id=item, phash=image_phash(str(path)), width=width, height=height
            )
        writer.connection.commit()
    return ProtectedLibrary(
        database, media, archive, ids, {name: path for name, (path, _) in copies.items()}
    )


@pytest.fixture
def library(tmp_path: Path) -> ProtectedLibrary:
    return protected_library(tmp_path)


@pytest.fixture
def session(library: ProtectedLibrary, tmp_path: Path) -> Iterator[LibrarySession]:
    settings = Settings(protected_folders=[str(library.archive)])
    with (
        Journal.open(tmp_path / "journal.sqlite3") as journal,
        DismissalStore(tmp_path / "dismissals.sqlite3") as dismissals,
    ):
        session = LibrarySession.open(library.database, settings, journal, dismissals)
        yield session
        session.close()


def only_group(session: LibrarySession):
    (group,) = session.groups(IMAGES)
    return group


# ---- what a file would lose --------------------------------------------------------------------


def file_with(file_id: int, *items: SceneInfo) -> MediaFile:
    path = f"/media/{file_id}.mp4"
    return MediaFile(file_id, VIDEO, path, path, 100, None, None, items=items)


def test_losses_say_what_the_keeper_lacks_in_words() -> None:
    keeper = file_with(1, SceneInfo(10))
    rated = file_with(2, SceneInfo(20, rating=100, o_count=2, gallery_ids=(7,)))
    assert [loss.text for loss in metadata_losses(rated, [keeper])] == [
        "5★ rating",
        "O count 2",
        "in 1 gallery the keeper is not in",
    ]
    assert [loss.kind for loss in metadata_losses(rated, [keeper])] == [
        "rating",
        "o_count",
        "galleries",
    ]


def test_every_kind_of_metadata_is_protected() -> None:
    keeper = file_with(1, SceneInfo(10, tag_count=1, rating=60))
    rich = file_with(
        2,
        SceneInfo(20, rating=90, organized=True, o_count=1, stash_id_count=1, play_count=3,
                  performer_count=2, tag_count=4, marker_count=1, gallery_ids=(3, 4)),
    )  # fmt: skip
    assert [loss.text for loss in metadata_losses(rich, [keeper])] == [
        "4.5★ rating (the keeper has 3★)",
        "organized",
        "O count 1",
        "a StashDB id",
        "3 plays",
        "2 performers",
        "4 tags (the keeper has 1)",
        "1 marker",
        "in 2 galleries the keeper is not in",
    ]


def test_nothing_is_lost_when_the_keeper_has_as_much_or_shares_the_item() -> None:
    rated = SceneInfo(10, rating=100, o_count=2, gallery_ids=(7,))
    keeper = file_with(1, rated)
    assert metadata_losses(file_with(2, rated), [keeper]) == ()  # a second file of its image
    assert metadata_losses(file_with(3, SceneInfo(30, rating=80)), [keeper]) == ()
    assert metadata_losses(file_with(4), [keeper]) == ()  # in no Stash item at all


def test_several_kept_files_count_together() -> None:
    rated = file_with(1, SceneInfo(10, rating=100))
    counted = file_with(2, SceneInfo(20, o_count=3, gallery_ids=(5,)))
    both = file_with(3, SceneInfo(30, rating=100, o_count=3, gallery_ids=(5, 6)))
    assert [loss.text for loss in metadata_losses(both, [rated, counted])] == [
        "in 1 gallery no kept file is in"
    ]


# ---- protected folders, one path rule ---------------------------------------------------------


def folder_rules(path: str, folders: list[str]) -> str | None:
    """The answer of the one rule, asked afresh and through the index; both must agree."""
    fresh = protected_folder_of(path, folders)
    assert ProtectedFolders(folders).folder_of(path) == fresh
    return fresh


def test_protected_folder_holds_what_is_below_it_and_nothing_beside_it(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    folders = [str(keep)]
    assert folder_rules(str(keep / "a.jpg"), folders) == str(keep)
    assert folder_rules(str(keep / "deep" / "a.jpg"), folders) == str(keep)
    assert folder_rules(str(tmp_path / "keep2" / "a.jpg"), folders) is None
    assert folder_rules(str(tmp_path / "a.jpg"), folders) is None
    assert folder_rules(str(keep / "a.jpg"), [str(keep) + "/"]) == str(keep) + "/"
    assert folder_rules(str(keep / "a.jpg"), []) is None
    assert folder_rules(str(keep / "a.jpg"), ["", "/elsewhere", str(keep)]) == str(keep)


def test_a_link_to_a_protected_folder_does_not_hide_its_files(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    alias = tmp_path / "alias"
    alias.symlink_to(real, target_is_directory=True)
    assert folder_rules(str(alias / "sub" / "a.jpg"), [str(real)]) == str(real)
    assert folder_rules(str(real / "sub" / "a.jpg"), [str(alias)]) == str(alias)


def test_protected_folders_are_checked_like_preferred_folders() -> None:
    assert Settings().protected_folders == []
    with pytest.raises(Exception, match="protected_folders"):
        Settings().updated({"protected_folders": ["relative/path"]})
    with pytest.raises(Exception, match="protected_folders"):
        Settings().updated({"protected_folders": "/not/a/list"})
    assert Settings().updated({"protected_folders": ["/x"]}).protected_folders == ["/x"]


# ---- the suggestion and auto-resolve ----------------------------------------------------------


def test_suggestion_leaves_protected_files_alone(
    session: LibrarySession, library: ProtectedLibrary
) -> None:
    group = only_group(session)
    keeper = session.suggested_keeper(group)
    assert keeper.file_id == library.ids["big"]
    assert {file.file_id for file in group.copies_of(keeper)} == {
        library.ids[name] for name in ("rated", "medium", "archived")
    }
    assert [f.file_id for f in session.suggested_removals(group)] == [library.ids["medium"]]
    # The list's figure is what the suggestion frees: protected copies are not counted.
    assert [f.file_id for f in group.suggested_removals] == [library.ids["medium"]]
    assert group.reclaimable == session.file(library.ids["medium"]).size
    assert session.summary(IMAGES)["reclaimable"] == group.reclaimable
    protected = session.protections(group, keeper)
    assert protected[library.ids["rated"]].folder is None
    assert "5★ rating" in protected[library.ids["rated"]].reason
    assert protected[library.ids["archived"]].folder == str(library.archive)
    # Without protected folders, the archived copy is suggested like any other copy.
    assert library.ids["archived"] in {f.file_id for f in suggested_removals(group, keeper)}


def test_auto_resolve_removes_only_unprotected_copies(
    session: LibrarySession, library: ProtectedLibrary
) -> None:
    preview = preview_auto_resolve(session, IMAGES, threshold=0.5)
    (resolution,) = preview.resolved
    assert [file.file_id for file in resolution.remove] == [library.ids["medium"]]
    assert {p.file.file_id for p in resolution.protected} == {
        library.ids["rated"],
        library.ids["archived"],
    }
    assert preview.plan().removed_ids == [library.ids["medium"]]


def test_auto_resolve_leaves_a_group_whose_every_copy_is_protected(
    session: LibrarySession, library: ProtectedLibrary
) -> None:
    only_group(session)
    session.remove({"groups": [{"keep": [library.ids["big"]], "remove": [library.ids["medium"]]}]})
    preview = preview_auto_resolve(session, IMAGES, threshold=0.5)
    assert preview.resolved == ()
    (unresolved,) = preview.unresolved
    assert "every copy is protected" in unresolved.reason
    assert "5★ rating" in unresolved.reason and str(library.archive) in unresolved.reason


def test_a_file_with_metadata_can_still_be_removed_by_hand(
    session: LibrarySession, library: ProtectedLibrary
) -> None:
    only_group(session)
    plan = {"groups": [{"keep": [library.ids["big"]], "remove": [library.ids["rated"]]}]}
    result = session.remove(plan)
    assert [removed.file_id for removed in result.done] == [library.ids["rated"]]
    assert not library.paths["rated"].exists()


# ---- the removal code refuses protected folders ------------------------------------------------


def assert_nothing_removed(library: ProtectedLibrary, journal: Journal) -> None:
    assert all(path.exists() for path in library.paths.values())
    assert list_batches(journal) == []


def test_removal_refuses_a_file_in_a_protected_folder(
    session: LibrarySession, library: ProtectedLibrary
) -> None:
    only_group(session)
    plan = {
        "groups": [
            {
                "keep": [library.ids["big"]],
                "remove": [library.ids["medium"], library.ids["archived"]],
            }
        ]
    }
    for dry_run in (True, False):
        with pytest.raises(RefusedError) as refused:
            session.remove(plan, dry_run=dry_run)
        message = refused.value.message
        assert str(library.paths["archived"]) in message and str(library.archive) in message
        assert "nothing in this plan was removed" in message
    assert_nothing_removed(library, session.journal)


def test_a_linked_alias_of_the_protected_folder_is_refused_too(
    library: ProtectedLibrary, tmp_path: Path
) -> None:
    # The folder named through a link to it, and a Stash path through a link into it.
    alias_of_folder = tmp_path / "archive alias"
    alias_of_folder.symlink_to(library.archive, target_is_directory=True)
    alias_in_library = library.media / "old"
    alias_in_library.symlink_to(library.archive, target_is_directory=True)
    through_alias = alias_in_library / library.paths["archived"].name
    with LibraryWriter(library.database) as writer:
        item = writer.add_image("through the alias")
        aliased_id = writer.add_image_file(
            str(through_alias), image_id=item, phash=image_phash(str(through_alias)),
            width=1000, height=667,
        )  # fmt: skip
        writer.connection.commit()
    for protected, file_id in (
        (str(alias_of_folder), library.ids["archived"]),
        (str(library.archive), aliased_id),
    ):
        journal_path = tmp_path / f"journal {file_id}.sqlite3"
        with (
            Journal.open(journal_path) as journal,
            DismissalStore(tmp_path / "dismissals.sqlite3") as dismissals,
        ):
            settings = Settings(protected_folders=[protected])
            session = LibrarySession.open(library.database, settings, journal, dismissals)
            group = only_group(session)
            assert file_id not in {f.file_id for f in session.suggested_removals(group)}
            plan = {"groups": [{"keep": [library.ids["big"]], "remove": [file_id]}]}
            with pytest.raises(RefusedError, match="protected folder"):
                session.remove(plan)
            session.close()
            assert_nothing_removed(library, journal)


# ---- the API ----------------------------------------------------------------------------------


@pytest.fixture
def served(library: ProtectedLibrary, tmp_path: Path) -> Iterator[tuple[AppState, Client]]:
    state = AppState(
        Settings(protected_folders=[str(library.archive)], default_distance=10),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(library.database))
    server, _url = start(state)
    yield state, Client(server.server_address[1], state.token)
    server.shutdown()
    server.server_close()


def api_group(client: Client) -> dict:
    (item,) = client.get("/api/groups?media=image&distance=10")["items"]
    return client.get(f"/api/groups/{item['id']}")


def test_group_detail_says_what_each_file_would_lose_and_suggests_only_the_rest(
    served: tuple[AppState, Client], library: ProtectedLibrary
) -> None:
    _, client = served
    group = api_group(client)
    by_id = {file["file_id"]: file for file in group["files"]}
    assert group["keeper_id"] == library.ids["big"]
    rated, archived = by_id[library.ids["rated"]], by_id[library.ids["archived"]]
    assert [loss["text"] for loss in rated["protections"]] == [
        "5★ rating",
        "O count 2",
        "in 1 gallery the keeper is not in",
    ]
    assert rated["suggested_remove"] is False and rated["protected_folder"] is None
    assert archived["protected_folder"] == str(library.archive)
    assert archived["suggested_remove"] is False and archived["protections"] == []
    assert by_id[library.ids["medium"]]["suggested_remove"] is True
    assert by_id[library.ids["big"]]["suggested_remove"] is False
    assert group["reclaimable"] == by_id[library.ids["medium"]]["size"]


def test_losses_follow_the_files_the_user_keeps(
    served: tuple[AppState, Client], library: ProtectedLibrary
) -> None:
    _, client = served
    group = api_group(client)
    answer = client.post(f"/api/groups/{group['id']}/losses", {"keep": [library.ids["rated"]]})
    by_id = {entry["file_id"]: entry for entry in answer["files"]}
    assert set(by_id) == {library.ids[name] for name in ("big", "medium", "archived")}
    assert all(entry["protections"] == [] for entry in by_id.values())
    assert by_id[library.ids["archived"]]["protected_folder"] == str(library.archive)
    answer = client.post(f"/api/groups/{group['id']}/losses", {"keep": [library.ids["medium"]]})
    rated = next(e for e in answer["files"] if e["file_id"] == library.ids["rated"])
    assert rated["protections"][0]["text"] == "5★ rating"
    for bad in ({"keep": "all"}, {"keep": [True]}, {}):
        assert "error" in client.post(f"/api/groups/{group['id']}/losses", bad, expect=400)
    assert "error" in client.post(f"/api/groups/{group['id']}/losses", {"keep": []}, expect=400)
    assert "error" in client.post(f"/api/groups/{group['id']}/losses", {"keep": [9999]}, expect=404)


def test_api_removal_of_a_protected_folder_file_is_refused(
    served: tuple[AppState, Client], library: ProtectedLibrary
) -> None:
    state, client = served
    group = api_group(client)
    plan = {
        "groups": [
            {
                "group_id": group["id"],
                "keep": [library.ids["big"]],
                "remove": [library.ids["archived"]],
            }
        ]
    }
    answer = client.post("/api/remove", {"plan": plan}, expect=409)
    assert str(library.archive) in answer["error"]
    assert str(library.paths["archived"]) in answer["error"]
    assert_nothing_removed(library, state.journal)


def test_cli_remove_and_auto_refuse_a_protected_folder(library: ProtectedLibrary) -> None:
    save_settings(
        Settings(database=str(library.database), protected_folders=[str(library.archive)])
    )
    plan_path = library.media.parent / "plan.json"
    plan = {"groups": [{"keep": [library.ids["big"]], "remove": [library.ids["archived"]]}]}
    plan_path.write_text(json.dumps(plan))
    database = str(library.database)
    refused = run_cli("remove", "--db", database, "--plan", str(plan_path), "--distance", "10")
    assert refused.returncode != 0
    assert "protected folder" in refused.stderr and str(library.archive) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert all(path.exists() for path in library.paths.values())
    assert "No removals yet" in run_cli("history").stdout

    auto = run_cli(
        "auto", "--db", database, "--media", "images", "--distance", "10", "--threshold",
        "0.5", "--dry-run",
    )  # fmt: skip
    assert auto.returncode == 0, auto.stderr
    assert f"remove [{library.ids['medium']}]" in auto.stdout
    assert f"kept   [{library.ids['archived']}]" in auto.stdout
    assert "protected folder" in auto.stdout and "5★ rating" in auto.stdout
    assert f"remove [{library.ids['archived']}]" not in auto.stdout
    assert f"remove [{library.ids['rated']}]" not in auto.stdout


def test_protected_folders_reach_an_open_library_when_saved(
    served: tuple[AppState, Client], library: ProtectedLibrary
) -> None:
    state, client = served
    client.json("PUT", "/api/settings", {"protected_folders": []})
    group = api_group(client)
    archived = next(f for f in group["files"] if f["file_id"] == library.ids["archived"])
    assert archived["protected_folder"] is None and archived["suggested_remove"] is True
    answer = client.json("PUT", "/api/settings", {"protected_folders": ["not absolute"]}, 400)
    assert "protected_folders" in answer["error"]
    assert os.fspath(library.archive) not in state.settings.protected_folders

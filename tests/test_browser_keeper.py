"""Protections in the page: a card says what its file has that the keeper lacks and offers to
merge it in, the confirm dialog says it again, and a protected folder's file stays kept."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from stash_dedupe.dedupe.session import GroupFilter
from stash_dedupe.models import IMAGE, VIDEO
from tests.fake_stash import FakeStash

from .test_browser import (
    SCREENSHOT_DIR_VARIABLE,
    App,
    PageProblems,
    open_review,
    run_app,
    settled,
)

pytestmark = pytest.mark.browser


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Where a picture to look at goes (the folder STASH_DEDUPE_SCREENSHOTS names, if set)."""
    return Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path) / name


@pytest.fixture
def protected_app(demo_library: Path, tmp_path: Path) -> Iterator[tuple[App, FakeStash]]:
    """The demo library with its inbox pictures protected and a Stash that answers."""
    app, server = run_app(tmp_path, demo_library)
    try:
        with FakeStash() as fake:
            for file in app.state.require_session().library().values():
                for item in file.items:
                    fake.add_scene(item.item_id)
            inbox = app.library / "pictures" / "inbox"
            app.state.update_settings({"stash_url": fake.url, "protected_folders": [str(inbox)]})
            yield app, fake
    finally:
        server.shutdown()


def group_index(app: App, media: str, name: str) -> tuple[int, dict[str, int]]:
    """Where the group holding `name` is in the list, and its files' ids by name."""
    groups = app.state.require_session().groups(GroupFilter(media=media, distance=10))
    for index, group in enumerate(groups):
        ids = {Path(file.path).name: file.file_id for file in group.files}
        if name in ids:
            return index, ids
    raise AssertionError(f"no group holds {name}")


def open_group(page: Page, index: int) -> None:
    page.locator(f'.group-row[data-index="{index}"]').click()
    expect(page.locator(".group-header h2")).to_contain_text(f"Group {index + 1} of")


def test_protection_warning_on_the_card_and_in_the_confirm_dialog(
    page: Page, protected_app: tuple[App, FakeStash], tmp_path: Path
) -> None:
    app, fake = protected_app
    problems = PageProblems(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    open_review(page, app)
    index, ids = group_index(app, VIDEO, "City lights 2019.mp4")
    open_group(page, index)

    # The rated, tagged scene's file is not suggested for removal: its card says why.
    rated = page.locator(f'.card[data-file-id="{ids["City lights 2019.mp4"]}"]')
    expect(rated).to_have_class(re.compile("card-keep"))
    warning = rated.locator(".protection-warning")
    expect(warning).to_contain_text("Not suggested for removal")
    expect(warning).to_contain_text("3★ rating")
    expect(warning).to_contain_text("2 tags")
    expect(rated.locator(".merge-into-keeper")).to_be_visible()  # Stash answers
    page.keyboard.press("a")  # the suggestion again: still kept
    expect(rated).to_have_class(re.compile("card-keep"))

    # By hand it can still be marked Remove, and the warning says what goes with it.
    rated.locator(".mark-toggle").click()
    expect(rated).to_have_class(re.compile("card-remove"))
    expect(rated.locator(".protection-warning")).to_contain_text("Removing it loses")
    page.wait_for_function("[...document.querySelectorAll('.card img')].every(i => i.complete)")
    page.screenshot(path=str(screenshot_path(tmp_path, "protection-warning.png")))

    page.click("#remove-marked")
    losses = page.locator("#removal-losses")
    expect(losses).to_contain_text("City lights 2019.mp4")
    expect(losses).to_contain_text("3★ rating, 1 performer")
    page.screenshot(path=str(screenshot_path(tmp_path, "protection-confirm.png")))
    page.locator(".dialog.remove").get_by_role("button", name="Cancel").click()
    expect(page.locator(".dialog.remove")).to_have_count(0)
    assert (app.library / "videos" / "City lights 2019.mp4").exists()

    # "Merge into keeper" shows what the merge would make of the keeper's scene first.
    rated.locator(".merge-into-keeper").click()
    expect(page.locator("#merged-scene")).to_be_visible()
    page.locator(".merge-dialog").get_by_role("button", name="Cancel").click()
    assert fake.called("sceneMerge") == []

    problems.assert_none()
    assert not fake.invalid_requests


def test_a_protected_folder_file_shows_its_badge_and_cannot_be_marked_remove(
    page: Page, protected_app: tuple[App, FakeStash], tmp_path: Path
) -> None:
    app, _ = protected_app
    problems = PageProblems(page)
    open_review(page, app)
    page.click("#filter-media-image")
    settled(page)
    index, ids = group_index(app, IMAGE, "mountain lossless.png")
    open_group(page, index)
    inbox_id = next(
        file.file_id
        for file in app.state.require_session().library().values()
        if "/inbox/" in file.path
    )
    inbox = page.locator(f'.card[data-file-id="{inbox_id}"]')
    expect(inbox.locator(".protected-folder")).to_have_text("protected folder")
    expect(inbox).to_have_class(re.compile("card-keep"))
    inbox.locator(".mark-toggle").click()
    expect(page.locator(".toast-warn").last).to_contain_text("protected folder")
    expect(inbox).to_have_class(re.compile("card-keep"))
    # The bare PNG is suggested for removal; the rated mountain.jpg is the keeper.
    png = page.locator(f'.card[data-file-id="{ids["mountain lossless.png"]}"]')
    expect(png).to_have_class(re.compile("card-remove"))
    page.wait_for_function("[...document.querySelectorAll('.card img')].every(i => i.complete)")
    page.screenshot(path=str(screenshot_path(tmp_path, "protected-folder.png")))
    problems.assert_none()


def test_settings_list_the_new_rules_the_codec_order_and_protected_folders(
    page: Page, protected_app: tuple[App, FakeStash], tmp_path: Path
) -> None:
    app, _ = protected_app
    problems = PageProblems(page)
    open_review(page, app)
    page.click("#tabs [data-view=settings]")
    rules = page.locator("#keeper-rules li")
    expect(rules.nth(2)).to_have_attribute("data-rule", "highest_rating")
    expect(rules.nth(2)).to_contain_text("Highest rating")
    expect(page.locator("#keeper-rules")).to_contain_text("Has a StashDB id")
    expect(page.locator("#add-rule")).to_contain_text("Most bits per pixel")
    codecs = page.locator("#codec-order li")
    expect(codecs).to_have_count(4)
    expect(codecs.first).to_have_text(re.compile("^AV1"))
    codecs.nth(3).get_by_title("Earlier").click()  # H.264 before VP9
    page.select_option("#add-codec", "mpeg4")
    protected = page.locator("#protected-folders")
    expect(protected.locator("input")).to_have_value(str(app.library / "pictures" / "inbox"))
    protected.get_by_role("button", name="Add folder").click()
    protected.locator("input").nth(1).fill(str(tmp_path / "keep forever"))
    page.click("#save-settings")
    expect(page.locator(".toast-good")).to_contain_text("Settings saved")
    saved = app.state.settings
    assert saved.codec_order == ["av1", "hevc", "h264", "vp9", "mpeg4"]
    assert saved.protected_folders[1] == str(tmp_path / "keep forever")
    assert app.state.require_session().protected_folders == tuple(saved.protected_folders)
    problems.assert_none()
    protected.locator("input").nth(1).fill("not absolute")
    page.click("#save-settings")  # refused (a 400 the console reports), said in the page
    expect(page.locator("#settings-error")).to_contain_text("protected_folders")
    assert app.state.settings.protected_folders == saved.protected_folders

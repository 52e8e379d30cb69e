"""Hardlink mode and "Open in Stash" in the real page (Chromium), on a copy of the demo
library: the removed path becomes a hardlink to the keeper on disk, Undo puts the original
back, each card links to its Stash page, and no request fails nor any error is logged."""

from __future__ import annotations

import json
import os
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fake_stash import FakeStash
from tests.test_browser import App, PageProblems, open_review, run_app, settled

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/hardlink-mode.png")


@pytest.fixture
def app_with_stash(demo_library: Path, tmp_path: Path) -> Iterator[tuple[App, FakeStash]]:
    """An app on its own copy of the demo library, its Stash URL a fake Stash that answers."""
    app, server = run_app(tmp_path, demo_library)
    try:
        with FakeStash() as fake:
            app.state.settings = app.state.settings.updated({"stash_url": fake.url})
            yield app, fake
    finally:
        server.shutdown()


def show_group_with(page: Page, name: str) -> None:
    """Click through the group list until the shown group has a card named `name`."""
    rows = page.locator(".group-row")
    for index in range(rows.count()):
        rows.nth(index).click()
        settled(page)
        if page.locator(".card-name", has_text=name).count():
            return
    raise AssertionError(f"no group shows {name}")


def mark_only(page: Page, name: str) -> None:
    """Mark the card named `name` remove and every other card keep."""
    for card in page.locator(".card").all():
        if card.locator(".card-name").inner_text() != name and "card-remove" in (
            card.get_attribute("class") or ""
        ):
            card.locator(".mark-toggle").click()
    chosen = page.locator(".card", has=page.locator(".card-name", has_text=name))
    if "card-keep" in (chosen.get_attribute("class") or ""):
        chosen.locator(".mark-toggle").click()
    expect(page.locator(".card.card-remove")).to_have_count(1)
    expect(page.locator(".card-remove .card-name")).to_have_text(name)


def test_hardlink_mode_links_the_copy_to_its_keeper_and_undo_restores_it(
    page: Page, app_with_stash: tuple[App, FakeStash]
) -> None:
    app, _fake = app_with_stash
    assert app.library is not None
    problems = PageProblems(page)
    copy = app.library / "backup" / "Beach sunset (copy).mp4"  # the demo's identical copy
    keeper = app.library / "videos" / "Beach sunset.mp4"
    original = copy.read_bytes()
    original_inode = os.stat(copy).st_ino
    assert original == keeper.read_bytes() and original_inode != os.stat(keeper).st_ino

    open_review(page, app)
    show_group_with(page, copy.name)
    mark_only(page, copy.name)
    page.click("#remove-marked")
    dialog = page.locator(".dialog.remove")
    dialog.locator("input[value=hardlink]").check()
    expect(dialog).to_contain_text("1 file will become a hardlink to the kept file, freeing")
    expect(dialog.locator(".hardlink-note")).to_contain_text("compared byte for byte")
    expect(page.locator("#hardlink-refusal")).to_have_count(0)
    expect(page.locator("#confirm-remove")).to_have_text("Replace with hardlinks: 1 file")
    expect(page.locator("#confirm-remove")).to_be_enabled()
    dialog.screenshot(path=str(SCREENSHOT))
    page.click("#confirm-remove")

    expect(page.locator(".toast-good")).to_contain_text("Replaced 1 file with hardlinks, freed")
    expect(page.locator("#stash-note")).to_be_hidden()  # Stash keeps both entries
    assert os.stat(copy).st_ino == os.stat(keeper).st_ino
    assert copy.read_bytes() == original

    page.click("#tabs [data-view=history]")
    row = page.locator("#history-table tbody tr").first
    expect(row).to_contain_text("Hardlinks")
    row.get_by_role("button", name="Files").click()
    details = page.locator("#history-table tr.details").first
    expect(details).to_contain_text(f"⇒ hardlink to {keeper}")
    row.get_by_role("button", name="Undo").click()
    page.locator(".dialog").get_by_role("button", name="Undo").click()
    expect(page.locator(".toast-good").last).to_contain_text("Restored 1 file")
    assert os.stat(copy).st_ino == original_inode != os.stat(keeper).st_ino
    assert copy.read_bytes() == original
    problems.assert_none()


def test_hardlink_mode_is_not_offered_for_a_copy_that_is_not_identical(
    page: Page, app_with_stash: tuple[App, FakeStash]
) -> None:
    app, _fake = app_with_stash
    problems = PageProblems(page)
    open_review(page, app)
    show_group_with(page, "beach_sunset_480p.mp4")
    mark_only(page, "beach_sunset_480p.mp4")
    page.click("#remove-marked")
    page.locator(".dialog.remove input[value=hardlink]").check()
    expect(page.locator("#hardlink-refusal")).to_contain_text("beach_sunset_480p.mp4")
    expect(page.locator(".dialog.remove")).to_contain_text(
        "The file marked cannot become a hardlink; 2 files kept."
    )
    expect(page.locator("#confirm-remove")).to_be_disabled()
    page.locator(".dialog.remove input[value=trash]").check()
    expect(page.locator("#hardlink-refusal")).to_be_hidden()
    expect(page.locator("#confirm-remove")).to_be_enabled()
    problems.assert_none()


def test_each_card_links_to_its_scene_or_image_page_in_stash(
    page: Page, app_with_stash: tuple[App, FakeStash]
) -> None:
    app, fake = app_with_stash
    problems = PageProblems(page)
    session = app.state.require_session()
    open_review(page, app)
    for media, kind in (("video", "scenes"), ("image", "images")):
        page.click(f"#filter-media-{media}")
        settled(page)
        cards = page.locator(".card")
        expect(cards.first).to_be_visible()
        for card in cards.all():
            file = session.file(int(card.get_attribute("data-file-id") or 0))
            link = card.locator("a.open-in-stash")
            expect(link).to_have_text("Open in Stash")
            expect(link).to_have_attribute("href", f"{fake.url}/{kind}/{file.items[0].item_id}")
            expect(link).to_have_attribute("target", "_blank")
    problems.assert_none()


def test_in_the_window_open_in_stash_goes_to_the_system_browser(
    page: Page, app_with_stash: tuple[App, FakeStash], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pywebview's window may not open target=_blank links in the system browser, so the
    page asks the app to (stood in for here by the same js_api object the window gives)."""
    app, fake = app_with_stash
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    page.add_init_script("window.pywebview = { api: { page_rendered: async () => true } };")
    problems = PageProblems(page)
    open_review(page, app)
    link = page.locator(".card a.open-in-stash").first
    href = link.get_attribute("href")
    assert href and href.startswith(f"{fake.url}/scenes/")
    with page.expect_response("**/api/open-url") as response:
        link.click()
    assert response.value.status == 200
    assert json.loads(response.value.text()) == {"opened": href}
    assert opened == [href]
    assert len(page.context.pages) == 1  # no tab of the window's own
    problems.assert_none()

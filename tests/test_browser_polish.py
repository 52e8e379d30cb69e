"""The small things a new user trips over, in the real page: defaults, labels, prompts, marks.

Each app runs on a private copy of the demo library (see tests/test_browser.py), here with the
review settings of a fresh start unless a test says otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Page, expect

from tests.test_browser import (
    SCREENSHOT_DIR_VARIABLE,
    App,
    list_count,
    open_review,
    run_app,
    run_fresh_app,
    settled,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_app(demo_library: Path, tmp_path: Path) -> Iterator[App]:
    """An app on the demo library whose review settings are those of a fresh start."""
    app, server = run_fresh_app(tmp_path, demo_library)
    yield app
    server.shutdown()


# ---- the review's filter: a useful default, remembered -------------------------------------


def test_a_fresh_start_shows_near_duplicates_at_medium_distance(page: Page, fresh_app: App) -> None:
    open_review(page, fresh_app)
    expect(page.locator("#filter-distance")).to_have_value("8")
    assert list_count(page) == 2  # the exact copies and the re-encoded, letterboxed city
    expect(page.locator(".group-row", has_text="City lights")).to_have_count(1)


def test_the_distance_and_filters_are_remembered_across_reloads(page: Page, fresh_app: App) -> None:
    open_review(page, fresh_app)
    page.select_option("#filter-distance", "4")
    page.click("#filter-media-image")
    page.fill("#filter-min-size", "3")
    page.press("#filter-min-size", "Tab")
    settled(page)
    page.reload()
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    expect(page.locator("#filter-distance")).to_have_value("4")
    expect(page.locator("#filter-media-image")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#filter-min-size")).to_have_value("3")
    expect(page.locator(".group-row").first).to_contain_text(re.compile(r"\.(jpg|png)"))
    assert list_count(page) == 1  # at least 3 files: the four copies of the mountain


def test_a_remembered_filter_that_is_not_valid_falls_back_to_the_defaults(
    page: Page, fresh_app: App
) -> None:
    open_review(page, fresh_app)
    page.evaluate(
        """() => localStorage.setItem('stash-dedupe-filter', JSON.stringify(
            { distance: 'near', media: 'audio', min_size: 1, path: 7, duration: '-3',
              suspicious: 'yes', min_size_typo: 4 }))"""
    )
    page.reload()
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    expect(page.locator("#filter-distance")).to_have_value("8")
    expect(page.locator("#filter-media-video")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#filter-min-size")).to_have_value("2")
    assert list_count(page) == 2
    page.evaluate("() => localStorage.setItem('stash-dedupe-filter', '{not json')")
    page.reload()
    expect(page.locator("#filter-distance")).to_have_value("8")


# ---- Stash: asked only when configured, or when the user asks ------------------------------


def test_with_no_stash_url_the_page_never_asks_stash_until_the_user_tests_it(
    page: Page, fresh_app: App
) -> None:
    asked: list[str] = []
    page.on(
        "request",
        lambda request: asked.append(request.url) if "/api/stash/" in request.url else None,
    )
    open_review(page, fresh_app)
    page.keyboard.press("j")
    expect(page.locator(".group-header h2")).to_contain_text("Group 2 of")
    page.click("#tabs [data-view=history]")
    page.click("#tabs [data-view=settings]")
    expect(page.locator("#setting-stash_url")).to_have_value("")
    expect(page.locator("#send-phashes")).to_be_hidden()
    assert asked == []
    page.click("#test-stash")
    expect(page.locator("#stash-test-result")).to_contain_text("Type Stash's URL first")
    assert asked == []
    page.fill("#setting-stash_url", "http://127.0.0.1:9")
    with page.expect_response(lambda response: "/api/stash/test" in response.url):
        page.click("#test-stash")
    expect(page.locator("#stash-test-result")).to_contain_text("Cannot reach Stash")


# ---- History: an undone batch says so --------------------------------------------------------


def test_an_undone_batch_is_marked_undone_and_cannot_be_undone_again(
    page: Page, fresh_app: App, tmp_path: Path
) -> None:
    trash = tmp_path / "trash"
    trash.mkdir()
    open_review(page, fresh_app)
    page.click("#remove-marked")
    page.locator(".dialog.remove input[value=move]").check()
    page.fill("#remove-trash-dir", str(trash))
    page.click("#confirm-remove")
    expect(page.locator(".toast-good")).to_contain_text("Removed")
    page.click("#tabs [data-view=history]")
    row = page.locator("#history-table tbody tr[data-batch='1']")
    expect(row.locator(".undo-batch")).to_be_enabled()
    row.locator(".undo-batch").click()
    page.locator(".dialog").get_by_role("button", name="Undo").click()
    expect(page.locator(".toast-good").last).to_contain_text("Restored")
    row = page.locator("#history-table tbody tr[data-batch='1']")
    expect(row.locator(".batch-status")).to_have_text("undone")
    expect(row.locator(".undo-batch")).to_be_disabled()
    expect(page.locator("#history-table tbody tr[data-batch='2']")).to_contain_text("Undo")


# ---- the filter bar: every control says what it is --------------------------------------------


def test_every_filter_control_has_a_visible_label_tied_to_it(page: Page, fresh_app: App) -> None:
    open_review(page, fresh_app)
    for text, control in (
        ("Distance", "#filter-distance"),
        ("Duration", "#filter-duration"),
        ("Min. files per group", "#filter-min-size"),
        ("Include blank/flat pictures", "#filter-suspicious"),
    ):
        label = page.locator(f"label[for='{control[1:]}']")
        expect(label).to_be_visible()
        expect(label).to_have_text(text)
        expect(page.get_by_label(text, exact=True)).to_have_attribute("id", control[1:])
    assert "flat" not in page.locator("#filters").inner_text().split()
    page.get_by_text("Include blank/flat pictures").click()  # the label toggles its box
    expect(page.locator("#filter-suspicious")).to_be_checked()


# ---- auto-resolve: the threshold in percent, like the scores ----------------------------------


def test_the_auto_resolve_threshold_is_asked_in_percent_like_the_scores(
    page: Page, fresh_app: App
) -> None:
    open_review(page, fresh_app)
    page.click("#auto-resolve")
    expect(page.get_by_label("Threshold (similarity)")).to_have_value("80")
    expect(page.locator(".auto-dialog")).to_contain_text("%")
    page.fill("#auto-threshold", "0")
    page.click("#auto-preview")
    expect(page.locator("#auto-results")).to_contain_text("in percent")
    page.fill("#auto-threshold", "97")
    with page.expect_request(lambda request: "/api/autoresolve" in request.url) as sent:
        page.click("#auto-preview")
    assert sent.value.post_data_json == {"threshold": 0.97}
    page.keyboard.press("Escape")  # closing the dialog cancels the preview's job


# ---- a wide group: the keeper stays in view ---------------------------------------------------


@pytest.fixture
def wide_group_app(stash_database, tmp_path: Path) -> Iterator[App]:
    """A library whose one group has nine copies of a picture; the best (the suggested keeper)
    sorts last by path, so without pinning it is the card furthest to the right."""
    from PIL import Image

    from stash_dedupe.demo import picture
    from stash_dedupe.media.phash import image_phash

    database, writer = stash_database()
    media = tmp_path / "media"
    base = picture(101, (1600, 1067))
    with writer:
        writer.library_root(str(media))
        for number in range(9):
            width = 1600 if number == 8 else 560 + 60 * number
            path = media / f"copy {number + 1}" / f"mountain {width}.jpg"
            path.parent.mkdir(parents=True)
            resized = cv2.resize(base, (width, width * 1067 // 1600), interpolation=cv2.INTER_AREA)
            Image.fromarray(cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)).save(path, quality=85)
            writer.add_image_file(
                str(path),
                image_id=writer.add_image(f"mountain {number + 1}"),
                phash=image_phash(str(path)),
                width=width,
                height=width * 1067 // 1600,
            )
    app, server = run_app(tmp_path / "app", None)
    app.state.open_database(str(database))
    yield app
    server.shutdown()


def test_in_a_nine_file_group_the_keeper_stays_in_view_while_the_cards_scroll(
    page: Page, wide_group_app: App, tmp_path: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(wide_group_app.url)
    page.click("#filter-media-image")
    expect(page.locator(".card")).to_have_count(9)
    keeper = page.locator(".card:has(.thumb-suggested)")
    expect(keeper).to_contain_text("mountain 1600.jpg")
    expect(keeper.locator(".card-number")).to_have_text("1")
    scroller = page.locator(".cards-scroll")
    widest = scroller.evaluate("element => element.scrollWidth - element.clientWidth")
    assert widest > 500, "the nine cards must not fit: the test would prove nothing"
    for scroll_left in (0, widest // 2, widest):
        scroller.evaluate(f"element => {{ element.scrollLeft = {scroll_left}; }}")
        page.wait_for_function(
            f"document.querySelector('.cards-scroll').scrollLeft >= {scroll_left} - 1"
        )
        box, view = keeper.bounding_box(), scroller.bounding_box()
        assert box and view
        assert view["x"] <= box["x"] and box["x"] + box["width"] <= view["x"] + view["width"]
        on_top = page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).closest('.card')?.dataset.fileId",
            [box["x"] + box["width"] / 2, box["y"] + 200],
        )
        assert on_top == keeper.get_attribute("data-file-id"), scroll_left
    expect(page.locator(".card-labels")).to_be_in_viewport()
    shots = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "wide-group-scrolled-1280x800.png"))


# ---- Settings: unsaved edits, errors where they belong, labelled inputs --------------------------


def test_leaving_settings_with_unsaved_edits_asks_first(page: Page, fresh_app: App) -> None:
    open_review(page, fresh_app)
    page.click("#tabs [data-view=settings]")
    page.click("#tabs [data-view=history]")  # nothing edited: no question
    expect(page.locator("#history-table, .page p.muted").first).to_be_visible()
    page.click("#tabs [data-view=settings]")
    page.fill("#setting-default_distance", "4")
    page.click("#tabs [data-view=review]")
    question = page.locator(".dialog", has_text="You have unsaved changes: discard them?")
    expect(question).to_be_visible()
    question.get_by_role("button", name="Cancel").click()
    expect(page.locator("#setting-default_distance")).to_have_value("4")  # still there
    page.click("#tabs [data-view=review]")
    question.get_by_role("button", name="Discard changes").click()
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    expect(page.locator("#group-view")).to_be_visible()
    assert fresh_app.state.settings.default_distance == 8
    page.click("#tabs [data-view=settings]")
    expect(page.locator("#setting-default_distance")).to_have_value("8")
    page.fill("#setting-default_distance", "4")
    page.click("#save-settings")
    expect(page.locator(".toast-good")).to_contain_text("Settings saved")
    page.click("#tabs [data-view=review]")  # saved: nothing to ask
    expect(page.locator("#group-view")).to_be_visible()
    expect(question).to_have_count(0)


def test_a_wrong_path_mapping_is_marked_on_its_row_with_the_reason_below_it(
    page: Page, fresh_app: App, tmp_path: Path
) -> None:
    open_review(page, fresh_app)
    page.click("#tabs [data-view=settings]")
    page.click("#add-mapping")
    rows = page.locator("#path-mappings .field-row")
    expect(rows).to_have_count(2)
    new_row = rows.nth(1)
    new_row.get_by_label("Mapping 2: the folder as Stash sees it").fill("/data")
    new_row.get_by_label("Mapping 2: the same folder on this computer").fill(
        str(tmp_path / "not here")
    )
    page.click("#save-settings")
    expect(new_row).to_have_class(re.compile("invalid"))
    local = new_row.get_by_label("Mapping 2: the same folder on this computer")
    expect(local).to_have_attribute("aria-invalid", "true")
    expect(local).to_be_focused()
    reason = page.locator("#path-mappings + .field-error, #path-mappings .field-error")
    expect(reason).to_contain_text("does not exist here")
    expect(local).to_have_attribute("aria-describedby", reason.get_attribute("id") or "")
    first = rows.nth(0)
    expect(first).not_to_have_class(re.compile("invalid"))
    expect(first.locator("[aria-invalid]")).to_have_count(0)
    new_row.get_by_label("Mapping 2: the same folder on this computer").fill(str(tmp_path))
    page.click("#save-settings")
    expect(page.locator(".toast-good")).to_contain_text("Settings saved")
    expect(page.locator(".field-error")).to_have_count(0)
    expect(page.locator("[aria-invalid]")).to_have_count(0)


def test_every_settings_label_names_its_input(page: Page, fresh_app: App) -> None:
    open_review(page, fresh_app)
    page.click("#tabs [data-view=settings]")
    for label, control in (
        ("Stash database", "#setting-database"),
        ("Default distance", "#setting-default_distance"),
        ("Duration tolerance", "#setting-duration_tolerance"),
        ("Frames to compare", "#setting-frame_samples"),
        ("Default mode", "#setting-removal_mode"),
        ("Trash folder", "#setting-trash_dir"),
        ("Stash URL", "#setting-stash_url"),
        ("API key", "#setting-stash_api_key"),
        ("Theme", "#setting-theme"),
    ):
        expect(page.get_by_label(label, exact=True)).to_have_attribute("id", control[1:])
    expect(page.get_by_role("group", name="Path mappings")).to_have_attribute("id", "path-mappings")
    expect(page.get_by_role("group", name="Keeper rules")).to_have_attribute("id", "keeper-rules")

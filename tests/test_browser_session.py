"""A whole review session, walked as a user would, must leave the console clean.

Every console message at error level, every uncaught page error, every request that fails and
every answer of 400 or more that the page did not ask for on purpose is collected from the first
load to the last click, and the test fails listing them. It covers what the page offers now;
new features add their steps here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser import App, PageProblems, list_count, open_review, run_fresh_app, settled

pytestmark = pytest.mark.browser

FRAMES_TIMEOUT_MS = 120_000  # sampling frames of every file of a group, on a loaded machine


@pytest.fixture
def session_app(demo_library: Path, tmp_path: Path) -> Iterator[App]:
    """The demo library with the review settings of a fresh start (no Stash configured)."""
    app, server = run_fresh_app(tmp_path, demo_library)
    yield app
    server.shutdown()


def all_pictures_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        f"[...document.querySelectorAll({selector!r})].every(img => img.complete)"
    )


def test_a_whole_review_session_has_no_console_errors_and_no_failed_requests(
    page: Page, session_app: App, tmp_path: Path
) -> None:
    problems = PageProblems(page)
    trash = tmp_path / "trash"
    trash.mkdir()

    # The review: the list, each group, its pictures.
    open_review(page, session_app)
    assert list_count(page) == 2
    all_pictures_loaded(page, ".card img")
    page.keyboard.press("j")
    expect(page.locator(".group-header h2")).to_contain_text("Group 2 of 2")
    all_pictures_loaded(page, ".card img")
    page.keyboard.press("k")
    expect(page.locator(".group-header h2")).to_contain_text("Group 1 of 2")
    page.keyboard.press("?")
    page.keyboard.press("Escape")

    # Distances, and back.
    for distance in ("0", "10", "8"):
        page.select_option("#filter-distance", distance)
        settled(page)
    assert list_count(page) == 2

    # Frames of the re-encoded, letterboxed group: strips, a zoomed column, the differences.
    page.locator(".group-row", has_text=re.compile("City lights")).first.click()
    expect(page.locator(".card", has_text="City lights 2019")).not_to_have_count(0)
    page.click("#compare")
    expect(page.locator(".heat-row img").first).to_be_visible(timeout=FRAMES_TIMEOUT_MS)
    all_pictures_loaded(page, ".frames-dialog img")
    page.locator(".strip-head.link-button").first.click()
    expect(page.locator(".zoom-dialog")).to_be_visible()
    all_pictures_loaded(page, ".zoom-dialog img")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(page.locator(".frames-dialog")).to_have_count(0)

    # Images: side by side, then the difference map.
    page.click("#filter-media-image")
    settled(page)
    all_pictures_loaded(page, ".card img")
    page.click("#compare")
    expect(page.locator("#image-score")).to_contain_text("%")
    page.click(".images-dialog [data-mode=difference]")
    expect(page.locator(".images-dialog .difference-legend")).to_be_visible()
    all_pictures_loaded(page, ".images-dialog img")
    page.keyboard.press("Escape")
    page.click("#filter-media-video")
    settled(page)

    # Not duplicates, and undo it.
    page.keyboard.press("d")
    expect(page.locator("#list-header")).to_contain_text("1 group")
    page.click("#tabs [data-view=dismissals]")
    page.locator(".dismissal").get_by_role("button", name="Undo").click()
    expect(page.locator("#dismissal-list")).to_contain_text("Nothing dismissed")

    # Remove the suggested copies, then put them back from History.
    page.click("#tabs [data-view=review]")
    expect(page.locator("#list-header")).to_contain_text("2 groups")
    page.click("#remove-marked")
    page.locator(".dialog.remove input[value=move]").check()
    page.fill("#remove-trash-dir", str(trash))
    page.click("#confirm-remove")
    expect(page.locator(".toast-good")).to_contain_text("Removed")
    expect(page.locator("#list-header")).to_contain_text("1 group")
    page.click("#tabs [data-view=history]")
    page.locator("#history-table tbody tr").first.get_by_role("button", name="Files").click()
    page.locator("#history-table tbody tr").first.locator(".undo-batch").click()
    page.locator(".dialog").get_by_role("button", name="Undo").click()
    expect(page.locator(".toast-good").last).to_contain_text("Restored")
    expect(page.locator("tr[data-batch='1'] .batch-status")).to_have_text("undone")

    # Settings: leave untouched, then with an edit (stay, then discard).
    page.click("#tabs [data-view=settings]")
    page.click("#tabs [data-view=review]")
    expect(page.locator("#list-header")).to_contain_text("2 groups")
    page.click("#tabs [data-view=settings]")
    page.fill("#setting-frame_samples", "5")
    page.click("#tabs [data-view=review]")
    question = page.locator(".dialog", has_text="unsaved changes")
    question.get_by_role("button", name="Cancel").click()
    page.click("#tabs [data-view=review]")
    question.get_by_role("button", name="Discard changes").click()
    expect(page.locator("#list-header")).to_contain_text("2 groups")

    # Auto-resolve: a preview, left without removing anything.
    page.click("#auto-resolve")
    page.click("#auto-preview")
    results = page.locator("#auto-results")
    expect(results).to_contain_text("left to review", timeout=FRAMES_TIMEOUT_MS)
    page.keyboard.press("Escape")
    expect(page.locator(".auto-dialog")).to_have_count(0)
    settled(page)

    assert problems.lines == [], "\n".join(problems.lines)

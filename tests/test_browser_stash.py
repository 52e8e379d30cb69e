"""The optional Stash connection in the real page: set the URL, test it, see Stash's version."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.fake_stash import FakeStash
from tests.test_browser import open_review, run_app

pytestmark = pytest.mark.browser


def test_settings_test_the_stash_connection_and_show_its_version(
    page: Page, demo_library: Path, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nothing_there = f"http://127.0.0.1:{probe.getsockname()[1]}"
    app, server = run_app(tmp_path, demo_library)
    try:
        with FakeStash() as fake:
            open_review(page, app)
            page.click("#tabs [data-view=settings]")
            expect(page.locator("#setting-stash_api_key")).to_have_attribute("type", "password")
            expect(page.locator("#send-phashes")).to_be_hidden()

            page.fill("#setting-stash_url", nothing_there)
            page.click("#test-stash")
            expect(page.locator("#stash-test-result")).to_contain_text(
                f"Cannot reach Stash at {nothing_there}"
            )

            page.fill("#setting-stash_url", fake.url)
            page.click("#test-stash")
            expect(page.locator("#stash-test-result")).to_contain_text(
                f"Connected to Stash v0.30.1 at {fake.url}"
            )
            page.click("#save-settings")
            expect(page.locator(".toast-good")).to_contain_text("Settings saved")
            expect(page.locator("#send-phashes")).to_be_visible()
        assert app.state.settings.stash_url == fake.url
        assert not fake.invalid_requests
    finally:
        server.shutdown()


def test_after_a_removal_tell_stash_shows_what_is_sent_then_sends_it(
    page: Page, demo_library: Path, tmp_path: Path
) -> None:
    trash = tmp_path / "trash"
    trash.mkdir()
    app, server = run_app(tmp_path, demo_library)
    try:
        with FakeStash() as fake:
            app.state.settings = app.state.settings.updated({"stash_url": fake.url})
            for file in app.state.require_session().library().values():
                for item in file.items:
                    fake.add_scene(item.item_id)
            open_review(page, app)
            expect(page.locator("#merge-scenes")).to_be_visible()
            page.click("#remove-marked")
            page.locator(".dialog.remove input[value=move]").check()
            page.fill("#remove-trash-dir", str(trash))
            page.click("#confirm-remove")
            tell = page.locator("#stash-note .tell-stash")
            expect(tell).to_contain_text("Tell Stash about removal #1")
            tell.click()
            expect(page.locator("#stash-operations")).to_contain_text("Clean task")
            assert fake.called("metadataClean") == []
            page.click("#confirm-stash-cleanup")
            expect(page.locator(".toast-good").last).to_contain_text("Stash started its Clean")
            expect(page.locator("#stash-note")).to_be_hidden()
        assert len(fake.called("metadataClean")) == 1
        assert not fake.invalid_requests
    finally:
        server.shutdown()


def test_a_stash_that_starts_after_the_app_is_noticed_a_minute_later(
    page: Page, demo_library: Path, tmp_path: Path
) -> None:
    app, server = run_app(tmp_path, demo_library)
    try:
        with FakeStash() as fake:
            app.state.settings = app.state.settings.updated({"stash_url": fake.url})
            for file in app.state.require_session().library().values():
                for item in file.items:
                    fake.add_scene(item.item_id)
            fake.canned_response = (502, b"Bad Gateway\n", {})  # still starting
            # The page must have had the failed check's answer before its clock moves on.
            with page.expect_response(lambda response: "/api/stash/test" in response.url):
                open_review(page, app)
            expect(page.locator(".card").first).to_be_visible()
            wait_until(lambda: len(fake.requests) >= 1)
            fake.canned_response = None  # Stash is up now
            page.keyboard.press("j")
            page.keyboard.press("k")
            expect(page.locator(".group-header h2")).to_contain_text("Group 1 of")
            expect(page.locator("#merge-scenes")).to_be_hidden()  # the failure is remembered
            page.evaluate(
                "() => { const now = Date.now.bind(Date); Date.now = () => now() + 61_000; }"
            )
            page.keyboard.press("j")
            page.keyboard.press("k")
            expect(page.locator("#merge-scenes")).to_be_visible()
        assert not fake.invalid_requests
    finally:
        server.shutdown()


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)  # waiting for the page's request to reach the fake Stash

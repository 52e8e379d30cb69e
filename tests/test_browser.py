"""The real page in Debian's Chromium, driven as a person would, on the real server.

Each app runs in a thread on a private copy of the demo library's media (the demo database is
opened through a path mapping), so removals here never touch the shared demo library.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, Response, Route, expect

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

pytestmark = pytest.mark.browser

SCREENSHOT_DIR_VARIABLE = "STASH_DEDUPE_SCREENSHOTS"


class App:
    """A running app and its URL (with the token)."""

    def __init__(self, state: AppState, url: str, library: Path | None) -> None:
        self.state = state
        self.url = url
        self.library = library


def run_app(root: Path, demo_library: Path | None) -> tuple[App, WSGIServer]:
    mappings = []
    library = None
    if demo_library is not None:
        media = demo_library.parent / "media"
        library = root / "library"
        shutil.copytree(media, library)
        mappings = [{"stash_prefix": str(media), "local_prefix": str(library)}]
    state = AppState(
        Settings(path_mappings=mappings, duration_tolerance=None, default_distance=10),
        Journal.open(root / "journal.sqlite3"),
        DismissalStore(root / "dismissals.sqlite3"),
        remember=False,
    )
    if demo_library is not None:
        state.open_database(str(demo_library))
    server, url = start(state)
    return App(state, url, library), server


def run_fresh_app(root: Path, demo_library: Path) -> tuple[App, WSGIServer]:
    """`run_app` with the review settings of a fresh start (distance, duration, no Stash)."""
    app, server = run_app(root, demo_library)
    fresh = Settings()
    app.state.settings = dataclasses.replace(
        app.state.settings,
        default_distance=fresh.default_distance,
        duration_tolerance=fresh.duration_tolerance,
        stash_url=fresh.stash_url,
    )
    return app, server


@pytest.fixture(scope="module")
def shared_app(demo_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One app for the tests that only look and mark (no removal, dismissals undone)."""
    root = tmp_path_factory.mktemp("browser-app")
    with pytest.MonkeyPatch.context() as environment:  # the per-test app home is not set yet
        environment.setenv("STASH_DEDUPE_HOME", str(root / "home"))
        app, server = run_app(root, demo_library)
        yield app
        server.shutdown()


@pytest.fixture
def own_app(demo_library: Path, tmp_path: Path) -> Iterator[App]:
    """An app of the test's own, for tests that change the library."""
    app, server = run_app(tmp_path, demo_library)
    yield app
    server.shutdown()


def open_review(page: Page, app: App) -> None:
    page.goto(app.url)
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    expect(page.locator(".card").first).to_be_visible()


class PageProblems:
    """What went wrong in a page, as readable lines: console errors, uncaught errors, failed
    requests and answers of 400 or more. Every Chromium test of a user's path asserts none."""

    def __init__(self, page: Page) -> None:
        self.lines: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.lines.append(f"page error: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.lines.append(f"console: {message.text} ({message.location.get('url')})")

    def _request_failed(self, request: Request) -> None:
        failure = request.failure or ""
        # A picture or a video the page stopped needing (a dialog closed) is aborted, not failed.
        if "ERR_ABORTED" not in failure:
            self.lines.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.lines.append(f"{response.status}: {response.request.method} {response.url}")

    def assert_none(self) -> None:
        assert self.lines == [], "\n".join(self.lines)


def settled(page: Page) -> None:
    """Wait until the group list is not being reloaded (after a filter, dismissal, removal)."""
    expect(page.locator("body[data-busy]")).to_have_count(0)


def list_count(page: Page) -> int:
    settled(page)
    text = page.locator("#list-header").inner_text()
    match = re.match(r"([\d,]+) group", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


# ---- tests ----------------------------------------------------------------------------------


def test_page_without_token_explains_what_is_missing(page: Page, shared_app: App) -> None:
    page.goto(shared_app.url.split("?")[0])
    expect(page.get_by_text("This page needs its access link")).to_be_visible()


def test_token_leaves_the_address_bar(page: Page, shared_app: App) -> None:
    open_review(page, shared_app)
    assert "token" not in page.url


def test_welcome_screen_opens_a_database_and_shows_errors_inline(
    page: Page, demo_library: Path, tmp_path: Path
) -> None:
    app, server = run_app(tmp_path, None)
    try:
        page.goto(app.url)
        expect(page.locator("body[data-rendered=welcome]")).to_have_count(1)
        page.fill("#database-path", str(tmp_path / "missing.sqlite"))
        page.click("#open-path")
        expect(page.locator("#open-error")).to_contain_text("no such file")
        page.fill("#database-path", str(demo_library))
        page.click("#open-path")
        expect(page.locator(".group-row").first).to_be_visible()
        expect(page.locator("#summary")).to_contain_text("videos")
    finally:
        server.shutdown()


def test_open_file_uses_the_window_picker_and_reports_the_render(
    page: Page, demo_library: Path, tmp_path: Path
) -> None:
    """In the window, pywebview's js_api is there: stand in for it with the same methods."""
    page.add_init_script(f"""
        window.pywebview = {{ api: {{
            pick_database: async () => {json.dumps(str(demo_library))},
            page_rendered: async (info) => {{ window.renderedReport = info; return true; }},
        }} }};
    """)
    app, server = run_app(tmp_path, None)
    try:
        page.goto(app.url)
        page.click("#pick-database")
        expect(page.locator(".group-row").first).to_be_visible()
        assert page.evaluate("window.renderedReport") == {"view": "welcome"}
    finally:
        server.shutdown()


def test_filters_change_the_group_list(page: Page, shared_app: App) -> None:
    open_review(page, shared_app)
    low = list_count(page)
    page.select_option("#filter-distance", "0")
    exact = list_count(page)
    assert exact < low
    page.click("#filter-media-image")
    expect(page.locator(".group-row").first).to_contain_text(re.compile(r"\.(jpg|png)"))
    expect(page.locator("#filter-duration")).to_be_disabled()
    page.click("#filter-media-video")
    page.select_option("#filter-distance", "10")
    page.fill("#filter-path", "phone export")
    expect(page.locator("#list-header")).to_contain_text("1 group")
    page.fill("#filter-min-size", "9")
    page.press("#filter-min-size", "Tab")
    expect(page.locator("#list-header")).to_contain_text("0 groups")


def test_group_cards_show_the_suggested_keeper_and_the_best_values(
    page: Page, shared_app: App
) -> None:
    open_review(page, shared_app)
    cards = page.locator(".card")
    count = cards.count()
    assert count >= 2
    expect(page.locator(".card.card-keep")).to_have_count(1)
    expect(page.locator(".card.card-remove")).to_have_count(count - 1)
    expect(page.locator(".card-keep .thumb-suggested")).to_have_count(1)
    assert page.locator(".cell.best").count() > 0
    assert page.locator(".label.differs").count() > 0
    expect(page.locator(".card img").first).to_have_js_property("complete", True)
    assert page.locator(".card img").first.evaluate("img => img.naturalWidth") > 0


def test_marking_files_keep_and_remove_never_allows_all_remove(page: Page, shared_app: App) -> None:
    open_review(page, shared_app)
    keeper_toggle = page.locator(".card-keep .mark-toggle")
    keeper_toggle.click()
    expect(page.locator(".toast")).to_contain_text("keeps at least one file")
    expect(page.locator(".card.card-keep")).to_have_count(1)
    other = page.locator(".card-remove .mark-toggle").first
    other.click()
    expect(page.locator(".card.card-keep")).to_have_count(2)
    page.locator(".card-keep .mark-toggle").first.click()
    expect(page.locator(".card.card-keep")).to_have_count(1)
    page.click("#accept-suggestion")
    expect(page.locator(".card-keep .thumb-suggested")).to_have_count(1)


def test_keyboard_moves_between_groups_and_cards(page: Page, shared_app: App) -> None:
    open_review(page, shared_app)
    page.select_option("#filter-distance", "8")  # keys go back to the list after a filter
    expect(page.locator("#filter-distance")).not_to_be_focused()
    assert list_count(page) >= 2  # waits for the reload
    expect(page.locator(".group-header h2")).to_contain_text("Group 1 of")
    page.keyboard.press("j")
    expect(page.locator(".group-header h2")).to_contain_text("Group 2 of")
    expect(page.locator(".group-row.selected")).to_have_attribute("data-index", "1")
    page.keyboard.press("k")
    expect(page.locator(".group-header h2")).to_contain_text("Group 1 of")
    page.keyboard.press("ArrowDown")
    expect(page.locator(".group-header h2")).to_contain_text("Group 2 of")
    page.keyboard.press("ArrowUp")
    expect(page.locator(".group-header h2")).to_contain_text("Group 1 of")

    removed_card = page.locator(".card.card-remove").first
    number = removed_card.get_attribute("data-index")
    page.keyboard.press(str(int(number) + 1))
    expect(page.locator(".card.selected")).to_have_attribute("data-index", number)
    page.keyboard.press(" ")
    expect(page.locator(f".card[data-index='{number}']")).to_have_class(re.compile("card-keep"))
    page.keyboard.press("a")
    expect(page.locator(f".card[data-index='{number}']")).to_have_class(re.compile("card-remove"))


def test_compared_frames_leave_black_bars_out_of_the_suggested_keeper(
    page: Page, own_app: App
) -> None:
    open_review(page, own_app)
    page.locator(".group-row", has_text=re.compile("City lights|Ciudad")).first.click()
    letterboxed = page.locator(".card", has_text="(4x3 letterbox)")
    clean = page.locator(".card", has_text="City lights 2019.mp4")
    # Before frames are sampled, the 640x480 frame looks like the highest resolution.
    expect(letterboxed).to_have_class(re.compile("card-keep"))
    expect(letterboxed).to_contain_text("640×480")
    page.click("#compare")
    expect(page.locator(".keeper-moved")).to_contain_text("City lights 2019.mp4", timeout=60_000)
    expect(page.locator(".bars-note")).to_contain_text("picture 640×")
    page.keyboard.press("Escape")
    expect(letterboxed).to_have_class(re.compile("card-remove"))
    expect(letterboxed).to_contain_text("640×480 · picture 640×360")
    expect(clean).to_have_class(re.compile("card-keep"))
    expect(clean.locator(".thumb-suggested")).to_have_count(1)


def test_help_overlay_lists_the_keys(page: Page, shared_app: App) -> None:
    open_review(page, shared_app)
    page.keyboard.press("?")
    overlay = page.locator(".help-dialog")
    expect(overlay).to_contain_text("Next group")
    expect(overlay).to_contain_text("Toggle keep / remove")
    page.keyboard.press("Escape")
    expect(overlay).to_have_count(0)


def test_dismissing_a_group_hides_it_and_the_review_page_undoes_it(
    page: Page, own_app: App
) -> None:
    open_review(page, own_app)
    before = list_count(page)
    first_name = page.locator(".group-row").first.locator(".row-name").inner_text()
    page.keyboard.press("d")
    expect(page.locator("#list-header")).to_contain_text(f"{before - 1} group")
    page.click("#tabs [data-view=dismissals]")
    entry = page.locator(".dismissal")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(first_name)
    entry.get_by_role("button", name="Undo").click()
    expect(page.locator("#dismissal-list")).to_contain_text("Nothing dismissed")
    page.click("#tabs [data-view=review]")
    expect(page.locator("#list-header")).to_contain_text(f"{before} group")


def test_remove_marked_moves_files_and_history_undoes_it(
    page: Page, own_app: App, tmp_path: Path
) -> None:
    trash = tmp_path / "trash"
    trash.mkdir()
    open_review(page, own_app)
    before = list_count(page)
    removed = [
        Path(title)
        for title in page.locator(".card-remove .card-name").evaluate_all(
            "cards => cards.map(card => card.title)"
        )
    ]
    assert removed and all(path.exists() for path in removed)
    page.click("#remove-marked")
    dialog = page.locator(".dialog.remove")
    expect(dialog).to_contain_text(f"{len(removed)} file")
    dialog.locator("input[value=delete]").check()
    expect(page.locator("#confirm-remove")).to_be_disabled()
    dialog.locator("input[value=move]").check()
    page.fill("#remove-trash-dir", str(trash))
    page.click("#confirm-remove")
    expect(page.locator(".toast-good")).to_contain_text(f"Removed {len(removed)} file")
    expect(page.locator("#list-header")).to_contain_text(f"{before - 1} group")
    expect(page.locator("#stash-note")).to_contain_text("Clean task")
    assert not any(path.exists() for path in removed)

    page.click("#tabs [data-view=history]")
    row = page.locator("#history-table tbody tr").first
    expect(row).to_contain_text(f"{len(removed)} / {len(removed)}")
    row.get_by_role("button", name="Undo").click()
    page.locator(".dialog").get_by_role("button", name="Undo").click()
    expect(page.locator(".toast-good").last).to_contain_text(f"Restored {len(removed)} file")
    assert all(path.exists() for path in removed)
    csv_link = page.locator("#export-csv")
    expect(csv_link).to_have_attribute("href", re.compile(r"history\.csv\?token="))


def test_group_list_stays_small_in_the_dom_with_50000_groups(page: Page, shared_app: App) -> None:
    total = 50_000

    def groups(route: Route) -> None:
        url = route.request.url
        offset = int(re.search(r"offset=(\d+)", url).group(1))
        limit = int(re.search(r"limit=(\d+)", url).group(1))
        items = [
            {
                "id": f"v{index:012x}",
                "kind": "phash",
                "media": "video",
                "count": 2,
                "total_size": 2000,
                "reclaimable": total - index,
                "max_distance": 0,
                "suspicious": False,
                "first_path": f"/media/group {index + 1}.mp4",
            }
            for index in range(offset, min(total, offset + limit))
        ]
        route.fulfill(
            content_type="application/json",
            body=json.dumps({"total": total, "offset": offset, "reclaimable": 1, "items": items}),
        )

    page.route(re.compile(r"/api/groups\?"), groups)
    page.goto(shared_app.url)
    expect(page.locator("#list-header")).to_contain_text("50,000 groups")
    assert page.locator(".group-row").count() < 60
    page.locator("#group-list").evaluate("list => list.scrollTop = list.scrollHeight")
    expect(page.locator(".group-row", has_text="group 50000.mp4")).to_be_visible()
    assert page.locator(".group-row").count() < 60
    elapsed = page.evaluate("""async () => {
        const list = document.getElementById('group-list');
        const started = performance.now();
        for (let i = 0; i < 60; i++) {
            list.scrollTop = (i * 997 * 52) % list.scrollHeight;
            await new Promise(requestAnimationFrame);
        }
        return performance.now() - started;
    }""")
    assert elapsed / 60 < 50, f"{elapsed / 60:.1f} ms per scrolled frame"


def test_screenshot_at_1280x800(page: Page, shared_app: App, tmp_path: Path) -> None:
    """A picture of the review screen to look at (kept where STASH_DEDUPE_SCREENSHOTS says)."""
    open_review(page, shared_app)
    page.wait_for_function("[...document.querySelectorAll('.card img')].every(img => img.complete)")
    target = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path) / "review-1280x800.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.stat().st_size > 20_000


def test_settings_reorder_keeper_rules_and_switch_the_theme(page: Page, own_app: App) -> None:
    open_review(page, own_app)
    page.click("#tabs [data-view=settings]")
    rules = page.locator("#keeper-rules li")
    expect(rules.first).to_have_attribute("data-rule", "highest_resolution")
    rules.nth(1).get_by_title("Earlier").click()
    expect(rules.first).to_have_attribute("data-rule", "highest_bit_rate")
    page.select_option("#add-rule", "shortest_path")
    page.select_option("#setting-theme", "light")
    page.click("#save-settings")
    expect(page.locator(".toast-good")).to_contain_text("Settings saved")
    saved = own_app.state.settings
    assert saved.keeper_rules[:2] == ["highest_bit_rate", "highest_resolution"]
    assert saved.keeper_rules[-1] == "shortest_path"
    assert saved.theme == "light"
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.fill("#setting-default_distance", "99")
    page.click("#save-settings")
    expect(page.locator("#settings-error")).to_contain_text("distance")


def test_auto_resolve_previews_then_removes_after_confirmation(
    page: Page, own_app: App, tmp_path: Path
) -> None:
    trash = tmp_path / "trash"
    trash.mkdir()
    open_review(page, own_app)
    before = list_count(page)
    page.click("#auto-resolve")
    page.click("#auto-preview")
    results = page.locator("#auto-results")
    expect(results).to_contain_text("resolve", timeout=120_000)
    expect(results).not_to_contain_text("Comparing", timeout=120_000)
    removed = [
        Path(path)
        for path in results.locator(".remove-path").evaluate_all(
            "rows => rows.map(row => row.dataset.path)"
        )
    ]
    assert removed and all(path.exists() for path in removed)
    page.click("#auto-remove")
    confirm = page.locator(".dialog.remove")
    confirm.locator("input[value=move]").check()
    page.fill("#remove-trash-dir", str(trash))
    page.click("#confirm-remove")
    expect(page.locator(".toast-good")).to_contain_text(f"Removed {len(removed)} file")
    settled(page)
    assert list_count(page) < before
    assert not any(path.exists() for path in removed)


# Every endpoint function of api.js, called from the page with arguments that reach a route
# (unknown ids and empty bodies are answered by the route: a 4xx naming what is wrong).
CALL_EVERY_ENDPOINT = """async () => {
  const { api } = await import('/static/js/api.js');
  const filter = { media: 'video', distance: 10, duration: '', path: '', min_size: 2,
    suspicious: false };
  const images = { ...filter, media: 'image' };
  const [video] = (await api.groups(filter, { offset: 0, limit: 1 })).items;
  const [image] = (await api.groups(images, { offset: 0, limit: 1 })).items;
  const imageFiles = (await api.group(image.id)).files;
  const frames = (await api.compareFrames(video.id)).job_id;
  const answers = {};
  const call = async (name, ...args) => {
    try {
      const answer = api[name](...args);
      if (typeof answer === 'string') {
        const response = await fetch(answer);
        const text = await response.text();
        answers[name] = { status: response.status, error: response.ok ? null : text };
      } else {
        const data = await answer;
        answers[name] = { status: 200, error: null, job: data && data.job_id };
      }
    } catch (error) {
      answers[name] = { status: error.status, error: error.message };
    }
  };
  await call('status');
  await call('databaseCandidates');
  await call('openDatabase', '');
  await call('settings');
  await call('saveSettings', {});
  await call('previewPathMappings', []);
  await call('summary', filter);
  await call('groups', filter, { offset: 0, limit: 5 });
  await call('group', video.id);
  await call('groupLosses', image.id, [imageFiles[0].file_id]);
  await call('dismissGroup', 'no-such-group');
  await call('dismissFile', 'no-such-group', imageFiles[0].file_id);
  await call('dismissals');
  await call('undoDismissal', 999999);
  await call('exportUrl', filter, 'csv');
  await call('identicalPreview', filter);
  await call('thumbnailUrl', imageFiles[0].file_id);
  await call('mediaUrl', imageFiles[0].file_id);
  await call('compareImages', imageFiles[0].file_id, imageFiles[1].file_id);
  await call('imageDifferenceUrl', imageFiles[0].file_id, imageFiles[1].file_id);
  await call('remove', null, { mode: 'trash' });
  await call('history');
  await call('historyCsvUrl');
  await call('batch', 999999);
  await call('undoBatch', 999999);
  await call('compareFrames', video.id);
  await call('job', frames);
  await call('frameUrl', frames, 0, 0);
  await call('frameDifferenceUrl', frames, 0, 1, 0);
  await call('autoResolve', filter, 0.8);
  await call('backfill');
  await call('pauseJob', answers.backfill.job);
  await call('resumeJob', answers.backfill.job);
  for (const job of [frames, answers.compareFrames.job, answers.autoResolve.job,
    answers.backfill.job]) {
    await call('cancelJob', job);
  }
  await call('stashVersion');
  await call('stashCleanupPreview', 999999);
  await call('stashCleanup', 999999);
  await call('stashMergePreview', 'no-such-group', imageFiles[0].file_id);
  await call('stashMerge', 'no-such-group', imageFiles[0].file_id);
  await call('sendPhashes');
  await call('openUrl', 'https://example.com/');
  if (answers.sendPhashes.job) await api.cancelJob(answers.sendPhashes.job);
  await call('overlaps', 30);
  await call('overlap', 'overlap-1-2');
  await call('compareOverlapFrames', 'overlap-1-2');
  await call('computeFingerprints');
  if (answers.computeFingerprints.job) await api.cancelJob(answers.computeFingerprints.job);
  return { names: Object.keys(api), answers };
}"""


def test_every_endpoint_of_the_pages_api_client_reaches_a_route(page: Page, own_app: App) -> None:
    open_review(page, own_app)
    called = page.evaluate(CALL_EVERY_ENDPOINT)
    answers = called["answers"]
    assert sorted(answers) == sorted(called["names"]), "call every endpoint of api.js here"
    for name, answer in answers.items():
        assert answer["status"] != 405, (name, answer)
        assert "There is no API" not in (answer["error"] or ""), (name, answer)
        assert answer["status"] < 500 or answer["status"] in (502, 503), (name, answer)
    assert answers["job"]["status"] == 200 and answers["cancelJob"]["status"] == 200
    for name in ("thumbnailUrl", "mediaUrl", "imageDifferenceUrl", "historyCsvUrl", "exportUrl"):
        assert answers[name]["status"] == 200, (name, answers[name])

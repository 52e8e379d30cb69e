"""The review screen a Stash user can trust at a glance, in Chromium, on a copy of the demo
library with some media missing: the banner and the missing cards, totals of present files
only, sort and filter controls, the byte-identical bulk action, the export, a duration
tolerance in percent, and mapping previews in Settings. No console error, no failed request.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import pytest
from playwright.sync_api import Page, Route, expect

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.session import GroupFilter
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .fake_stash import FakeStash
from .test_browser import App, PageProblems, list_count, settled

pytestmark = pytest.mark.browser

# Gone from the library copy: one copy of the beach video (its group stays resolvable), and
# two of the three city videos (their group cannot be resolved here).
MISSING = (
    "phone export/beach_sunset_480p.mp4",
    "videos/City lights 2019 (4x3 letterbox).mp4",
    "videos/Ciudad de noche — baja calidad ñ.mp4",
)


def run_review_app(root: Path, demo_library: Path, stash_url: str) -> tuple[App, WSGIServer]:
    media = demo_library.parent / "media"
    library = root / "library"
    shutil.copytree(media, library)
    for name in MISSING:
        (library / name).unlink()
    state = AppState(
        Settings(
            path_mappings=[{"stash_prefix": str(media), "local_prefix": str(library)}],
            duration_tolerance=None,
            default_distance=10,
            stash_url=stash_url,
        ),
        Journal.open(root / "journal.sqlite3"),
        DismissalStore(root / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(demo_library))
    server, url = start(state)
    return App(state, url, library), server


@pytest.fixture
def review_app(demo_library: Path, tmp_path: Path) -> Iterator[App]:
    with FakeStash() as stash:
        app, server = run_review_app(tmp_path, demo_library, stash.url)
        yield app
        server.shutdown()


@pytest.fixture
def watched(page: Page) -> Iterator[Page]:
    """The page, with every console error and failed request collected: none may happen."""
    problems = PageProblems(page)
    yield page
    problems.assert_none()


def open_checked_review(page: Page, app: App) -> None:
    """The review, once the missing-files check has been reported."""
    page.goto(app.url)
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    expect(page.locator("#missing-files-banner")).to_be_visible()
    settled(page)


def select_group_with(page: Page, name: str) -> None:
    page.locator(".group-row", has_text=name).first.click()
    expect(page.locator(".card-name", has_text=name).first).to_be_visible()


def bytes_text(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text()


# ---- missing files -----------------------------------------------------------------------------


def test_banner_says_how_many_files_were_not_found_and_links_to_mappings(
    watched: Page, review_app: App
) -> None:
    page = watched
    open_checked_review(page, review_app)
    session = review_app.state.session
    total = len(session.library())
    banner = page.locator("#missing-files-banner")
    expect(banner).to_contain_text(f"{len(MISSING)} of {total} files were not found at their paths")
    expect(banner).to_contain_text("Docker")
    expect(page.locator("#summary-missing")).to_contain_text(f"{len(MISSING)} not found")
    page.click("#open-path-mappings")
    expect(page.locator("body[data-rendered]")).to_have_count(1)
    expect(page.locator("#path-mappings")).to_be_visible()
    expect(page.locator("#mapping-preview-0")).to_contain_text(
        f"Maps {total} library files; {total - len(MISSING)} of them exist here"
    )


def test_missing_card_says_so_without_asking_for_a_thumbnail(
    watched: Page, review_app: App
) -> None:
    page = watched
    thumbnails: list[str] = []
    page.on("request", lambda r: thumbnails.append(r.url) if "/thumbnail" in r.url else None)
    open_checked_review(page, review_app)
    select_group_with(page, "Beach sunset")
    session = review_app.state.session
    missing_id = next(
        file.file_id for file in session.library().values() if file.path.endswith(MISSING[0])
    )
    card = page.locator(f'.card[data-file-id="{missing_id}"]')
    expect(card.locator(".thumb-missing")).to_have_text(re.compile("Not found at its path"))
    expect(card.locator(".mark-toggle")).to_be_disabled()
    expect(card).to_have_class(re.compile("card-keep"))
    page.wait_for_function("[...document.querySelectorAll('.card img')].every(i => i.complete)")
    assert not any(f"/files/{missing_id}/thumbnail" in url for url in thumbnails)
    assert thumbnails  # the present files' thumbnails were asked for
    # The header counts present files only; the button frees what the header promises.
    group_id = page.locator(".group-row.selected").get_attribute("data-id")
    group = session.group(group_id)
    header = page.locator(".group-title .muted")
    expect(header).to_contain_text(f"{len(group.present_files)} files (+ 1 not found)")
    reclaimable = re.search(r"· ([\d.]+ \w+) reclaimable", header.inner_text()).group(1)
    expect(page.locator("#remove-marked")).to_contain_text(f"({reclaimable})")
    row = page.locator(".group-row.selected")
    expect(row.locator(".row-bytes")).to_have_text(reclaimable)
    expect(row.locator(".row-missing")).to_have_text("1 missing")
    page.wait_for_timeout(200)
    shot = page.locator("#group-view")
    shot.screenshot(path="/tmp/missing-file.png")


def test_a_group_with_one_present_file_cannot_be_resolved_here(
    watched: Page, review_app: App
) -> None:
    page = watched
    open_checked_review(page, review_app)
    select_group_with(page, "City lights 2019.mp4")
    expect(page.locator("#unresolvable")).to_contain_text("cannot be resolved here")
    expect(page.locator("#remove-marked")).to_have_count(0)
    expect(page.locator(".card-remove")).to_have_count(0)
    expect(page.locator(".card .thumb-missing")).to_have_count(2)


def test_totals_count_present_files_only(watched: Page, review_app: App) -> None:
    page = watched
    open_checked_review(page, review_app)
    groups = review_app.state.session.groups(GroupFilter(media="video", distance=10))
    present = sum(len(group.present_files) for group in groups)
    assert present < sum(len(group.files) for group in groups)  # some are missing
    reclaimable = sum(group.reclaimable for group in groups)
    summary = page.evaluate(
        "async () => (await import('/static/js/api.js')).api.summary({media: 'video', "
        "distance: 10, duration: '', min_size: 2})"
    )
    assert summary["files_in_groups"] == present and summary["reclaimable"] == reclaimable
    expect(page.locator("#summary-groups")).to_contain_text(f"{len(groups)} group")
    header = page.locator("#list-header .list-reclaimable")
    expect(header).to_have_text(page.locator("#summary-reclaimable b").inner_text())
    rows = page.locator(".group-row .row-bytes").all_inner_texts()
    assert len(rows) == len(groups)


# ---- sort and filter ---------------------------------------------------------------------------


def test_sort_and_filter_controls_change_the_list_and_its_totals(
    watched: Page, review_app: App
) -> None:
    page = watched
    open_checked_review(page, review_app)
    everything = list_count(page)
    first_by_reclaimable = page.locator(".group-row .row-name").first.inner_text()
    page.select_option("#filter-sort", "path")
    settled(page)
    names = [
        page.locator(".group-row").nth(index).locator(".row-name").get_attribute("title")
        for index in range(everything)
    ]
    assert names == sorted(names, key=str.casefold)
    assert list_count(page) == everything
    page.select_option("#filter-sort", "reclaimable")
    settled(page)
    expect(page.locator(".group-row .row-name").first).to_have_text(first_by_reclaimable)

    page.locator("#meta-filters summary").click()
    page.fill("#filter-studio", "coastline")
    expect(page.locator("#list-header")).to_contain_text("1 group")
    beach = review_app.state.session.groups(
        GroupFilter(media="video", distance=10, studio="coastline")
    )
    expect(page.locator("#list-header .list-reclaimable")).to_have_text(
        format_bytes(page, beach[0].reclaimable)
    )
    expect(page.locator("#summary-groups")).to_contain_text("1 group")
    page.fill("#filter-studio", "")
    expect(page.locator("#list-header")).to_contain_text(f"{everything} group")
    page.check("#filter-missing")
    settled(page)
    with_missing = list_count(page)
    session = review_app.state.session
    assert with_missing == len(
        session.groups(GroupFilter(media="video", distance=10, missing_only=True))
    )
    assert page.locator(".group-row .row-missing").count() == with_missing
    page.uncheck("#filter-missing")
    counts = {}
    for choice in ("yes", "no"):
        page.select_option("#filter-organized", choice)
        settled(page)
        counts[choice] = list_count(page)
        expected = session.groups(GroupFilter(media="video", distance=10, organized=choice))
        assert counts[choice] == len(expected)
    assert counts["yes"] + counts["no"] == everything


def format_bytes(page: Page, size: int) -> str:
    """A size as the page writes it (its own format module)."""
    return page.evaluate(f"async () => (await import('/static/js/format.js')).bytes({size})")


def test_duration_tolerance_in_percent_regroups_the_list(watched: Page, review_app: App) -> None:
    page = watched
    open_checked_review(page, review_app)
    any_duration = list_count(page)
    page.select_option("#filter-duration", "2%")
    settled(page)
    expected = review_app.state.session.groups(
        GroupFilter(media="video", distance=10, duration_percent=2)
    )
    assert list_count(page) == len(expected)
    page.select_option("#filter-duration", "custom")
    page.select_option("#filter-duration-unit", "%")
    page.fill("#filter-duration-custom", "50")
    page.press("#filter-duration-custom", "Tab")
    settled(page)
    assert list_count(page) == any_duration  # half the length: every demo video matches


# ---- the bulk action and the export ------------------------------------------------------------


def test_accept_identical_groups_previews_then_removes_after_confirmation(
    watched: Page, review_app: App, tmp_path: Path
) -> None:
    page = watched
    trash = tmp_path / "trash"
    trash.mkdir()
    open_checked_review(page, review_app)
    page.select_option("#filter-distance", "0")
    settled(page)
    before = list_count(page)
    page.click("#accept-identical")
    preview = page.locator("#identical-preview")
    expect(preview).to_contain_text("Beach sunset (copy).mp4")
    copy = review_app.library / "backup" / "Beach sunset (copy).mp4"
    assert copy.exists()
    page.click("#identical-continue")
    dialog = page.locator(".dialog.remove")
    expect(dialog).to_contain_text("Beach sunset (copy).mp4")
    dialog.locator("input[value=move]").check()
    page.fill("#remove-trash-dir", str(trash))
    page.click("#confirm-remove")
    expect(page.locator(".toast-good")).to_contain_text("Removed")
    assert not copy.exists()
    settled(page)
    after = review_app.state.session.groups(GroupFilter(media="video", distance=0))
    assert list_count(page) == len(after) <= before
    assert all(not file.path.endswith("(copy).mp4") for group in after for file in group.files)
    page.click("#accept-identical")  # nothing byte-identical is left in this view
    expect(page.locator("#identical-none")).to_be_visible()


def test_export_downloads_the_views_groups(watched: Page, review_app: App) -> None:
    page = watched
    open_checked_review(page, review_app)
    with page.expect_download() as download:
        page.click("#export-groups-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    groups = review_app.state.session.groups(GroupFilter(media="video", distance=10))
    assert download.value.suggested_filename == "stash-dedupe-groups.csv"
    assert len(rows) == sum(len(group.files) for group in groups)
    assert {row["suggested_mark"] for row in rows} == {"keep", "remove"}
    assert sum(row["present"] == "False" for row in rows) == len(MISSING)
    with page.expect_download() as download:
        page.click("#export-groups-json")
    document = json.loads(Path(download.value.path()).read_text())
    assert [group["group_id"] for group in document["groups"]] == [g.group_id for g in groups]


def test_list_at_1280x800_shows_whole_figures(watched: Page, review_app: App) -> None:
    page = watched
    open_checked_review(page, review_app)
    page.wait_for_function("[...document.querySelectorAll('.card img')].every(i => i.complete)")
    header = page.locator("#list-header .list-count")
    assert header.evaluate("element => element.scrollWidth <= element.clientWidth")
    for figure in page.locator(".group-row .row-bytes").all():
        assert figure.evaluate("element => element.scrollWidth <= element.clientWidth")
    page.screenshot(path="/tmp/list-1280.png")


def test_the_check_shows_its_progress_then_what_it_found(watched: Page, review_app: App) -> None:
    """A big library takes a while: the page follows the check's job (answered here as a
    running job twice, as a slow check would be) and shows the banner once it is done."""
    page = watched
    polls = []

    def status(route: Route) -> None:
        answer = route.fetch().json()
        answer["presence_job"] = "checking" if not polls else None
        route.fulfill(json=answer)

    def job(route: Route) -> None:
        polls.append(route.request.url)
        running = len(polls) <= 2
        route.fulfill(
            json={
                "job_id": "checking",
                "kind": "presence",
                "state": "running" if running else "done",
                "done": 2000 * len(polls),
                "total": 6000,
                "failed": 0,
                "rate": 1000.0,
                "eta_seconds": 2.0 if running else None,
                "message": "",
                "elapsed": 1.0,
                "result": None if running else len(MISSING),
            }
        )

    page.route(re.compile(r"/api/status\b"), status)
    page.route(re.compile(r"/api/jobs/checking\b"), job)
    page.goto(review_app.url)
    expect(page.locator("#presence-progress")).to_contain_text("Looking for the library's files")
    expect(page.locator("#missing-files-banner")).to_be_visible()
    expect(page.locator("#presence-progress")).to_have_count(0)
    assert len(polls) == 3

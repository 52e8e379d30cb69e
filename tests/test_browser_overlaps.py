"""The Overlaps view in Debian's Chromium, on the real server and a real-schema library of
corpus videos: fingerprint, open a pair, see its segment, compare frames, remove the shorter
file with its confirmation (the longer one asks twice), with no console error and no failed
request on the way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .fake_stash import FakeStash
from .overlap_library import build_overlap_library, overlap_media  # noqa: F401 (a fixture)
from .test_browser import SCREENSHOT_DIR_VARIABLE, App, PageProblems, settled

pytestmark = pytest.mark.browser


@pytest.fixture
def overlap_app(overlap_media: dict[str, Path], tmp_path: Path) -> Iterator[App]:  # noqa: F811
    """The app on a library of its own, with a stand-in Stash for the page to talk to (so
    asking Stash's version after a removal is not an error)."""
    database, ids = build_overlap_library(overlap_media, tmp_path / "stash")
    with FakeStash() as stash:
        state = AppState(
            Settings(duration_tolerance=None, default_distance=10, stash_url=stash.url),
            Journal.open(tmp_path / "journal.sqlite3"),
            DismissalStore(tmp_path / "dismissals.sqlite3"),
            remember=False,
        )
        state.open_database(str(database))
        server, url = start(state)
        app = App(state, url, database.parent / "library")
        app.ids = ids  # type: ignore[attr-defined]
        yield app
        server.shutdown()


@pytest.fixture
def problems(page: Page) -> list[str]:
    """Console errors, failed requests and error answers seen by the page."""
    return PageProblems(page).lines


def box(page: Page, selector: str, index: int) -> dict[str, float]:
    found = page.locator(selector).nth(index).bounding_box()
    assert found is not None, selector
    return found


def test_a_trimmed_copy_is_found_compared_and_removed_from_the_overlaps_view(
    page: Page, overlap_app: App, problems: list[str], tmp_path: Path
) -> None:
    ids = overlap_app.ids  # type: ignore[attr-defined]
    library = overlap_app.library
    assert library is not None
    trash = tmp_path / "trash"
    trash.mkdir()
    page.goto(overlap_app.url)
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    page.click("#filter-media-overlaps")
    expect(page.locator("body[data-rendered=overlaps]")).to_have_count(1)
    expect(page.locator("#filter-media-overlaps")).to_have_attribute("aria-pressed", "true")

    # No fingerprints yet: the view offers to compute them and shows the job's progress.
    compute = page.locator("#compute-fingerprints")
    expect(compute).to_contain_text(f"Compute {len(ids)} missing")
    compute.click()
    expect(page.locator(".overlap-row")).to_have_count(2, timeout=120_000)
    expect(page.locator("#overlap-status")).to_contain_text(f"{len(ids)} of {len(ids)} videos")
    expect(page.locator(".toast-good")).to_contain_text(f"Fingerprints computed: {len(ids)}")

    # The trimmed copy: its row draws both timelines; opened, the common segment lines up.
    pair_id = f"overlap-{ids['s0_trim_start']}-{ids['s0']}"
    row = page.locator(f".overlap-row[data-id='{pair_id}']")
    expect(row).to_contain_text("contained")
    expect(row.locator(".timeline-common")).to_have_count(2)
    row.click()
    settled(page)
    view = page.locator("#overlap-view")
    expect(view.locator("#overlap-summary")).to_contain_text("one inside the other")
    expect(view.locator(".overlap-card")).to_have_count(2)
    expect(view.locator(".overlap-card.card-keep .card-name")).to_have_text("s0.mp4")
    large = "#overlap-view .overlap-timeline-large"
    shorter_bar, longer_bar = (
        box(page, f"{large} .timeline-file", 0),
        box(page, f"{large} .timeline-file", 1),
    )
    # 35 s against 40 s, drawn to scale; the shorter starts 5 s into the longer.
    assert shorter_bar["width"] / longer_bar["width"] == pytest.approx(35 / 40, abs=0.03)
    start_gap = (shorter_bar["x"] - longer_bar["x"]) / longer_bar["width"] * 40
    assert start_gap == pytest.approx(5, abs=1)
    common = [box(page, f"{large} .timeline-common", index) for index in (0, 1)]
    assert common[0]["x"] == pytest.approx(common[1]["x"], abs=2)
    assert common[0]["width"] == pytest.approx(common[1]["width"], abs=2)

    # Frames side by side at matching times.
    page.click("#compare")
    frames = page.locator("#overlap-frames .overlap-frame img")
    samples = overlap_app.state.settings.frame_samples
    expect(frames).to_have_count(2 * samples, timeout=60_000)
    page.wait_for_function(
        "[...document.querySelectorAll('#overlap-frames img, .overlap-card img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    expect(page.locator("#overlap-frames .strip-label .score")).to_have_count(1)
    target = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path) / "overlaps-view.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))

    # The longer file asks twice; cancelling leaves everything in place.
    shorter_path = library / "s0_trim_start.mp4"
    longer_path = library / "s0.mp4"
    page.click("#remove-other")
    question = page.locator(".dialog", has_text="Remove the longer file?")
    expect(question).to_contain_text("does not have")
    question.get_by_role("button", name="Cancel").click()
    expect(page.locator(".dialog")).to_have_count(0)
    assert shorter_path.exists() and longer_path.exists()

    # The suggestion: remove the shorter, through the usual confirmation.
    page.click("#remove-suggested")
    dialog = page.locator(".dialog.remove")
    expect(dialog).to_contain_text("1 file")
    expect(dialog.locator(".remove-path")).to_contain_text("s0_trim_start.mp4")
    expect(dialog.locator(".keep-path")).to_contain_text("s0.mp4")
    dialog.locator("input[value=move]").check()
    page.fill("#remove-trash-dir", str(trash))
    page.click("#confirm-remove")
    expect(page.locator(".toast-good").last).to_contain_text("Removed 1 file")
    settled(page)
    expect(page.locator(".overlap-row")).to_have_count(1)
    expect(page.locator(f".overlap-row[data-id='{pair_id}']")).to_have_count(0)
    assert not shorter_path.exists() and longer_path.exists()
    assert (trash / "s0_trim_start.mp4").exists() or any(trash.rglob("s0_trim_start.mp4"))
    assert problems == []


def test_compute_missing_takes_the_phashes_then_the_frame_fingerprints(
    page: Page, overlap_app: App, problems: list[str]
) -> None:
    """One click computes what both lists need: the phashes, then the fingerprints, after
    which the Overlaps list has its pairs without asking again."""
    ids = overlap_app.ids  # type: ignore[attr-defined]
    page.goto(overlap_app.url)
    expect(page.locator("body[data-rendered=review]")).to_have_count(1)
    compute = page.locator("#missing-phash button")
    expect(page.locator("#missing-phash")).to_contain_text(f"{len(ids)} without phash")
    compute.click()
    expect(page.locator("#backfill-bar")).to_have_count(1)
    expect(page.locator("#backfill-bar")).to_have_count(0, timeout=120_000)
    expect(page.locator(".toast-good").last).to_contain_text(f"Fingerprints taken: {len(ids)}")
    expect(page.locator("#missing-phash")).to_have_count(0)
    page.click("#filter-media-overlaps")
    expect(page.locator("body[data-rendered=overlaps]")).to_have_count(1)
    expect(page.locator(".overlap-row")).to_have_count(2)
    expect(page.locator("#compute-fingerprints")).to_have_count(0)
    assert problems == []

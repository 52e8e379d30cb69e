"""The group list: sorted and filtered by Stash metadata (counts and totals follow), the
byte-identical bulk action, the export, and duration tolerances in percent, from the API,
the domain and the CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stash_dedupe.dedupe.dismissals import DismissalStore
from stash_dedupe.dedupe.durations import durations_match
from stash_dedupe.dedupe.grouping import find_groups
from stash_dedupe.dedupe.session import GROUP_SORTS
from stash_dedupe.models import VIDEO, MediaFile
from stash_dedupe.removal.journal import Journal
from stash_dedupe.settings import Settings
from stash_dedupe.stash.reader import open_stash_database
from stash_dedupe.web.server import start
from stash_dedupe.web.state import AppState

from .review_library import MISSING, ReviewLibrary, build_review_library
from .test_server import Client

LIST = "/api/groups?media=video&distance=0"


@pytest.fixture
def library(tmp_path: Path) -> ReviewLibrary:
    return build_review_library(tmp_path / "library")


@pytest.fixture
def client(library: ReviewLibrary, tmp_path: Path) -> Iterator[Client]:
    state = AppState(
        Settings(duration_tolerance=None, default_distance=0),
        Journal.open(tmp_path / "journal.sqlite3"),
        DismissalStore(tmp_path / "dismissals.sqlite3"),
        remember=False,
    )
    state.open_database(str(library.database))
    assert state.presence_job is not None and state.presence_job.wait(60)
    server, _url = start(state)
    yield Client(server.server_address[1], state.token)
    server.shutdown()
    server.server_close()


def names_in(client: Client, library: ReviewLibrary, query: str) -> list[set[str]]:
    """Each listed group's files, by name (a1, b2, ...), in the list's order."""
    by_id = {file_id: name for name, file_id in library.ids.items()}
    listing = client.get(f"{LIST}&{query.replace(' ', '%20')}")
    return [
        {by_id[file["file_id"]] for file in client.get(f"/api/groups/{item['id']}")["files"]}
        for item in listing["items"]
    ]


# ---- sort ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", list(GROUP_SORTS))
def test_each_sort_orders_the_list_by_its_key(client: Client, sort: str) -> None:
    items = client.get(f"{LIST}&sort={sort}")["items"]
    assert len(items) == 4
    if sort == "reclaimable":
        keys = [-item["reclaimable"] for item in items]
    elif sort == "files":
        keys = [-item["present_count"] for item in items]
    elif sort == "distance":
        keys = [-item["max_distance"] for item in items]
    elif sort == "path":
        keys = [item["first_path"].casefold() for item in items]
    else:  # newest: by the latest modification time of a group's files
        keys = [
            -max(f["mod_time_epoch"] or 0 for f in client.get(f"/api/groups/{item['id']}")["files"])
            for item in items
        ]
    assert keys == sorted(keys)


def test_the_default_order_is_most_reclaimable_first(client: Client) -> None:
    assert client.get(LIST)["items"] == client.get(f"{LIST}&sort=reclaimable")["items"]


def test_sorting_by_files_changes_the_order(client: Client, library: ReviewLibrary) -> None:
    by_files = names_in(client, library, "sort=files")
    assert by_files[0] == {"d1", "d2", "d3"}  # three present files, the least reclaimable
    assert names_in(client, library, "sort=reclaimable")[0] == {"a1", "a2", "a3"}


def test_an_unknown_sort_is_refused_with_the_choices(client: Client) -> None:
    error = client.get(f"{LIST}&sort=size", expect=400)["error"]
    assert "reclaimable" in error and "path" in error


# ---- filters ---------------------------------------------------------------------------------


def test_studio_filter_keeps_groups_with_that_studio_and_totals_follow(
    client: Client, library: ReviewLibrary
) -> None:
    assert names_in(client, library, "studio=acm") == [{"a1", "a2", "a3"}]
    listing = client.get(f"{LIST}&studio=acm")
    summary = client.get("/api/summary?media=video&distance=0&studio=acm")
    assert summary["groups"] == listing["total"] == 1
    assert summary["reclaimable"] == listing["reclaimable"] == listing["items"][0]["reclaimable"]
    assert summary["files_in_groups"] == 2  # a3 is missing


def test_performer_and_tag_filters_read_names_from_stash(
    client: Client, library: ReviewLibrary
) -> None:
    scene = library.scenes["a1"]
    assert names_in(client, library, f"performer=performer {scene}.0") == [{"a1", "a2", "a3"}]
    assert names_in(client, library, f"tag=TAG {scene}.0") == [{"a1", "a2", "a3"}]
    assert client.get(f"{LIST}&tag=no%20such%20tag")["total"] == 0


def test_organized_filter_splits_the_list(client: Client, library: ReviewLibrary) -> None:
    organized = names_in(client, library, "organized=yes")
    not_organized = names_in(client, library, "organized=no")
    assert organized == [{"a1", "a2", "a3"}]
    assert len(organized) + len(not_organized) == client.get(LIST)["total"]


def test_missing_filter_keeps_groups_with_files_not_found(
    client: Client, library: ReviewLibrary
) -> None:
    found = names_in(client, library, "missing=1")
    assert sorted(map(sorted, found)) == [["a1", "a2", "a3"], ["b1", "b2"]]
    assert all(set(MISSING) & names for names in found)


def test_item_names_are_read_for_the_files_asked_only(library: ReviewLibrary) -> None:
    with open_stash_database(library.database) as database:
        names = database.item_names(VIDEO, [library.ids["a1"], library.ids["a2"]])
    scene = library.scenes["a1"]
    assert set(names) == {library.ids["a1"]}  # a2's scene has neither
    assert names[library.ids["a1"]].performers == (f"performer {scene}.0",)
    assert names[library.ids["a1"]].tags == (f"tag {scene}.0",)


# ---- byte-identical groups -------------------------------------------------------------------


def test_identical_preview_lists_only_byte_identical_groups(
    client: Client, library: ReviewLibrary
) -> None:
    preview = client.post("/api/identical/preview?media=video&distance=0")
    (group,) = preview["groups"]
    kept, removed = group["keeper"]["file_id"], [file["file_id"] for file in group["remove"]]
    assert {kept, *removed} == {library.ids["c1"], library.ids["c2"]}
    assert preview["bytes"] == library.sizes["c2"]
    assert preview["plan"]["groups"] == [
        {"group_id": group["group_id"], "keep": [kept], "remove": removed}
    ]


def test_identical_removal_goes_through_the_checked_removal(
    client: Client, library: ReviewLibrary, tmp_path: Path
) -> None:
    preview = client.post("/api/identical/preview?media=video&distance=0")
    trash = tmp_path / "trash"
    trash.mkdir()
    result = client.post(
        "/api/remove", {"plan": preview["plan"], "mode": "move", "trash_dir": str(trash)}
    )
    assert len(result["done"]) == 1 and result["bytes_freed"] == library.sizes["c2"]
    assert client.post("/api/identical/preview?media=video&distance=0")["groups"] == []
    # The same plan again is refused by the plan checks: its group is gone.
    client.post(
        "/api/remove",
        {"plan": preview["plan"], "mode": "move", "trash_dir": str(trash)},
        expect=409,
    )


def test_identical_preview_follows_the_filter(client: Client) -> None:
    assert client.post("/api/identical/preview?media=video&distance=0&studio=acme")["groups"] == []


# ---- export ----------------------------------------------------------------------------------


def test_csv_export_has_a_row_per_file_with_the_suggested_mark(
    client: Client, library: ReviewLibrary
) -> None:
    status, headers, body = client.request("GET", "/api/export/groups.csv?media=video&distance=0")
    assert status == 200
    assert headers["content-disposition"] == 'attachment; filename="stash-dedupe-groups.csv"'
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == len(library.ids)
    for item in client.get(LIST)["items"]:
        group = client.get(f"/api/groups/{item['id']}")
        mine = {int(row["file_id"]): row for row in rows if row["group_id"] == item["id"]}
        assert set(mine) == {file["file_id"] for file in group["files"]}
        for file in group["files"]:
            row = mine[file["file_id"]]
            assert row["suggested_mark"] == ("remove" if file["suggested_remove"] else "keep")
            assert row["path"] == file["path"] and int(row["size"]) == file["size"]
            assert row["present"] == str(file["present"])
            assert row["distance_to_keeper"] == str(file["distance"])


def test_json_export_follows_the_filter(client: Client, library: ReviewLibrary) -> None:
    status, headers, body = client.request(
        "GET", "/api/export/groups.json?media=video&distance=0&studio=zeta"
    )
    assert status == 200 and "stash-dedupe-groups.json" in headers["content-disposition"]
    (group,) = json.loads(body)["groups"]
    assert {file["file_id"] for file in group["files"]} == {library.ids["c1"], library.ids["c2"]}
    assert (
        sum(f["size"] for f in group["files"] if f["suggested_mark"] == "remove")
        == group["reclaimable"]
    )


# ---- duration tolerance in percent -----------------------------------------------------------


def test_percent_tolerance_groups_durations_within_a_share_of_the_longer(
    client: Client, library: ReviewLibrary
) -> None:
    durations = [
        names for names in names_in(client, library, "duration_percent=2") if "d1" in names
    ]
    assert durations == [{"d1", "d2"}]  # 98.5 is within 2 % of 100; 90 is not
    wide = [names for names in names_in(client, library, "duration_percent=10") if "d1" in names]
    assert wide == [{"d1", "d2", "d3"}]  # 90 is exactly 10 % below 100
    items = client.get(f"{LIST}&duration_percent=2")["items"]
    (item,) = [item for item in items if Path(item["first_path"]).stem in ("d1", "d2")]
    group = client.get(f"/api/groups/{item['id']}")
    assert group["duration_percent"] == 2 and group["duration_tolerance"] is None


@pytest.mark.parametrize("value", ["-1", "100", "x", "nan"])
def test_a_bad_percentage_is_refused(client: Client, value: str) -> None:
    assert "percent" in client.get(f"{LIST}&duration_percent={value}", expect=400)["error"]


def video(file_id: int, duration: float, phash: str = "c3a1f0e0d0c0b000") -> MediaFile:
    return MediaFile(
        file_id,
        VIDEO,
        f"/v/{file_id}.mp4",
        f"/v/{file_id}.mp4",
        100,
        None,
        None,
        phash,
        duration=duration,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=1, max_value=10_000), min_size=2, max_size=30),
    st.sampled_from([0.5, 1.0, 2.0, 5.0, 20.0]),
)
def test_every_two_files_of_a_percent_group_are_within_it(
    durations: list[float], percent: float
) -> None:
    files = [video(index + 1, duration) for index, duration in enumerate(durations)]
    # Brute force: the components of "durations match" (one phash, so every pair is close).
    component = {file.file_id: file.file_id for file in files}
    for first in files:
        for second in files:
            if durations_match(first.duration, second.duration, percent=percent):
                old, new = component[second.file_id], component[first.file_id]
                component = {
                    key: new if value == old else value for key, value in component.items()
                }
    groups = find_groups(files, max_duration_percent=percent)
    for group in groups:
        assert len({component[file.file_id] for file in group.files}) == 1
        for first in group.files:
            for second in group.files:
                assert durations_match(first.duration, second.duration, percent=percent)
                assert group.matches(first, second)
    sizes = {}
    for root in component.values():
        sizes[root] = sizes.get(root, 0) + 1
    covered = {component[group.files[0].file_id] for group in groups}
    assert covered == {root for root, size in sizes.items() if size >= 2}


def test_percent_is_of_the_longer_duration() -> None:
    assert durations_match(100.0, 98.0, percent=2.0)  # 2 s = 2 % of 100
    assert not durations_match(100.0, 97.9, percent=2.0)
    assert durations_match(7200.0, 7056.0, percent=2.0)  # 2.4 minutes of two hours
    assert durations_match(100.0, None, percent=2.0)  # unknown matches any


# ---- the CLI ---------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stash_dedupe", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_groups_csv_streams_a_row_per_file(library: ReviewLibrary) -> None:
    result = run_cli("groups", "--db", str(library.database), "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(library.ids)
    by_path = {Path(row["path"]).stem: row for row in rows}
    assert {name for name, row in by_path.items() if row["present"] == "False"} == set(MISSING)
    assert by_path["a3"]["suggested_mark"] == "keep"  # missing: never marked remove
    assert sum(row["suggested_mark"] == "remove" for row in rows) >= 1


def test_cli_duration_diff_percent(library: ReviewLibrary) -> None:
    result = run_cli(
        "groups", "--db", str(library.database), "--json", "--duration-diff-percent", "2"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["duration_diff_percent"] == 2
    names = [{Path(file["path"]).stem for file in group["files"]} for group in document["groups"]]
    assert {"d1", "d2"} in names and not any("d3" in group for group in names)


def test_cli_refuses_seconds_and_percent_together(library: ReviewLibrary) -> None:
    result = run_cli(
        "groups",
        "--db",
        str(library.database),
        "--duration-diff",
        "1",
        "--duration-diff-percent",
        "2",
    )
    assert result.returncode != 0 and "not both" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_groups_filter_like_the_page(library: ReviewLibrary) -> None:
    result = run_cli("groups", "--db", str(library.database), "--csv", "--studio", "acme")
    assert result.returncode == 0, result.stderr
    stems = {Path(row["path"]).stem for row in csv.DictReader(io.StringIO(result.stdout))}
    assert stems == {"a1", "a2", "a3"}
    result = run_cli("groups", "--db", str(library.database), "--missing-only", "--json")
    groups = json.loads(result.stdout)["groups"]
    assert len(groups) == 2
    refused = run_cli("groups", "--db", str(library.database), "--sort", "size")
    assert refused.returncode != 0 and "reclaimable" in refused.stderr

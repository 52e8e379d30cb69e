"""The Stash GraphQL client: every document is valid for Stash's schema, each flow asks a fake
Stash exactly what it should, and every failure reads as one line the user can act on."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphql import parse, validate

from stash_dedupe.errors import RefusedError
from stash_dedupe.models import IMAGE, VIDEO, MediaFile, SceneInfo
from stash_dedupe.removal.plan import RemovedFile
from stash_dedupe.stash import documents
from stash_dedupe.stash.api import StashClient
from stash_dedupe.stash.cleanup import (
    CLEAN,
    DESTROY_IMAGES,
    DESTROY_SCENES,
    Operation,
    apply_operations,
    plan_operations,
)
from stash_dedupe.stash.documents import set_phashes_document
from stash_dedupe.stash.errors import (
    StashAuthError,
    StashError,
    StashQueryError,
    StashUnreachableError,
)
from stash_dedupe.stash.phash_writeback import (
    MAX_PHASH_BATCH,
    PhashWrite,
    SkippedWrite,
    write_phashes,
)
from stash_dedupe.stash.scene_merge import merge_scenes, plan_merge
from stash_dedupe.stash.url import normalize_url
from tests.fake_stash import SCHEMA, FakeStash


@pytest.fixture
def fake() -> Iterator[FakeStash]:
    """A fake Stash; afterwards, every request it got must have been valid for the schema."""
    with FakeStash() as server:
        yield server
    assert not server.invalid_requests, [r.errors for r in server.invalid_requests]


# ---- the documents ---------------------------------------------------------------------


def app_documents() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(documents).items()
        if name.endswith(("_QUERY", "_MUTATION")) and isinstance(value, str)
    }


def test_every_document_the_app_sends_is_valid_for_stash_schema() -> None:
    documents = app_documents()
    assert set(documents) >= {
        "VERSION_QUERY",
        "FIND_SCENES_QUERY",
        "FIND_FILES_QUERY",
        "FIND_FILE_QUERY",
        "SCENE_MERGE_MUTATION",
        "SCENES_DESTROY_MUTATION",
        "IMAGES_DESTROY_MUTATION",
        "METADATA_CLEAN_MUTATION",
    }
    for count in (1, 2, MAX_PHASH_BATCH):
        documents[f"set_phashes_document({count})"] = set_phashes_document(count)
    for name, document in documents.items():
        problems = validate(SCHEMA, parse(document))
        assert not problems, f"{name}: {[problem.message for problem in problems]}"


def test_no_document_is_written_outside_the_documents_module() -> None:
    package = Path(documents.__file__).parent.parent
    writers = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"\b(query|mutation|fragment) StashDedupe", path.read_text(encoding="utf-8"))
    ]
    assert writers == ["stash/documents.py"]


def test_operations_can_only_send_the_app_own_documents() -> None:
    for kind in (DESTROY_SCENES, DESTROY_IMAGES, CLEAN):
        assert Operation(kind, "", {}).document in app_documents().values()


# ---- connection and errors -------------------------------------------------------------


def test_test_connection_shows_stash_version(fake: FakeStash) -> None:
    assert StashClient(fake.url).version() == "v0.30.1"
    assert fake.called("version") == [{}]


def test_a_development_build_shows_its_commit_hash() -> None:
    with FakeStash(version=None) as fake:
        assert StashClient(fake.url).version() == "development build abc1234"


def test_the_api_key_is_sent_as_the_apikey_header() -> None:
    with FakeStash(api_key="s3cret-key") as fake:
        StashClient(fake.url, api_key="s3cret-key").version()
    assert [request.api_key for request in fake.requests] == ["s3cret-key"]


def test_no_apikey_header_without_a_key(fake: FakeStash) -> None:
    StashClient(fake.url).version()
    assert fake.requests[0].api_key is None


def test_a_wrong_api_key_reads_as_an_auth_error_without_the_key() -> None:
    with FakeStash(api_key="right-key") as fake:
        client = StashClient(fake.url, api_key="wrong-key-123")
        with pytest.raises(StashAuthError) as caught:
            client.version()
    assert caught.value.message == (
        f"Stash at {fake.url} rejected the API key (HTTP 401): "
        "copy it again from Stash's Settings → Security."
    )
    assert "wrong-key-123" not in str(caught.value) + repr(client)


def test_an_api_key_that_cannot_be_a_header_is_refused_before_sending() -> None:
    with pytest.raises(StashError, match="paste it again") as caught:
        StashClient(api_key="eyJhbGci\nX-Injected: 1")
    assert "eyJhbGci" not in caught.value.message


def test_a_missing_api_key_says_stash_needs_one() -> None:
    with (
        FakeStash(api_key="right-key") as fake,
        pytest.raises(StashAuthError, match="needs an API key"),
    ):
        StashClient(fake.url).version()


def test_nothing_listening_says_it_cannot_reach_stash_at_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(StashUnreachableError) as caught:
        StashClient(url).version()
    assert caught.value.message.startswith(f"Cannot reach Stash at {url} (Connection refused)")


def test_a_stash_that_does_not_answer_in_time_times_out(fake: FakeStash) -> None:
    fake.stall_seconds = 1.0
    with pytest.raises(StashUnreachableError, match=r"did not answer within 0\.2 s"):
        StashClient(fake.url, timeout=0.2).version()


def test_graphql_error_text_reaches_the_user(fake: FakeStash) -> None:
    fake.fail("version", "error getting version: database is locked")
    with pytest.raises(
        StashQueryError, match="Stash reported an error: error getting version: database is locked"
    ):
        StashClient(fake.url).version()


def test_a_server_error_is_a_readable_message(fake: FakeStash) -> None:
    fake.canned_response = (500, b"runtime error: invalid memory address\ngoroutine 1\n", {})
    with pytest.raises(StashError) as caught:
        StashClient(fake.url).version()
    assert caught.value.message == (
        f"Stash at {fake.url} failed (HTTP 500): runtime error: invalid memory address."
    )


def test_a_request_an_older_stash_does_not_know_says_so(fake: FakeStash) -> None:
    body = json.dumps(
        {"errors": [{"message": 'Cannot query field "findFiles" on type "Query".'}], "data": None}
    ).encode()
    fake.canned_response = (422, body, {})
    with pytest.raises(StashError, match="may be older than this app needs"):
        StashClient(fake.url).version()


def test_a_redirect_is_reported_not_followed(fake: FakeStash) -> None:
    fake.canned_response = (302, b"", {"Location": "https://stash.example/graphql"})
    with pytest.raises(StashError, match="redirects to https://stash.example/graphql"):
        StashClient(fake.url, api_key="k").version()
    assert len(fake.requests) == 1


def test_an_address_that_is_not_stash_says_to_check_it(fake: FakeStash) -> None:
    with pytest.raises(StashError, match="check that this is Stash's address"):
        StashClient(fake.url + "/elsewhere").version()


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("localhost:9999", "http://localhost:9999"),
        ("  http://nas:9999/ ", "http://nas:9999"),
        ("https://stash.example/graphql", "https://stash.example"),
        ("http://proxy/stash/graphql/", "http://proxy/stash"),
    ],
)
def test_the_url_is_taken_as_people_type_it(typed: str, url: str) -> None:
    assert normalize_url(typed) == url


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Set the Stash URL"),
        ("file:///etc/passwd", "not an http address"),
        ("http://nas:port", "not valid"),
        ("http://admin:hunter2@nas:9999", "API key field"),
    ],
)
def test_urls_that_are_not_stash_http_addresses_are_refused(typed: str, message: str) -> None:
    with pytest.raises(StashError, match=message) as caught:
        StashClient(typed)
    assert "hunter2" not in caught.value.message


# ---- after a removal -------------------------------------------------------------------


def library_file(
    file_id: int, stash_path: str, item_id: int, files_in_item: int = 1, media: str = VIDEO
) -> MediaFile:
    return MediaFile(
        file_id,
        media,
        "/local" + stash_path,
        stash_path,
        1000,
        "2024-05-01T10:00:00Z",
        1714557600.0,
        items=(SceneInfo(item_id, file_count=files_in_item),),
    )


def removed(*files: MediaFile) -> list[RemovedFile]:
    return [RemovedFile(file.file_id, file.path, None, file.size) for file in files]


def test_cleanup_destroys_scenes_whose_only_file_was_removed_and_cleans_their_folders() -> None:
    alone = library_file(1, "/data/a/alone.mp4", item_id=10)
    shared = library_file(2, "/data/b/copy.mp4", item_id=11, files_in_item=2)
    kept = library_file(3, "/data/b/kept.mp4", item_id=11, files_in_item=2)
    library = {file.file_id: file for file in (alone, shared, kept)}

    operations = plan_operations(removed(alone, shared), library)

    assert [(op.kind, op.variables) for op in operations] == [
        (
            DESTROY_SCENES,
            {"input": {"ids": ["10"], "delete_file": False, "delete_generated": True}},
        ),
        (CLEAN, {"input": {"paths": ["/data/a", "/data/b"], "dryRun": False}}),
    ]
    assert operations[0].summary.startswith("Delete 1 scene whose only file was removed")


def test_a_scene_whose_every_file_was_removed_is_destroyed() -> None:
    first = library_file(1, "/data/a.mp4", item_id=11, files_in_item=2)
    second = library_file(2, "/data/b.mp4", item_id=11, files_in_item=2)
    library = {1: first, 2: second}
    operations = plan_operations(removed(first, second), library)
    assert operations[0].variables["input"]["ids"] == ["11"]


def test_images_are_destroyed_with_images_destroy_and_never_their_files() -> None:
    image = library_file(5, "/pics/x.jpg", item_id=50, media=IMAGE)
    operations = plan_operations(removed(image), {5: image})
    assert operations[0].kind == DESTROY_IMAGES
    assert operations[0].variables == {
        "input": {"ids": ["50"], "delete_file": False, "delete_generated": True}
    }


def test_clean_names_each_folder_once_and_skips_subfolders_of_another() -> None:
    files = [
        library_file(1, "/data/a/x.mp4", 1),
        library_file(2, "/data/a/deeper/y.mp4", 2),
        library_file(3, "/data/a/z.mp4", 3),
        library_file(4, "/data/ab/w.mp4", 4),
        library_file(5, "D:\\media\\v.mp4", 5),
    ]
    operations = plan_operations(removed(*files), {f.file_id: f for f in files})
    assert operations[-1].variables["input"]["paths"] == ["/data/a", "/data/ab", "D:\\media"]


def test_nothing_removed_means_nothing_to_tell_stash() -> None:
    assert plan_operations([], {}) == []


def test_applying_the_cleanup_sends_exactly_the_plan_with_progress(fake: FakeStash) -> None:
    fake.add_file(1, "/data/a/alone.mp4")
    fake.add_scene(10, [1])
    alone = library_file(1, "/data/a/alone.mp4", item_id=10)
    client = StashClient(fake.url)
    operations = plan_operations(removed(alone), {1: alone})
    seen: list[tuple[int, int, str]] = []

    outcomes = apply_operations(client, operations, progress=lambda *step: seen.append(step))

    assert fake.called("scenesDestroy") == [
        {"ids": ["10"], "delete_file": False, "delete_generated": True}
    ]
    assert fake.called("metadataClean") == [{"paths": ["/data/a"], "dryRun": False}]
    assert outcomes == [
        "Stash deleted 1 scene from its library.",
        "Stash started its Clean task (job 1).",
    ]
    assert seen == [(1, 2, outcomes[0]), (2, 2, outcomes[1])]
    assert "10" not in fake.scenes


@pytest.mark.parametrize(
    "operation",
    [
        Operation(DESTROY_SCENES, "", {"input": {"ids": ["1"], "delete_file": True}}),
        Operation(DESTROY_SCENES, "", {"input": {"ids": ["1"]}}),
        Operation(CLEAN, "", {"input": {"paths": [], "dryRun": False}}),
        Operation(CLEAN, "", {"input": {"dryRun": False}}),
        Operation("deleteFiles", "", {"ids": ["1"]}),
    ],
)
def test_apply_refuses_deleting_files_or_cleaning_everything_before_sending_anything(
    fake: FakeStash, operation: Operation
) -> None:
    harmless = plan_operations(
        removed(library_file(1, "/d/a.mp4", 1)), {1: library_file(1, "/d/a.mp4", 1)}
    )
    with pytest.raises(RefusedError, match="Refused|Unknown|no ids"):
        apply_operations(StashClient(fake.url), [*harmless, operation])
    assert fake.requests == []


def test_a_failed_step_says_which_one(fake: FakeStash) -> None:
    fake.add_file(1, "/d/a.mp4")
    fake.add_scene(10, [1])
    fake.fail("metadataClean", "a job is already running")
    alone = library_file(1, "/d/a.mp4", item_id=10)
    client = StashClient(fake.url)
    with pytest.raises(
        StashQueryError, match=r"Step 2 of 2 \(clean\) failed: .*a job is already running"
    ):
        apply_operations(client, plan_operations(removed(alone), {1: alone}))
    assert len(fake.called("scenesDestroy")) == 1


# ---- merge -----------------------------------------------------------------------------


def tag(n: int) -> dict[str, str]:
    return {"id": f"t{n}", "name": f"tag {n}"}


@pytest.fixture
def three_scenes(fake: FakeStash) -> FakeStash:
    """Keeper 1 (sparse), source 2 (rich), source 3; ids as Stash gives them."""
    for file_id in (100, 200, 300):
        fake.add_file(file_id, f"/data/v{file_id}.mp4")
    fake.add_scene(
        1,
        [100],
        title="Keeper",
        tags=[tag(1)],
        play_count=1,
        performers=[{"id": "p1", "name": "Ann"}],
        stash_ids=[
            {
                "endpoint": "https://stashdb.org/graphql",
                "stash_id": "K",
                "updated_at": "2025-01-01T00:00:00Z",
            }
        ],
    )
    fake.add_scene(
        2,
        [200],
        title="Source",
        date="2020-02-02",
        tags=[tag(1), tag(2)],
        performers=[{"id": "p2", "name": "Bea"}],
        play_count=3,
        o_counter=2,
        studio={"id": "s1", "name": "Studio One"},
        urls=["https://x.example/2"],
        scene_markers=[
            {"id": "m1", "title": "a", "seconds": 1.0},
            {"id": "m2", "title": "b", "seconds": 2.0},
        ],
        groups=[{"group": {"id": "g1", "name": "Series"}, "scene_index": 4}],
        galleries=[{"id": "gal1", "title": None}],
        stash_ids=[
            {
                "endpoint": "https://stashdb.org/graphql",
                "stash_id": "S",
                "updated_at": "2025-01-02T00:00:00Z",
            },
            {
                "endpoint": "https://pmvstash.org/graphql",
                "stash_id": "P",
                "updated_at": "2025-01-03T00:00:00Z",
            },
        ],
    )
    fake.add_scene(3, [300], tags=[tag(3)], o_counter=1)
    return fake


def test_merge_preview_shows_the_union_and_sends_nothing(three_scenes: FakeStash) -> None:
    preview = plan_merge(StashClient(three_scenes.url), 1, [2, 3])

    merged = preview.merged
    assert merged.title == "Keeper" and merged.date == "2020-02-02"
    assert merged.studio == "Studio One"
    assert merged.tags == ("tag 1", "tag 2", "tag 3")
    assert merged.performers == ("Ann", "Bea")
    assert merged.groups == ("Series",) and merged.gallery_count == 1
    assert (merged.marker_count, merged.play_count, merged.o_count) == (2, 4, 3)
    assert merged.file_paths == ("/data/v100.mp4", "/data/v200.mp4", "/data/v300.mp4")
    assert merged.stash_ids == ("https://stashdb.org/graphql K", "https://pmvstash.org/graphql P")
    assert preview.dropped_stash_ids == ("https://stashdb.org/graphql S",)
    assert [s.scene_id for s in preview.sources] == [2, 3]
    assert [call.name for call in three_scenes.calls] == ["findScenes"]
    assert three_scenes.called("findScenes") == [{"ids": ["1", "2", "3"]}]


def test_merge_uses_scene_merge_with_union_values_and_both_histories(
    three_scenes: FakeStash,
) -> None:
    result = merge_scenes(StashClient(three_scenes.url), 1, [2, 3])

    (sent,) = three_scenes.called("sceneMerge")
    assert sent["source"] == ["2", "3"] and sent["destination"] == "1"
    assert sent["play_history"] is True and sent["o_history"] is True
    values = sent["values"]
    assert values["id"] == "1" and values["title"] == "Keeper"
    assert values["tag_ids"] == ["t1", "t2", "t3"]
    assert values["performer_ids"] == ["p1", "p2"]
    assert values["studio_id"] == "s1" and values["gallery_ids"] == ["gal1"]
    assert values["groups"] == [{"group_id": "g1", "scene_index": 4}]
    assert [s["stash_id"] for s in values["stash_ids"]] == ["K", "P"]
    assert result.scene_id == 1 and result.tags == ("tag 1", "tag 2", "tag 3")
    assert result.marker_count == 2 and result.play_count == 4
    assert set(three_scenes.scenes) == {"1"}


@pytest.mark.parametrize(
    ("sources", "message"), [([1, 2], "cannot also be merged"), ([], "at least one")]
)
def test_merge_refuses_without_proper_sources(
    fake: FakeStash, sources: list[int], message: str
) -> None:
    with pytest.raises(RefusedError, match=message):
        plan_merge(StashClient(fake.url), 1, sources)
    assert fake.requests == []


def test_merging_an_unknown_scene_surfaces_stash_message(three_scenes: FakeStash) -> None:
    with pytest.raises(StashQueryError, match="scene with id 99 not found"):
        merge_scenes(StashClient(three_scenes.url), 1, [99])
    assert three_scenes.called("sceneMerge") == []


# ---- phash write-back ------------------------------------------------------------------

HASHED_AT = "2024-05-01T10:00:00Z"


def test_phashes_are_written_in_batches_with_progress(fake: FakeStash) -> None:
    items = []
    for file_id in range(1, 6):
        fake.add_file(file_id, f"/data/{file_id}.mp4", size=1000, mod_time=HASHED_AT)
        items.append(PhashWrite(file_id, f"{file_id:016x}", 1000, HASHED_AT))
    items[0] = PhashWrite(1, "8000000000000001", 1000, HASHED_AT)
    seen: list[tuple[int, int, str]] = []

    result = write_phashes(
        StashClient(fake.url), items, batch_size=2, progress=lambda *step: seen.append(step)
    )

    assert result.written == (1, 2, 3, 4, 5) and result.skipped == result.failed == ()
    batches = [r for r in fake.requests if "StashDedupeSetPhashes" in r.query]
    assert [len(r.variables) for r in batches] == [2, 2, 1]
    assert fake.called("fileSetFingerprints")[0] == {
        "id": "1",
        "fingerprints": [{"type": "phash", "value": "8000000000000001"}],
    }
    assert fake.files["1"]["fingerprints"]["phash"] == "8000000000000001"
    assert fake.files["2"]["fingerprints"]["phash"] == "2"
    assert [step[:2] for step in seen] == [(2, 5), (4, 5), (5, 5)]
    assert seen[-1][2] == "5 of 5 phashes written to Stash"


def test_files_changed_or_gone_or_already_hashed_in_stash_are_skipped(fake: FakeStash) -> None:
    fake.add_file(1, "/d/same.mp4", size=1000, mod_time="2024-05-01T12:00:00+02:00")
    fake.add_file(2, "/d/grown.mp4", size=2000, mod_time=HASHED_AT)
    fake.add_file(3, "/d/touched.mp4", size=1000, mod_time="2024-06-01T10:00:00Z")
    fake.add_file(5, "/d/has-it.mp4", size=1000, mod_time=HASHED_AT, phash="c0ffee")
    fake.add_file(6, "/d/has-own.mp4", size=1000, mod_time=HASHED_AT, phash="abcdef")
    items = [
        PhashWrite(file_id, "0000000000c0ffee", 1000, "2024-05-01 10:00:00+00:00")
        for file_id in range(1, 7)
    ]

    result = write_phashes(StashClient(fake.url), items, batch_size=10)

    assert result.written == (1,)
    assert {skip.file_id: skip.reason for skip in result.skipped} == {
        2: "its size changed since it was hashed (1000 → 2000 bytes)",
        3: "it was modified since it was hashed",
        4: "Stash could not find this file (Stash reported an error: file with id 4 not found)",
        5: "Stash already has this phash",
        6: "Stash already has its own phash for it (kept)",
    }
    assert [call["id"] for call in fake.called("fileSetFingerprints")] == ["1"]
    assert fake.files["6"]["fingerprints"]["phash"] == "abcdef"


def test_stash_refusing_one_phash_fails_only_that_file(fake: FakeStash) -> None:
    for file_id in (1, 2, 3):
        fake.add_file(file_id, f"/d/{file_id}.mp4", mod_time=HASHED_AT)
    fake.refused_phash_files["3"] = "modifying fingerprints: database is locked"
    items = [PhashWrite(i, "00000000000000ff", 1000, HASHED_AT) for i in (1, 2, 3)]

    result = write_phashes(StashClient(fake.url), items)

    assert result.written == (1, 2)
    assert result.failed == (
        SkippedWrite(3, "Stash refused it: modifying fingerprints: database is locked"),
    )
    assert fake.files["2"]["fingerprints"]["phash"] == "ff"


def test_phashes_not_confirmed_after_a_refusal_are_not_reported_written(fake: FakeStash) -> None:
    # graphql-core stops a mutation at the first failed non-null field (Stash's gqlgen goes
    # on), so the file after the refused one is never written and must be reported so.
    for file_id in (1, 2, 3):
        fake.add_file(file_id, f"/d/{file_id}.mp4", mod_time=HASHED_AT)
    fake.refused_phash_files["2"] = "converting phash: invalid syntax"
    items = [PhashWrite(i, "00000000000000ff", 1000, HASHED_AT) for i in (1, 2, 3)]

    result = write_phashes(StashClient(fake.url), items)

    assert result.written == (1,)
    assert result.failed == (
        SkippedWrite(2, "Stash refused it: converting phash: invalid syntax"),
        SkippedWrite(3, "Stash did not confirm that it was written"),
    )


def test_a_malformed_phash_is_skipped_without_asking_stash(fake: FakeStash) -> None:
    result = write_phashes(StashClient(fake.url), [PhashWrite(1, "-123", 1000, HASHED_AT)])
    assert result.skipped == (SkippedWrite(1, "'-123' is not a phash"),)
    assert fake.requests == []

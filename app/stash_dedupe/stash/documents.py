"""Every GraphQL document the app sends to Stash, and nothing else.

Each is a module-level constant (the phash batch is built from one field template), so
tests/test_stash_api.py validates every `*_QUERY` and `*_MUTATION` here against Stash's schema
(tests/stash_schema.graphql, written from stashapp/stash v0.30.1). A document defined anywhere
else would escape that check.
"""

from __future__ import annotations

VERSION_QUERY = """
query StashDedupeVersion {
  version {
    version
    hash
  }
}
"""

_MERGE_SCENE_FRAGMENT = """
fragment StashDedupeMergeScene on Scene {
  id
  title
  code
  details
  director
  urls
  date
  rating100
  organized
  o_counter
  play_count
  play_duration
  files { id path }
  scene_markers { id }
  galleries { id }
  studio { id name }
  groups { group { id name } scene_index }
  tags { id name }
  performers { id name }
  stash_ids { endpoint stash_id updated_at }
}
"""

FIND_SCENES_QUERY = (
    """
query StashDedupeFindScenes($ids: [ID!]) {
  findScenes(ids: $ids) {
    scenes { ...StashDedupeMergeScene }
  }
}
"""
    + _MERGE_SCENE_FRAGMENT
)

SCENE_MERGE_MUTATION = (
    """
mutation StashDedupeSceneMerge($input: SceneMergeInput!) {
  sceneMerge(input: $input) { ...StashDedupeMergeScene }
}
"""
    + _MERGE_SCENE_FRAGMENT
)

SCENES_DESTROY_MUTATION = """
mutation StashDedupeScenesDestroy($input: ScenesDestroyInput!) {
  scenesDestroy(input: $input)
}
"""

IMAGES_DESTROY_MUTATION = """
mutation StashDedupeImagesDestroy($input: ImagesDestroyInput!) {
  imagesDestroy(input: $input)
}
"""

METADATA_CLEAN_MUTATION = """
mutation StashDedupeClean($input: CleanMetadataInput!) {
  metadataClean(input: $input)
}
"""

FIND_FILES_QUERY = """
query StashDedupeFindFiles($ids: [ID!]) {
  findFiles(ids: $ids) {
    files { id size mod_time phash: fingerprint(type: "phash") }
  }
}
"""

FIND_FILE_QUERY = """
query StashDedupeFindFile($id: ID) {
  findFile(id: $id) { id size mod_time phash: fingerprint(type: "phash") }
}
"""

SET_PHASH_MUTATION_FIELD = "set{n}: fileSetFingerprints(input: $input{n})"
"""One aliased field of the phash batch; see `set_phashes_document`."""


def set_phashes_document(count: int) -> str:
    """One mutation setting `count` phashes (aliases set0, set1, ...): a batch is one request."""
    variables = ", ".join(f"$input{n}: FileSetFingerprintsInput!" for n in range(count))
    fields = "\n  ".join(SET_PHASH_MUTATION_FIELD.format(n=n) for n in range(count))
    return f"mutation StashDedupeSetPhashes({variables}) {{\n  {fields}\n}}\n"

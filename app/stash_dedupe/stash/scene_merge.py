"""Merging a duplicate group's scenes into the keeper's, with Stash's own `sceneMerge`.

The merge rules (lists become their union, the keeper's own values win, empty ones are
filled from the sources) work on scenes as Stash returns them, so the preview shows exactly
what will be sent. Apart from `sync`, which picks the scenes from a duplicate group, because
they need nothing of the app: they are tested against a fake Stash alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stash_dedupe.errors import RefusedError
from stash_dedupe.stash.api import StashClient
from stash_dedupe.stash.documents import FIND_SCENES_QUERY, SCENE_MERGE_MUTATION
from stash_dedupe.stash.errors import StashQueryError


@dataclass(frozen=True)
class SceneSummary:
    """What a scene holds that a merge must not lose, as shown in the merge preview."""

    scene_id: int
    title: str
    date: str | None
    studio: str | None
    file_paths: tuple[str, ...]
    tags: tuple[str, ...]
    performers: tuple[str, ...]
    groups: tuple[str, ...]
    gallery_count: int
    marker_count: int
    play_count: int
    o_count: int
    stash_ids: tuple[str, ...]


@dataclass(frozen=True)
class MergePreview:
    """The keeper's scene, the scenes merged into it, and the keeper as it will be after.

    `dropped_stash_ids` are sources' stash ids for a stash-box the keeper (or an earlier
    source) already has an id for: Stash keeps one per stash-box, so they cannot be kept.
    """

    keeper: SceneSummary
    sources: tuple[SceneSummary, ...]
    merged: SceneSummary
    dropped_stash_ids: tuple[str, ...]
    variables: Mapping[str, Any]


def plan_merge(
    client: StashClient, keeper_scene_id: int, source_scene_ids: Sequence[int]
) -> MergePreview:
    """Read the scenes and show the keeper as it will be after merging the others into it.

    Lists (tags, performers, galleries, groups, URLs, stash ids) become their union;
    the keeper's own title, date, studio, ... win and empty ones are filled from the
    sources in order; markers, files and play/O history move with Stash's merge itself.
    """
    sources = _checked_sources(keeper_scene_id, source_scene_ids)
    wanted = [keeper_scene_id, *sources]
    data = client.query(FIND_SCENES_QUERY, {"ids": [str(i) for i in wanted]})
    found = {int(scene["id"]): scene for scene in data["findScenes"]["scenes"]}
    missing = [scene_id for scene_id in wanted if scene_id not in found]
    if missing:
        raise StashQueryError(f"Stash has no scene {', '.join(map(str, missing))}.")
    keeper, others = found[keeper_scene_id], [found[i] for i in sources]
    merged, dropped = _merged_scene(keeper, others)
    variables = {
        "input": {
            "source": [str(i) for i in sources],
            "destination": str(keeper_scene_id),
            "values": _update_values(merged),
            "play_history": True,
            "o_history": True,
        }
    }
    return MergePreview(
        _summary(keeper),
        tuple(_summary(s) for s in others),
        _summary(merged),
        tuple(dropped),
        variables,
    )


def merge_scenes(
    client: StashClient, keeper_scene_id: int, source_scene_ids: Sequence[int]
) -> SceneSummary:
    """Merge the sources into the keeper's scene; returns the keeper as Stash now has it.

    The scenes are read again first, so nothing changed in Stash since the preview is
    lost. Stash moves the sources' files and markers, adds their play/O history and
    destroys the source scenes; it deletes no file.
    """
    preview = plan_merge(client, keeper_scene_id, source_scene_ids)
    scene = client.query(SCENE_MERGE_MUTATION, preview.variables).get("sceneMerge")
    if not scene:
        raise StashQueryError(f"Stash did not return scene {keeper_scene_id} after merging.")
    return _summary(scene)


def _checked_sources(keeper_scene_id: int, source_scene_ids: Sequence[int]) -> list[int]:
    sources = list(dict.fromkeys(int(i) for i in source_scene_ids))
    if not sources:
        raise RefusedError("Choose at least one scene to merge into the keeper's scene.")
    if int(keeper_scene_id) in sources:
        raise RefusedError("The keeper's scene cannot also be merged into itself.")
    return sources


_SCALARS = ("title", "code", "details", "director", "date", "rating100")


def _merged_scene(
    keeper: dict[str, Any], sources: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The keeper's scene as it will be, in the shape Stash returns, and the lost stash ids."""
    everyone = [keeper, *sources]
    merged = dict(keeper)
    for name in (*_SCALARS, "studio"):
        if not keeper.get(name):
            merged[name] = next((s[name] for s in sources if s.get(name)), keeper.get(name))
    merged["urls"] = _unique(url for scene in everyone for url in scene["urls"])
    for name in ("tags", "performers", "galleries"):
        merged[name] = _unique_by_id(item for scene in everyone for item in scene[name])
    groups: dict[str, dict[str, Any]] = {}
    for entry in (entry for scene in everyone for entry in scene["groups"]):
        groups.setdefault(entry["group"]["id"], entry)
    merged["groups"] = list(groups.values())
    merged["files"] = [file for scene in everyone for file in scene["files"]]
    merged["scene_markers"] = [marker for scene in everyone for marker in scene["scene_markers"]]
    for name in ("play_count", "o_counter", "play_duration"):
        merged[name] = sum(scene.get(name) or 0 for scene in everyone)
    kept: dict[str, dict[str, Any]] = {}
    dropped = []
    for scene in everyone:
        for stash_id in scene["stash_ids"]:
            if stash_id["endpoint"] not in kept:
                kept[stash_id["endpoint"]] = stash_id
            elif kept[stash_id["endpoint"]]["stash_id"] != stash_id["stash_id"]:
                dropped.append(_stash_id_text(stash_id))
    merged["stash_ids"] = list(kept.values())
    return merged, dropped


def _update_values(merged: dict[str, Any]) -> dict[str, Any]:
    """The `SceneUpdateInput` that makes the keeper's scene look like `merged`."""
    values: dict[str, Any] = {"id": merged["id"]}
    values.update({name: merged[name] for name in _SCALARS if merged.get(name)})
    if merged.get("studio"):
        values["studio_id"] = merged["studio"]["id"]
    values["urls"] = merged["urls"]
    values["tag_ids"] = [tag["id"] for tag in merged["tags"]]
    values["performer_ids"] = [performer["id"] for performer in merged["performers"]]
    values["gallery_ids"] = [gallery["id"] for gallery in merged["galleries"]]
    values["groups"] = [
        {"group_id": entry["group"]["id"], "scene_index": entry["scene_index"]}
        for entry in merged["groups"]
    ]
    values["stash_ids"] = [
        {"endpoint": s["endpoint"], "stash_id": s["stash_id"], "updated_at": s["updated_at"]}
        for s in merged["stash_ids"]
    ]
    if merged.get("play_duration"):
        values["play_duration"] = merged["play_duration"]
    return values


def _summary(scene: dict[str, Any]) -> SceneSummary:
    return SceneSummary(
        scene_id=int(scene["id"]),
        title=scene.get("title") or "",
        date=scene.get("date"),
        studio=(scene.get("studio") or {}).get("name"),
        file_paths=tuple(file["path"] for file in scene["files"]),
        tags=tuple(tag["name"] for tag in scene["tags"]),
        performers=tuple(performer["name"] for performer in scene["performers"]),
        groups=tuple(entry["group"]["name"] for entry in scene["groups"]),
        gallery_count=len(scene["galleries"]),
        marker_count=len(scene["scene_markers"]),
        play_count=scene.get("play_count") or 0,
        o_count=scene.get("o_counter") or 0,
        stash_ids=tuple(_stash_id_text(s) for s in scene["stash_ids"]),
    )


def _stash_id_text(stash_id: dict[str, Any]) -> str:
    return f"{stash_id['endpoint']} {stash_id['stash_id']}"


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _unique_by_id(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for item in items:
        first.setdefault(item["id"], item)
    return list(first.values())

"""Reading a request: its JSON body within bounds, query parameters, path ids, body fields.

Every bad value becomes an `AppError` naming what was wrong (a 4xx JSON answer), never a
traceback: the body is a JSON object of bounded size and depth with only finite numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import bottle

from stash_dedupe.dedupe.durations import MAX_DURATION_PERCENT
from stash_dedupe.dedupe.session import GroupFilter
from stash_dedupe.errors import AppError
from stash_dedupe.models import VIDEO
from stash_dedupe.settings import (
    MAX_DURATION_TOLERANCE,
    Settings,
    checked_text,
    is_duration_tolerance,
    quoted,
)
from stash_dedupe.stash.pathmap import PathMapping

MAX_BODY_BYTES = 1024 * 1024  # a request body; the largest the page sends is a removal plan
MAX_JSON_DEPTH = 32  # nesting of a request body; the page's deepest is 4
MAX_DISCARDED_BYTES = 64 * 1024 * 1024  # a body too large is read up to this and dropped


# ---- the query ------------------------------------------------------------------------------


def query_int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise AppError(f"{name} must be a whole number, not {quoted(value)}.") from None


def _duration(value: str | None, default: float | None) -> float | None:
    if value is None:
        return default
    if value.strip().lower() in ("", "any", "-1"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not is_duration_tolerance(seconds):
        raise AppError(
            f"The duration tolerance (duration) must be seconds from 0 to {MAX_DURATION_TOLERANCE}"
            f" or 'any', not {quoted(value)}."
        )
    return seconds


def _duration_percent(value: str | None) -> float | None:
    """A tolerance in percent of the longer duration; absent or empty: seconds apply."""
    if value is None or value.strip() == "":
        return None
    try:
        percent = float(value)
    except ValueError:
        percent = math.nan
    if not 0 <= percent <= MAX_DURATION_PERCENT:  # NaN fails too
        raise AppError(
            "The duration tolerance in percent (duration_percent) must be a number from 0 to"
            f" {MAX_DURATION_PERCENT:g}, not {quoted(value)}."
        )
    return percent


def _flag(query: bottle.FormsDict, name: str) -> bool:
    return query.get(name, "") in ("1", "true", "yes")


def _text(query: bottle.FormsDict, name: str) -> str:
    value = query.getunicode(name) or ""
    return checked_text(value, name, f"The {name} filter", line=True)


def filter_from_query(query: bottle.FormsDict, settings: Settings) -> GroupFilter:
    """The review's filter from the query; what it leaves out comes from the settings."""
    return GroupFilter(
        media=query.get("media") or VIDEO,
        distance=query_int(query.get("distance"), "distance", settings.default_distance),
        duration_tolerance=_duration(query.get("duration"), settings.duration_tolerance),
        path=query.getunicode("path") or "",
        min_size=query_int(query.get("min_size"), "min_size", 2),
        include_suspicious=_flag(query, "suspicious"),
        duration_percent=_duration_percent(query.get("duration_percent")),
        sort=query.get("sort") or "reclaimable",
        studio=_text(query, "studio"),
        performer=_text(query, "performer"),
        tag=_text(query, "tag"),
        organized=query.get("organized") or "",
        missing_only=_flag(query, "missing"),
    ).checked()


# ---- fields of the body -----------------------------------------------------------------------


def optional_text(body: dict[str, Any], name: str, label: str) -> str | None:
    """One line of text (it may become an HTTP header), or None when not given."""
    value = body.get(name)
    return None if value is None else checked_text(value, name, label, line=True)


def whole_number(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AppError(f"Give {name} as a whole number.")
    return value


def file_id_list(body: dict[str, Any], name: str) -> list[int]:
    """A list of file ids (whole numbers)."""
    value = body.get(name)
    if not isinstance(value, list) or any(
        isinstance(item, bool) or not isinstance(item, int) or not 0 <= item < 1 << 63
        for item in value
    ):
        raise AppError(f"Give {name} as a list of file ids (whole numbers).")
    return value


def number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AppError(f"Give {name} as a number.")
    try:
        return float(value)
    except OverflowError:  # an int beyond 1e308
        raise AppError(f"{name} is out of range.") from None


def path_mappings_from_body(body: dict[str, Any]) -> list[PathMapping]:
    """The `path_mappings` of a body, checked as the settings check them (their local
    folders need not exist: a preview says how many files they find)."""
    mappings = Settings(path_mappings=body.get("path_mappings", [])).path_mappings
    for number, mapping in enumerate(mappings, 1):
        checked_text(mapping.stash_prefix, "path_mappings", f"Path mapping {number}'s Stash side")
        checked_text(mapping.local_prefix, "path_mappings", f"Path mapping {number}'s local side")
    return mappings


# ---- the body -------------------------------------------------------------------------------


def json_body() -> dict[str, Any]:
    """The request's JSON object, {} when there is none. `bounded_body` has refused a body
    over MAX_BODY_BYTES; JSON's own rules hold (Python's parser would take NaN and Infinity,
    and a 1e999 as infinity), and nesting is at most MAX_JSON_DEPTH deep."""
    request = bottle.request
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        return {}
    text = request.body.read(MAX_BODY_BYTES + 1)
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_constant=_not_a_number, parse_float=_finite_float)
    except RecursionError:
        data = None
    except ValueError as error:
        raise AppError(f"The request body is not valid JSON: {error}.") from None
    if data is None or _deeper_than(data, MAX_JSON_DEPTH):
        raise AppError(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")
    if not isinstance(data, dict):
        raise AppError("The request body must be a JSON object.")
    return data


def _not_a_number(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{quoted(literal)} is too large a number")
    return value


def _deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects nest more than `limit` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def bounded_body() -> None:
    """Hook: refuse a body too large to read, before any route reads it."""
    request = bottle.request
    if request.chunked:
        raise bottle.HTTPError(411, "Send the request body with a Content-Length.")
    try:
        length = request.content_length
    except ValueError:
        raise bottle.HTTPError(400, "The Content-Length header is not a number.") from None
    if length > MAX_BODY_BYTES:
        # Unread data makes closing the connection a reset, which can cost the client the
        # answer: read what it sends (up to a bound) and drop it.
        if length <= MAX_DISCARDED_BYTES:
            stream = request.environ["wsgi.input"]
            while length > 0 and (chunk := stream.read(min(length, 1 << 16))):
                length -= len(chunk)
        raise bottle.HTTPError(413, f"The request body is over {MAX_BODY_BYTES} bytes.")


# ---- the path -------------------------------------------------------------------------------


def whole_number_filter(config: str) -> tuple[str, Callable[[str], int], Callable[..., str]]:
    """Bottle's `int` path filter, but an id with more digits than Python converts (4300)
    names nothing, as one beyond 64 bits does: a 404, not Bottle's 400."""

    def to_python(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise bottle.HTTPError(404, f"Nothing has the id {quoted(text)}.") from None

    return r"-?\d+", to_python, lambda value: str(int(value))

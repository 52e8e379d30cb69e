"""Stash's address as people type it, checked and made canonical.

On its own so that the settings can check a typed URL without importing the GraphQL client.
"""

from __future__ import annotations

import urllib.parse

from stash_dedupe.errors import RefusedError
from stash_dedupe.stash.errors import StashError

DEFAULT_URL = "http://localhost:9999"


def normalize_url(text: str) -> str:
    """Stash's base URL from what the user typed: `http://` added, `/` and `/graphql` dropped."""
    url = (text or "").strip()
    example = "it should look like http://localhost:9999"
    if not url:
        raise StashError(f"Set the Stash URL: {example}.")
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise StashError(f"The Stash URL is not valid: {example}.") from None
    if parts.username or parts.password:
        raise StashError(
            "Leave the user name and password out of the Stash URL: "
            "put Stash's API key in the API key field instead."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StashError(f"The Stash URL {text.strip()!r} is not an http address: {example}.")
    path = parts.path.rstrip("/")
    if path.endswith("/graphql"):
        path = path[: -len("/graphql")]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def stash_page_base(stash_url: str) -> str:
    """Where Stash's own pages are (`/scenes/<id>`, `/images/<id>` below it): the configured
    URL made canonical, or the default one while none is set."""
    return normalize_url(stash_url.strip() or DEFAULT_URL)


def checked_stash_page(url: str, stash_url: str) -> str:
    """`url` if it is a page of the user's Stash (same scheme, host and port, its path below
    Stash's); RefusedError otherwise: the app opens no other address in the browser."""
    base = urllib.parse.urlsplit(stash_page_base(stash_url))
    refusal = RefusedError(
        f"Only pages of your Stash ({urllib.parse.urlunsplit(base)}) are opened from here,"
        f" not {url[:200]!r}."
    )
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise refusal
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port
    except ValueError:
        raise refusal from None
    below = parts.path == base.path or parts.path.startswith(base.path + "/")
    if (
        parts.scheme.lower() != base.scheme
        or parts.netloc.lower() != base.netloc.lower()
        or not below
        or ".." in parts.path.split("/")
    ):
        raise refusal
    return url

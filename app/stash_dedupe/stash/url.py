"""Stash's address as people type it, checked and made canonical.

On its own so that the settings can check a typed URL without importing the GraphQL client.
"""

from __future__ import annotations

import urllib.parse

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

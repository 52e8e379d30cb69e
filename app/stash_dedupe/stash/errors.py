"""What can go wrong when the app talks to Stash, as errors the user can read.

Kept apart from the client so that checking a typed URL (`url.normalize_url`, used by the
settings) needs no GraphQL client. Messages name the URL the user typed, never the API key.
"""

from __future__ import annotations

from stash_dedupe.errors import AppError


class StashError(AppError):
    """Stash answered, but not as asked: HTTP 5xx, a refused request, or not Stash at all."""

    http_status = 502


class StashAuthError(StashError):
    """Stash wants an API key, or refused the one given."""


class StashUnreachableError(StashError):
    """Nothing answered at the URL, or not in time."""


class StashQueryError(StashError):
    """Stash ran the request and reported an error (a missing scene, a bad phash, ...)."""

"""The connection to a running Stash: one GraphQL request over HTTP, and what can fail.

Optional: the app works without it, and it never touches Stash's SQLite file. It uses urllib,
so it adds no dependency. What the app asks of Stash lives in modules named for it:
`cleanup` (after a removal), `scene_merge`, `phash_writeback`; the documents they send are all
in `documents`. Errors name the URL the user typed, never the API key.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from stash_dedupe.stash.documents import VERSION_QUERY
from stash_dedupe.stash.errors import (
    StashAuthError,
    StashError,
    StashQueryError,
    StashUnreachableError,
)
from stash_dedupe.stash.url import DEFAULT_URL, normalize_url

DEFAULT_TIMEOUT_SECONDS = 30.0
_MAX_MESSAGES = 3


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are reported, not followed: urllib would resend the API key to the new host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class StashClient:
    """A connection to one Stash server. Cheap to create; each call is one or a few requests.

    Environment proxies are ignored on purpose: Stash is the user's own server, usually on
    this machine or the LAN, and the API key should not travel through a proxy.
    """

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str = "", timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.url = normalize_url(url)
        self.endpoint = self.url + "/graphql"
        self.timeout = timeout
        self._api_key = api_key.strip()
        if not all("!" <= ch <= "~" for ch in self._api_key):
            # http.client would refuse it mid-request (or let a newline split the header).
            raise StashError("The API key has characters no Stash API key has: paste it again.")
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def __repr__(self) -> str:
        return f"StashClient({self.url!r}, api_key={'set' if self._api_key else 'not set'})"

    # ---- connection ------------------------------------------------------------------

    def version(self) -> str:
        """Stash's version, e.g. "v0.30.1": what "Test connection" shows when it works."""
        info = self.query(VERSION_QUERY).get("version") or {}
        return info.get("version") or f"development build {info.get('hash') or '(unknown)'}"

    # ---- requests --------------------------------------------------------------------

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a request that must succeed as a whole; any GraphQL error raises."""
        payload = self.request(document, variables)
        if payload.get("errors"):
            raise StashQueryError(f"Stash reported an error: {error_messages(payload['errors'])}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise StashError(f"Stash at {self.url} answered without data.")
        return data

    def request(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one document; HTTP, network and validation failures become readable errors.

        Returns the whole payload, `errors` included: for a request whose fields may fail one
        by one (the phash batch); `query` is the usual call.
        """
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "stash-dedupe",
        }
        if self._api_key:
            headers["ApiKey"] = self._api_key
        post = urllib.request.Request(self.endpoint, data=body, headers=headers, method="POST")
        location = None
        try:
            with self._opener.open(post, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, location = error.code, error.headers.get("Location")
            raw = _read_error_body(error)
        except TimeoutError as error:
            raise self._timeout_error() from error
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise self._timeout_error() from error
            raise self._unreachable_error(error.reason) from error
        except (OSError, http.client.HTTPException) as error:
            raise self._unreachable_error(error) from error
        return self._payload(status, raw, location)

    def _payload(self, status: int, raw: bytes, location: str | None) -> dict[str, Any]:
        text = raw.decode("utf-8", "replace")
        try:
            payload = json.loads(text) if text.strip() else None
        except ValueError:
            payload = None
        if status == 401:
            if self._api_key:
                raise StashAuthError(
                    f"Stash at {self.url} rejected the API key (HTTP 401): "
                    "copy it again from Stash's Settings → Security."
                )
            raise StashAuthError(
                f"Stash at {self.url} needs an API key (HTTP 401): copy it "
                "from Stash's Settings → Security into the app's settings."
            )
        if status == 403:
            raise StashAuthError(f"Stash at {self.url} refused access (HTTP 403){_detail(text)}.")
        if 300 <= status < 400:
            raise StashError(
                f"Stash at {self.url} redirects to {location or 'another address'}"
                ": use that address as the Stash URL."
            )
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if status == 422 and errors:
            raise StashError(
                f"Stash did not accept the request ({error_messages(errors)}): it may "
                "be older than this app needs (v0.29 or newer)."
            )
        if status >= 500:
            reason = f": {error_messages(errors)}" if errors else _detail(text)
            raise StashError(f"Stash at {self.url} failed (HTTP {status}){reason}.")
        if status != 200:
            raise StashError(
                f"{self.url} answered HTTP {status} at /graphql: "
                "check that this is Stash's address."
            )
        if not isinstance(payload, dict):
            raise StashError(
                f"{self.url} did not answer like Stash: check that this is Stash's address."
            )
        return payload

    def _timeout_error(self) -> StashUnreachableError:
        return StashUnreachableError(
            f"Stash at {self.url} did not answer within {self.timeout:g} s."
        )

    def _unreachable_error(self, reason: object) -> StashUnreachableError:
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        return StashUnreachableError(
            f"Cannot reach Stash at {self.url} ({reason}): is it running, and is the URL right?"
        )


def error_messages(errors: list[Any]) -> str:
    """GraphQL errors as one line: the first few messages, whitespace folded."""
    texts = [
        " ".join(str(error.get("message", error) if isinstance(error, dict) else error).split())
        for error in errors
    ]
    more = len(texts) - _MAX_MESSAGES
    return "; ".join(texts[:_MAX_MESSAGES]) + (f" (and {more} more)" if more > 0 else "")


def _detail(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f": {line[:200]}" if line else ""


def _read_error_body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""

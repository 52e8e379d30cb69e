"""The gate in front of every request: Host check, token check, security headers, and the
one catch-all for a bug.

A Host header that is not the bound address is refused (DNS rebinding), and so is any /api/
call without the launch's random token (header `X-Token`, or `?token=` where a header cannot
be set: <img>, <video>, downloads). An exception that gets past the routes is a bug: the gate
answers a JSON 500 with an error id and logs the traceback under that id (`errorlog`).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from stash_dedupe.errorlog import log_path, record_unexpected

if TYPE_CHECKING:
    from stash_dedupe.web.state import AppState

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
# Only the app's own origin. pywebview's bridge (injected into the window's page) needs
# eval and inline styles; the page itself builds DOM with text nodes only.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether binding `host` listens on every address of the machine."""
    return host in ("", "0.0.0.0", "::", "[::]")


def host_names_server(header: str, bound_host: str, bound_port: int) -> bool:
    """Whether a request's Host header names the server bound to this address (refuses DNS
    rebinding: a foreign domain name resolving to this machine)."""
    header = header.strip().lower()
    host, _, port = header.rpartition(":")
    if not host or port != str(bound_port):
        return False
    bound = bound_host.lower()
    if host.strip("[]") == bound.strip("[]"):
        return True
    if is_loopback(bound):
        return host in ("localhost", "127.0.0.1", "[::1]")
    if is_wildcard(bound):
        # Reachable under any of the machine's addresses: accept IP literals and the
        # machine's own names, never another domain name (that is what rebinding uses).
        try:
            ipaddress.ip_address(host.strip("[]"))
            return True
        except ValueError:
            names = {"localhost", socket.gethostname().lower(), socket.getfqdn().lower()}
            return host in names
    return False


def _token_matches(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


def guarded(app: Callable[..., Iterable[bytes]], state: AppState) -> Callable[..., Any]:
    """WSGI middleware: the Host check and the token check in front of every request, and
    the one catch-all for a bug: a JSON 500 naming an error id, the traceback in the log."""

    def gate(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not state.host_allowed(environ.get("HTTP_HOST", "")):
            return _refuse(start_response, "Refused: this request names another host.")
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/") and not _token_matches(_given_token(environ), state.token):
            return _refuse(start_response, "Refused: missing or wrong access token.")

        def start_with_headers(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            return start_response(status, _with_security_headers(path, headers), exc_info)

        try:
            return app(environ, start_with_headers)
        except Exception as error:  # a bug; the query is left out of the log (it has the token)
            error_id = record_unexpected(error, f"{environ.get('REQUEST_METHOD')} {path}")
            message = f"Unexpected error (id {error_id}); details are in {log_path()}"
            content = {"error": message, "error_id": error_id}
            return _answer(start_response, "500 Internal Server Error", content, sys.exc_info())

    return gate


def _given_token(environ: dict[str, Any]) -> str | None:
    """The token a request carries: its X-Token header, else its `?token=`."""
    token = environ.get("HTTP_X_TOKEN")
    if token is None:
        token = (parse_qs(environ.get("QUERY_STRING", "")).get("token") or [None])[0]
    return token


def _with_security_headers(path: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """An API answer is not cached unless it says so; the page gets its content policy."""
    headers = [*headers, *SECURITY_HEADERS]
    if path.startswith("/api/"):
        if not any(name.lower() == "cache-control" for name, _ in headers):
            headers.append(("Cache-Control", "no-store"))
    else:
        headers.append(("Content-Security-Policy", PAGE_POLICY))
    return headers


def _answer(
    start_response: Callable[..., Any],
    status: str,
    content: dict[str, str],
    exc_info: Any = None,
) -> list[bytes]:
    body = json.dumps(content).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *SECURITY_HEADERS,
        ],
        exc_info,
    )
    return [body]


def _refuse(start_response: Callable[..., Any], message: str) -> list[bytes]:
    return _answer(start_response, "403 Forbidden", {"error": message})

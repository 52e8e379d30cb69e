"""Serving the app: a threaded wsgiref server on a daemon thread, the gate in front.

Bottle's default server is single-threaded: one slow request (a video range, a thumbnail
being made) would freeze the window. `start` binds, serves, and tells the gate the address.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from stash_dedupe.errorlog import ErrorLogStream, record_unexpected
from stash_dedupe.errors import AppError
from stash_dedupe.web.gate import guarded, is_wildcard
from stash_dedupe.web.routes import create_app
from stash_dedupe.web.state import AppState


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref with a thread per request, so a slow request never stalls the others."""

    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser cancelling a video range request is normal; say nothing.
        error = sys.exc_info()[1]
        if error is None or isinstance(error, (ConnectionError, TimeoutError)):
            return
        record_unexpected(error, f"the HTTP server, serving {client_address}")


class QuietHandler(WSGIRequestHandler):
    """No request log (a windowed build has no stderr at all); what wsgiref reports as an
    error (one while a response is sent, after its headers) goes to the error log."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def get_stderr(self) -> Any:
        return ErrorLogStream(f"{self.command} {self.path.partition('?')[0]}")


class _Server6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


def serve_in_thread(
    wsgi_app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0
) -> tuple[WSGIServer, threading.Thread]:
    """Bind (port 0: the OS picks a free one) and serve on a daemon thread."""
    server_class = _Server6 if ":" in host.strip("[]") else ThreadingWSGIServer
    try:
        server = make_server(
            host.strip("[]"), port, wsgi_app, server_class=server_class, handler_class=QuietHandler
        )
    except OSError as error:
        raise AppError(f"Cannot listen on {host}:{port} ({error.strerror}).") from error
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
    )
    thread.start()
    return server, thread


def start(state: AppState, host: str = "127.0.0.1", port: int = 0) -> tuple[WSGIServer, str]:
    """Serve the app for `state`; returns the server and the URL that carries the token."""
    server, _ = serve_in_thread(guarded(create_app(state), state), host, port)
    bound_port = server.server_address[1]
    state.bind(
        host.strip("[]") if ":" not in host.strip("[]") else f"[{host.strip('[]')}]", bound_port
    )
    shown = "127.0.0.1" if is_wildcard(host) else host
    if ":" in shown.strip("[]"):
        shown = f"[{shown.strip('[]')}]"
    return server, f"http://{shown}:{bound_port}/?token={state.token}"

"""The log of unexpected errors (bugs): each traceback under a short id, in the app's data dir.

The user sees one line with the id and where the log is, never the traceback itself: the page
shows it, the CLI prints it, and a bug report can quote the id to find the traceback.
"""

from __future__ import annotations

import io
import logging
import secrets
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path

from stash_dedupe.appdata import AppPaths

LOG_FILE_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 3  # stash-dedupe.log.1 ... .3 beside it: at most 8 MB in all
_lock = threading.Lock()  # one writer at a time, so a rotation never interleaves


def log_path() -> Path:
    return AppPaths.for_this_run().error_log


def record_unexpected(error: BaseException, where: str) -> str:
    """Log `error`'s traceback (`where`: the request or command) and return its new id."""
    return record_details("".join(traceback.format_exception(error)), where)


def record_details(details: str, where: str) -> str:
    """Log `details` (a traceback as text) under a new id and return the id. When the log
    cannot be written, stderr gets them: the one place left to keep them."""
    error_id = secrets.token_hex(4)
    record = logging.makeLogRecord(
        {
            "name": "stash_dedupe",
            "levelno": logging.ERROR,
            "levelname": "ERROR",
            "msg": "error %s in %s\n%s",
            "args": (error_id, where, details.rstrip()),
        }
    )
    path = log_path()
    with _lock:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(
                path, maxBytes=LOG_FILE_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
            )
        except OSError as error:
            if sys.stderr is not None:
                print(f"cannot write {path} ({error.strerror}):", file=sys.stderr)
                print(f"error {error_id} in {where}\n{details.rstrip()}", file=sys.stderr)
            return error_id
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        try:
            handler.emit(record)
        finally:
            handler.close()
    return error_id


class ErrorLogStream(io.TextIOBase):
    """A stream for libraries that print their errors (wsgiref's `wsgi.errors`): what is
    written up to each flush goes to the log as one entry."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self._where = where
        self._pending: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending.append(text)
        return len(text)

    def flush(self) -> None:
        details, self._pending = "".join(self._pending), []
        if details.strip():
            record_details(details, self._where)

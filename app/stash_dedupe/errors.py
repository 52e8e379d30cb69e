"""One small hierarchy of errors whose message is meant for the user.

The API turns them into JSON with `http_status`; the CLI prints the message and exits
with `exit_code`. Anything that is not an `AppError` is a bug.
"""


class AppError(Exception):
    """An error with a one-line message a user can act on."""

    http_status = 400
    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The input at fault, for a form to mark it: a setting's name, and for an entry of a
        # list its index and part, e.g. "path_mappings.0.local_prefix".
        self.field = field


class DatabaseError(AppError):
    """The chosen file is not a Stash database we can read."""

    http_status = 422


class DatabaseLockedError(DatabaseError):
    """Stash (or something else) holds a lock on its database for too long."""

    http_status = 503


class MediaError(AppError):
    """A media file is missing, unreadable or cannot be decoded."""

    http_status = 422
    exit_code = 1


class RefusedError(AppError):
    """A request that would break a safety rule (last copy, file outside the library, ...)."""

    http_status = 409


class NotFoundError(AppError):
    """Something asked for by id does not exist."""

    http_status = 404


def is_row_id(value: int) -> bool:
    """Whether `value` fits SQLite's signed 64-bit integer. A lookup by an id that does not
    finds nothing (NotFoundError): SQLite itself would raise OverflowError instead."""
    return -(2**63) <= value < 2**63

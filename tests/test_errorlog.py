"""The log of unexpected errors: each traceback under its own id, in a few rotating files."""

from __future__ import annotations

import pytest

from stash_dedupe import errorlog
from stash_dedupe.errorlog import ErrorLogStream, log_path, record_unexpected


def failure(message: str) -> ValueError:
    try:
        raise ValueError(message)
    except ValueError as error:
        return error


def test_each_error_is_logged_with_its_traceback_under_its_own_id() -> None:
    first = record_unexpected(failure("first"), "GET /api/one")
    second = record_unexpected(failure("second"), "GET /api/two")
    assert first != second
    logged = log_path().read_text(encoding="utf-8")
    assert f"error {first} in GET /api/one\nTraceback" in logged
    assert "ValueError: second" in logged.split(f"error {second}")[1]


def test_the_log_rotates_and_keeps_a_few_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errorlog, "LOG_FILE_BYTES", 2000)
    for number in range(40):
        record_unexpected(failure(f"number {number}"), "a test")
    logs = sorted(path.name for path in log_path().parent.iterdir())
    assert logs == ["stash-dedupe.log", *(f"stash-dedupe.log.{n}" for n in (1, 2, 3))]
    assert "number 39" in log_path().read_text(encoding="utf-8")


def test_what_a_library_prints_as_an_error_is_logged_at_each_flush() -> None:
    stream = ErrorLogStream("GET /api/files/1/media")
    stream.write("Traceback (most recent call last):\n")
    stream.write("BrokenStorageError: the share went away\n")
    stream.flush()
    logged = log_path().read_text(encoding="utf-8")
    assert "in GET /api/files/1/media\nTraceback" in logged
    assert "the share went away" in logged


def test_a_log_that_cannot_be_written_leaves_the_details_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log_path().parent.write_text("a file where the logs folder should be")
    error_id = record_unexpected(failure("nowhere to go"), "a test")
    stderr = capsys.readouterr().err
    assert f"error {error_id} in a test" in stderr and "ValueError: nowhere to go" in stderr

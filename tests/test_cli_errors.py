"""The command line never prints a traceback: bad input is one line and exit status 2, a bug
is one line naming an error id and the log that holds its traceback, and exit status 1."""

from __future__ import annotations

import re

import pytest

from stash_dedupe import cli
from stash_dedupe.errorlog import log_path

from .test_demo_and_cli import run_cli


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--serve", "--port", "70000"], "--port"),
        (["--serve", "--port", "-1"], "--port"),
        (["--serve", "--port", "http"], "--port"),
        (["undo", "99999999999999999999999"], "no removal batch"),
        (["undo", "-99999999999999999999999"], "no removal batch"),
        (["undo", "seven"], "BATCH_ID"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args: list[str], says: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


def test_a_bug_is_one_line_with_an_error_id_and_the_traceback_goes_to_the_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise KeyError("a bug in the history command")

    monkeypatch.setattr(cli, "command_history", broken)
    assert cli.main(["history"]) == 1
    error = capsys.readouterr().err
    match = re.fullmatch(r"error: unexpected error \(id (\w{8})\); details in (.+)\n", error)
    assert match, error
    assert match[2] == str(log_path())
    logged = log_path().read_text(encoding="utf-8")
    assert f"error {match[1]} in stash-dedupe history" in logged
    assert "KeyError: 'a bug in the history command'" in logged

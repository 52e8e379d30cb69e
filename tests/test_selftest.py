"""`stash-dedupe --self-test` from a checkout: every check passes, and a failing one is named
while the others still run. (tests/test_package.py runs it on the frozen build.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stash_dedupe import demo, selftest
from stash_dedupe.errors import AppError

CHECKS = [
    "frontend files",
    "demo library",
    "open the database",
    "group duplicates",
    "phash a video",
    "serve the page and the API",
    "window toolkit",
]


def passed_self_test(command: list[str]) -> str:
    """Run `COMMAND --self-test` without a screen, check it passed every check, return what it
    printed."""
    result = subprocess.run(
        [*command, "--self-test"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    lines = result.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines[:-1]] == [f"ok    {c}" for c in CHECKS], report
    assert lines[-1] == "OK", report
    return result.stdout


def test_self_test_passes_every_check_and_says_ok() -> None:
    passed_self_test([sys.executable, "-m", "stash_dedupe"])


def test_a_failing_check_is_named_and_the_checks_that_do_not_need_it_still_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_demo(directory: object) -> None:
        raise AppError("ffmpeg is missing")

    monkeypatch.setattr(demo, "create_demo_library", no_demo)
    assert selftest.self_test() == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ok    frontend files (")
    assert lines[1] == "FAIL  demo library: ffmpeg is missing"
    assert lines[2].startswith("ok    window toolkit (")
    assert lines[3:] == ["FAILED (1 checks)"]

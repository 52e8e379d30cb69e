"""Finding and running ffmpeg and ffprobe, and sharing ffmpeg slots between processes.

Hashing a video starts several ffmpeg processes; the backfill runs one hashing process per
core. A semaphore shared by those processes (`share_ffmpeg_slots`) keeps the total to one
ffmpeg per core.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from stash_dedupe.errors import MediaError


class FfmpegSlots(Protocol):
    """What is used of a (multiprocessing) semaphore."""

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool: ...

    def release(self) -> None: ...


# Set in worker processes that hash videos side by side (see share_ffmpeg_slots).
_ffmpeg_slots: FfmpegSlots | None = None


def find_ffmpeg(extra_dirs: Iterable[str | os.PathLike[str]] = ()) -> tuple[str | None, str | None]:
    """(ffmpeg, ffprobe) executables, looked for in `extra_dirs` first and then on PATH."""
    return _find_tool("ffmpeg", extra_dirs), _find_tool("ffprobe", extra_dirs)


def _find_tool(name: str, extra_dirs: Iterable[str | os.PathLike[str]]) -> str | None:
    executable = name + (".exe" if os.name == "nt" else "")
    for directory in extra_dirs:
        candidate = Path(directory) / executable
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def resolve_tools(ffmpeg: str | None, ffprobe: str | None) -> tuple[str | None, str | None]:
    """Given paths first, then a tool beside the other given one, then PATH."""
    beside = [str(Path(tool).parent) for tool in (ffmpeg, ffprobe) if tool]
    found_ffmpeg, found_ffprobe = find_ffmpeg(beside)
    ffmpeg = ffmpeg if ffmpeg and Path(ffmpeg).is_file() else found_ffmpeg
    ffprobe = ffprobe if ffprobe and Path(ffprobe).is_file() else found_ffprobe
    return ffmpeg, ffprobe


def system_subprocess_env() -> dict[str, str] | None:
    """The environment for system programs such as ffmpeg (None: inherit ours unchanged).

    A PyInstaller bundle points LD_LIBRARY_PATH at its own libraries; a system ffmpeg must
    see the original value (PyInstaller keeps it in LD_LIBRARY_PATH_ORIG) or it may fail to load.
    """
    if not getattr(sys, "frozen", False):
        return None
    env = dict(os.environ)
    original = env.get("LD_LIBRARY_PATH_ORIG")
    if original is not None:
        env["LD_LIBRARY_PATH"] = original
    else:
        env.pop("LD_LIBRARY_PATH", None)
    return env


def run_tool(command: list[str], deadline: float, failure: str) -> bytes:
    """Run a system program and return its stdout, or raise MediaError with a short reason."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise MediaError(f"Timed out: {failure}")
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=remaining,
            env=system_subprocess_env(),
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
    except subprocess.TimeoutExpired:
        raise MediaError(f"Timed out: {failure}") from None
    except OSError as error:
        raise MediaError(f"{failure}: {error.strerror or error}") from None
    if result.returncode != 0:
        reason = last_line(result.stderr.decode("utf-8", "replace")) or f"exit {result.returncode}"
        for argument in command[1:]:  # ffmpeg starts its messages with the input's name
            reason = reason.removeprefix(f"{argument}: ")
        raise MediaError(f"{failure}: {reason}")
    return result.stdout


def last_line(error: object) -> str:
    """The last non-blank line of an error or a program's stderr: the reason, for one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def share_ffmpeg_slots(slots: FfmpegSlots | None) -> None:
    """Cap the screenshot processes of several hashing processes together.

    Each video starts up to SCREENSHOT_WORKERS ffmpeg processes, so a pool of one hashing
    process per core would otherwise run cores x cores of them, each holding its decoders'
    memory. With a shared semaphore of one slot per core, a lone video still uses every core.
    """
    global _ffmpeg_slots
    _ffmpeg_slots = slots


@contextmanager
def ffmpeg_slot(deadline: float, failure: str) -> Iterator[None]:
    """Wait for a shared slot to run ffmpeg in, when slots are shared (else go at once)."""
    slots = _ffmpeg_slots
    if slots is None:
        yield
        return
    if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
        raise MediaError(f"Timed out: {failure}")
    try:
        yield
    finally:
        slots.release()

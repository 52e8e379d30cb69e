"""Long work as a job: started, observed (progress, rate, ETA), paused, resumed, cancelled.

The same object serves the UI (polled as JSON) and the CLI's progress bar. Domain work that
is not written against `Job` takes a `Progress` callback; `Job.report` is that callback for
a job, so every long piece of work speaks one protocol and stops at one cancel flag.
A registry forgets finished jobs after a while, so their results (frame strips of JPEGs,
say) do not stay in memory for the life of the app.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

# How domain work reports: (done, total, message); it may raise Cancelled to stop.
Progress = Callable[[int, int, str], None]

# Finished jobs stay findable this long (the page polls their result), at most this many.
KEEP_FINISHED_SECONDS = 600.0
KEEP_FINISHED_JOBS = 20

PENDING, RUNNING, PAUSED, CANCELLED, FAILED, DONE = (
    "pending",
    "running",
    "paused",
    "cancelled",
    "failed",
    "done",
)


class Cancelled(Exception):
    """Raised inside a job's work when the user cancelled it."""


@dataclass
class JobProgress:
    job_id: str
    kind: str
    state: str
    done: int
    total: int
    failed: int
    rate: float
    eta_seconds: float | None
    message: str
    elapsed: float


@dataclass
class Job:
    """A unit of long work run on a background thread.

    The work function receives the job and calls `advance()` as it goes and `checkpoint()`
    between items, which blocks while paused and raises `Cancelled` once cancelled.
    """

    kind: str
    work: Callable[[Job], object]
    total: int = 0
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = PENDING
    done: int = 0
    failed: int = 0
    message: str = ""
    result: object = None
    error: str | None = None
    _started: float = 0.0
    _finished: float | None = None
    _paused_for: float = 0.0
    _paused_at: float | None = None
    _resume: threading.Event = field(default_factory=threading.Event)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Job:
        self._resume.set()
        self._started = time.monotonic()
        self.state = RUNNING
        self._thread = threading.Thread(target=self._run, name=f"job-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from stash_dedupe.errors import AppError

        try:
            self.result = self.work(self)
            self.state = DONE
        except Cancelled:
            self.state = CANCELLED
        except AppError as error:
            self.error = error.message
            self.state = FAILED
        except Exception as error:  # a bug: keep the app alive, log it, say where to look
            from stash_dedupe.errorlog import log_path, record_unexpected

            error_id = record_unexpected(error, f"job {self.kind}")
            self.error = f"Unexpected error (id {error_id}); details are in {log_path()}"
            self.state = FAILED
        finally:
            self._finished = time.monotonic()

    # ---- called by the work -------------------------------------------------------------

    def advance(self, count: int = 1, failed: int = 0, message: str | None = None) -> None:
        with self._lock:
            self.done += count
            self.failed += failed
            if message is not None:
                self.message = message

    def report(self, done: int, total: int, message: str) -> None:
        """The `Progress` callback of this job: set where the work is, then checkpoint."""
        with self._lock:
            self.total, self.done, self.message = total, done, message
        self.checkpoint()

    def checkpoint(self) -> None:
        """Block while paused; raise Cancelled when cancelled."""
        if self._cancel.is_set():
            raise Cancelled
        self._resume.wait()
        if self._cancel.is_set():
            raise Cancelled

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    # ---- called by the user -------------------------------------------------------------

    def pause(self) -> None:
        if self.state == RUNNING:
            self._resume.clear()
            self._paused_at = time.monotonic()
            self.state = PAUSED

    def resume(self) -> None:
        if self.state == PAUSED:
            if self._paused_at is not None:
                self._paused_for += time.monotonic() - self._paused_at
                self._paused_at = None
            self.state = RUNNING
            self._resume.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._resume.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished

    @property
    def finished(self) -> bool:
        return self.state in (DONE, CANCELLED, FAILED)

    @property
    def finished_at(self) -> float | None:
        """When the work ended (time.monotonic), None while it runs."""
        return self._finished

    def progress(self) -> JobProgress:
        now = self._finished or time.monotonic()
        paused = self._paused_for + ((now - self._paused_at) if self._paused_at else 0.0)
        elapsed = max(0.0, now - self._started - paused) if self._started else 0.0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        remaining = max(0, self.total - self.done)
        eta = remaining / rate if rate > 0 and not self.finished else None
        return JobProgress(
            self.job_id,
            self.kind,
            self.state,
            self.done,
            self.total,
            self.failed,
            rate,
            eta,
            self.error or self.message,
            elapsed,
        )


class JobRegistry:
    """The jobs of one app process, so the UI can find them by id."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, job: Job) -> Job:
        with self._lock:
            self._forget_old()
            self._jobs[job.job_id] = job
        return job.start()

    def _forget_old(self) -> None:
        """Drop finished jobs past their time, and all but the newest few, with their results."""
        now = time.monotonic()
        finished = sorted(
            (job for job in self._jobs.values() if job.finished),
            key=lambda job: job.finished_at or 0.0,
            reverse=True,
        )
        for number, job in enumerate(finished):
            too_old = now - (job.finished_at or now) > KEEP_FINISHED_SECONDS
            if number >= KEEP_FINISHED_JOBS or too_old:
                del self._jobs[job.job_id]

    def get(self, job_id: str) -> Job:
        from stash_dedupe.errors import NotFoundError

        with self._lock:
            self._forget_old()
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"No job {job_id} (finished jobs are forgotten after a while).")
        return job

    def running(self, kind: str) -> Job | None:
        with self._lock:
            for job in self._jobs.values():
                if job.kind == kind and not job.finished:
                    return job
        return None

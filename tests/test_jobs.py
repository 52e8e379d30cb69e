"""Jobs report progress and honour pause, resume and cancel."""

from __future__ import annotations

import threading

from stash_dedupe.errors import AppError
from stash_dedupe.jobs import CANCELLED, DONE, FAILED, PAUSED, Job


def counting_job(total: int, gate: threading.Event | None = None) -> Job:
    def work(job: Job) -> int:
        for _ in range(total):
            job.checkpoint()
            if gate is not None:
                gate.wait(5)
            job.advance()
        return total

    job = Job("count", work)
    job.total = total
    return job


def test_job_runs_to_done_with_progress() -> None:
    job = counting_job(50).start()
    assert job.wait(10)
    progress = job.progress()
    assert (job.state, job.result, progress.done, progress.total) == (DONE, 50, 50, 50)
    assert progress.eta_seconds is None


def test_pause_holds_and_resume_continues() -> None:
    gate = threading.Event()
    job = counting_job(3, gate).start()
    job.pause()
    assert job.state == PAUSED
    gate.set()
    assert not job.wait(0.3)
    assert job.done <= 1
    job.resume()
    assert job.wait(5) and job.state == DONE


def test_cancel_stops_between_items() -> None:
    gate = threading.Event()
    job = counting_job(100, gate).start()
    job.cancel()
    gate.set()
    assert job.wait(5)
    assert job.state == CANCELLED and job.done < 100


def test_app_error_becomes_the_job_message() -> None:
    def work(job: Job) -> None:
        raise AppError("disk gone")

    job = Job("broken", work).start()
    job.wait(5)
    assert job.state == FAILED and job.progress().message == "disk gone"

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


def test_report_sets_progress_and_stops_at_cancel() -> None:
    gate = threading.Event()

    def work(job: Job) -> int:
        for done in range(1000):
            job.report(done, 1000, f"item {done}")
            gate.wait(5)
        return 1000

    job = Job("reporting", work).start()
    job.cancel()
    gate.set()
    assert job.wait(5) and job.state == CANCELLED
    assert job.total == 1000 and job.done < 1000


def test_a_bug_in_a_job_is_logged_with_an_id_not_shown_as_a_traceback() -> None:
    from stash_dedupe.errorlog import log_path

    def work(job: Job) -> None:
        raise ZeroDivisionError("a bug")

    job = Job("buggy", work).start()
    assert job.wait(5) and job.state == FAILED
    assert job.error is not None and "Unexpected error (id " in job.error
    error_id = job.error.split("(id ", 1)[1].split(")", 1)[0]
    logged = log_path().read_text()
    assert error_id in logged and "ZeroDivisionError" in logged


def test_finished_jobs_are_forgotten_after_a_while(monkeypatch) -> None:
    from stash_dedupe import jobs
    from stash_dedupe.errors import NotFoundError
    from stash_dedupe.jobs import JobRegistry

    registry = JobRegistry()
    finished = [registry.start(counting_job(1)) for _ in range(3)]
    for job in finished:
        assert job.wait(5)
    assert registry.get(finished[0].job_id) is finished[0]
    monkeypatch.setattr(jobs, "KEEP_FINISHED_JOBS", 1)
    registry.start(counting_job(1)).wait(5)

    def findable(job: Job) -> bool:
        try:
            registry.get(job.job_id)
        except NotFoundError:
            return False
        return True

    assert sum(findable(job) for job in finished) <= 1
    monkeypatch.setattr(jobs, "KEEP_FINISHED_SECONDS", 0.0)
    assert not any(findable(job) for job in finished)

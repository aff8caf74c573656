"""The health of the daemon's background jobs, and the backoff of their retries."""

from __future__ import annotations

from kubedtn.daemon.health import Backoff, HealthReport, JobHealth


def test_a_job_reports_its_last_error_after_it_recovers() -> None:
    job = JobHealth("pod-list")
    assert job.report() == HealthReport("pod-list", "ok", "", 0)
    job.failed(OSError(28, "No space left on device"))
    job.failed("disk full")
    assert job.report() == HealthReport("pod-list", "failing", "disk full", 2)
    job.ok()
    assert job.report() == HealthReport("pod-list", "ok", "disk full", 2)
    job.stopped()
    assert job.report().state == "stopped"


def test_backoff_doubles_up_to_its_cap_and_starts_again_after_a_success() -> None:
    backoff = Backoff(first=0.5, cap=3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5

"""`kubedtn status` (the DaemonSet's readiness probe) against a real daemon: 0 and the
daemon's Status while it answers, 1 and why once it is gone."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.support.daemon import python, running_daemon

pytestmark = pytest.mark.root


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python(), "-m", "kubedtn", "status", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_status_answers_while_the_daemon_runs_and_fails_when_it_is_gone() -> None:
    with running_daemon() as daemon:
        socket = f"--socket={daemon.socket_path}"
        answer = _status(socket)
        assert answer.returncode == 0, answer.stderr
        assert daemon.host_ip in answer.stdout and "0 pods alive" in answer.stdout
        quiet = _status(socket, "--quiet")
        assert (quiet.returncode, quiet.stdout) == (0, "")

        daemon.kill(signal.SIGKILL)  # its socket file stays: a stale socket
        gone = _status(socket, "--quiet")
        assert gone.returncode == 1
        assert str(daemon.socket_path) in gone.stderr and "does not answer" in gone.stderr

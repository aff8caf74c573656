"""The lab's daemon client against a real gRPC server on a unix socket (the plugin's fake daemon)."""

from __future__ import annotations

from kubedtn.daemon.health import HealthReport
from kubedtn.lab.client import DaemonInfo, LabDaemonClient
from tests.unit.cni.fakedaemon import fake_daemon, socket_dir


def test_answers_as_soon_as_a_daemon_that_was_not_there_listens() -> None:
    # lab up asks while the daemon it spawned starts: a gRPC channel that found nobody
    # would wait out its reconnect backoff, and the next question must not.
    with (
        socket_dir() as directory,
        fake_daemon(directory, start=False) as daemon,
        LabDaemonClient(daemon.socket) as client,
    ):
        assert client.answers() is False
        daemon.start()
        assert client.answers() is True
        assert [method for method, _ in daemon.servicer.calls] == ["Status"]


def test_status_lists_the_daemons_jobs_that_failed() -> None:
    info = DaemonInfo(
        version="v",
        node_ip="10.0.0.1",
        pods_alive=0,
        links=0,
        store="sqlite:x",
        jobs=(
            HealthReport("pod-list", "failing", "cannot write the topology pod list: No space left", 3),
            HealthReport("reconcile", "ok", "", 0),
            HealthReport("follower", "ok", "default/r1: spec failed", 1),
        ),
    )
    assert info.failing() == [
        "pod-list: failing, 3 error(s), the last: cannot write the topology pod list: No space left",
        "follower: ok, 1 error(s), the last: default/r1: spec failed",
    ]

"""The lab's daemon client against a real gRPC server on a unix socket (the plugin's fake daemon)."""

from __future__ import annotations

from kubedtn.lab.client import LabDaemonClient
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

"""The plugin's daemon client: what it sends, how it waits, how answers become CNI codes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kubedtn.cni import client, wire
from kubedtn.cni.errors import CniError
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.unit.cni.fakedaemon import Failure, Running, fake_daemon, socket_dir


@pytest.fixture
def sockets() -> Iterator[Path]:
    with socket_dir() as directory:
        yield directory


@pytest.fixture
def daemon(sockets: Path) -> Iterator[Running]:
    with fake_daemon(sockets) as running:
        yield running


def test_calls_send_the_pod_and_decode_the_answers(daemon: Running) -> None:
    with client.CniDaemonClient(daemon.socket, wait_s=1) as c:
        assert c.setup_pod(name="r1", kube_ns="lab", net_ns="/run/netns/x") is True
        assert c.destroy_pod(name="r1", kube_ns="lab") is True
        daemon.servicer.answers["CheckPod"] = pb.CheckPodResponse(ok=False, problems=["r1/eth1 is missing"])
        assert c.check_pod(name="r1", kube_ns="lab", net_ns="/run/netns/x") == wire.CheckPodResponse(
            ok=False, problems=("r1/eth1 is missing",), in_topology=False
        )
        assert c.status(timeout_s=2).node_ip == "10.0.0.1"
    methods = [(m, (r.name, r.kube_ns) if m != "Status" else ()) for m, r in daemon.servicer.calls]
    assert methods == [
        ("SetupPod", ("r1", "lab")),
        ("DestroyPod", ("r1", "lab")),
        ("CheckPod", ("r1", "lab")),
        ("Status", ()),
    ]
    assert daemon.servicer.calls[0][1].net_ns == "/run/netns/x"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 7),
        (grpc.StatusCode.NOT_FOUND, 3),
        (grpc.StatusCode.FAILED_PRECONDITION, 3),
        (grpc.StatusCode.UNAVAILABLE, 11),
        (grpc.StatusCode.INTERNAL, 101),
        (grpc.StatusCode.UNIMPLEMENTED, 100),
        (grpc.StatusCode.PERMISSION_DENIED, 999),
    ],
)
def test_daemon_errors_become_cni_codes_with_the_daemon_message(
    daemon: Running, status: grpc.StatusCode, code: int
) -> None:
    daemon.servicer.answers["SetupPod"] = Failure(status, "r1: link uid 7: local_ip 'x' is not a CIDR")
    with client.CniDaemonClient(daemon.socket, wait_s=1) as c, pytest.raises(CniError) as caught:
        c.setup_pod(name="r1", kube_ns="lab", net_ns="/run/netns/x")
    assert caught.value.code == code
    assert caught.value.msg.startswith("SetupPod lab/r1: ")
    assert "r1: link uid 7: local_ip 'x' is not a CIDR" in caught.value.msg
    assert f"gRPC status {status.name}" in caught.value.details


def test_error_with_several_problem_lines_keeps_them_all() -> None:
    error = client.error_for_status("INVALID_ARGUMENT", "one\ntwo\nthree", method="SetupPod", what="lab/r1")
    assert (error.code, error.msg) == (7, "SetupPod lab/r1: one (+2 more, see details)")
    assert error.details == "one\ntwo\nthree\ngRPC status INVALID_ARGUMENT"


def test_unimplemented_says_to_update_the_daemon() -> None:
    error = client.error_for_status("UNIMPLEMENTED", "Method not found!", method="CheckPod")
    assert (
        error.msg
        == "CheckPod: the kubedtn daemon does not implement CheckPod: update the daemon (Method not found!)"
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_no_daemon_fails_with_code_11_after_the_wait_with_backoff(sockets: Path) -> None:
    clock = FakeClock()
    path = str(sockets / "daemon.sock")
    c = client.CniDaemonClient(path, wait_s=5, clock=clock, sleep=clock.sleep)
    with pytest.raises(CniError) as caught:
        c.setup_pod(name="r1", kube_ns="lab", net_ns="/run/netns/x")
    assert caught.value.code == 11
    assert caught.value.msg == (
        f"kubedtn daemon not reachable at {path} after 5s: is the kubedtn DaemonSet running on this node?"
    )
    assert caught.value.details == "last attempt: the socket does not exist"
    assert clock.sleeps[:5] == [0.05, 0.1, 0.2, 0.4, 0.8]
    assert max(clock.sleeps) == 1.0
    assert sum(clock.sleeps) == pytest.approx(5)


def test_a_stale_socket_is_named_as_such(sockets: Path) -> None:
    path = str(sockets / "daemon.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening: what a killed daemon leaves behind
    stale.close()
    assert client.probe(path) == "connection refused (a stale socket: the daemon is not running)"
    with pytest.raises(CniError) as caught:
        client.CniDaemonClient(path, wait_s=0).destroy_pod(name="r1", kube_ns="lab")
    assert caught.value.code == 11
    assert "connection refused" in caught.value.details


def test_the_client_waits_for_a_daemon_that_starts_late(sockets: Path) -> None:
    with fake_daemon(sockets, start=False) as daemon:
        starter = threading.Timer(0.3, daemon.start)
        starter.start()
        try:
            with client.CniDaemonClient(daemon.socket, wait_s=20) as c:
                assert c.setup_pod(name="r1", kube_ns="lab", net_ns="/run/netns/x")
        finally:
            starter.join()
        assert [m for m, _ in daemon.servicer.calls] == ["SetupPod"]


def test_status_does_not_wait(sockets: Path) -> None:
    path = str(sockets / "daemon.sock")
    clock = FakeClock()
    with pytest.raises(CniError) as caught:
        client.CniDaemonClient(path, wait_s=30, clock=clock, sleep=clock.sleep).status(timeout_s=1)
    assert clock.sleeps == []
    assert caught.value.code == 11
    assert "the socket does not exist" in caught.value.msg

"""The daemon's plain socket (kubedtn.daemon.plainserver) and the plugin's side of it
(kubedtn.cni.plainrpc, kubedtn.cni.client): real unix sockets, the fake daemon's servicer."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from kubedtn.cni import client, plainrpc, wire
from kubedtn.cni.plainrpc import plain_socket_path
from kubedtn.daemon.plainserver import PlainServer
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.unit.cni.fakedaemon import Failure, FakeLocal, fake_daemon, socket_dir


@pytest.fixture
def served() -> Iterator[tuple[PlainServer, FakeLocal]]:
    with socket_dir() as directory:
        servicer = FakeLocal()
        server = PlainServer(servicer, directory / "daemon.sock.plain", workers=2, max_connections=8)
        server.start()
        try:
            yield server, servicer
        finally:
            server.stop()


def test_a_call_reaches_the_servicer_and_its_reply_comes_back(served: tuple[PlainServer, FakeLocal]) -> None:
    server, servicer = served
    query = wire.encode_setup_pod_query(name="r1", kube_ns="lab", net_ns="/run/netns/x")
    reply = plainrpc.call(str(server.path), "SetupPod", query, timeout_s=5)
    assert wire.decode_bool_response(reply) is True
    [(method, request)] = servicer.calls
    assert (method, request.name, request.kube_ns, request.net_ns) == (
        "SetupPod",
        "r1",
        "lab",
        "/run/netns/x",
    )


def test_the_servicers_abort_is_the_calls_status(served: tuple[PlainServer, FakeLocal]) -> None:
    server, servicer = served
    servicer.answers["DestroyPod"] = Failure(grpc.StatusCode.FAILED_PRECONDITION, "r1: netns gone")
    with pytest.raises(plainrpc.CallFailed) as caught:
        plainrpc.call(
            str(server.path), "DestroyPod", wire.encode_pod_query(name="r1", kube_ns="lab"), timeout_s=5
        )
    assert (caught.value.status, caught.value.message) == ("FAILED_PRECONDITION", "r1: netns gone")


def test_unknown_methods_and_bad_requests_are_named(served: tuple[PlainServer, FakeLocal]) -> None:
    server, servicer = served
    with pytest.raises(plainrpc.CallFailed) as caught:
        plainrpc.call(str(server.path), "Reboot", b"", timeout_s=5)
    assert caught.value.status == "UNIMPLEMENTED"
    assert caught.value.message.startswith("no method 'Reboot'; this daemon serves ")
    assert "SetupPod" in caught.value.message
    with pytest.raises(plainrpc.CallFailed) as caught:
        plainrpc.call(str(server.path), "SetupPod", b"\x0a\x05ab", timeout_s=5)  # a truncated string
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message.startswith("SetupPod: the request is not a SetupPodQuery")
    assert servicer.calls == []


def test_another_protocol_version_is_refused(served: tuple[PlainServer, FakeLocal]) -> None:
    server, _ = served
    sock = plainrpc.unix_socket()
    try:
        sock.settimeout(5)
        sock.connect(str(server.path))
        sock.sendall(b"\x02" + plainrpc.encode_request("Status", b"")[1:])
        status, body = plainrpc.read_reply(sock)
    finally:
        sock.close()
    assert status == plainrpc.INVALID_ARGUMENT
    assert body.decode() == "protocol version 2; this daemon speaks version 1"


def test_the_socket_is_the_owners_only_and_gone_after_stop() -> None:
    with socket_dir() as directory:
        path = directory / "daemon.sock.plain"
        path.write_text("stale")  # what a killed daemon leaves behind
        server = PlainServer(FakeLocal(), path, workers=1, max_connections=8)
        server.start()
        try:
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        finally:
            server.stop()
        assert not path.exists()
        with pytest.raises(plainrpc.NotServed):
            plainrpc.call(str(path), "Status", b"", timeout_s=5)


def test_the_plugin_asks_on_the_plain_socket_when_the_daemon_has_one(tmp_path: Path) -> None:
    with socket_dir() as directory, fake_daemon(directory, plain=False) as daemon:
        plain = FakeLocal()
        server = PlainServer(plain, Path(plain_socket_path(daemon.socket)), workers=1, max_connections=8)
        server.start()
        try:
            client.setup_pod(daemon.socket, wait_s=1, name="r1", kube_ns="lab", net_ns="/run/netns/x")
        finally:
            server.stop()
        assert [m for m, _ in plain.calls] == ["SetupPod"]
        assert daemon.servicer.calls == []  # not over gRPC
        client.setup_pod(daemon.socket, wait_s=1, name="r1", kube_ns="lab", net_ns="/run/netns/x")
        assert [m for m, _ in daemon.servicer.calls] == ["SetupPod"]  # no plain socket: gRPC


def test_status_over_the_plain_socket_decodes_the_daemon_status(
    served: tuple[PlainServer, FakeLocal],
) -> None:
    server, servicer = served
    servicer.answers["Status"] = pb.DaemonStatus(version="v9", node_ip="10.0.0.9", pods_alive=3, links=4)
    reply = plainrpc.call(str(server.path), "Status", wire.encode_status_query(), timeout_s=5)
    assert wire.decode_daemon_status(reply) == wire.DaemonStatus(
        version="v9", node_ip="10.0.0.9", pods_alive=3, links=4
    )

"""The client of peers' Remote service against a kube-dtn daemon: its Remote service has
``Update`` only (the generated servicer answers UNIMPLEMENTED for the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.remote import GrpcRemote
from kubedtn.dataplane import Endpoint
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc


class KubeDtnRemote(pb_grpc.RemoteServicer):
    """kube-dtn's Remote: Update, nothing else; it refuses link 13."""

    def __init__(self) -> None:
        self.updated: list[tuple[str, int]] = []

    def Update(self, request: pb.RemotePod, context: grpc.ServicerContext) -> pb.BoolResponse:
        self.updated.append((request.name, request.vni))
        return pb.BoolResponse(response=request.vni != 5013)


@pytest.fixture
def kube_dtn_peer() -> Iterator[tuple[KubeDtnRemote, int]]:
    servicer = KubeDtnRemote()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_RemoteServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, port
    finally:
        server.stop(grace=None)


def _end(uid: int) -> RemoteEnd:
    return RemoteEnd(
        pod="r1", kube_ns="default", node_ip="127.0.0.1", uid=uid, vni=5000 + uid, vtep="10.0.0.2",
        endpoint=Endpoint(netns="/run/netns/r1", name=f"eth{uid}"),
    )  # fmt: skip


def test_a_peer_without_update_many_gets_one_update_per_end(kube_dtn_peer: tuple[KubeDtnRemote, int]) -> None:
    peer, port = kube_dtn_peer
    client = GrpcRemote(port=port, timeout=10)
    try:
        first = client.update_many("127.0.0.1", [_end(1), _end(2)])
        second = client.start_update_many("127.0.0.1", [_end(3), _end(13)]).result(timeout=10)
    finally:
        client.close()

    assert first == [None, None]
    assert second[0] is None and second[1] is not None and "answered false" in str(second[1])
    assert peer.updated == [("r1", 5001), ("r1", 5002), ("r1", 5003), ("r1", 5013)]


def test_the_future_of_update_many_falls_back_too(kube_dtn_peer: tuple[KubeDtnRemote, int]) -> None:
    peer, port = kube_dtn_peer
    client = GrpcRemote(port=port, timeout=10)
    try:
        answer = client.start_update_many("127.0.0.1", [_end(4)]).result(timeout=10)
    finally:
        client.close()
    assert answer == [None]
    assert peer.updated == [("r1", 5004)]

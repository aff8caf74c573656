"""The client of peers' Remote service against a kube-dtn daemon: its Remote service has
``Update`` only (the generated servicer answers UNIMPLEMENTED for the rest); the cache of
peer channels."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import cast

import grpc
import pytest

from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.remote import GrpcRemote, PeerChannels
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


class _Channel:
    def __init__(self, address: str) -> None:
        self.address = address
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _channels(
    *, idle_s: float = 100.0, limit: int = 3, busy_s: float = 10.0
) -> tuple[PeerChannels, list[float]]:
    now = [0.0]
    channels = PeerChannels(
        lambda a: cast(grpc.Channel, _Channel(a)),
        idle_s=idle_s,
        limit=limit,
        busy_s=busy_s,
        clock=lambda: now[0],
    )
    return channels, now


def test_a_peer_channel_is_reused_while_used_and_closed_once_idle() -> None:
    channels, now = _channels()
    first = channels.get("10.0.0.1")
    now[0] = 99.0
    assert channels.get("10.0.0.1") is first  # used again before it went idle
    channels.get("10.0.0.2")
    now[0] = 200.0  # 10.0.0.1 unused for 101 s
    channels.get("10.0.0.2")
    assert cast(_Channel, first).closed and len(channels) == 1 and channels.closed == 1
    assert channels.get("10.0.0.1") is not first  # a new one when it is called again


def test_beyond_the_limit_the_least_recently_used_idle_channels_are_closed() -> None:
    channels, now = _channels(limit=3)
    made = []
    for i in range(3):
        now[0] = float(i * 20)
        made.append(cast(_Channel, channels.get(f"10.0.0.{i}")))
    now[0] = 60.0
    channels.get("10.0.0.0")  # 10.0.0.1 is now the least recently used
    channels.get("10.0.0.9")
    assert [c.closed for c in made] == [False, True, False] and len(channels) == 3


def test_a_channel_whose_call_may_still_run_is_kept_beyond_the_limit() -> None:
    channels, now = _channels(limit=1, busy_s=10.0)
    first = cast(_Channel, channels.get("10.0.0.1"))
    now[0] = 5.0
    channels.get("10.0.0.2")  # 10.0.0.1 used 5 s ago: a call on it may not have timed out
    assert not first.closed and len(channels) == 2
    now[0] = 11.0
    channels.get("10.0.0.2")
    assert first.closed and len(channels) == 1

"""The hand-written codec against the generated protobuf classes: same bytes both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.cni import wire
from kubedtn.proto.v1 import kube_dtn_pb2 as pb

text = st.text(max_size=40)


@given(name=text, kube_ns=text, net_ns=text, container_id=text)
def test_setup_pod_query_matches_the_generated_encoding(
    name: str, kube_ns: str, net_ns: str, container_id: str
) -> None:
    ours = wire.encode_setup_pod_query(name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id)
    theirs = pb.SetupPodQuery(name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id)
    assert ours == theirs.SerializeToString()


@given(name=text, kube_ns=text, net_ns=text, container_id=text)
def test_pod_query_matches_the_generated_encoding(
    name: str, kube_ns: str, net_ns: str, container_id: str
) -> None:
    ours = wire.encode_pod_query(name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id)
    theirs = pb.PodQuery(name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id)
    assert ours == theirs.SerializeToString()


def test_status_query_is_empty() -> None:
    assert wire.encode_status_query() == pb.StatusQuery().SerializeToString() == b""


@pytest.mark.parametrize("value", [True, False])
def test_bool_response(value: bool) -> None:
    assert wire.decode_bool_response(pb.BoolResponse(response=value).SerializeToString()) is value


@given(ok=st.booleans(), problems=st.lists(text, max_size=5), in_topology=st.booleans())
def test_check_pod_response(ok: bool, problems: list[str], in_topology: bool) -> None:
    data = pb.CheckPodResponse(ok=ok, problems=problems, in_topology=in_topology).SerializeToString()
    assert wire.decode_check_pod_response(data) == wire.CheckPodResponse(
        ok=ok, problems=tuple(problems), in_topology=in_topology
    )


@given(
    version=text,
    node_ip=text,
    pods_alive=st.integers(0, 2**32 - 1),
    links=st.integers(0, 2**32 - 1),
    store=text,
)
def test_daemon_status(version: str, node_ip: str, pods_alive: int, links: int, store: str) -> None:
    message = pb.DaemonStatus(
        version=version, node_ip=node_ip, pods_alive=pods_alive, links=links, store=store
    )
    assert wire.decode_daemon_status(message.SerializeToString()) == wire.DaemonStatus(
        version=version, node_ip=node_ip, pods_alive=pods_alive, links=links, store=store
    )


def test_fields_the_codec_does_not_know_are_skipped() -> None:
    """A newer daemon may add fields (numbers 100+, any wire type): older plugins ignore them."""
    unknown = bytes([0x08 | 0, 1])  # field 1 varint = True
    unknown += bytes([(100 << 3 | 2) & 0x7F | 0x80, 100 >> 4, 3]) + b"abc"  # field 100, 3 bytes
    unknown += bytes([(101 << 3 | 1) & 0x7F | 0x80, 101 >> 4]) + bytes(8)  # field 101, fixed64
    unknown += bytes([(102 << 3 | 5) & 0x7F | 0x80, 102 >> 4]) + bytes(4)  # field 102, fixed32
    assert wire.decode_bool_response(unknown) is True


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x08", "truncated varint"),
        (b"\x12\x05ab", "field 2 is truncated"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x09\x00", "truncated fixed-width"),
    ],
)
def test_malformed_bytes_are_a_decode_error(data: bytes, problem: str) -> None:
    with pytest.raises(wire.DecodeError, match=problem):
        wire.decode_check_pod_response(data)


def test_a_field_of_the_wrong_kind_is_a_decode_error() -> None:
    with pytest.raises(wire.DecodeError, match=r"CheckPodResponse.problems is not a string"):
        wire.decode_check_pod_response(b"\x10\x01")  # field 2 as a varint

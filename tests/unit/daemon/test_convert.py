"""Protobuf ↔ model at the gRPC boundary: round trips, checks, kube-dtn peers."""

from __future__ import annotations

import pytest

from kubedtn.daemon.convert import (
    link_from_pb,
    link_to_pb,
    links_from_pb,
    remote_from_pb,
    remote_to_pb,
    remotes_to_pb,
)
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.dataplane import Endpoint
from kubedtn.errors import ValidationError
from kubedtn.model import LinkProperties
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.unit.daemon.helpers import link


def test_a_link_survives_the_wire_with_every_field() -> None:
    props = LinkProperties(
        latency_us=10_000, jitter_us=1_000, loss=0.5, rate_bps=800_000_000, reorder_prob=1, gap=5
    )
    original = link(
        7,
        "r2",
        local="eth3",
        remote="eth4",
        ips=("10.0.0.1/24", "fd00::1/64"),
        peer_ips=("10.0.0.2/24", "fd00::2/64"),
        mtu=1450,
        props=props,
        mac="02:00:00:00:00:01",
        peer_mac="02:00:00:00:00:02",
    )
    msg = link_to_pb(original)
    assert (msg.local_ip, msg.peer_ip, msg.properties.gap, msg.properties.latency) == (
        "10.0.0.1/24",
        "10.0.0.2/24",
        5,
        "10ms",
    )
    assert link_from_pb(pb.Link.FromString(msg.SerializeToString()), where="x") == original


def test_a_kube_dtn_link_with_only_the_single_address_fields_is_read() -> None:
    msg = pb.Link(
        peer_pod="r2",
        local_intf="eth1",
        peer_intf="eth1",
        uid=3,
        local_ip="10.0.0.1/24",
        peer_ip="10.0.0.2/24",
    )
    got = link_from_pb(msg, where="x")
    assert (got.local_ips, got.peer_ips, got.mtu) == (("10.0.0.1/24",), ("10.0.0.2/24",), None)


def test_bad_links_of_a_request_are_all_reported_with_their_index_and_uid() -> None:
    msgs = [
        pb.Link(peer_pod="r2", local_intf="eth1", peer_intf="eth1", uid=1, local_ip="10.0.0.300/24"),
        pb.Link(
            peer_pod="r3",
            local_intf="eth0",
            peer_intf="eth1",
            uid=2,
            properties=pb.LinkProperties(latency="fast"),
        ),
    ]
    with pytest.raises(ValidationError) as caught:
        links_from_pb(msgs, where="default/r1")
    text = str(caught.value)
    assert "default/r1: links[0]: link.local_ip" in text and "10.0.0.300/24" in text
    assert "default/r1: links[1]: link.local_intf" in text and "eth0" in text
    assert "latency" in text and "fast" in text
    by_index = {p.split(": ")[1]: p for p in caught.value.problems}
    assert by_index["links[0]"].endswith("(uid 1)")
    assert by_index["links[1]"].endswith("(uid 2)")


def test_remote_end_round_trip_and_a_kube_dtn_peer_without_link_uid() -> None:
    end = RemoteEnd(
        pod="r2",
        kube_ns="lab",
        node_ip="10.9.0.2",
        uid=12,
        vni=5012,
        vtep="10.9.0.1",
        endpoint=Endpoint(
            netns="/run/netns/b",
            name="eth2",
            addresses=("10.0.0.2/24",),
            mtu=1400,
            properties=LinkProperties(rate_bps=8_000_000),
        ),
    )
    back = remote_from_pb(remote_to_pb(end), node_ip="10.9.0.2")
    assert back == end
    kube_dtn = pb.RemotePod(
        net_ns="/n", intf_name="eth1", intf_ip="10.0.0.2/24", peer_vtep="10.9.0.1", vni=5100, name="r2"
    )
    got = remote_from_pb(kube_dtn, node_ip="10.9.0.2")
    assert (got.uid, got.kube_ns, got.endpoint.addresses) == (100, "default", ("10.0.0.2/24",))


def test_many_remote_ends_make_one_request_of_the_same_messages() -> None:
    ends = [
        RemoteEnd(
            pod=f"r{i}",
            kube_ns="lab",
            node_ip="10.9.0.2",
            uid=i,
            vni=5000 + i,
            vtep="10.9.0.1",
            endpoint=Endpoint(
                netns=f"/run/netns/p{i}",
                name=f"e{i}",
                addresses=(f"10.0.{i}.2/24",),
                properties=LinkProperties(latency_us=1000 * (i % 2)),
            ),
        )
        for i in range(1, 4)
    ]
    request = remotes_to_pb(ends)
    assert list(request.pods) == [remote_to_pb(end) for end in ends]
    assert [remote_from_pb(p, node_ip="10.9.0.2") for p in request.pods] == ends
    assert request.pods[0].properties.latency == "1ms"
    assert not request.pods[1].HasField("properties")  # none to send


def test_a_remote_request_without_namespace_or_vtep_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        remote_from_pb(pb.RemotePod(intf_name="eth1", vni=5001, name="r2"), node_ip="10.9.0.2")
    assert "net_ns is empty" in str(caught.value) and "peer_vtep is empty" in str(caught.value)


def test_every_problem_of_a_remote_request_is_reported_in_order() -> None:
    msg = pb.RemotePod(intf_name="eth1", vni=7, name="r2", properties=pb.LinkProperties(latency="fast"))
    with pytest.raises(ValidationError) as caught:
        remote_from_pb(msg, node_ip="10.9.0.2")
    problems = caught.value.problems
    assert [p.split(": ", 2)[1] for p in problems[:3]] == [
        "net_ns is empty; give the pod's network namespace path",
        "peer_vtep is empty; give the other node's IP",
        "vni 7 is not a link's VNI (5000..16777215) and no link_uid was given",
    ]
    assert problems[3].startswith('Remote.Update default/r2: properties.latency: "fast" is not a duration')
    assert len(problems) == 4


def test_a_remote_request_without_properties_has_none() -> None:
    msg = pb.RemotePod(net_ns="/n", intf_name="eth1", peer_vtep="10.9.0.1", vni=5100, name="r2")
    assert remote_from_pb(msg, node_ip="10.9.0.2").endpoint.properties.is_empty()


def test_a_property_value_of_megabytes_is_refused_before_it_is_parsed() -> None:
    huge = pb.Link(
        uid=1,
        peer_pod="r2",
        local_intf="eth1",
        peer_intf="eth1",
        properties=pb.LinkProperties(latency="9" * 1_000_000),
    )
    with pytest.raises(ValidationError) as caught:
        link_from_pb(huge, where="default/r1: links[0]")
    assert str(caught.value) == (
        "default/r1: links[0]: link.properties.latency: a value of 1000000 characters; "
        'at most 512 are accepted (e.g. "10ms", "100Mbit", "0.5%")'
    )
    assert (
        link_from_pb(
            pb.Link(
                uid=1,
                peer_pod="r2",
                local_intf="eth1",
                peer_intf="eth1",
                properties=pb.LinkProperties(latency="10ms"),
            ),
            where="x",
        ).properties.latency_us
        == 10_000
    )

"""A peer's Remote request is acted on only as far as the store backs it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubedtn.daemon.plan import NodeInfo, RemoteEnd
from kubedtn.daemon.trust import (
    Caller,
    caller_from_auth,
    check_caller,
    netns_path_problem,
    recorded_here,
    removable_name,
    trusted_far_end,
)
from kubedtn.dataplane import Endpoint
from kubedtn.errors import PermissionDeniedError
from kubedtn.model.names import vni_for_link
from tests.unit.daemon.helpers import link, pod

HERE, THERE = "10.0.0.1", "10.0.0.2"
NODE = NodeInfo(HERE, "u0")
R1 = pod(
    "r1", link(1, "r2", ips=("10.9.0.1/24",), peer_ips=("10.9.0.2/24",)), node=HERE, netns="/run/netns/a"
)
R2 = pod("r2", link(1, "r1", ips=("10.9.0.2/24",)), node=THERE, netns="/run/netns/b")
PEERS = {"default/r2": R2}
ASKED = RemoteEnd(
    pod="r1",
    kube_ns="default",
    node_ip=HERE,
    uid=1,
    vni=vni_for_link("default", 1),
    vtep=THERE,
    endpoint=Endpoint(netns="/run/netns/a", name="eth1"),
)


def refused(end: RemoteEnd, *, pod_: object = R1, peers: object = PEERS) -> str:
    with pytest.raises(PermissionDeniedError) as caught:
        trusted_far_end(end, pod_, peers, node=NODE)  # type: ignore[arg-type]
    return str(caught.value)


def test_the_far_end_is_built_from_the_store_not_from_the_message() -> None:
    forged = replace(
        ASKED, endpoint=Endpoint(netns="/run/netns/a", name="lo", addresses=("192.0.2.9/32",), mtu=9000)
    )
    end = trusted_far_end(forged, R1, PEERS, node=NODE)
    assert (end.endpoint.netns, end.endpoint.name, end.endpoint.addresses) == (
        "/run/netns/a",
        "eth1",
        ("10.9.0.1/24",),
    )
    assert end.endpoint.mtu is None and (end.vni, end.vtep) == (ASKED.vni, THERE)


def test_a_pod_not_recorded_running_here_is_refused() -> None:
    assert "no Topology default/r1 in the store" in refused(ASKED, pod_=None)
    assert "default/r1 is recorded running on 10.0.0.2, not on this node (10.0.0.1)" in refused(
        ASKED, pod_=replace(R1, status=R2.status)
    )
    assert "recorded running nowhere" in refused(ASKED, pod_=pod("r1", *R1.links))


def test_another_namespace_than_the_recorded_one_is_refused() -> None:
    host = replace(ASKED, endpoint=Endpoint(netns="/proc/1/ns/net", name="eth1"))
    assert "r1 is not running in /proc/1/ns/net on this node (recorded: /run/netns/a)" in refused(host)


def test_link_vni_and_peer_must_be_the_stores() -> None:
    assert "has no link with uid 7 to another pod" in refused(replace(ASKED, uid=7))
    assert f"vni 5999 is not the link's VNI ({ASKED.vni})" in refused(replace(ASKED, vni=5999))
    assert "the peer default/r2 has no link with uid 1" in refused(ASKED, peers={})


def test_the_vtep_must_be_the_node_the_peer_is_recorded_on() -> None:
    assert "peer_vtep 10.0.0.66 is not the node default/r2 is recorded running on (10.0.0.2)" in refused(
        replace(ASKED, vtep="10.0.0.66")
    )
    assert "peer_vtep 10.0.0.1 is this node" in refused(replace(ASKED, vtep=HERE))
    assert "peer_vtep 'x' is not an IP address" in refused(replace(ASKED, vtep="x"))
    # The peer's daemon asks before it marks the peer alive: then any other node is taken.
    down = {"default/r2": pod("r2", *R2.links)}
    assert trusted_far_end(replace(ASKED, vtep="10.0.0.3"), R1, down, node=NODE).vtep == "10.0.0.3"


def test_a_removal_never_touches_lo_or_eth0_and_needs_the_pod_here() -> None:
    for name in ("lo", "eth0"):
        with pytest.raises(PermissionDeniedError, match=f"intf_name '{name}' is reserved in a pod"):
            removable_name(replace(ASKED, endpoint=Endpoint(netns="/run/netns/a", name=name)))
    assert removable_name(ASKED) == "eth1"
    assert recorded_here(ASKED, pod("r1", *R1.links), node=NODE) is None
    with pytest.raises(PermissionDeniedError, match="not on this node"):
        recorded_here(ASKED, R2, node=NODE)


def test_a_namespace_path_is_a_file_of_the_runtime_directories_or_procs() -> None:
    dirs = ("/run/netns", "/var/run/docker/netns")
    for ok in ("/run/netns/cni-1f2e", "/var/run/docker/netns/9a8b", "/proc/4242/ns/net"):
        assert netns_path_problem(ok, dirs) is None, ok
    for bad in (
        "/etc/passwd",
        "/dev/zero",
        "/run/netns/../../dev/zero",
        "/run/netns/a/b",
        "/run/netns/",
        "/proc/self/ns/net",
        "/proc/1/ns/mnt",
        "run/netns/x",
    ):
        assert netns_path_problem(bad, dirs) == (
            "is not a file in /run/netns, /var/run/docker/netns nor /proc/PID/ns/net "
            "(--netns-dirs sets the directories)"
        ), bad


def test_the_caller_is_the_node_its_certificate_names() -> None:
    auth = {
        "x509_common_name": [b"node-b"],
        "peer_ip": [b"10.0.0.2", b"fd00:0:0::2"],
        "peer_dns": [b"node-b"],
        "x509_subject_alternative_name": [b"10.0.0.2", b"fd00::2", b"node-b"],
    }
    caller = caller_from_auth(auth)
    assert caller == Caller(ips=frozenset({"10.0.0.2", "fd00::2"}), names=frozenset({"node-b"}))
    # a DNS name that looks like an IP is not an IP SAN
    assert caller_from_auth({"peer_dns": [b"10.0.0.9"]}).ips == frozenset()


def test_a_caller_asks_only_for_ends_toward_its_own_ips() -> None:
    node_b = Caller(ips=frozenset({THERE, "fd00::2"}), names=frozenset({"node-b"}))
    check_caller(ASKED, node_b)
    check_caller(replace(ASKED, vtep="fd00:0::2"), node_b)  # the same IP, written otherwise
    check_caller(replace(ASKED, vtep="10.0.0.66"), None)  # not authenticated: the store decides
    for vtep, caller in (
        ("10.0.0.66", node_b),
        ("not-an-ip", node_b),
        (THERE, Caller(ips=frozenset(), names=frozenset({"node-b"}))),
    ):
        with pytest.raises(PermissionDeniedError) as caught:
            check_caller(replace(ASKED, vtep=vtep), caller)
        assert (
            f"Remote: default/r1 link 1: peer_vtep {vtep!r} is not an IP of the caller's certificate"
            in str(caught.value)
        )
    with pytest.raises(PermissionDeniedError, match=r"certificate \(node-b \(10\.0\.0\.2, fd00::2\)\)"):
        check_caller(replace(ASKED, vtep="10.0.0.66"), node_b)

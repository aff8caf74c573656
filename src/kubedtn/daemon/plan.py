"""Pure link planning: a pod, its peers and this node → one decision per link.

No I/O: the manager reads the store, calls :func:`plan_pod`, and acts on the decisions.

A pod-to-pod link joins two Topologies that each carry one end (same uid). Its
plumbing depends on where the peer is:

==========================================  ====================================================
situation                                   decision
==========================================  ====================================================
peer alive on this node                     :class:`SameNode` — a veth with both ends
peer alive on another node                  :class:`CrossNode` — the local VXLAN end, and the
                                            far end the peer's daemon creates (Remote.Update)
peer not alive / no Topology / no such link :class:`Skip` — the peer plumbs it when it comes up
the two ends disagree (interfaces, ...)     :class:`Mismatch` — a precise error, nothing applied
``localhost``                               :class:`Localhost` — a macvlan on the host
                                            interface ``peer_intf``
``physical/<ip>``                           :class:`Physical` — a VXLAN to that host
cannot be built on this node                :class:`Impossible` (e.g. no underlay for VXLAN)
==========================================  ====================================================

Properties are per end: each end's egress gets the properties of *its own* pod's link.
kube-dtn instead applies the properties of the pod doing the plumbing to both ends of a
veth; for links whose two ends carry the same properties (all kube-dtn samples) both
rules give the same qdiscs, and with different ones ours is what each Topology says.
Addresses, MACs and the MTU come from this pod's link (``local_*`` for this end,
``peer_*`` for the far end), falling back to what the peer's link says of itself.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from kubedtn.dataplane import Endpoint, MacvlanSpec, VethSpec, VxlanSpec
from kubedtn.model import Link, PeerKind, Topology, validate
from kubedtn.model.names import vni_for_link
from kubedtn.model.units import quoted


@dataclass(frozen=True)
class NodeInfo:
    """This node: its IP (HOST_IP, the VXLAN source), the underlay device holding it, and
    the node namespace (None: the daemon's own)."""

    ip: str
    underlay: str | None = None
    netns: str | None = None
    underlay_mtu: int | None = None  # None: not known (no limit is checked)


# What VXLAN adds around a frame: outer IP header, UDP, VXLAN and the inner Ethernet header
# (the kernel's VXLAN_HEADROOM / VXLAN6_HEADROOM). A VXLAN end can carry the underlay's MTU
# minus this; the kernel gives a new end that MTU when none is asked for.
VXLAN_OVERHEAD = {4: 50, 6: 70}


@dataclass(frozen=True)
class RemoteEnd:
    """The far end of a cross-node link, which the peer's daemon creates (Remote.Update)."""

    pod: str
    kube_ns: str
    node_ip: str  # where the peer's daemon runs
    uid: int
    vni: int
    vtep: str  # the far end's tunnel peer: this node
    endpoint: Endpoint


@dataclass(frozen=True)
class SameNode:
    link: Link
    peer: str  # "namespace/name"
    spec: VethSpec
    kind: str = "veth"


@dataclass(frozen=True)
class CrossNode:
    link: Link
    peer: str
    spec: VxlanSpec
    remote: RemoteEnd
    kind: str = "vxlan"


@dataclass(frozen=True)
class Physical:
    link: Link
    spec: VxlanSpec
    kind: str = "vxlan"


@dataclass(frozen=True)
class Localhost:
    link: Link
    spec: MacvlanSpec
    kind: str = "macvlan"


@dataclass(frozen=True)
class Skip:
    link: Link
    peer: str
    reason: str


@dataclass(frozen=True)
class Mismatch:
    link: Link
    peer: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Impossible:
    link: Link
    reason: str


Plumb = SameNode | CrossNode | Physical | Localhost
Decision = Plumb | Skip | Mismatch | Impossible


def is_alive(topo: Topology) -> bool:
    """kube-dtn's rule: a pod is up when its node IP and namespace are recorded."""
    return bool(topo.status.src_ip and topo.status.net_ns)


def peer_key(topo: Topology, link: Link) -> str:
    return f"{topo.namespace}/{link.peer_pod}"


def _where(topo: Topology, link: Link) -> str:
    index = next((i for i, own in enumerate(topo.links) if own.uid == link.uid), None)
    at = f"spec.links[{index}]" if index is not None else "link"
    return f"{topo.key}: {at} (uid {link.uid})"


def end_problems(pod: Topology, link: Link, peer: Topology, far: Link) -> tuple[str, ...]:
    """What the peer's end ``far`` contradicts in this pod's end ``link`` (both uid ``link.uid``)."""
    if far.peer_pod != pod.name:
        joins = f"joins {quoted(far.peer_pod)}, not {pod.name}"
        return (f"{_where(pod, link)}: peer {peer.key}'s link uid {link.uid} {joins}",)
    if validate.ends_agree(link, far):
        return ()
    # The model's own pair check; a link given in a request (AddLinks) may not be in the spec yet.
    # (Usually the link is the spec's own object: found by identity, no field-by-field compare.)
    index = next((i for i, own in enumerate(pod.links) if own is link), None)
    if index is None:
        index = next((i for i, own in enumerate(pod.links) if own.uid == link.uid and own == link), None)
    if index is None:
        pod, index = replace(pod, links=(*pod.links, link)), len(pod.links)
    far_index = next(i for i, other in enumerate(peer.links) if other is far)
    return tuple(validate.end_problems(pod, index, peer, far_index))


def pair_problems(pod: Topology, links: Sequence[Link], *, peers: Mapping[str, Topology]) -> list[str]:
    """Every disagreement between these links of the pod and their peers' ends (peers by
    ``namespace/name``; a peer not there or without the link has nothing to disagree with)."""
    problems: list[str] = []
    for link in links:
        if link.peer_kind is not PeerKind.POD:
            continue
        peer = peers.get(peer_key(pod, link))
        far = None if peer is None else next((o for o in peer.links if o.uid == link.uid), None)
        if peer is not None and far is not None:
            problems += end_problems(pod, link, peer, far)
    return problems


def vxlan_mtu_limit(node: NodeInfo) -> tuple[int, str] | None:
    """The largest MTU a VXLAN end from this node can have, and why (None: unknown)."""
    if node.underlay_mtu is None:
        return None
    version = _ip_version(node.ip)
    overhead = VXLAN_OVERHEAD[version]
    why = (
        f"the underlay {node.underlay} has MTU {node.underlay_mtu}, "
        f"VXLAN over IPv{version} adds {overhead} bytes"
    )
    return node.underlay_mtu - overhead, why


def mtu_problems(
    pod: Topology, links: Sequence[Link], *, peers: Mapping[str, Topology], node: NodeInfo
) -> list[str]:
    """Links that would be VXLAN ends from this node (physical host, peer alive on another
    node) with an explicit MTU larger than the underlay can carry."""
    limit = vxlan_mtu_limit(node)
    if limit is None:
        return []
    most, why = limit
    problems: list[str] = []
    for link in links:
        if link.mtu is None or link.mtu <= most or link.peer_kind is PeerKind.LOCALHOST:
            continue
        if link.peer_kind is PeerKind.POD:
            peer = peers.get(peer_key(pod, link))
            if peer is None or not is_alive(peer) or peer.status.src_ip == node.ip:
                continue  # a veth (or nothing yet): any MTU the model accepts
        index = next((i for i, own in enumerate(pod.links) if own.uid == link.uid), None)
        at = f"spec.links[{index}].mtu" if index is not None else f"link {link.uid}: mtu"
        problems.append(
            f"{pod.key}: {at}: {link.mtu} is too large for a VXLAN link from node {node.ip}: "
            f"at most {most} ({why})"
        )
    return problems


def local_endpoint(pod: Topology, link: Link) -> Endpoint:
    """This pod's end of the link: its own addresses, MAC, MTU and properties."""
    return Endpoint(
        netns=pod.status.net_ns,
        name=link.local_intf,
        addresses=link.local_ips,
        mac=link.local_mac,
        mtu=link.mtu,
        properties=link.properties,
        bypass=link.bypass,
    )


def far_endpoint(peer: Topology, link: Link, far: Link) -> Endpoint:
    """The peer's end: addresses/MAC from this pod's link (else the peer's own), the peer's properties."""
    return Endpoint(
        netns=peer.status.net_ns,
        name=link.peer_intf,
        addresses=link.peer_ips or far.local_ips,
        mac=link.peer_mac or far.local_mac,
        mtu=link.mtu,
        properties=far.properties,
        bypass=link.bypass and far.bypass,
    )


@functools.lru_cache(maxsize=1024)  # node IPs: a few, asked for every cross-node link
def _ip_version(text: str) -> int:
    return ipaddress.ip_address(text).version


def _same_family(a: str, b: str) -> bool:
    return _ip_version(a) == _ip_version(b)


def _vxlan(endpoint: Endpoint, *, namespace: str, uid: int, remote: str, node: NodeInfo) -> VxlanSpec | str:
    """A VXLAN spec, or why this node cannot build it."""
    if node.underlay is None:
        return (
            f"this node's IP {node.ip} is on no interface of the node namespace, so there is no "
            "underlay for a VXLAN link; start the daemon with --host-ip set to an address of this node"
        )
    try:
        same = _same_family(node.ip, remote)
    except ValueError:  # a src_ip the store holds that no daemon wrote
        return f"the VXLAN remote {remote!r} is not an IP address"
    if not same:
        return f"the node IP {node.ip} and the VXLAN remote {remote} are not the same IP version"
    return VxlanSpec(
        uid=uid,
        endpoint=endpoint,
        vni=vni_for_link(namespace, uid),
        remote=remote,
        local=node.ip,
        underlay=node.underlay,
        node_netns=node.netns,
    )


def _plan_pod_link(pod: Topology, link: Link, peers: Mapping[str, Topology], node: NodeInfo) -> Decision:
    key = peer_key(pod, link)
    peer = peers.get(key)
    if peer is None:
        return Skip(link, key, f"peer {key} has no Topology yet")
    far = peer.links_by_uid.get(link.uid)
    if far is None:
        return Skip(link, key, f"peer {key} has no link with uid {link.uid} (yet)")
    problems = end_problems(pod, link, peer, far)
    if problems:
        return Mismatch(link, key, problems)
    if not is_alive(peer):
        return Skip(link, key, f"peer {key} is not up yet")
    here = local_endpoint(pod, link)
    there = far_endpoint(peer, link, far)
    if peer.status.src_ip == node.ip:
        return SameNode(link, key, VethSpec(uid=link.uid, a=here, b=there))
    spec = _vxlan(here, namespace=pod.namespace, uid=link.uid, remote=peer.status.src_ip, node=node)
    if isinstance(spec, str):
        return Impossible(
            link, f"{_where(pod, link)}: cannot reach {key} on node {peer.status.src_ip}: {spec}"
        )
    remote = RemoteEnd(
        pod=peer.name,
        kube_ns=peer.namespace,
        node_ip=peer.status.src_ip,
        uid=link.uid,
        vni=spec.vni,
        vtep=node.ip,
        endpoint=there,
    )
    return CrossNode(link, key, spec, remote)


def plan_link(pod: Topology, link: Link, *, peers: Mapping[str, Topology], node: NodeInfo) -> Decision:
    """The decision for one link of an alive pod. ``peers``: Topologies by ``namespace/name``
    (a peer missing from it has no Topology)."""
    if not is_alive(pod):
        raise ValueError(f"{pod.key} is not alive (no src_ip/net_ns): nothing to plan")
    kind = link.peer_kind
    if kind is PeerKind.POD:
        return _plan_pod_link(pod, link, peers, node)
    here = local_endpoint(pod, link)
    if kind is PeerKind.LOCALHOST:
        return Localhost(
            link, MacvlanSpec(uid=link.uid, endpoint=here, parent=link.peer_intf, node_netns=node.netns)
        )
    remote = link.physical_ip
    assert remote is not None
    spec = _vxlan(here, namespace=pod.namespace, uid=link.uid, remote=remote, node=node)
    if isinstance(spec, str):
        return Impossible(link, f"{_where(pod, link)}: cannot reach physical host {remote}: {spec}")
    return Physical(link, spec)


def plan_pod(
    pod: Topology, *, peers: Mapping[str, Topology], node: NodeInfo, links: Sequence[Link] | None = None
) -> list[Decision]:
    """A decision for each of ``links`` (default: every link of the pod), in order."""
    return [plan_link(pod, link, peers=peers, node=node) for link in (pod.links if links is None else links)]


def plan_batch(
    pods: Sequence[tuple[Topology, Sequence[Link]]], *, peers: Mapping[str, Topology], node: NodeInfo
) -> list[list[Decision]]:
    """``plan_pod`` of each (pod, links), as one batch: a veth between two pods of the batch
    is planned once, from the side met first. The other side's decision is the same veth
    seen from its end (``SameNode`` with the spec's ends swapped): planning it again would
    check the same two ends against each other and build a spec the batch cannot use (one
    link, one veth)."""
    # (pod key, uid) → the pod as planned and its veth decision
    veths: dict[tuple[str, int], tuple[Topology, SameNode]] = {}
    out: list[list[Decision]] = []
    for pod, links in pods:
        decisions: list[Decision] = []
        for link in links:
            key = peer_key(pod, link)
            seen = veths.get((key, link.uid))
            if seen is not None and _planned_from_peer(seen, pod, link, peers=peers, node=node):
                spec = seen[1].spec
                decisions.append(SameNode(link, key, VethSpec(uid=spec.uid, a=spec.b, b=spec.a)))
                continue
            d = plan_link(pod, link, peers=peers, node=node)
            if isinstance(d, SameNode):
                veths[(pod.key, link.uid)] = (pod, d)
            decisions.append(d)
        out.append(decisions)
    return out


def _planned_from_peer(
    seen: tuple[Topology, SameNode],
    pod: Topology,
    link: Link,
    *,
    peers: Mapping[str, Topology],
    node: NodeInfo,
) -> bool:
    """Whether the peer's veth decision ``seen`` checked and joined exactly the two ends
    ``plan_link(pod, link, peers=peers)`` would: the same two Topologies, the same two links."""
    peer, decision = seen
    return (
        decision.peer == pod.key
        and peers.get(peer.key) is peer
        and peers.get(pod.key) is pod
        and peer.status.src_ip == node.ip
        and peer.links_by_uid.get(link.uid) is decision.link
        and pod.links_by_uid.get(link.uid) is link
    )
